"""Load an endpoint with concurrent streamed requests, level after level, and report what LLMPerf and
FMBench report: time to first token, inter-token latency, end-to-end latency, throughput and cost.

For each concurrency level given (--concurrency 1,2,4,8), that many workers send the smoke test's
request of one API (by default TGI's generate, or with --stack-name the first API of the stack's smoke
test, completions for vLLM) with the prompts chosen (--prompts; the guide's Korean question by
default) back to back for DURATION seconds, one attempt per request, each answer streamed
(InvokeEndpointWithResponseStream) and timed token by token; requests in flight at the deadline are
awaited. A progress bar runs on stderr when it is a terminal (not with --quiet). Then a JSON summary
goes to stdout: the figures of each level (workstation/benchmark_report.py says what each is), at the
top as well when there is one level, as before; with --output-dir, also results.json, results.csv
(one row per request) and PNG charts. Exits 1 when a level had no successful request.

On a scale-to-zero endpoint every request names its inference component (the stack's
InferenceComponentName output, or --inference-component-name) and fails while it has no copy:
scripts/smoke_test.py, which waits for one, wakes it first.

Cost per million output tokens uses the endpoint's hourly price: its instances (read from the
endpoint with --stack-name, else --instance-type, by default the guide's ml.inf2.xlarge) at the
project's price table (workstation/prices.py, us-east-1 as read in 2025), or --price-per-hour.
Credentials, region and endpoint URLs come from the standard AWS configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from workstation import benchmark_report, prices
from workstation.benchmark_charts import draw_charts
from workstation.benchmark_run import load_of, run_levels
from workstation.endpoint_target import add_target_options, settings_from_arguments
from workstation.lambda_checks import failures, inference_apis, invocation
from workstation.options import add_bounded_option, add_request_options, api_option, at_most
from workstation.prompts import DEFAULT_PROMPTS, prompts_help, prompts_option

COMPILED_BATCH_SIZE = 4  # the guide compiles with --batch_size 4: four requests decode together
MAX_CONCURRENCY = 64
# Each level runs for --duration: eight levels of an hour are already a working day of an endpoint.
MAX_LEVELS = 8
DEFAULT_DURATION_S = 60.0
MAX_DURATION_S = 3600.0
MAX_PRICE_PER_HOUR = 1000.0
MAX_INSTANCES = 100


def concurrency_levels(text: str) -> tuple[int, ...]:
    """An argparse type: distinct concurrency levels, comma-separated, each in (0, MAX_CONCURRENCY]."""
    levels = tuple(at_most(int, MAX_CONCURRENCY)(item) for item in text.split(","))
    if len(set(levels)) != len(levels) or len(levels) > MAX_LEVELS:
        raise argparse.ArgumentTypeError(f"{text} is not at most {MAX_LEVELS} distinct levels")
    return levels


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_options(parser)
    parser.add_argument("--api", **api_option("generate, or the stack's first", repeatable=False))
    parser.add_argument(
        "--concurrency",
        type=concurrency_levels,
        default=(COMPILED_BATCH_SIZE,),
        metavar="N[,N...]",
        help="requests in flight at once; several levels, comma-separated, run one after the other "
        f"(default: {COMPILED_BATCH_SIZE}, the compiled batch size; each at most {MAX_CONCURRENCY}, "
        f"at most {MAX_LEVELS} levels)",
    )
    add_bounded_option(
        parser,
        "--duration",
        float,
        high=MAX_DURATION_S,
        default=DEFAULT_DURATION_S,
        metavar="SECONDS",
        help="how long to send requests at each level",
    )
    parser.add_argument(
        "--prompts",
        type=prompts_option,
        default=prompts_option(",".join(DEFAULT_PROMPTS)),
        metavar="NAMES",
        help=f"the prompts to send in turn, comma-separated, or 'all' (default: {','.join(DEFAULT_PROMPTS)}): "
        + prompts_help(),
    )
    parser.add_argument(
        "--output-dir", type=Path, metavar="DIR", help="write results.json, results.csv and PNG charts there"
    )
    add_bounded_option(
        parser,
        "--price-per-hour",
        float,
        high=MAX_PRICE_PER_HOUR,
        metavar="USD",
        shown_default="the price table's, for the endpoint's instance type",
        help="the on-demand price of one endpoint instance per hour",
    )
    parser.add_argument(
        "--instance-type",
        metavar="TYPE",
        help="the endpoint's instance type, for its price (default: read from the endpoint with --stack-name, "
        f"else {prices.DEFAULT_INSTANCE_TYPE})",
    )
    add_bounded_option(
        parser,
        "--instance-count",
        int,
        high=MAX_INSTANCES,
        default=1,
        metavar="N",
        help="how many instances of --instance-type serve the endpoint",
    )
    parser.add_argument("--note", metavar="TEXT", help="a line under each chart's title, e.g. what was deployed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_request_options(parser)
    return parser.parse_args(argv)


def endpoint_price(arguments: argparse.Namespace, endpoint_name: str, region: str | None) -> prices.HourlyPrice:
    """The endpoint's hourly price: of the instances it runs on now when --stack-name names it and no
    --instance-type is given, otherwise (or when they cannot be read) of --instance-count instances of
    --instance-type."""
    warnings = []
    instances: tuple[prices.Instances, ...] = ()
    assumed = (prices.Instances(arguments.instance_type or prices.DEFAULT_INSTANCE_TYPE, arguments.instance_count),)
    if arguments.stack_name and not arguments.instance_type:
        try:
            instances = prices.endpoint_instances(boto3.client("sagemaker", region_name=region), endpoint_name)
            unread = "" if instances else "it has no instance-backed variant"
        except (ClientError, BotoCoreError) as error:
            unread = str(error)
        if unread:
            fallback = f"{assumed[0].count} x {assumed[0].instance_type}"
            warnings.append(f"cannot read the instances of {endpoint_name} ({unread}); priced as {fallback}")
    price = prices.hourly_price(instances or assumed, region=region, price_per_hour=arguments.price_per_hour)
    return dataclasses.replace(price, warnings=(*warnings, *price.warnings))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    levels: tuple[int, ...] = arguments.concurrency
    try:
        settings = settings_from_arguments(arguments, apis=(arguments.api,) if arguments.api else None)
        client = invocation.runtime_client(arguments.region, max_pool_connections=max(levels))
    except failures.SmokeTestFailure as failure:
        print(f"benchmark failed: {failure}", file=sys.stderr)
        return 1
    except BotoCoreError as error:  # e.g. no region configured
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    api = inference_apis.INFERENCE_APIS[settings.apis[0]]
    price = endpoint_price(arguments, settings.endpoint_name, client.meta.region_name)
    for warning in price.warnings:
        print(f"benchmark: {warning}", file=sys.stderr)
    load = load_of(
        client,
        settings.endpoint_name,
        api,
        arguments.prompts,
        max_new_tokens=settings.max_new_tokens,
        stop_sequences=settings.stop_sequences,
        inference_component_name=settings.inference_component_name,
    )
    show_progress = not arguments.quiet and sys.stderr.isatty()
    runs = run_levels(load, levels, duration_s=arguments.duration, progress=sys.stderr if show_progress else None)
    document = benchmark_report.results(
        endpoint=settings.endpoint_name,
        api=api.name,
        prompts=[prompt.name for prompt in arguments.prompts],
        max_new_tokens=settings.max_new_tokens,
        price=price,
        runs=runs,
    )
    if arguments.output_dir:
        written = benchmark_report.write_results(arguments.output_dir, document, runs)
        written += draw_charts(document, arguments.output_dir, note=arguments.note)
        print(f"benchmark: wrote {', '.join(str(path) for path in written)}", file=sys.stderr)
    print(json.dumps(benchmark_report.printed_summary(document), ensure_ascii=False, indent=2))
    idle = [str(level["concurrency"]) for level in document["levels"] if not level["requests_succeeded"]]
    if idle:
        print(f"benchmark failed: no request succeeded at concurrency {', '.join(idle)}", file=sys.stderr)
        return 1
    return 0
