"""Calling the endpoint: the runtime client and a streamed InvokeEndpointWithResponseStream (read by
streaming.py), whose errors become the SmokeTestFailure of the check they fail.

Retry policy (for the smoke test; the benchmark makes one attempt per request): retried, at
most MAX_ATTEMPTS times with exponential back-off and never starting later than RETRY_WINDOW_S
after the first attempt, are only the errors that say "try again":
ThrottlingException, and SageMaker's ServiceUnavailable, InternalFailure and
ModelNotReadyException, and a stream's InternalStreamFailure ("Try your request again", says its
API reference) when it comes before any part of the answer. Once a part has arrived nothing is
retried: the answer has begun, and a second request would time another one. Not retried:
- ModelError: the container answered and failed. TGI's failures (input validation, generation
  errors) repeat for the same request, so a retry only doubles the load and the wait. TGI's own
  "model is overloaded" also arrives as a ModelError; one request at a time cannot cause it.
- ValidationError, including "Endpoint ... not found": the smoke test runs after CloudFormation
  reports the endpoint InService, so a missing endpoint is a wrong name or a deleted endpoint,
  which no few-second back-off fixes; waiting for an endpoint to come up belongs to the
  deployment, not to the test.
- Connection failures and timeouts: after deployment an unreachable endpoint is a network or
  configuration fault, and a timeout means an invocation already ran past SageMaker's minute;
  repeating either only delays the report.
- A stream's ModelStreamError (the model overran SageMaker's time or its connection broke, per
  the API reference), the model's own error event inside the stream, and a stream cut short.
- Bad bodies (not JSON, wrong shape, empty text) and slow answers: those are the findings.

An endpoint that hosts an inference component (scale_to_zero) is called with the component's name,
and one answer of ValidationError is waited on rather than failed: "Inference Component has no
capacity to process this request", the component's answer while it has no copy (scaled to zero,
or on its way back). The call is repeated every CAPACITY_POLL_S while the caller's wait for a copy
lasts, apart from the attempts above; every other ValidationError still fails at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EventStreamError
from failures import ERROR_DETAIL_CHARS, Check, SmokeTestFailure, error_code_and_message
from inference_apis import InferenceApi
from streaming import Clock, StreamedAnswer, TokenTimes, read_answer

LOGGER = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
FIRST_BACKOFF_S = 1.0  # doubles each retry: at most 1 + 2 + 4 = 7 s asleep per call
# The longest run, for the function's timeout (inf2_llm/components/endpoint_smoke_test.py):
# - No attempt starts later than RETRY_WINDOW_S after the first, the back-off and the waits for a
#   copy included: the function's wait for a copy, CAPACITY_WAIT_S, is that same window (a caller
#   that waits longer for a copy, the workstation's smoke test, widens the window to its wait).
# - An answer that passes has ended B = the first-token budget + (tokens - 1) x the decode budget
#   after its request (2 + 511 x 0.06 = 32.7 s by default): the budgets are checked as each part
#   arrives, the stream's end included, so a part after that fails the answer.
# - An attempt that fails ends within the longer of 10 s connect + 2 x 70 s read (the headers
#   late, then the first part late, over the first-token budget) and B + 70 s (a silence after a
#   last part still within the budgets): the client's read timeout bounds each silence.
# With two APIs, the first passing and the second failing: RETRY_WINDOW_S + B + RETRY_WINDOW_S +
# max(150 s, B + 70 s), which is 120 + 32.7 + 120 + 150 = 423 s with the default budgets, and
# 590 s with the longest B the configuration accepts, 140 s (inf2_llm/config/checks.py).
RETRY_WINDOW_S = 120.0
RETRYABLE_ERROR_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "ModelNotReadyException", "InternalStreamFailure"}
)

# InvokeEndpoint's InferenceComponentName: "If the endpoint hosts one or more inference components,
# this parameter specifies the name of inference component to invoke"
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html; the
# streamed call's is the same header, X-Amzn-SageMaker-Inference-Component, in botocore's model).
# Without it such an endpoint refuses every request ("Inference Component Name header is required
# for endpoints to which you plan to deploy inference components").
#
# A component with no copy answers HTTP 400 ValidationError "Inference Component has no capacity to
# process this request. ApplicationAutoScaling may be in-progress (if configured) or try to increase
# the capacity by invoking UpdateInferenceComponentRuntimeConfig API." (AWS's blog "Unlock cost
# savings with the new scale down to zero feature in SageMaker Inference",
# https://aws.amazon.com/blogs/machine-learning/unlock-cost-savings-with-the-new-scale-down-to-zero-feature-in-sagemaker-inference/).
# Only its first sentence is matched: the advice after it may be reworded without meaning otherwise.
NO_CAPACITY_CODE = "ValidationError"
NO_CAPACITY_MESSAGE = "Inference Component has no capacity to process this request."
# Each such answer counts in NoCapacityInvocationFailures, whose alarm starts the scale-out from
# zero over one-minute periods: a request every 15 s finds the copy within 15 s of its arrival and
# adds nothing the alarm needs.
CAPACITY_POLL_S = 15.0
# How long the smoke-test function waits for a copy: its retry window, so the bound above holds as
# it is. The function cannot wait out a scale from zero: "the provisioning process takes several
# minutes. During that time, any attempts to invoke the endpoint will produce an error"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html), and
# then the instance loads the model within the endpoint's start-up timeout (1800 s by default; the
# guide's deploys took 14-17 minutes), longer than Lambda's 15 minutes. At deploy it need not: the
# trigger runs once the component is in service with the copy it is created with (or set back to
# by an update that changes it). What it waits for is a copy nearly back, e.g. when a change to the
# smoke test's own settings re-runs the trigger while the component idles at zero; past the window
# it fails saying so, and scripts/smoke_test.py, outside Lambda, can wait as long as a scale takes.
CAPACITY_WAIT_S = RETRY_WINDOW_S


Sleep = Callable[[float], None]
T = TypeVar("T")


class EndpointInvoker(Protocol):
    """The calls of a boto3 ``sagemaker-runtime`` client these checks use."""

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]: ...

    def invoke_endpoint_with_response_stream(self, **kwargs: Any) -> dict[str, Any]: ...


def runtime_client(region_name: str | None = None, *, max_pool_connections: int = 10) -> Any:
    """A ``sagemaker-runtime`` client whose only retries are this module's."""
    config = Config(
        # One retry policy, the logged one above: botocore's would multiply the attempts unseen.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        # On a stream this bounds each wait for the next bytes, which TGI's keep-alive breaks every
        # 15 s; 70 s is what the InvokeEndpoint API reference advises for a model given 60 s.
        read_timeout=70,
        max_pool_connections=max_pool_connections,
    )
    return boto3.client("sagemaker-runtime", region_name=region_name, config=config)


