"""Follow a deploy of the app from a workstation, step by step, until its stacks are done.

With model_source=compile (or mirror) `cdk deploy` sits for up to an hour on the workbench's wait
condition while the notebook works. This shows what happens meanwhile, each step as it completes,
with the time since watch started:

  1. the notebook instance, until it is in service;
  2. the artifact job on the notebook, phase by phase, each with the time it took, from the CloudWatch
     Logs stream <notebook>/artifact-job, where "phase: <text>" begins a phase, "SUCCESS: <text>" or
     "FAILURE: <text>" ends the run and other messages are notes (with model_source=hub there is no job);
  3. the SageMaker endpoint, until it is in service, and with scale_to_zero its inference component,
     each state it passes through (status, copies now and wanted) until it is in service;
  4. the smoke test the deploy runs (its summary or its failure), unless smoke_test_on_deploy is off;
  5. the stacks' final status.

Each stack's part is found from its resources (a notebook instance, an endpoint, an inference
component), not from its name.
Stacks that do not exist yet are waited for, so watch can start right after `cdk deploy`. On a
terminal, a live line on stderr shows what is running and for how long.
Credentials, region and endpoint URLs come from the standard AWS configuration (AWS_PROFILE,
AWS_REGION, AWS_ENDPOINT_URL, ...).

Exit status: 0 every stack deployed; 1 a step failed ("watch: <step> failed: <reason>" on stderr);
2 bad usage; 3 timed out ("watch: gave up after N minutes waiting for <step>").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from workstation.options import add_bounded_option, add_region_option
from workstation.watch_aws import StepFailed
from workstation.watch_progress import Clocks, TimedOut, Watch
from workstation.watch_stacks import Stacks
from workstation.watch_steps import follow

STAGES = ("dev", "prod")  # as app.py names the stacks: Inf2Llm-<stage>-<part>
DEFAULT_PARTS = ("Workbench", "Serving")
DEFAULT_TIMEOUT_MINUTES = 240.0
MAX_TIMEOUT_MINUTES = 1440.0
DEFAULT_POLL_SECONDS = 15.0
MAX_POLL_SECONDS = 300.0


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stack-name",
        action="append",
        metavar="NAME",
        help="a stack to follow, repeatable; followed in the order given "
        "(default: Inf2Llm-<stage>-Workbench, then Inf2Llm-<stage>-Serving)",
    )
    parser.add_argument("--stage", choices=STAGES, default="dev", help="the stage of the default stacks (default: dev)")
    add_region_option(parser)
    add_bounded_option(
        parser,
        "--timeout-minutes",
        float,
        high=MAX_TIMEOUT_MINUTES,
        default=DEFAULT_TIMEOUT_MINUTES,
        metavar="MINUTES",
        help="give up (exit 3) after this long",
    )
    add_bounded_option(
        parser,
        "--poll-seconds",
        float,
        high=MAX_POLL_SECONDS,
        default=DEFAULT_POLL_SECONDS,
        metavar="SECONDS",
        help="time between two looks at AWS",
    )
    arguments = parser.parse_args(argv)
    arguments.stack_name = arguments.stack_name or [f"Inf2Llm-{arguments.stage}-{part}" for part in DEFAULT_PARTS]
    return arguments


def create_watch(arguments: argparse.Namespace, clocks: Clocks) -> Watch:
    # Standard retries ride out throttling over the many describe calls of a long watch.
    config = Config(retries={"mode": "standard", "max_attempts": 5})

    def client(service: str) -> Any:
        return boto3.client(service, region_name=arguments.region, config=config)

    return Watch(
        stacks=Stacks(client("cloudformation")),
        sagemaker=client("sagemaker"),
        logs=client("logs"),
        poll_seconds=arguments.poll_seconds,
        timeout_minutes=arguments.timeout_minutes,
        clocks=clocks,
        progress=sys.stderr if sys.stderr.isatty() else None,
    )


def main(argv: Sequence[str] | None = None, clocks: Clocks = Clocks()) -> int:
    arguments = parse_arguments(argv)
    try:
        watch = create_watch(arguments, clocks)
    except BotoCoreError as error:  # e.g. no region configured
        print(f"watch: setup failed: {error}", file=sys.stderr)
        return 1
    watch.say(f"following {', '.join(arguments.stack_name)} for up to {arguments.timeout_minutes:g} minutes")
    try:
        follow(watch, arguments.stack_name)
    except StepFailed as failure:
        print(f"watch: {failure}", file=sys.stderr)
        return 1
    except TimedOut as timeout:
        print(f"watch: gave up after {arguments.timeout_minutes:g} minutes waiting for {timeout.step}", file=sys.stderr)
        return 3
    return 0
