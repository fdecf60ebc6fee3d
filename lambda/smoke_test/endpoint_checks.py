"""Checks that a SageMaker endpoint answers each API its runtime serves, fast enough.

One module shared by the smoke-test Lambda (handler.py), scripts/smoke_test.py and
scripts/benchmark.py, so a workstation run and the post-deploy run judge an endpoint alike.
It needs only the standard library and boto3/botocore, which the Lambda runtime ships.

The smoke test streams each answer (InvokeEndpointWithResponseStream, "stream": true), so it
times what the guide timed: the decode time per token, from the first token to the last, and
apart from it the time to the first token (streaming.py reads the stream). A blocking
InvokeEndpoint (`invoke`) stays for callers that need only the whole answer.

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
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import boto3
from botocore.config import Config
from botocore.eventstream import ParserError
from botocore.exceptions import BotoCoreError, ClientError, EventStreamError
from streaming import TokenTimes, arrivals

# botocore's HTTP layer, shipped with it: a stream is read from urllib3 directly, so a connection
# cut or a read timeout in the middle of an answer raises urllib3's errors, not botocore's.
from urllib3.exceptions import HTTPError as TransportError  # type: ignore[import-untyped]

LOGGER = logging.getLogger(__name__)

# The guide measured 49.02 and 49.27 ms per token on ml.inf2.xlarge (batch 4, fp16, 2 cores):
# TGI's inference time over the generated tokens, which for the guide's short prompt and 512
# tokens is almost all decoding. The smoke test measures the same thing on the stream, from the
# first token to the last. 60 ms (about 1.2 times) leaves room for run-to-run and model-to-model
# differences (Qwen 2.5 7B, the vLLM runtime) and for another request's prefill pausing the
# batch; the stream's delivery jitter hardly counts, since only the first and the last token's
# delay enter, once, over hundreds of tokens. A decode slower than that is not the guide's setup.
DEFAULT_MAX_MS_PER_TOKEN = 60.0
# The time to the first token is the request's way in (a new TLS connection, SageMaker's routing)
# plus the prefill of the guide's prompt, a few dozen tokens: one forward pass over the prompt,
# comparable to a few decode steps, so a healthy endpoint sends its first token well within a
# second. 2000 ms, about 40 decode steps at the guide's 49 ms, leaves room for a slow first
# connection; a request queued behind a full batch (each of the 4 compiled slots is held for up to
# 25 s by a 512-token answer) or a prefill off the Neuron device still fails.
DEFAULT_MAX_FIRST_TOKEN_MS = 2000.0
# The guide's max_new_tokens: hundreds of intervals between tokens make the decode time per token
# a mean that one late token does not move.
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
# With the client's timeouts (10 s connect, 70 s read, which on a stream bounds each silence) and
# the budgets checked as parts arrive, one API's check ends within about RETRY_WINDOW_S + 10 s +
# 2 x 70 s + the budgets' 33 s (2 s, and 511 tokens at 60 ms) = 303 s, and typically in the
# answer's 30 s: two checks reach the 10-minute Lambda timeout only if both stall for the full
# read timeout twice after two minutes of retries, the first still passing.
RETRY_WINDOW_S = 120.0
RETRYABLE_ERROR_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "ModelNotReadyException", "InternalStreamFailure"}
)

# The OpenAI-style streams end with this event (TGI v3.0.0 router/src/server.rs, chat_completions;
# vLLM v0.11.0 serving_chat.py and serving_completion.py); TGI's generate stream has none. It
# carries nothing: an answer is complete when an event says why it ended.
END_OF_STREAM = "[DONE]"

PREVIEW_CHARS = 80  # enough to recognise the answer, little enough to keep model output out of logs
ERROR_DETAIL_CHARS = 300

Clock = Callable[[], float]
Sleep = Callable[[float], None]
T = TypeVar("T")


class Check(StrEnum):
    """What a failed smoke test was checking; its value is what the failure message says."""

    CONFIGURATION = "configuration"
    INVOCATION = "invocation"
    STREAM = "stream"
    JSON_BODY = "JSON body"
    SHAPE = "response shape"
    NON_EMPTY_TEXT = "non-empty text"
    TOKEN_COUNT = "token count"
    FIRST_TOKEN = "time to first token"
    TIME_PER_TOKEN = "time per token"


class SmokeTestFailure(Exception):
    """A failed check; the message names the API and the check, so an alarm says what broke."""

    def __init__(self, check: Check, api: str | None, detail: str) -> None:
        super().__init__(f"{api or 'smoke test'}: {check} check failed: {detail}")
        self.check = check
        self.api = api


class EndpointInvoker(Protocol):
    """The calls of a boto3 ``sagemaker-runtime`` client these checks use."""

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]: ...

    def invoke_endpoint_with_response_stream(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SmokeTestSettings:
    """What to call and how strictly to judge it; validated once, here, for every caller."""

    endpoint_name: str
    max_ms_per_token: float = DEFAULT_MAX_MS_PER_TOKEN
    max_first_token_ms: float = DEFAULT_MAX_FIRST_TOKEN_MS
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
        for budget, unit in (
            (self.max_ms_per_token, "ms per token"),
            (self.max_first_token_ms, "ms to the first token"),
        ):
            if not (math.isfinite(budget) and budget > 0):
                problems.append(f"the budget {budget} {unit} is not a positive number")
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
        max_first_token_ms=_number_from_environment(environ, "MAX_FIRST_TOKEN_MS", float, DEFAULT_MAX_FIRST_TOKEN_MS),
        max_new_tokens=_number_from_environment(environ, "MAX_NEW_TOKENS", int, DEFAULT_MAX_NEW_TOKENS),
        stop_sequences=_list_from_environment(environ, "STOP_SEQUENCES", ()),
        apis=_list_from_environment(environ, "APIS", DEFAULT_APIS),
    )


@dataclass(frozen=True)
class Completion:
    """The part of an answer the checks judge."""

    text: str
    generated_tokens: int


@dataclass(frozen=True)
class StreamedAnswer:
    """A streamed answer and when its tokens arrived."""

    completion: Completion
    times: TokenTimes


@dataclass(frozen=True)
class StreamEvent:
    """What one server-sent event of a streamed answer says."""

    token: bool = False  # it carries one generated token
    text: str = ""  # the text that token adds: empty for a special token or half a character
    finished: bool = False  # the server says why the answer ended
    reported_tokens: int | None = None  # the server's own count of the answer's tokens
    names_role: bool = False  # a chat chunk whose delta names the role


class PayloadBuilder(Protocol):
    """Builds an API's request body; with stream=True, the streamed form of the same request."""

    def __call__(
        self, max_new_tokens: int, stop_sequences: Sequence[str], *, stream: bool = False
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class InferenceApi:
    """A request style a runtime accepts on SageMaker's /invocations route, which tells them apart
    by the payload's shape: TGI 3.0.0 (router/src/sagemaker.rs) takes generate and messages, vLLM
    0.11 (entrypoints/openai/api_server.py) chat completions, here "messages", and completions.
    Both answer a request with "stream": true on the same route as a stream of server-sent events."""

    name: str
    build_payload: PayloadBuilder
    parse_completion: Callable[[Any], Completion]
    parse_stream_event: Callable[[Any], StreamEvent]


def _generate_payload(max_new_tokens: int, stop_sequences: Sequence[str], *, stream: bool = False) -> dict[str, Any]:
    # details=true makes TGI count the generated tokens: in the answer, or on a stream's last event.
    parameters: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "return_full_text": False,
        "details": True,
    }
    if stop_sequences:
        parameters["stop"] = list(stop_sequences)
    payload: dict[str, Any] = {"inputs": PROMPT, "parameters": parameters}
    if stream:
        # TGI v3.0.0 router/src/lib.rs, CompatGenerateRequest.stream: server.rs compat_generate
        # then answers as /generate_stream does.
        payload["stream"] = True
    return payload


