#!/usr/bin/env python3
"""Smoke-test the deployed TGI endpoint from a workstation, with the Lambda's own checks.

Calls the endpoint once through TGI's generate API and once through the messages API with the
guide's Korean prompt, checks each answer's shape and text and that the wall time per generated
token is within the budget, prints the summary as JSON and exits 0; on the first failed check it
prints which check failed and exits 1. Credentials, region and endpoint URLs come from the
standard AWS configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from endpoint_options import add_request_options  # first: it puts the checks on the import path

# isort: split
from endpoint_checks import (
    DEFAULT_MAX_MS_PER_TOKEN,
    Check,
    SmokeTestFailure,
    SmokeTestSettings,
    run_smoke_test,
    runtime_client,
)

# The key of the stack output that holds the endpoint's name.
ENDPOINT_OUTPUT_KEY = "EndpointName"


def endpoint_name_from_stack(stack_name: str, region_name: str | None) -> str:
    """The value of the stack's EndpointName output."""
    cloudformation = boto3.client("cloudformation", region_name=region_name)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise SmokeTestFailure(Check.CONFIGURATION, None, f"cannot read stack {stack_name}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if ENDPOINT_OUTPUT_KEY not in outputs:
        raise SmokeTestFailure(
            Check.CONFIGURATION,
            None,
            f"stack {stack_name} has no {ENDPOINT_OUTPUT_KEY} output (it has: {', '.join(sorted(outputs)) or 'none'})",
        )
    return str(outputs[ENDPOINT_OUTPUT_KEY])


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoint-name", metavar="NAME", help="the SageMaker endpoint to test")
    target.add_argument(
        "--stack-name",
        metavar="STACK",
        help=f"read the endpoint name from this CloudFormation stack's {ENDPOINT_OUTPUT_KEY} output",
    )
    parser.add_argument(
        "--max-ms-per-token",
        type=float,
        default=DEFAULT_MAX_MS_PER_TOKEN,
        metavar="MS",
        help="fail when a call takes longer per generated token (default: %(default)g, the guide's figure)",
    )
    add_request_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # Retries are logged as warnings, on stderr: stdout stays the JSON summary alone.
    logging.basicConfig(format="%(levelname)s %(message)s")
    try:
        endpoint_name = arguments.endpoint_name or endpoint_name_from_stack(arguments.stack_name, arguments.region)
        settings = SmokeTestSettings(
            endpoint_name=endpoint_name,
            max_ms_per_token=arguments.max_ms_per_token,
            max_new_tokens=arguments.max_new_tokens,
            stop_sequences=tuple(arguments.stop),
        )
        summary = run_smoke_test(runtime_client(arguments.region), settings)
    except SmokeTestFailure as failure:
        print(f"smoke test failed: {failure}", file=sys.stderr)
        return 1
    except BotoCoreError as error:  # e.g. no region configured, before any call is made
        print(f"smoke test failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
