"""What the workstation tools share: the Lambda's endpoint checks on the import path, the options
that shape a request, and the settings a deployed serving stack's smoke test runs with."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

# The checks live beside the Lambda handler; "lambda" is a keyword, so it cannot be a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda" / "smoke_test"))

from endpoint_checks import (  # noqa: E402  (needs the path above)
    INFERENCE_APIS,
    Check,
    SmokeTestFailure,
    SmokeTestSettings,
    settings_from_environment,
)

MAX_NEW_TOKENS = 4096  # the guide's MAX_TOTAL_TOKENS: no request can generate more
# The key of the stack output that holds the endpoint's name.
ENDPOINT_OUTPUT_KEY = "EndpointName"
# The logical id of the serving stack's smoke-test function begins with its construct path.
SMOKE_TEST_FUNCTION = "SmokeTestFunction"


def bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    """An argparse type that rejects values outside (low, high]."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not in ({low:g}, {high:g}]")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid value" message
    return parse


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--endpoint-name or --stack-name, one of them required."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoint-name", metavar="NAME", help="the SageMaker endpoint to call")
    target.add_argument(
        "--stack-name",
        metavar="STACK",
        help=f"a serving stack: its {ENDPOINT_OUTPUT_KEY} output, called with the settings its smoke-test "
        "function was deployed with (the runtime's APIs, budget, tokens, stop sequences); options override them",
    )


def add_request_options(parser: argparse.ArgumentParser) -> None:
    """--region, --max-new-tokens and --stop, as both tools take them; unset, they come from the
    stack's smoke test or the defaults."""
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument(
        "--max-new-tokens",
        type=bounded(int, 0, MAX_NEW_TOKENS),
        metavar="N",
        help=f"tokens to generate per request (default: {SmokeTestSettings.max_new_tokens})",
    )
    parser.add_argument(
        "--stop",
        action="append",
        metavar="TEXT",
        help="a stop sequence, repeatable (e.g. --stop '<|im_end|>' for Qwen)",
    )


def api_option(name: str, *, repeatable: bool) -> dict[str, Any]:
    """The keyword arguments of an --api option."""
    return {
        "action": "append" if repeatable else "store",
        "choices": list(INFERENCE_APIS),
        "metavar": "API",
        "help": f"{'an' if repeatable else 'the'} API to call, {'repeatable, ' if repeatable else ''}one of "
        f"{', '.join(INFERENCE_APIS)} (default: {name})",
    }


def deployed_settings(stack_name: str, region_name: str | None) -> SmokeTestSettings:
    """The stack's endpoint, with the settings its smoke-test function was deployed with."""
    cloudformation = boto3.client("cloudformation", region_name=region_name)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        resources = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    except (ClientError, BotoCoreError) as error:
        raise SmokeTestFailure(Check.CONFIGURATION, None, f"cannot read stack {stack_name}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if ENDPOINT_OUTPUT_KEY not in outputs:
        raise SmokeTestFailure(
            Check.CONFIGURATION,
            None,
            f"stack {stack_name} has no {ENDPOINT_OUTPUT_KEY} output (it has: {', '.join(sorted(outputs)) or 'none'})",
        )
    functions = [
        resource["PhysicalResourceId"]
        for resource in resources
        if resource["ResourceType"] == "AWS::Lambda::Function"
        and resource["LogicalResourceId"].startswith(SMOKE_TEST_FUNCTION)
    ]
    if len(functions) != 1:
        raise SmokeTestFailure(Check.CONFIGURATION, None, f"stack {stack_name} has no smoke-test function")
    try:
        configuration = boto3.client("lambda", region_name=region_name).get_function_configuration(
            FunctionName=functions[0]
        )
    except (ClientError, BotoCoreError) as error:
        raise SmokeTestFailure(Check.CONFIGURATION, None, f"cannot read {functions[0]}: {error}") from error
    environment = configuration.get("Environment", {}).get("Variables", {})
    return settings_from_environment({**environment, "ENDPOINT_NAME": outputs[ENDPOINT_OUTPUT_KEY]})


def settings_from_arguments(arguments: argparse.Namespace, **overrides: Any) -> SmokeTestSettings:
    """The target's settings (the stack's smoke test, or the defaults), with the options given."""
    given = {
        "max_new_tokens": arguments.max_new_tokens,
        "stop_sequences": tuple(arguments.stop) if arguments.stop else None,
        **overrides,
    }
    base = (
        deployed_settings(arguments.stack_name, arguments.region)
        if arguments.stack_name
        else SmokeTestSettings(endpoint_name=arguments.endpoint_name)
    )
    return dataclasses.replace(base, **{name: value for name, value in given.items() if value is not None})