def _openai_stream_options(payload: dict[str, Any], stream: bool) -> dict[str, Any]:
    if stream:
        # Both servers put the usage in a stream only when asked (vLLM v0.11.0 serving_chat.py
        # and serving_completion.py, include_usage; TGI v3.0.0 server.rs,
        # create_event_from_stream_token); vLLM refuses stream_options without stream
        # (protocol.py, validate_stream_options).
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def _messages_payload(max_new_tokens: int, stop_sequences: Sequence[str], *, stream: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": SYSTEM_MESSAGE},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": max_new_tokens,
    }
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    return _openai_stream_options(payload, stream)


def _completions_payload(max_new_tokens: int, stop_sequences: Sequence[str], *, stream: bool = False) -> dict[str, Any]:
    # No "model": vLLM answers 404 to any name but the one it serves, and takes none as that one.
    payload: dict[str, Any] = {"prompt": PROMPT, "max_tokens": max_new_tokens}
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    return _openai_stream_options(payload, stream)


def _field(document: Any, path: Sequence[str | int], kind: type, api: str, *, required: bool = True) -> Any:
    """The value at ``path`` if it has type ``kind``; otherwise a shape failure naming the path.
    Not required, a path that is missing or null is None."""
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
            if not required:
                return None
            raise SmokeTestFailure(
                Check.SHAPE,
                api,
                f"no {rendered} in the body {_preview(json.dumps(document, ensure_ascii=False))!r}",
            )
        value = value[step]
    if value is None and not required:
        return None
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


