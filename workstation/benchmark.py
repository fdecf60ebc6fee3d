"""Load an endpoint with concurrent requests for a fixed time and report speed.

Runs CONCURRENCY workers, each sending the smoke test's request of one API (the guide's Korean
prompt; by default TGI's generate, or with --stack-name the first API of the stack's smoke test,
completions for vLLM) back to back, one attempt per request, for DURATION seconds; requests in
flight at the deadline are awaited (each is bounded by the client's 70 s read timeout). Prints a
progress line to stderr while it runs, then a JSON summary on stdout: successful requests/s,
generated tokens/s and the p50/p95 wall time per generated token in ms. Exits 1 when no request
succeeded. Credentials, region and endpoint URLs come from the standard AWS configuration.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError

from workstation.endpoint_target import add_target_options, settings_from_arguments
from workstation.lambda_checks import failures, inference_apis, invocation, smoke_settings
from workstation.options import add_bounded_option, add_request_options, api_option

COMPILED_BATCH_SIZE = 4  # the guide compiles with --batch_size 4: four requests decode together
MAX_CONCURRENCY = 64
DEFAULT_DURATION_S = 60.0
MAX_DURATION_S = 3600.0
PROGRESS_INTERVAL_S = 1.0
# A worker pauses after a failure so a broken endpoint is not hammered in a tight loop.
PAUSE_AFTER_FAILURE_S = 1.0


@dataclass
class Tally:
    """Results shared by the worker threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ms_per_token: list[float] = field(default_factory=list)
    generated_tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def record_success(self, elapsed_s: float, generated_tokens: int) -> None:
        with self.lock:
            self.ms_per_token.append(elapsed_s * 1000 / generated_tokens)
            self.generated_tokens += generated_tokens

    def record_failure(self, message: str) -> None:
        with self.lock:
            self.failures[message] += 1


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _worker(
    client: invocation.EndpointInvoker,
    endpoint_name: str,
    api: inference_apis.InferenceApi,
    payload: dict[str, Any],
    tally: Tally,
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        try:
            # One attempt: retrying throttled requests would hide the overload this measures.
            body, elapsed_s = invocation.invoke(client, endpoint_name, api, payload)
            completion = inference_apis.parse_body(api, body)
        except failures.SmokeTestFailure as failure:
            tally.record_failure(str(failure))
            stop.wait(PAUSE_AFTER_FAILURE_S)
        else:
            tally.record_success(elapsed_s, completion.generated_tokens)


def _progress_line(tally: Tally, elapsed_s: float, duration_s: float) -> str:
    with tally.lock:
        succeeded, failed = len(tally.ms_per_token), sum(tally.failures.values())
        median = f"{percentile(tally.ms_per_token, 0.5):.2f}" if succeeded else "-"
    return f"\r{elapsed_s:5.0f}/{duration_s:.0f} s  {succeeded} ok  {failed} failed  p50 {median} ms/token "


def run_benchmark(
    client: invocation.EndpointInvoker,
    settings: smoke_settings.SmokeTestSettings,
    *,
    concurrency: int,
    duration_s: float,
) -> dict[str, Any]:
    """Run the workers, each calling the first of `settings.apis`, until the deadline (or Ctrl-C)
    and summarise what they measured."""
    api = inference_apis.INFERENCE_APIS[settings.apis[0]]
    endpoint_name = settings.endpoint_name
    payload = api.build_payload(settings.max_new_tokens, settings.stop_sequences)
    tally = Tally()
    stop = threading.Event()
    workers = [
        threading.Thread(target=_worker, args=(client, endpoint_name, api, payload, tally, stop))
        for _ in range(concurrency)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        while (remaining := started + duration_s - time.monotonic()) > 0:
            time.sleep(min(PROGRESS_INTERVAL_S, remaining))
            print(
                _progress_line(tally, time.monotonic() - started, duration_s),
                end="",
                file=sys.stderr,
                flush=True,
            )
    except KeyboardInterrupt:
        print("\ninterrupted; waiting for requests in flight", file=sys.stderr)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    print(file=sys.stderr)
    elapsed_s = time.monotonic() - started
    succeeded = len(tally.ms_per_token)
    return {
        "endpoint": endpoint_name,
        "api": api.name,
        "concurrency": concurrency,
        "duration_s": round(elapsed_s, 2),
        "requests_succeeded": succeeded,
        "requests_failed": sum(tally.failures.values()),
        "requests_per_s": round(succeeded / elapsed_s, 3),
        "generated_tokens_per_s": round(tally.generated_tokens / elapsed_s, 2),
        "ms_per_token_p50": round(percentile(tally.ms_per_token, 0.5), 3) if succeeded else None,
        "ms_per_token_p95": round(percentile(tally.ms_per_token, 0.95), 3) if succeeded else None,
        "failures": dict(tally.failures.most_common(5)),
    }


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_options(parser)
    parser.add_argument("--api", **api_option("generate, or the stack's first", repeatable=False))
    add_bounded_option(
        parser,
        "--concurrency",
        int,
        high=MAX_CONCURRENCY,
        default=COMPILED_BATCH_SIZE,
        shown_default=f"{COMPILED_BATCH_SIZE}, the compiled batch size",
        metavar="N",
        help="requests in flight at once",
    )
    add_bounded_option(
        parser,
        "--duration",
        float,
        high=MAX_DURATION_S,
        default=DEFAULT_DURATION_S,
        metavar="SECONDS",
        help="how long to send requests",
    )
    add_request_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        settings = settings_from_arguments(arguments, apis=(arguments.api,) if arguments.api else None)
        client = invocation.runtime_client(arguments.region, max_pool_connections=arguments.concurrency)
    except failures.SmokeTestFailure as failure:
        print(f"benchmark failed: {failure}", file=sys.stderr)
        return 1
    except BotoCoreError as error:  # e.g. no region configured
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    summary = run_benchmark(client, settings, concurrency=arguments.concurrency, duration_s=arguments.duration)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if not summary["requests_succeeded"]:
        print("benchmark failed: no request succeeded", file=sys.stderr)
        return 1
    return 0
