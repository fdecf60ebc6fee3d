"""Lambda entry point: smoke-test the SageMaker endpoint named in this function's environment.

Each API's answer is streamed (InvokeEndpointWithResponseStream), so the test times what the guide
timed: the decode time per token, from the first token to the last over the tokens after the
first (TGI's time_per_token, 49 ms in the guide), and apart from it the time from sending the
request to the first token (routing, queueing, the prompt's prefill). The summary also keeps the
wall time, request to end of stream, in total and per token.

Environment (set by the CDK construct):
  ENDPOINT_NAME         required; the endpoint to invoke
  INFERENCE_COMPONENT_NAME
                        the endpoint's inference component (scale_to_zero), named in every call;
                        while it has no copy a call waits for one, bounded (invocation.py)
  ENDPOINT_CONFIG_NAME  the endpoint configuration deployed with this version; the summary names it
  APIS                  JSON list of the APIs to check (default ["generate", "messages"])
  MAX_MS_PER_TOKEN      float, budget of decode time per token, first token to last (default 60)
  MAX_FIRST_TOKEN_MS    float, budget of time from the request to the first token (default 2000)
  MAX_NEW_TOKENS        int, tokens to generate per call (default 512, the guide's)
  STOP_SEQUENCES        JSON list of strings, e.g. ["<|im_end|>"] for Qwen (default [])
The defaults and the reasons for them are in smoke_settings.py.

The event is ignored: whoever invokes the function (a deployment trigger, a pipeline step, the
console) cannot point it at another endpoint or loosen the budget.
Returns the summary of run_smoke_test; raises SmokeTestFailure, which fails the invocation.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from failures import SmokeTestFailure
from invocation import EndpointInvoker, Sleep, runtime_client
from smoke_run import VERDICT_FAILED, VERDICT_PASSED, run_smoke_test
from smoke_settings import settings_from_environment
from streaming import Clock

LOGGER = logging.getLogger()
# A log level configured on the function (AWS_LAMBDA_LOG_LEVEL) is applied by the runtime itself;
# without one the root logger stays at WARNING, which would drop the INFO summary.
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    LOGGER.setLevel(logging.INFO)


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
        LOGGER.error("%s: %s", VERDICT_FAILED, failure)
        raise
    # The configuration a trigger run tests: a new one is deployed with every new model or setting.
    summary["endpoint_config"] = os.environ.get("ENDPOINT_CONFIG_NAME")
    LOGGER.info("%s: %s", VERDICT_PASSED, json.dumps(summary, ensure_ascii=False))
    return summary