def _parse_generate_event(document: Any) -> StreamEvent:
    """One event of TGI's generate stream: one per token (v3.0.0 router/src/server.rs,
    generate_stream_internal; lib.rs StreamResponse), with generated_text on the last and, asked
    for with details=true, details.generated_tokens. A special token's text (the end-of-sequence
    token) is not part of the answer, as TGI leaves it out of generated_text too."""
    api = GENERATE.name
    special = _field(document, ("token", "special"), bool, api)
    text = _field(document, ("token", "text"), str, api)
    details = _field(document, ("details",), dict, api, required=False)
    return StreamEvent(
        token=True,
        text="" if special else text,
        finished=_field(document, ("generated_text",), str, api, required=False) is not None,
        reported_tokens=None if details is None else _field(document, ("details", "generated_tokens"), int, api),
    )


def _object_is(document: Any, kind: str, api: str) -> None:
    answered = _field(document, ("object",), str, api)
    if answered != kind:
        raise SmokeTestFailure(Check.SHAPE, api, f"object is {answered!r}, expected {kind!r}")


def _openai_parser(api: str, kind: str, text: Sequence[str | int]) -> Callable[[Any], Completion]:
    """A parser of an OpenAI-shaped answer: its `object` is `kind`, its text at `text`."""

    def parse(document: Any) -> Completion:
        _object_is(document, kind, api)
        return _completion(
            api, _field(document, text, str, api), _field(document, ("usage", "completion_tokens"), int, api)
        )

    return parse


def _openai_stream_parser(
    api: str, kind: str, text: Sequence[str | int], role: Sequence[str | int] | None
) -> Callable[[Any], StreamEvent]:
    """A parser of one chunk of an OpenAI-shaped stream: its `object` is `kind`, the text its first
    choice adds at `text`, the role it names (chat only) at `role`. Each chunk with a choice is one
    token: TGI v3.0.0 makes one per token (server.rs, chat_completions), vLLM v0.11.0 one per
    engine step (serving_chat.py, serving_completion.py), which is one token without speculative
    decoding. The usage arrives on the last token's chunk from TGI, in a chunk without choices of
    its own from vLLM."""

    def parse(document: Any) -> StreamEvent:
        _object_is(document, kind, api)
        usage = _field(document, ("usage",), dict, api, required=False)
        reported = None if usage is None else _field(document, ("usage", "completion_tokens"), int, api)
        if not _field(document, ("choices",), list, api):
            return StreamEvent(reported_tokens=reported)
        return StreamEvent(
            token=True,
            text=_field(document, text, str, api, required=False) or "",
            finished=_field(document, ("choices", 0, "finish_reason"), str, api, required=False) is not None,
            reported_tokens=reported,
            names_role=role is not None and _field(document, role, str, api, required=False) is not None,
        )

    return parse


