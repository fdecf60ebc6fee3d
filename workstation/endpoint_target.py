"""Which endpoint a tool calls, and with which settings: --endpoint-name with the defaults, or
--stack-name, a deployed serving stack's endpoint (and its inference component, with scale_to_zero)
with the settings its smoke test was deployed with."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from workstation.lambda_checks import failures, smoke_settings

# The keys of the stack outputs that hold the endpoint's name and, on an endpoint that hosts one,
# its inference component's (stacks/serving_stack.py).
ENDPOINT_OUTPUT_KEY = "EndpointName"
COMPONENT_OUTPUT_KEY = "InferenceComponentName"
# The logical id of the serving stack's smoke-test function begins with its construct path.
SMOKE_TEST_FUNCTION = "SmokeTestFunction"


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--endpoint-name or --stack-name, one of them required, and --inference-component-name."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoint-name", metavar="NAME", help="the SageMaker endpoint to call")
    target.add_argument(
        "--stack-name",
        metavar="STACK",
        help=f"a serving stack: its {ENDPOINT_OUTPUT_KEY} output (and its {COMPONENT_OUTPUT_KEY} output, with "
        "scale_to_zero), called with the settings its smoke-test function was deployed with (the runtime's APIs, "
        "budgets, tokens, stop sequences); options override them",
    )
    parser.add_argument(
        "--inference-component-name",
        metavar="NAME",
        help="the inference component to call, on an endpoint that hosts one (scale_to_zero=true) "
        f"(default: with --stack-name, the stack's {COMPONENT_OUTPUT_KEY} output; otherwise none)",
    )


def target_error(message: str) -> failures.SmokeTestFailure:
    """A failure before any call: the target cannot be read, so there is no endpoint to check."""
    return failures.SmokeTestFailure(failures.Check.CONFIGURATION, None, message)


def deployed_settings(stack_name: str, region_name: str | None) -> smoke_settings.SmokeTestSettings:
    """The stack's endpoint, with the settings its smoke-test function was deployed with."""
    cloudformation = boto3.client("cloudformation", region_name=region_name)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        resources = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    except (ClientError, BotoCoreError) as error:
        raise target_error(f"cannot read stack {stack_name}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if ENDPOINT_OUTPUT_KEY not in outputs:
        raise target_error(
            f"stack {stack_name} has no {ENDPOINT_OUTPUT_KEY} output (it has: {', '.join(sorted(outputs)) or 'none'})"
        )
    functions = [
        resource["PhysicalResourceId"]
        for resource in resources
        if resource["ResourceType"] == "AWS::Lambda::Function"
        and resource["LogicalResourceId"].startswith(SMOKE_TEST_FUNCTION)
    ]
    if len(functions) != 1:
        raise target_error(f"stack {stack_name} has no smoke-test function")
    try:
        configuration = boto3.client("lambda", region_name=region_name).get_function_configuration(
            FunctionName=functions[0]
        )
    except (ClientError, BotoCoreError) as error:
        raise target_error(f"cannot read {functions[0]}: {error}") from error
    environment = configuration.get("Environment", {}).get("Variables", {})
    # The endpoint and its component as the stack outputs them; the rest as its function was deployed with.
    return smoke_settings.settings_from_environment(
        {
            **environment,
            "ENDPOINT_NAME": outputs[ENDPOINT_OUTPUT_KEY],
            "INFERENCE_COMPONENT_NAME": outputs.get(COMPONENT_OUTPUT_KEY, ""),
        }
    )


def settings_from_arguments(arguments: argparse.Namespace, **overrides: Any) -> smoke_settings.SmokeTestSettings:
    """The target's settings (the stack's smoke test, or the defaults), with the options given."""
    given = {
        "inference_component_name": arguments.inference_component_name,
        "max_new_tokens": arguments.max_new_tokens,
        "stop_sequences": tuple(arguments.stop) if arguments.stop else None,
        **overrides,
    }
    base = (
        deployed_settings(arguments.stack_name, arguments.region)
        if arguments.stack_name
        else smoke_settings.SmokeTestSettings(endpoint_name=arguments.endpoint_name)
    )
    return dataclasses.replace(base, **{name: value for name, value in given.items() if value is not None})