def _has_no_copy(code: str, message: str) -> bool:
    return code == NO_CAPACITY_CODE and message.startswith(NO_CAPACITY_MESSAGE)


def _with_retries(
    api: InferenceApi,
    call: Callable[[], T],
    *,
    attempts: int,
    inference_component_name: str | None,
    capacity_wait_s: float,
    sleep: Sleep,
    clock: Clock,
) -> T:
    """The result of ``call``, retried on the errors and within the bounds of the module's policy,
    and repeated while the inference component has no copy, for up to `capacity_wait_s` after the
    first attempt; any other error is a failure of the invocation, or of the stream if the stream
    raised it."""
    started = clock()
    retry_deadline = started + max(RETRY_WINDOW_S, capacity_wait_s)
    attempt = 1
    while True:
        try:
            return call()
        except ClientError as error:
            code, message = error_code_and_message(error)
            if inference_component_name and _has_no_copy(code, message):
                waited = clock() - started
                if waited + CAPACITY_POLL_S > capacity_wait_s:
                    detail = (
                        f"{code}: inference component {inference_component_name} still has no copy after"
                        f" {waited:.0f} s, the longest this check waits for a scale from zero ({capacity_wait_s:.0f} s);"
                        " a scale from zero takes several minutes and the model's start-up: try again later"
                    )
                    raise SmokeTestFailure(Check.INVOCATION, api.name, detail[:ERROR_DETAIL_CHARS]) from error
                LOGGER.warning(
                    "%s: inference component %s has no copy yet: waiting for it to scale from zero, %.0f s of %.0f",
                    api.name,
                    inference_component_name,
                    waited,
                    capacity_wait_s,
                )
                sleep(CAPACITY_POLL_S)
                continue
            delay = FIRST_BACKOFF_S * 2 ** (attempt - 1)
            retry = code in RETRYABLE_ERROR_CODES and attempt < attempts and clock() + delay <= retry_deadline
            if not retry:
                plural = "s" if attempt > 1 else ""
                detail = f"{code} after {attempt} attempt{plural}: {message}"
                check = Check.STREAM if isinstance(error, EventStreamError) else Check.INVOCATION
                raise SmokeTestFailure(check, api.name, detail[:ERROR_DETAIL_CHARS]) from error
            LOGGER.warning(
                "%s: %s on attempt %d of %d; retrying in %.0f s",
                api.name,
                code,
                attempt,
                attempts,
                delay,
            )
            sleep(delay)
            attempt += 1
        except BotoCoreError as error:
            detail = f"{type(error).__name__}: {error}"
            raise SmokeTestFailure(Check.INVOCATION, api.name, detail[:ERROR_DETAIL_CHARS]) from error


def _request(
    endpoint_name: str, inference_component_name: str | None, payload: dict[str, Any], *, accept: str
) -> dict[str, Any]:
    """The arguments of either call: the same JSON request, answered whole or as a stream, by the
    endpoint or by its inference component."""
    component = {"InferenceComponentName": inference_component_name} if inference_component_name else {}
    return {
        "EndpointName": endpoint_name,
        **component,
        "ContentType": "application/json",
        "Accept": accept,
        "Body": json.dumps(payload).encode("utf-8"),
    }


def invoke_stream(
    client: EndpointInvoker,
    endpoint_name: str,
    api: InferenceApi,
    payload: dict[str, Any],
    *,
    inference_component_name: str | None = None,
    attempts: int = MAX_ATTEMPTS,
    capacity_wait_s: float = 0.0,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
    watch: Callable[[TokenTimes], None] | None = None,
) -> StreamedAnswer:
    """The answer streamed for a request with "stream": true (`api.build_payload(...)`),
    and when its tokens arrived: the clock is read as the request is sent and as each payload part
    arrives. `watch` sees the times so far as each part arrives (the stream's end being that part's
    arrival); what it raises stops the reading. A failure raises SmokeTestFailure, whose `check`
    says what failed: the invocation, the stream, or the answer's JSON, shape, text or token count.
    With `inference_component_name` the component is called, and while it has no copy the call is
    repeated for up to `capacity_wait_s` (none by default: that answer then fails the call)."""

    def attempt() -> StreamedAnswer:
        request_sent = clock()
        response = client.invoke_endpoint_with_response_stream(
            **_request(endpoint_name, inference_component_name, payload, accept="text/event-stream")
        )
        try:
            return read_answer(api, response["Body"], request_sent, clock, watch)
        finally:
            response["Body"].close()  # hands the connection back, also when the reading stopped early

    return _with_retries(
        api,
        attempt,
        attempts=attempts,
        inference_component_name=inference_component_name,
        capacity_wait_s=capacity_wait_s,
        sleep=sleep,
        clock=clock,
    )