GENERATE = InferenceApi("generate", _generate_payload, _parse_generate, _parse_generate_event)
MESSAGES = InferenceApi(
    "messages",
    _messages_payload,
    _openai_parser("messages", "chat.completion", ("choices", 0, "message", "content")),
    _openai_stream_parser(
        "messages", "chat.completion.chunk", ("choices", 0, "delta", "content"), ("choices", 0, "delta", "role")
    ),
)
COMPLETIONS = InferenceApi(
    "completions",
    _completions_payload,
    _openai_parser("completions", "text_completion", ("choices", 0, "text")),
    _openai_stream_parser("completions", "text_completion", ("choices", 0, "text"), None),
)
INFERENCE_APIS = {api.name: api for api in (GENERATE, MESSAGES, COMPLETIONS)}


def runtime_client(region_name: str | None = None, *, max_pool_connections: int = 10) -> Any:
    """A ``sagemaker-runtime`` client whose only retries are this module's."""
    config = Config(
        # One retry policy, the logged one above: botocore's would multiply the attempts unseen.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        # SageMaker ends a blocking invocation at 60 s with a ModelError: wait for that answer. On a
        # stream this bounds each wait for the next bytes, which TGI's keep-alive breaks every 15 s.
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
            code = error.response.get("Error", {}).get("Code", "Unknown")
            delay = FIRST_BACKOFF_S * 2 ** (attempt - 1)
            retry = code in RETRYABLE_ERROR_CODES and attempt < attempts and clock() + delay <= retry_deadline
            if not retry:
                message = error.response.get("Error", {}).get("Message", "")
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
    """The response body and the wall time in seconds of the blocking call that answered."""

    def attempt() -> tuple[bytes, float]:
        started = clock()
        response = client.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(payload).encode("utf-8"),
        )
        body: bytes = response["Body"].read()
        return body, clock() - started

    return _with_retries(api, attempt, attempts=attempts, sleep=sleep, clock=clock)


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
    """The answer streamed for a request with "stream": true, and when its tokens arrived: the
    clock is read as the request is sent and as each payload part arrives. `watch` sees the times
    so far as each part arrives (the stream's end being that part's arrival); what it raises stops
    the reading."""

    def attempt() -> StreamedAnswer:
        request_sent = clock()
        response = client.invoke_endpoint_with_response_stream(
            EndpointName=endpoint_name,
            ContentType="application/json",
            Accept="text/event-stream",
            Body=json.dumps(payload).encode("utf-8"),
        )
        try:
            return _read_answer(api, response["Body"], request_sent, clock, watch)
        finally:
            response["Body"].close()  # hands the connection back, also when the reading stopped early

    return _with_retries(api, attempt, attempts=attempts, sleep=sleep, clock=clock)


