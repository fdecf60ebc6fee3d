"""Smoke-test a deployed endpoint from a workstation, with the Lambda's own checks.

Streams one answer through each API the endpoint's runtime answers (TGI: generate and messages;
vLLM: completions and messages) to the guide's Korean prompt, checks each answer's shape and text,
its time to first token and its decode time per token against their budgets, prints the summary as
JSON and exits 0; on the first failed check it prints which check failed and exits 1. Given
--stack-name, it calls the stack's endpoint (and its inference component, with scale_to_zero) with
the settings its smoke-test function was deployed with. While the inference component has no copy
(scaled to zero: the first request starts the scale-out) it waits for one, up to
--capacity-wait-minutes, logging each wait on stderr. Credentials, region and endpoint URLs come
from the standard AWS configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError

from workstation.endpoint_target import add_target_options, settings_from_arguments
from workstation.lambda_checks import failures, invocation, smoke_run, smoke_settings
from workstation.options import add_bounded_option, add_request_options, api_option
from workstation.scale_from_zero import capacity_wait_minutes

# Both runtimes' start-up timeout by default (inf2_llm/runtimes.py), and the most SageMaker accepts
# ("ContainerStartupHealthCheckTimeoutInSeconds ... Maximum value of 3600",
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentStartupParameters.html).
DEFAULT_CAPACITY_WAIT_MINUTES = capacity_wait_minutes(1800)
MAX_CAPACITY_WAIT_MINUTES = capacity_wait_minutes(3600)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_options(parser)
    defaults = smoke_settings.SmokeTestSettings
    parser.add_argument(
        "--max-ms-per-token",
        type=float,
        metavar="MS",
        help="fail when an answer's decode time per token, first token to last over the tokens after the "
        f"first, is over MS (default: {defaults.max_ms_per_token:g}, about 1.2 times the guide's 49 ms)",
    )
    parser.add_argument(
        "--max-first-token-ms",
        type=float,
        metavar="MS",
        help="fail when an answer's first token comes more than MS after the request "
        f"(default: {defaults.max_first_token_ms:g})",
    )
    parser.add_argument(
        "--api", **api_option(" and ".join(smoke_settings.DEFAULT_APIS) + ", the guide's", repeatable=True)
    )
    add_bounded_option(
        parser,
        "--capacity-wait-minutes",
        float,
        high=MAX_CAPACITY_WAIT_MINUTES,
        default=DEFAULT_CAPACITY_WAIT_MINUTES,
        metavar="MINUTES",
        help="with an inference component: how long to wait for a copy while it scales from zero (the deploy's "
        f"smoke-test function, bounded by Lambda, waits {invocation.CAPACITY_WAIT_S / 60:g} minutes at most)",
    )
    add_request_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # Retries and waits for a copy are logged as warnings, on stderr: stdout stays the JSON summary alone.
    logging.basicConfig(format="%(levelname)s %(message)s")
    try:
        settings = settings_from_arguments(
            arguments,
            max_ms_per_token=arguments.max_ms_per_token,
            max_first_token_ms=arguments.max_first_token_ms,
            apis=tuple(arguments.api) if arguments.api else None,
            capacity_wait_s=arguments.capacity_wait_minutes * 60,
        )
        summary = smoke_run.run_smoke_test(invocation.runtime_client(arguments.region), settings)
    except failures.SmokeTestFailure as failure:
        print(f"{smoke_run.VERDICT_FAILED}: {failure}", file=sys.stderr)
        return 1
    except BotoCoreError as error:  # e.g. no region configured, before any call is made
        print(f"{smoke_run.VERDICT_FAILED}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0
