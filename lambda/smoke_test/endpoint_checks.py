"""Checks that a SageMaker endpoint answers each API its runtime serves, fast enough.

One module shared by the smoke-test Lambda (handler.py), scripts/smoke_test.py and
scripts/benchmark.py, so a workstation run and the post-deploy run judge an endpoint alike.
It needs only the standard library and boto3/botocore, which the Lambda runtime ships.

Retry policy (for the smoke test; the benchmark makes one attempt per request): retried, at
most MAX_ATTEMPTS times with exponential back-off and never starting later than RETRY_WINDOW_S
after the first attempt, are only the errors that say "try again":
ThrottlingException, and SageMaker's ServiceUnavailable, InternalFailure and
ModelNotReadyException. Not retried:
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
- Bad bodies (not JSON, wrong shape, empty text) and slow answers: those are the findings.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOGGER = logging.getLogger(__name__)

# The guide measured 49.02 and 49.27 ms per token on ml.inf2.xlarge (batch 4, fp16, 2 cores): TGI's
# own inference time. A wall clock adds the network, SageMaker's routing, queueing and the prefill,
# so an endpoint performing exactly as in the guide measures above 49; 60 ms (about 1.2 times)
# still fails one that lost half its cores or fell off the Neuron device.
DEFAULT_MAX_MS_PER_TOKEN = 60.0
# The guide's max_new_tokens: over 512 tokens the prompt's prefill weighs on the time per token
# as little as in the guide's measurement.
DEFAULT_MAX_NEW_TOKENS = 512

# Each run's verdict begins with one of these, followed by ": " and the summary or the failure:
# scripts/watch.py finds the verdict in the function's log by them.
VERDICT_PASSED = "smoke test passed"
VERDICT_FAILED = "smoke test failed"

# The guide's two: TGI's generate API and the OpenAI-style messages API.
DEFAULT_APIS = ("generate", "messages")

PROMPT = "딥러닝이 뭐야?"  # "What is deep learning?", the guide's own question
SYSTEM_MESSAGE = "You are an AI expert."

MAX_ATTEMPTS = 4
FIRST_BACKOFF_S = 1.0  # doubles each retry: at most 1 + 2 + 4 = 7 s asleep per call
# With the client's timeouts (10 s connect, 70 s read) one API's check ends within
# RETRY_WINDOW_S + 80 s, so both end within 400 s: inside a 10-minute Lambda timeout.
RETRY_WINDOW_S = 120.0
RETRYABLE_ERROR_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "ModelNotReadyException"}
)

PREVIEW_CHARS = 80  # enough to recognise the answer, little enough to keep model output out of logs
ERROR_DETAIL_CHARS = 300

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Check(StrEnum):
    """What a failed smoke test was checking; its value is what the failure message says."""

    CONFIGURATION = "configuration"
    INVOCATION = "invocation"
    JSON_BODY = "JSON body"
    SHAPE = "response shape"
    NON_EMPTY_TEXT = "non-empty text"
    TIME_PER_TOKEN = "time per token"


class SmokeTestFailure(Exception):
    """A failed check; the message names the API and the check, so an alarm says what broke."""

    def __init__(self, check: Check, api: str | None, detail: str) -> None:
        super().__init__(f"{api or 'smoke test'}: {check} check failed: {detail}")
        self.check = check
        self.api = api


class EndpointInvoker(Protocol):
    """The one call of a boto3 ``sagemaker-runtime`` client these checks use."""

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SmokeTestSettings:
    """What to call and how strictly to judge it; validated once, here, for every caller."""

    endpoint_name: str
    max_ms_per_token: float = DEFAULT_MAX_MS_PER_TOKEN
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    stop_sequences: tuple[str, ...] = ()
    # The APIs to check, by name (INFERENCE_APIS), in order.
    apis: tuple[str, ...] = DEFAULT_APIS

    def __post_init__(self) -> None:
        problems = []
        if not self.endpoint_name:
            problems.append("the endpoint name is empty")
        unknown = [api for api in self.apis if api not in INFERENCE_APIS]
        if unknown or not self.apis:
            problems.append(f"APIs {list(self.apis)!r} must be some of {', '.join(INFERENCE_APIS)}")
        if not (math.isfinite(self.max_ms_per_token) and self.max_ms_per_token > 0):
            problems.append(f"the budget {self.max_ms_per_token} ms per token is not a positive number")
        if self.max_new_tokens < 1:
            problems.append(f"max new tokens {self.max_new_tokens} is below 1")
        if not all(isinstance(stop, str) and stop for stop in self.stop_sequences):
            problems.append(f"stop sequences {list(self.stop_sequences)!r} must be non-empty strings")
        if problems:
            raise SmokeTestFailure(Check.CONFIGURATION, None, "; ".join(problems))


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
    """The settings the CDK construct puts in the smoke-test function's environment (see handler.py)."""
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