def _read_answer(
    api: InferenceApi,
    event_stream: Any,
    request_sent: float,
    clock: Clock,
    watch: Callable[[TokenTimes], None] | None,
) -> StreamedAnswer:
    tokens: list[tuple[float, StreamEvent]] = []
    reported_tokens: int | None = None
    finished = False
    parts = 0
    events = 0
    stream_ended = request_sent
    try:
        for stream_ended, completed in arrivals(event_stream, clock):
            parts += 1
            for data in completed:
                events += 1
                if data == END_OF_STREAM:
                    continue
                event = _stream_event(api, data, events)
                if event.token:
                    tokens.append((stream_ended, event))
                finished = finished or event.finished
                if event.reported_tokens is not None:
                    reported_tokens = event.reported_tokens
            if watch is not None:
                watch(TokenTimes(request_sent, tuple(at for at, _ in tokens), stream_ended))
    except EventStreamError as error:
        if not parts:
            raise  # nothing of the answer has arrived: the retry policy decides
        code = error.response.get("Error", {}).get("Code", "Unknown")
        message = error.response.get("Error", {}).get("Message", "")
        detail = f"{code} after {parts} payload parts: {message}"
        raise SmokeTestFailure(Check.STREAM, api.name, detail[:ERROR_DETAIL_CHARS]) from error
    except (TransportError, ParserError) as error:  # a cut connection, a timeout, a damaged message
        detail = f"the stream broke after {parts} payload parts: {type(error).__name__}: {error}"
        raise SmokeTestFailure(Check.STREAM, api.name, detail[:ERROR_DETAIL_CHARS]) from error
    except UnicodeDecodeError as error:
        raise SmokeTestFailure(Check.STREAM, api.name, f"the stream is not UTF-8 text: {error}") from error
    if not finished:
        raise SmokeTestFailure(
            Check.STREAM, api.name, f"the stream ended before the answer did ({len(tokens)} tokens, no end reason)"
        )
    tokens = _without_role_announcement(tokens)
    completion = _completion(api.name, "".join(event.text for _, event in tokens), len(tokens))
    if reported_tokens is not None and reported_tokens != completion.generated_tokens:
        raise SmokeTestFailure(
            Check.TOKEN_COUNT,
            api.name,
            f"the stream carried {completion.generated_tokens} tokens, the server counted {reported_tokens}",
        )
    return StreamedAnswer(completion, TokenTimes(request_sent, tuple(at for at, _ in tokens), stream_ended))


def _stream_event(api: InferenceApi, data: str, number: int) -> StreamEvent:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise SmokeTestFailure(Check.JSON_BODY, api.name, f"event {number} is not JSON: {_preview(data)!r}") from error
    if isinstance(document, dict) and "error" in document:
        # TGI's generate stream sends {"error": "...", "error_type": ...} (v3.0.0 server.rs,
        # From<InferError> for Event), its chat stream {"error": {"message": ...}} (infer/mod.rs,
        # into_openai_event), vLLM {"error": {"message": ..., "type": ..., "code": ...}} (v0.11.0
        # serving_engine.py, create_streaming_error_response).
        sent = document["error"]
        message = sent.get("message", sent) if isinstance(sent, dict) else sent
        detail = f"the model sent an error in event {number}: {message}"
        raise SmokeTestFailure(Check.STREAM, api.name, detail[:ERROR_DETAIL_CHARS])
    return api.parse_stream_event(document)


def _without_role_announcement(tokens: list[tuple[float, StreamEvent]]) -> list[tuple[float, StreamEvent]]:
    """The token chunks without vLLM's opening chunk, which only names the role: vLLM sends it
    before the first token and names no role in its token chunks (v0.11.0 serving_chat.py,
    first_iteration), while TGI names the role in every chunk, so its first token may look alike
    (v3.0.0 router/src/lib.rs, ChatCompletionChunk::new)."""
    if len(tokens) >= 2:
        (_, first), (_, second) = tokens[:2]
        if first.names_role and not first.text and not first.finished and not second.names_role:
            return tokens[1:]
    return tokens


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
    """Stream one answer of one API (retrying only transient errors) and judge it and its speed:
    the time to the first token and the decode time per token, each against its budget."""
    payload = api.build_payload(settings.max_new_tokens, settings.stop_sequences, stream=True)
    answer = invoke_stream(
        client,
        settings.endpoint_name,
        api,
        payload,
        sleep=sleep,
        clock=clock,
        watch=lambda so_far: _judge_progress(api, settings, so_far),
    )
    times, tokens = answer.times, answer.completion.generated_tokens
    decode_s = _judge_answer(api, settings, times)
    return {
        "generated_tokens": tokens,
        "first_token_ms": round(times.first_token_s * 1000, 1),
        "decode_ms_per_token": round(decode_s * 1000, 3),
        # Wall time, request to end of stream: prefill, routing and network blur it, as they did
        # the blocking call this smoke test made before streaming.
        "total_ms": round(times.total_s * 1000, 1),
        "wall_ms_per_token": round(times.total_s * 1000 / tokens, 3),
        "preview": _preview(answer.completion.text),
    }


