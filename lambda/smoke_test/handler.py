"""Lambda entry point: smoke-test the SageMaker endpoint named in this function's environment.

Environment (set by the CDK construct):
  ENDPOINT_NAME         required; the endpoint to invoke
  ENDPOINT_CONFIG_NAME  the endpoint configuration deployed with this version; the summary names it
  APIS                  JSON list of the APIs to check (default ["generate", "messages"])
  MAX_MS_PER_TOKEN      float, budget of wall time per generated token (default 60)
  MAX_NEW_TOKENS        int, tokens to generate per call (default 512, the guide's)
  STOP_SEQUENCES        JSON list of strings, e.g. ["<|im_end|>"] for Qwen (default [])

The event is ignored: whoever invokes the function (a deployment trigger, a pipeline step, the
console) cannot point it at another endpoint or loosen the budget.
Returns the summary of run_smoke_test; raises SmokeTestFailure, which fails the invocation.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from endpoint_checks import (
    DEFAULT_APIS,
    DEFAULT_MAX_MS_PER_TOKEN,
    DEFAULT_MAX_NEW_TOKENS,
    Check,
    Clock,
    EndpointInvoker,
    Sleep,
    SmokeTestFailure,
    SmokeTestSettings,
    run_smoke_test,
    runtime_client,
)

LOGGER = logging.getLogger()
# A log level configured on the function (AWS_LAMBDA_LOG_LEVEL) is applied by the runtime itself;
# without one the root logger stays at WARNING, which would drop the INFO summary.
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    LOGGER.setLevel(logging.INFO)


Number = TypeVar("Number", int, float)


def _number_from_environment(
    environ: Mapping[str, str], name: str, parse: Callable[[str], Number], default: Number
) -> Number:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise SmokeTestFailure(
            Check.CONFIGURATION, None, f"{name}={raw!r} cannot be read as {parse.__name__}"
        ) from error


def _list_from_environment(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        items = json.loads(raw)
    except ValueError as error:
        raise SmokeTestFailure(Check.CONFIGURATION, None, f"{name}={raw!r} is not JSON") from error
    if not isinstance(items, list):
        raise SmokeTestFailure(Check.CONFIGURATION, None, f"{name}={raw!r} is not a JSON list")
    return tuple(items)


def settings_from_environment(environ: Mapping[str, str]) -> SmokeTestSettings:
    """The settings the CDK construct put in the function's environment."""
    endpoint_name = environ.get("ENDPOINT_NAME", "")
    if not endpoint_name:
        raise SmokeTestFailure(Check.CONFIGURATION, None, "ENDPOINT_NAME is not set")
    return SmokeTestSettings(
        endpoint_name=endpoint_name,
        max_ms_per_token=_number_from_environment(environ, "MAX_MS_PER_TOKEN", float, DEFAULT_MAX_MS_PER_TOKEN),
        max_new_tokens=_number_from_environment(environ, "MAX_NEW_TOKENS", int, DEFAULT_MAX_NEW_TOKENS),
        stop_sequences=_list_from_environment(environ, "STOP_SEQUENCES", ()),
        apis=_list_from_environment(environ, "APIS", DEFAULT_APIS),
    )


def handler(
    event: Mapping[str, Any],
    context: object,
    *,
    client: EndpointInvoker | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Run the smoke test; the keyword-only arguments exist for tests, Lambda passes none."""
    try:
        settings = settings_from_environment(os.environ)
        # A new client per invocation: the function runs once per deployment, so a warm
        # container's cached client would save nothing worth a module global.
        summary = run_smoke_test(client or runtime_client(), settings, sleep=sleep, clock=clock)
    except SmokeTestFailure as failure:
        LOGGER.error("smoke test failed: %s", failure)
        raise
    # The configuration a trigger run tests: a new one is deployed with every new model or setting.
    summary["endpoint_config"] = os.environ.get("ENDPOINT_CONFIG_NAME")
    LOGGER.info("smoke test passed: %s", json.dumps(summary, ensure_ascii=False))
    return summary