@dataclass(frozen=True)
class Completion:
    """The part of a TGI answer the checks judge."""

    text: str
    generated_tokens: int


@dataclass(frozen=True)
class InferenceApi:
    """A request style a runtime accepts on SageMaker's /invocations route, which tells them apart
    by the payload's shape: TGI 3.0.0 (router/src/sagemaker.rs) takes generate and messages, vLLM
    0.11 (entrypoints/openai/api_server.py) chat completions, here "messages", and completions."""

    name: str
    build_payload: Callable[[int, Sequence[str]], dict[str, Any]]
    parse_completion: Callable[[Any], Completion]


def _generate_payload(max_new_tokens: int, stop_sequences: Sequence[str]) -> dict[str, Any]:
    # details=true makes TGI count the generated tokens, the divisor of the time per token.
    parameters: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "return_full_text": False,
        "details": True,
    }
    if stop_sequences:
        parameters["stop"] = list(stop_sequences)
    return {"inputs": PROMPT, "parameters": parameters}


def _messages_payload(max_new_tokens: int, stop_sequences: Sequence[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": SYSTEM_MESSAGE},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": max_new_tokens,
    }
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    return payload


def _completions_payload(max_new_tokens: int, stop_sequences: Sequence[str]) -> dict[str, Any]:
    # No "model": vLLM answers 404 to any name but the one it serves, and takes none as that one.
    payload: dict[str, Any] = {"prompt": PROMPT, "max_tokens": max_new_tokens}
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    return payload


def _field(document: Any, path: Sequence[str | int], kind: type, api: str) -> Any:
    """The value at ``path`` if it has type ``kind``; otherwise a shape failure naming the path."""
    rendered = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)
    rendered = rendered.lstrip(".")
    value = document
    for step in path:
        present = (
            isinstance(value, list) and 0 <= step < len(value)
            if isinstance(step, int)
            else isinstance(value, dict) and step in value
        )
        if not present:
            raise SmokeTestFailure(
                Check.SHAPE,
                api,
                f"no {rendered} in the body {_preview(json.dumps(document, ensure_ascii=False))!r}",
            )
        value = value[step]
    # bool is a subclass of int, and JSON true is no token count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SmokeTestFailure(Check.SHAPE, api, f"{rendered} is {type(value).__name__}, expected {kind.__name__}")
    return value


def _completion(api: str, text: str, generated_tokens: int) -> Completion:
    if not text.strip():
        raise SmokeTestFailure(Check.NON_EMPTY_TEXT, api, f"the model returned no text ({generated_tokens} tokens)")
    if generated_tokens < 1:
        raise SmokeTestFailure(Check.SHAPE, api, f"{generated_tokens} generated tokens reported for non-empty text")
    return Completion(text=text, generated_tokens=generated_tokens)


def _parse_generate(document: Any) -> Completion:
    # SageMaker's /invocations wraps TGI's generate answer in a one-element list.
    api = GENERATE.name
    return _completion(
        api,
        _field(document, (0, "generated_text"), str, api),
        _field(document, (0, "details", "generated_tokens"), int, api),
    )


def _openai_parser(api: str, kind: str, text: Sequence[str | int]) -> Callable[[Any], Completion]:
    """A parser of an OpenAI-shaped answer: its `object` is `kind`, its text at `text`."""

    def parse(document: Any) -> Completion:
        answered = _field(document, ("object",), str, api)
        if answered != kind:
            raise SmokeTestFailure(Check.SHAPE, api, f"object is {answered!r}, expected {kind!r}")
        return _completion(
            api, _field(document, text, str, api), _field(document, ("usage", "completion_tokens"), int, api)
        )

    return parse