def _check_first_token(api: InferenceApi, settings: SmokeTestSettings, times: TokenTimes) -> None:
    first_token_ms = times.first_token_s * 1000
    if first_token_ms > settings.max_first_token_ms:
        raise SmokeTestFailure(
            Check.FIRST_TOKEN,
            api.name,
            f"{first_token_ms:.0f} ms from the request to the first token is over the"
            f" {settings.max_first_token_ms:g} ms budget",
        )


def _judge_progress(api: InferenceApi, settings: SmokeTestSettings, so_far: TokenTimes) -> None:
    """Fail a streaming answer as soon as a budget is certainly broken: at a late first token, or
    once the decode has run longer than the tokens after the first may take at the budget. So a
    badly broken endpoint, seconds per token, fails within the budgets' time rather than holding
    the function until its timeout with no verdict logged."""
    if not so_far.tokens:
        # Parts without a token still come, e.g. TGI's keep-alive every 15 s while a request waits.
        waited_ms = (so_far.stream_ended - so_far.request_sent) * 1000
        if waited_ms > settings.max_first_token_ms:
            raise SmokeTestFailure(
                Check.FIRST_TOKEN,
                api.name,
                f"no token {waited_ms:.0f} ms after the request, over the {settings.max_first_token_ms:g} ms budget",
            )
        return
    _check_first_token(api, settings, so_far)
    decoding_ms = (so_far.stream_ended - so_far.tokens[0]) * 1000
    allowance_ms = settings.max_ms_per_token * (settings.max_new_tokens - 1)
    if decoding_ms > allowance_ms:
        raise SmokeTestFailure(
            Check.TIME_PER_TOKEN,
            api.name,
            f"still streaming {decoding_ms:.0f} ms after the first token, longer than the"
            f" {settings.max_new_tokens - 1} tokens after it may take at the"
            f" {settings.max_ms_per_token:g} ms budget ({allowance_ms:.0f} ms)",
        )


def _judge_answer(api: InferenceApi, settings: SmokeTestSettings, times: TokenTimes) -> float:
    """The decode time per token of a complete answer, or the failure of the budget it breaks."""
    _check_first_token(api, settings, times)
    tokens = len(times.tokens)
    decode_s = times.decode_s_per_token
    if decode_s is None:
        raise SmokeTestFailure(
            Check.TOKEN_COUNT, api.name, f"{tokens} token streamed: the time per token needs at least 2"
        )
    if decode_s * 1000 > settings.max_ms_per_token:
        raise SmokeTestFailure(
            Check.TIME_PER_TOKEN,
            api.name,
            f"{decode_s * 1000:.1f} ms per token from the first token to the last"
            f" ({(times.tokens[-1] - times.tokens[0]) * 1000:.0f} ms for the {tokens - 1} after the first)"
            f" is over the {settings.max_ms_per_token:g} ms budget",
        )
    return decode_s


def run_smoke_test(
    client: EndpointInvoker,
    settings: SmokeTestSettings,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Check each API in turn, stopping at the first failure; a JSON-serializable summary that
    puts the two budgets beside each API's measured times."""
    summary: dict[str, Any] = {
        "endpoint": settings.endpoint_name,
        "max_ms_per_token": settings.max_ms_per_token,
        "max_first_token_ms": settings.max_first_token_ms,
    }
    for name in settings.apis:
        summary[name] = check_api(client, settings, INFERENCE_APIS[name], sleep=sleep, clock=clock)
    return summary


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
