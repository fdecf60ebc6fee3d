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
# - No attempt starts later than RETRY_WINDOW_S after the first, the back-off included.
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


def _with_retries(api: InferenceApi, call: Callable[[], T], *, attempts: int, sleep: Sleep, clock: Clock) -> T:
    """The result of ``call``, retried on the errors and within the bounds of the module's policy;
    any other error is a failure of the invocation, or of the stream if the stream raised it."""
    retry_deadline = clock() + RETRY_WINDOW_S
    attempt = 1
    while True:
        try:
            return call()
        except ClientError as error:
            code, message = error_code_and_message(error)
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


def _request(endpoint_name: str, payload: dict[str, Any], *, accept: str) -> dict[str, Any]:
    """The arguments of either call: the same JSON request, answered whole or as a stream."""
    return {
        "EndpointName": endpoint_name,
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
    attempts: int = MAX_ATTEMPTS,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
    watch: Callable[[TokenTimes], None] | None = None,
) -> StreamedAnswer:
    """The answer streamed for a request with "stream": true (`api.build_payload(..., stream=True)`),
    and when its tokens arrived: the clock is read as the request is sent and as each payload part
    arrives. `watch` sees the times so far as each part arrives (the stream's end being that part's
    arrival); what it raises stops the reading. A failure raises SmokeTestFailure, whose `check`
    says what failed: the invocation, the stream, or the answer's JSON, shape, text or token count."""

    def attempt() -> StreamedAnswer:
        request_sent = clock()
        response = client.invoke_endpoint_with_response_stream(
            **_request(endpoint_name, payload, accept="text/event-stream")
        )
        try:
            return read_answer(api, response["Body"], request_sent, clock, watch)
        finally:
            response["Body"].close()  # hands the connection back, also when the reading stopped early

    return _with_retries(api, attempt, attempts=attempts, sleep=sleep, clock=clock)