GENERATE = InferenceApi("generate", _generate_payload, _parse_generate)
MESSAGES = InferenceApi(
    "messages", _messages_payload, _openai_parser("messages", "chat.completion", ("choices", 0, "message", "content"))
)
COMPLETIONS = InferenceApi(
    "completions", _completions_payload, _openai_parser("completions", "text_completion", ("choices", 0, "text"))
)
INFERENCE_APIS = {api.name: api for api in (GENERATE, MESSAGES, COMPLETIONS)}


def runtime_client(region_name: str | None = None, *, max_pool_connections: int = 10) -> Any:
    """A ``sagemaker-runtime`` client whose only retries are this module's."""
    config = Config(
        # One retry policy, the logged one above: botocore's would multiply the attempts unseen.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        # SageMaker ends a real-time invocation at 60 s with a ModelError: wait for that answer.
        read_timeout=70,
        max_pool_connections=max_pool_connections,
    )
    return boto3.client("sagemaker-runtime", region_name=region_name, config=config)


def invoke(
    client: EndpointInvoker,
    endpoint_name: str,
    api: InferenceApi,
    payload: dict[str, Any],
    *,
    attempts: int = MAX_ATTEMPTS,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
) -> tuple[bytes, float]:
    """The response body and the wall time in seconds of the attempt that answered."""
    retry_deadline = clock() + RETRY_WINDOW_S
    attempt = 1
    while True:
        started = clock()
        try:
            response = client.invoke_endpoint(
                EndpointName=endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(payload).encode("utf-8"),
            )
            body: bytes = response["Body"].read()
            return body, clock() - started
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            delay = FIRST_BACKOFF_S * 2 ** (attempt - 1)
            retry = code in RETRYABLE_ERROR_CODES and attempt < attempts and clock() + delay <= retry_deadline
            if not retry:
                message = error.response.get("Error", {}).get("Message", "")
                plural = "s" if attempt > 1 else ""
                detail = f"{code} after {attempt} attempt{plural}: {message}"
                raise SmokeTestFailure(Check.INVOCATION, api.name, detail[:ERROR_DETAIL_CHARS]) from error
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


def parse_body(api: InferenceApi, body: bytes) -> Completion:
    """The completion in a response body, or the failure of the first check it does not pass."""
    try:
        document = json.loads(body)
    except ValueError as error:  # also covers bodies that are not UTF-8
        shown = _preview(body.decode("utf-8", errors="replace"))
        raise SmokeTestFailure(Check.JSON_BODY, api.name, f"the body is not JSON: {shown!r}") from error
    return api.parse_completion(document)


def check_api(
    client: EndpointInvoker,
    settings: SmokeTestSettings,
    api: InferenceApi,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Call one API once (retrying only transient errors) and judge the answer and its speed."""
    payload = api.build_payload(settings.max_new_tokens, settings.stop_sequences)
    body, elapsed_s = invoke(client, settings.endpoint_name, api, payload, sleep=sleep, clock=clock)
    completion = parse_body(api, body)
    # Wall time includes the network, routing and prefill, so this is above TGI's own figure.
    ms_per_token = elapsed_s * 1000 / completion.generated_tokens
    if ms_per_token > settings.max_ms_per_token:
        raise SmokeTestFailure(
            Check.TIME_PER_TOKEN,
            api.name,
            f"{ms_per_token:.1f} ms per token ({elapsed_s * 1000:.0f} ms for"
            f" {completion.generated_tokens} tokens) is over the"
            f" {settings.max_ms_per_token:g} ms budget",
        )
    return {
        "wall_ms_per_token": round(ms_per_token, 3),
        "generated_tokens": completion.generated_tokens,
        "elapsed_ms": round(elapsed_s * 1000, 1),
        "preview": _preview(completion.text),
    }


def run_smoke_test(
    client: EndpointInvoker,
    settings: SmokeTestSettings,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Check each API in turn, stopping at the first failure; a JSON-serializable summary that
    puts the budget beside each API's measured wall time per token."""
    summary: dict[str, Any] = {
        "endpoint": settings.endpoint_name,
        "max_ms_per_token": settings.max_ms_per_token,
    }
    for name in settings.apis:
        summary[name] = check_api(client, settings, INFERENCE_APIS[name], sleep=sleep, clock=clock)
    return summary


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
