"""The smoke-test Lambda handler, run in process against a fake SageMaker Runtime that streams
TGI's and vLLM's answers in AWS event-stream messages, read by botocore's own parser."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import pytest

from tests.fakes.model_streams import (
    SseEvent,
    tgi_chat,
    tgi_chat_error,
    tgi_event,
    tgi_generate,
    tgi_generate_error,
    vllm_chat,
    vllm_completion,
    vllm_error,
    vllm_event,
)
from tests.fakes.sagemaker_runtime import (
    FakeSageMakerRuntime,
    HttpError,
    Part,
    Streamed,
    StreamError,
    split_inside,
    split_parts,
    timed,
)
from tests.smoke.moto_fakes import (
    COMPONENT_NOT_NAMED,
    MODEL_ERROR,
    NO_CAPACITY,
    NOT_FOUND,
    THROTTLED,
    UNAVAILABLE,
    SteppingClock,
)
from workstation.lambda_checks import failures, inference_apis, invocation, smoke_settings

ENDPOINT = "korean-llm-endpoint"
COMPONENT = "Inf2Llm-dev-Serving-ModelComponent-0123ABCD"
# "딥러닝은 데이터에서 표현을 배우는 방법입니다." in 11 tokens: Korean syllables are three bytes each.
ANSWER = ["딥", "러닝", "은", " 데이터", "에서", " 표현", "을", " 배우는", " 방법", "입니다", "."]
VLLM_APIS = '["completions", "messages"]'

# Timings against the fake are real: the fake sends each part at its due time after it has read
# the request, and the client reads the clock before sending and as parts arrive. The time to the
# first token can only come out later than told (signing, connecting, delivery), by a few ms on an
# idle machine: TTFT_SLACK_MS allows for a busy one. The decode time per token is a difference of
# two arrivals over 10 intervals, so a delivery delay of up to 50 ms moves it by up to 5 ms.
TTFT_SLACK_MS = 100.0
DECODE_TOLERANCE_MS = 5.0

Events = Callable[..., list[SseEvent]]
RUNTIME_FORMATS = [
    pytest.param('["generate"]', tgi_generate, id="tgi-generate"),
    pytest.param('["messages"]', tgi_chat, id="tgi-chat"),
    pytest.param('["completions"]', vllm_completion, id="vllm-completions"),
    pytest.param('["messages"]', vllm_chat, id="vllm-chat"),
]


class ScriptedClock:
    """A clock that reads the given times in order: the handler reads it once for its retry
    window, then as each request is sent, as each payload part arrives and as the stream ends."""

    def __init__(self, *readings: float) -> None:
        self._readings = list(readings)

    def __call__(self) -> float:
        assert self._readings, "the clock was read more often than scripted"
        return self._readings.pop(0)


@pytest.fixture(autouse=True)
def endpoint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)


@pytest.fixture
def client(sagemaker_runtime: FakeSageMakerRuntime) -> Any:
    """A client built as the Lambda builds it (botocore retries off), calling the fake."""
    return invocation.runtime_client()


def streamed(events: Sequence[SseEvent], **timing: float) -> Streamed:
    return Streamed(timed(events, **timing))


def run_handler(
    handler_module: ModuleType,
    client: Any,
    sleeps: list[float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    summary: dict[str, Any] = handler_module.handler(
        {}, None, client=client, sleep=(sleeps if sleeps is not None else []).append, clock=clock
    )
    return summary


def expect_failure(handler_module: ModuleType, client: Any, **kwargs: Any) -> failures.SmokeTestFailure:
    with pytest.raises(failures.SmokeTestFailure) as raised:
        run_handler(handler_module, client, **kwargs)
    return raised.value


def test_healthy_endpoint_passes_with_only_the_environment(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda calls handler(event, context) alone: its default client and clock must do the job,
    and the summary names the endpoint configuration this run tested and the budgets it applied."""
    monkeypatch.setenv("ENDPOINT_CONFIG_NAME", "ModelConfig-abc123")
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER * 12)), streamed(tgi_chat(ANSWER * 9)))

    summary = handler_module.handler({}, None)

    assert summary["endpoint"] == ENDPOINT
    assert summary["endpoint_config"] == "ModelConfig-abc123"
    assert (summary["max_ms_per_token"], summary["max_first_token_ms"]) == (60, 2000)
    assert (smoke_settings.DEFAULT_MAX_MS_PER_TOKEN, smoke_settings.DEFAULT_MAX_FIRST_TOKEN_MS) == (60, 2000)
    assert summary["generate"]["generated_tokens"] == 132
    assert summary["messages"]["generated_tokens"] == 99
    for api in ("generate", "messages"):
        assert 0 < summary[api]["first_token_ms"] <= smoke_settings.DEFAULT_MAX_FIRST_TOKEN_MS
        assert 0 <= summary[api]["decode_ms_per_token"] <= smoke_settings.DEFAULT_MAX_MS_PER_TOKEN
    assert json.loads(json.dumps(summary)) == summary


def test_figures_follow_their_definitions(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget is TGI's time per token: first token to last over the tokens after the first.
    The time to the first token runs from the request, and the wall time to the stream's end: mixing
    them up would judge a figure the guide never gave."""
    monkeypatch.setenv("APIS", '["generate"]')
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER[:4])))
    # Retry window, request sent, the four tokens' parts, the stream's end.
    clock = ScriptedClock(0.0, 10.0, 10.3, 10.35, 10.4, 10.45, 10.5)

    summary = run_handler(handler_module, client, clock=clock)

    assert summary["generate"] == {
        "generated_tokens": 4,
        "first_token_ms": pytest.approx(300),
        "decode_ms_per_token": pytest.approx(50),
        "total_ms": pytest.approx(500),
        "wall_ms_per_token": pytest.approx(125),
        "preview": "딥러닝은 데이터",
    }


@pytest.mark.parametrize(("apis", "events"), RUNTIME_FORMATS)
def test_timings_are_what_the_endpoint_took(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    apis: str,
    events: Events,
) -> None:
    """Each runtime's stream, timed on the wire: a first token after 300 ms and one every 50 ms
    after it must measure as such, within TTFT_SLACK_MS and DECODE_TOLERANCE_MS."""
    monkeypatch.setenv("APIS", apis)
    sagemaker_runtime.answer(streamed(events(ANSWER), first_token_s=0.3, per_token_s=0.05))

    (result,) = [value for key, value in run_handler(handler_module, client).items() if isinstance(value, dict)]

    assert result["generated_tokens"] == len(ANSWER)
    assert 300 <= result["first_token_ms"] <= 300 + TTFT_SLACK_MS
    assert result["decode_ms_per_token"] == pytest.approx(50, abs=DECODE_TOLERANCE_MS)
    assert result["preview"] == "딥러닝은 데이터에서 표현을 배우는 방법입니다."


def test_requests_are_the_guide_payloads_streamed_with_the_profile_settings(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TGI on /invocations picks the API by payload shape and streams on "stream": true; the usage
    comes only when asked for; Qwen needs its stop sequence in both."""
    monkeypatch.setenv("MAX_NEW_TOKENS", "64")
    monkeypatch.setenv("STOP_SEQUENCES", '["<|im_end|>"]')
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER)), streamed(tgi_chat(ANSWER)))

    run_handler(handler_module, client)

    generate, messages = sagemaker_runtime.invocations
    assert (generate.endpoint_name, generate.streamed) == (ENDPOINT, True)
    assert generate.headers["X-Amzn-SageMaker-Accept"] == "text/event-stream"
    # A classic endpoint hosts no inference component: a request naming one would be refused.
    assert generate.inference_component is None and messages.inference_component is None
    assert generate.body == {
        "inputs": inference_apis.PROMPT,
        "parameters": {
            "max_new_tokens": 64,
            "return_full_text": False,
            "details": True,
            "stop": ["<|im_end|>"],
        },
        "stream": True,
    }
    assert messages.body == {
        "messages": [
            {"role": "system", "content": inference_apis.SYSTEM_MESSAGE},
            {"role": "user", "content": inference_apis.PROMPT},
        ],
        "max_tokens": 64,
        "stop": ["<|im_end|>"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_apis_come_from_the_environment(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The construct names the APIs its runtime answers; the handler checks those, in that order."""
    monkeypatch.setenv("APIS", '["messages"]')
    sagemaker_runtime.answer(streamed(tgi_chat(ANSWER)))

    summary = run_handler(handler_module, client)

    assert [request.body.keys() >= {"messages"} for request in sagemaker_runtime.invocations] == [True]
    assert "generate" not in summary and summary["messages"]["generated_tokens"] == len(ANSWER)


def test_stop_is_left_out_when_no_stop_sequence_is_configured(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """Models that need no stop sequence (Llama) must get TGI's defaults, not an empty override."""
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER)), streamed(tgi_chat(ANSWER)))

    run_handler(handler_module, client)

    generate, messages = sagemaker_runtime.invocations
    assert "stop" not in generate.body["parameters"]
    assert "stop" not in messages.body


def test_a_korean_character_split_between_two_parts_comes_out_whole(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SageMaker cuts the container's bytes into parts where it likes: a syllable whose three
    bytes arrive in two parts must be decoded once both are there, not as two broken halves."""
    monkeypatch.setenv("APIS", '["generate"]')
    parts = split_inside(timed(tgi_generate(ANSWER)), "러닝")
    for half in parts[1:3]:  # the cut is real: one part ends inside 러, the next begins inside it
        with pytest.raises(UnicodeDecodeError):
            half.data.decode()
    sagemaker_runtime.answer(Streamed(parts))

    summary = run_handler(handler_module, client)

    assert len(parts) == len(ANSWER) + 1
    assert summary["generate"]["preview"] == "딥러닝은 데이터에서 표현을 배우는 방법입니다."
    assert summary["generate"]["generated_tokens"] == len(ANSWER)


@pytest.mark.parametrize(("apis", "events"), RUNTIME_FORMATS)
def test_parts_of_one_byte_each_are_reassembled(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    apis: str,
    events: Events,
) -> None:
    """The worst cutting SageMaker could do: every event, line ending and character across parts.
    Each runtime's stream must still give every token and the whole text. Thousands of parts take
    the client longer to read than the tokens took to come, so speed is not judged here."""
    monkeypatch.setenv("APIS", apis)
    monkeypatch.setenv("MAX_MS_PER_TOKEN", "1e6")
    monkeypatch.setenv("MAX_FIRST_TOKEN_MS", "1e6")
    sagemaker_runtime.answer(Streamed(split_parts(timed(events(ANSWER)), 1)))

    (result,) = [value for value in run_handler(handler_module, client).values() if isinstance(value, dict)]

    assert result["generated_tokens"] == len(ANSWER)
    assert result["preview"] == "딥러닝은 데이터에서 표현을 배우는 방법입니다."


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(tgi_chat, id="tgi-names-the-role-in-every-chunk"),
        pytest.param(vllm_chat, id="vllm-announces-the-role-first"),
    ],
)
def test_a_chunk_that_only_names_the_role_is_not_a_token(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    events: Events,
) -> None:
    """vLLM opens a chat stream with a chunk naming the role and no text; TGI's first token can
    look the same (half a character decodes to no text). Counting the one or dropping the other
    would be off by one against the usage both report, and would fail a healthy endpoint."""
    monkeypatch.setenv("APIS", '["messages"]')
    first_token_without_text = ["", *ANSWER]
    sagemaker_runtime.answer(streamed(events(first_token_without_text)))

    summary = run_handler(handler_module, client)

    assert summary["messages"]["generated_tokens"] == len(first_token_without_text)


def test_model_error_fails_at_once_without_retry(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """A ModelError is the container's answer: a retry doubles the load and delays the alarm."""
    sagemaker_runtime.answer(HttpError(*MODEL_ERROR))
    sleeps: list[float] = []

    failure = expect_failure(handler_module, client, sleeps=sleeps)

    assert failure.check is failures.Check.INVOCATION
    assert str(failure).startswith("generate: invocation check failed: ModelError after 1 attempt:")
    assert "Received client error (422)" in str(failure)
    assert len(sagemaker_runtime.invocations) == 1
    assert sleeps == []


def test_missing_endpoint_is_not_retried(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """After deployment a missing endpoint is a wrong name; waiting would only delay the report."""
    sagemaker_runtime.answer(HttpError(*NOT_FOUND))

    failure = expect_failure(handler_module, client)

    assert "ValidationError after 1 attempt" in str(failure)
    assert "not found" in str(failure)
    assert len(sagemaker_runtime.invocations) == 1


def test_connection_failure_is_an_invocation_failure(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable endpoint must fail the named check, at once, not escape as a botocore
    traceback."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")  # discard port: nothing listens
    sleeps: list[float] = []

    failure = expect_failure(handler_module, invocation.runtime_client(), sleeps=sleeps)

    assert failure.check is failures.Check.INVOCATION
    assert "EndpointConnectionError" in str(failure)
    assert sleeps == []


def test_throttling_and_unavailability_are_retried_then_pass(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """A busy endpoint right after deployment must not fail the deployment if it recovers."""
    sagemaker_runtime.answer(
        HttpError(*THROTTLED), HttpError(*UNAVAILABLE), streamed(tgi_generate(ANSWER)), streamed(tgi_chat(ANSWER))
    )
    sleeps: list[float] = []

    summary = run_handler(handler_module, client, sleeps=sleeps)

    assert summary["generate"]["generated_tokens"] == len(ANSWER)
    assert sleeps == [invocation.FIRST_BACKOFF_S, 2 * invocation.FIRST_BACKOFF_S]
    assert len(sagemaker_runtime.invocations) == 3 + 1  # generate: two errors then success; messages: first try


def test_retries_are_bounded(handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any) -> None:
    """A persistently throttled endpoint must fail in bounded time, not hang the deployment."""
    sagemaker_runtime.answer(then=HttpError(*THROTTLED))
    sleeps: list[float] = []

    failure = expect_failure(handler_module, client, sleeps=sleeps)

    assert f"ThrottlingException after {invocation.MAX_ATTEMPTS} attempts: Rate exceeded" in str(failure)
    assert len(sagemaker_runtime.invocations) == invocation.MAX_ATTEMPTS
    assert sleeps == [invocation.FIRST_BACKOFF_S * 2**retry for retry in range(invocation.MAX_ATTEMPTS - 1)]


def test_no_retry_starts_after_the_retry_window(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """Slow throttled attempts must not add up past the Lambda timeout: time bounds retries too."""
    sagemaker_runtime.answer(then=HttpError(*THROTTLED))
    sleeps: list[float] = []
    # Every clock reading is invocation.RETRY_WINDOW_S / 2.4 later: the window allows one retry, not two.
    failure = expect_failure(
        handler_module, client, sleeps=sleeps, clock=SteppingClock(invocation.RETRY_WINDOW_S / 2.4)
    )

    assert "ThrottlingException after 2 attempts" in str(failure)
    assert len(sagemaker_runtime.invocations) == 2
    assert sleeps == [invocation.FIRST_BACKOFF_S]


def test_internal_stream_failure_before_any_part_is_retried(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """InternalStreamFailure says "Try your request again"; before any part has arrived nothing of
    the answer is lost by doing so."""
    monkeypatch.setenv("APIS", '["generate"]')
    failure = StreamError(0.0, "InternalStreamFailure", "The stream processing failed.")
    sagemaker_runtime.answer(Streamed([], error=failure), streamed(tgi_generate(ANSWER)))
    sleeps: list[float] = []

    summary = run_handler(handler_module, client, sleeps=sleeps)

    assert summary["generate"]["generated_tokens"] == len(ANSWER)
    assert sleeps == [invocation.FIRST_BACKOFF_S]


@pytest.mark.parametrize(
    ("error", "expected_message"),
    [
        pytest.param(
            StreamError(
                0.0,
                "ModelStreamError",
                "Your model primary did not complete sending the inference response in the allotted time.",
                "ModelInvocationTimeExceeded",
            ),
            "generate: stream check failed: ModelStreamError after 3 payload parts: Your model primary did not "
            "complete sending the inference response in the allotted time.",
            id="model-stream-error",
        ),
        pytest.param(
            StreamError(0.0, "InternalStreamFailure", "The stream processing failed."),
            "generate: stream check failed: InternalStreamFailure after 3 payload parts: The stream processing failed.",
            id="internal-stream-failure",
        ),
    ],
)
def test_a_stream_error_after_the_answer_began_fails_the_stream_check(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    error: StreamError,
    expected_message: str,
) -> None:
    """A stream that breaks mid-answer is a failed answer, reported as the stream's error, and not
    retried: a second request would time another answer than the one that failed."""
    sagemaker_runtime.answer(Streamed(timed(tgi_generate(ANSWER))[:3], error=error))
    sleeps: list[float] = []

    failure = expect_failure(handler_module, client, sleeps=sleeps)

    assert failure.check is failures.Check.STREAM
    assert str(failure) == expected_message
    assert len(sagemaker_runtime.invocations) == 1 and sleeps == []


def test_a_connection_cut_mid_answer_fails_the_stream_check(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """A connection that drops mid-answer must be reported as a broken stream, not escape as
    urllib3's exception or pass as a short answer."""
    sagemaker_runtime.answer(Streamed(timed(tgi_generate(ANSWER))[:3], drop_connection=True))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.STREAM
    assert str(failure).startswith(
        "generate: stream check failed: the stream broke after 3 payload parts: ProtocolError"
    )


@pytest.mark.parametrize(
    ("parts", "expected_message"),
    [
        pytest.param(
            timed(tgi_generate(ANSWER))[:3],
            "generate: stream check failed: the stream ended before the answer did (3 tokens, no end reason)",
            id="cut-short",
        ),
        pytest.param(
            [],
            "generate: stream check failed: the stream ended before the answer did (0 tokens, no end reason)",
            id="empty",
        ),
        pytest.param(
            [Part(0.0, "<html>502 Bad Gateway</html>".encode())],
            "generate: stream check failed: the stream ended before the answer did (0 tokens, no end reason)",
            id="not-server-sent-events",
        ),
    ],
)
def test_a_stream_without_its_end_fails_the_stream_check(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    parts: list[Part],
    expected_message: str,
) -> None:
    """Every API marks its last event (TGI's generated_text, a finish_reason): a stream that ends
    without it lost the rest of the answer, however well it began."""
    sagemaker_runtime.answer(Streamed(parts))

    failure = expect_failure(handler_module, client)

    assert str(failure) == expected_message


@pytest.mark.parametrize(
    ("apis", "events", "expected_message"),
    [
        pytest.param(
            '["generate"]',
            [*tgi_generate(ANSWER)[:2], tgi_generate_error("CUDA out of memory")],
            "generate: stream check failed: the model sent an error in event 3: "
            "Request failed during generation: CUDA out of memory",
            id="tgi-generate",
        ),
        pytest.param(
            '["messages"]',
            [*tgi_chat(ANSWER)[:2], tgi_chat_error("CUDA out of memory"), SseEvent(b"data:[DONE]\n\n", False)],
            "messages: stream check failed: the model sent an error in event 3: "
            "Request failed during generation: CUDA out of memory",
            id="tgi-chat",
        ),
        pytest.param(
            '["completions"]',
            [*vllm_completion(ANSWER)[:2], vllm_error("engine dead"), SseEvent(b"data: [DONE]\n\n", False)],
            "completions: stream check failed: the model sent an error in event 3: engine dead",
            id="vllm",
        ),
    ],
)
def test_an_error_the_model_streams_fails_the_stream_check(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    apis: str,
    events: list[SseEvent],
    expected_message: str,
) -> None:
    """Once a stream has begun, TGI and vLLM can only report a failure as an event of it; it must
    read as the model's error, in its words, not as a malformed token."""
    monkeypatch.setenv("APIS", apis)
    sagemaker_runtime.answer(streamed(events))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.STREAM
    assert str(failure) == expected_message


def test_an_event_that_is_not_json_fails_the_json_check(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """A proxy or container error page inside the stream must be reported as such, with what it said."""
    sagemaker_runtime.answer(Streamed([Part(0.0, b"data:<html>502 Bad Gateway</html>\n\n")]))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.JSON_BODY
    assert str(failure) == "generate: JSON body check failed: event 1 is not JSON: '<html>502 Bad Gateway</html>'"


def test_a_stream_that_is_not_utf8_fails_the_stream_check(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """Bytes that are not UTF-8 must fail loudly, not turn the answer into replacement characters."""
    sagemaker_runtime.answer(Streamed([Part(0.0, b'data:{"token": "\xff"}\n\n')]))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.STREAM
    assert str(failure).startswith("generate: stream check failed: the stream is not UTF-8 text:")


def chat_chunk(**fields: Any) -> SseEvent:
    """A TGI chat chunk with these fields changed."""
    (first, *_) = tgi_chat(ANSWER[:1])
    document = json.loads(first.data.removeprefix(b"data:"))
    return SseEvent(tgi_event({**document, **fields}), token=True)


def generate_event(**fields: Any) -> SseEvent:
    """TGI's last generate event with these fields changed."""
    (last,) = tgi_generate(ANSWER[:1])
    document = json.loads(last.data.removeprefix(b"data:"))
    return SseEvent(tgi_event({**document, **fields}), token=True)


def completion_chunk(**fields: Any) -> SseEvent:
    """vLLM's last completion chunk with these fields changed."""
    (last, _, _) = vllm_completion(ANSWER[:1])
    document = json.loads(last.data.removeprefix(b"data: "))
    return SseEvent(vllm_event({**document, **fields}), token=True)


@pytest.mark.parametrize(
    ("apis", "event", "expected_message"),
    [
        pytest.param(
            '["generate"]',
            generate_event(token=None),
            "generate: response shape check failed: no token.special in the body",
            id="generate-without-token",
        ),
        pytest.param(
            '["generate"]',
            generate_event(token={"id": 1, "text": 7, "logprob": 0.0, "special": False}),
            "generate: response shape check failed: token.text is int, expected str",
            id="generate-token-text-not-a-string",
        ),
        pytest.param(
            '["generate"]',
            generate_event(details={"generated_tokens": "1"}),
            "generate: response shape check failed: details.generated_tokens is str, expected int",
            id="generate-token-count-not-a-number",
        ),
        pytest.param(
            '["messages"]',
            chat_chunk(object="chat.completion"),
            "messages: response shape check failed: object is 'chat.completion', expected 'chat.completion.chunk'",
            id="messages-not-a-chunk",
        ),
        pytest.param(
            '["messages"]',
            chat_chunk(choices=None),
            "messages: response shape check failed: choices is NoneType, expected list",
            id="messages-without-choices",
        ),
        pytest.param(
            '["messages"]',
            chat_chunk(usage={"prompt_tokens": 20}),
            "messages: response shape check failed: no usage.completion_tokens",
            id="messages-usage-without-token-count",
        ),
        pytest.param(
            '["completions"]',
            completion_chunk(object="chat.completion.chunk"),
            "completions: response shape check failed: object is 'chat.completion.chunk', expected 'text_completion'",
            id="completion-answered-as-chat",
        ),
        pytest.param(
            '["completions"]',
            completion_chunk(choices=[{"index": 0, "text": ["딥"], "finish_reason": None}]),
            "completions: response shape check failed: choices[0].text is list, expected str",
            id="completion-text-not-a-string",
        ),
    ],
)
def test_wrong_shape_fails_the_shape_check_naming_the_field(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    apis: str,
    event: SseEvent,
    expected_message: str,
) -> None:
    """A TGI or vLLM upgrade, or a misrouted request, shows up as changed events; the message must
    say which field changed."""
    monkeypatch.setenv("APIS", apis)
    sagemaker_runtime.answer(streamed([event]))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.SHAPE
    assert str(failure).startswith(expected_message)


@pytest.mark.parametrize(
    ("apis", "events"),
    [
        pytest.param('["generate"]', tgi_generate([], end_of_sequence=True), id="tgi-end-of-sequence-at-once"),
        pytest.param('["messages"]', tgi_chat([" ", "\n"], end_of_sequence=True), id="tgi-chat-blank"),
        pytest.param('["completions"]', vllm_completion([], end_of_sequence=True), id="vllm-end-of-sequence-at-once"),
    ],
)
def test_empty_text_fails_the_non_empty_text_check(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    apis: str,
    events: list[SseEvent],
) -> None:
    """A model that stops at once (bad template, wrong stop) streams in shape but says nothing."""
    monkeypatch.setenv("APIS", apis)
    sagemaker_runtime.answer(streamed(events))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.NON_EMPTY_TEXT
    assert f"{json.loads(apis)[0]}: non-empty text check failed: the model returned no text" in str(failure)


@pytest.mark.parametrize(
    ("apis", "events", "expected_message"),
    [
        pytest.param(
            '["generate"]',
            tgi_generate(ANSWER, counted=len(ANSWER) + 2),
            "generate: token count check failed: the stream carried 11 tokens, the server counted 13",
            id="tgi-details",
        ),
        pytest.param(
            '["completions"]',
            vllm_completion(ANSWER, counted=len(ANSWER) - 1),
            "completions: token count check failed: the stream carried 11 tokens, the server counted 10",
            id="vllm-usage",
        ),
        pytest.param(
            '["generate"]',
            tgi_generate(ANSWER[:1]),
            "generate: token count check failed: 1 token streamed: the time per token needs at least 2",
            id="one-token",
        ),
    ],
)
def test_token_count_is_checked(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    apis: str,
    events: list[SseEvent],
    expected_message: str,
) -> None:
    """The time per token divides by the tokens counted on the stream: lost or merged events would
    skew it, so the count must match the server's own; and one token has no time between tokens."""
    monkeypatch.setenv("APIS", apis)
    sagemaker_runtime.answer(streamed(events))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.TOKEN_COUNT
    assert str(failure) == expected_message


def test_slow_decode_fails_the_time_per_token_check(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """The guide's 49 ms per token is the point of inf2; an endpoint decoding far slower must fail,
    with the figures that failed it."""
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER[:4])))
    # Retry window, request sent, four tokens 100 ms apart, the stream's end.
    clock = ScriptedClock(0.0, 1.0, 1.2, 1.3, 1.4, 1.5, 1.5)

    failure = expect_failure(handler_module, client, clock=clock)

    assert failure.check is failures.Check.TIME_PER_TOKEN
    assert str(failure) == (
        "generate: time per token check failed: 100.0 ms per token from the first token to the last "
        f"(300 ms for the 3 after the first) is over the {smoke_settings.DEFAULT_MAX_MS_PER_TOKEN:g} ms budget"
    )


def test_budgets_come_from_the_environment_and_catch_a_slow_stream(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each model profile sets its own budgets through MAX_MS_PER_TOKEN and MAX_FIRST_TOKEN_MS;
    a stream that really decodes at 30 ms per token must fail a 10 ms budget."""
    monkeypatch.setenv("MAX_MS_PER_TOKEN", "10")
    monkeypatch.setenv("MAX_FIRST_TOKEN_MS", "5000")
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER), per_token_s=0.03))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.TIME_PER_TOKEN
    match = re.fullmatch(
        r"generate: time per token check failed: (\d+\.\d) ms per token from the first token to the last "
        r"\(\d+ ms for the 10 after the first\) is over the 10 ms budget",
        str(failure),
    )
    assert match and float(match[1]) == pytest.approx(30, abs=DECODE_TOLERANCE_MS)


def test_slow_first_token_fails_the_time_to_first_token_check(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that waits (a full batch ahead of it, a prefill off the device) before its first
    token must fail its own budget, even when the decode that follows is fast."""
    monkeypatch.setenv("MAX_FIRST_TOKEN_MS", "100")
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER), first_token_s=0.3))

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.FIRST_TOKEN
    match = re.fullmatch(
        r"generate: time to first token check failed: (\d+) ms from the request to the first token "
        r"is over the 100 ms budget",
        str(failure),
    )
    assert match and 300 <= int(match[1]) <= 300 + TTFT_SLACK_MS


def test_a_decode_certainly_over_budget_is_failed_without_waiting_for_its_end(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint decoding at seconds per token would stream for many minutes: once the decode has
    run longer than the tokens still allowed may take at the budget, the verdict is certain and
    must come then, not after the function's timeout."""
    monkeypatch.setenv("MAX_NEW_TOKENS", "5")
    monkeypatch.setenv("MAX_MS_PER_TOKEN", "10")
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER * 4), per_token_s=0.025))  # 44 tokens: 1.1 s
    started = time.perf_counter()

    failure = expect_failure(handler_module, client)

    assert time.perf_counter() - started < 0.6
    assert failure.check is failures.Check.TIME_PER_TOKEN
    match = re.fullmatch(
        r"generate: time per token check failed: still streaming (\d+) ms after the first token, longer than the "
        r"4 tokens after it may take at the 10 ms budget \(40 ms\)",
        str(failure),
    )
    assert match and 40 < int(match[1]) <= 50 + TTFT_SLACK_MS


def test_a_request_kept_alive_without_a_token_fails_at_the_first_token_budget(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TGI keeps a waiting stream open with keep-alive comments, so the read timeout never fires:
    a request that gets no token must still fail once the first-token budget has passed."""
    monkeypatch.setenv("MAX_FIRST_TOKEN_MS", "250")
    keep_alives = [Part(at_s, b":\n\n") for at_s in (0.1, 0.2, 0.3, 0.4, 0.5)]
    sagemaker_runtime.answer(Streamed([*keep_alives, *timed(tgi_generate(ANSWER), first_token_s=2.0)]))
    started = time.perf_counter()

    failure = expect_failure(handler_module, client)

    assert time.perf_counter() - started < 1.0
    assert failure.check is failures.Check.FIRST_TOKEN
    match = re.fullmatch(
        r"generate: time to first token check failed: no token (\d+) ms after the request, over the 250 ms budget",
        str(failure),
    )
    assert match and 300 <= int(match[1]) <= 300 + TTFT_SLACK_MS


@pytest.mark.parametrize(
    ("variable", "value", "expected_message"),
    [
        ("ENDPOINT_NAME", "", "smoke test: configuration check failed: ENDPOINT_NAME is not set"),
        ("MAX_MS_PER_TOKEN", "fast", "MAX_MS_PER_TOKEN='fast' cannot be read as float"),
        ("MAX_MS_PER_TOKEN", "-1", "the budget -1.0 ms per token is not a positive number"),
        ("MAX_FIRST_TOKEN_MS", "soon", "MAX_FIRST_TOKEN_MS='soon' cannot be read as float"),
        ("MAX_FIRST_TOKEN_MS", "inf", "the budget inf ms to the first token is not a positive number"),
        ("MAX_NEW_TOKENS", "0", "max new tokens 0 is below 1"),
        ("STOP_SEQUENCES", "<|im_end|>", "STOP_SEQUENCES='<|im_end|>' is not JSON"),
        ("STOP_SEQUENCES", '"<|im_end|>"', "is not a JSON list"),
        ("STOP_SEQUENCES", "[1]", "stop sequences [1] must be non-empty strings"),
        ("APIS", '["generate", "telepathy"]', "APIs ['generate', 'telepathy'] must be some of generate, messages"),
        ("APIS", "[]", "APIs [] must be some of"),
    ],
)
def test_bad_configuration_fails_before_any_call(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    expected_message: str,
) -> None:
    """A construct that passes a bad setting must be told which one, not get a confusing result."""
    monkeypatch.setenv(variable, value)

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.CONFIGURATION
    assert expected_message in str(failure)
    assert sagemaker_runtime.invocations == []


def test_logs_hold_a_short_preview_not_the_whole_answer(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs are kept and widely readable: model output beyond a preview does not belong there."""
    answer = ["딥러닝은 "] * 200 + ["END-OF-ANSWER"]
    sagemaker_runtime.answer(streamed(tgi_generate(answer)), streamed(tgi_chat(answer)))

    with caplog.at_level(logging.INFO):
        summary = run_handler(handler_module, client)

    assert "smoke test passed" in caplog.text
    assert "END-OF-ANSWER" not in caplog.text
    assert len(summary["generate"]["preview"]) <= inference_apis.PREVIEW_CHARS
    assert summary["messages"]["preview"].startswith("딥러닝은")


def test_failure_is_logged_with_its_check(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A metric filter or a person reading the log must find the failed check without the trace."""
    sagemaker_runtime.answer(streamed(tgi_generate([], end_of_sequence=True)))

    with caplog.at_level(logging.INFO), pytest.raises(failures.SmokeTestFailure):
        run_handler(handler_module, client)

    assert "smoke test failed: generate: non-empty text check failed" in caplog.text


def test_vllm_endpoint_passes_with_openai_shaped_streams(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM answers a prompt on /invocations as a completion and messages as a chat completion
    (vllm v0.11.0, vllm/entrypoints/openai/api_server.py, invocations), streamed when asked;
    neither request names a model, since vLLM answers 404 to any name but the one it serves and
    takes none as that one (vllm/entrypoints/openai/serving_engine.py, _check_model)."""
    monkeypatch.setenv("APIS", VLLM_APIS)
    monkeypatch.setenv("STOP_SEQUENCES", '["<|im_end|>"]')
    sagemaker_runtime.answer(streamed(vllm_completion(ANSWER * 2)), streamed(vllm_chat(ANSWER * 3)))

    summary = run_handler(handler_module, client)

    completions, messages = sagemaker_runtime.invocations
    assert completions.body == {
        "prompt": inference_apis.PROMPT,
        "max_tokens": 512,
        "stop": ["<|im_end|>"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "model" not in messages.body and messages.body["messages"][1]["content"] == inference_apis.PROMPT
    assert summary["completions"]["generated_tokens"] == 22
    assert summary["messages"]["generated_tokens"] == 33
    assert summary["completions"]["preview"].startswith("딥러닝은 데이터에서")


def test_vllm_rejecting_the_request_is_an_invocation_failure(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's 400 for a request over the model's length arrives as SageMaker's ModelError: reported
    with vLLM's own words, not retried."""
    monkeypatch.setenv("APIS", VLLM_APIS)
    sagemaker_runtime.answer(
        HttpError(
            424, "ModelError", "Received client error (400) from primary with message \"'max_tokens' is too large\"."
        )
    )

    failure = expect_failure(handler_module, client)

    assert failure.check is failures.Check.INVOCATION
    assert str(failure).startswith("completions: invocation check failed: ModelError after 1 attempt:")
    assert "'max_tokens' is too large" in str(failure)
    assert len(sagemaker_runtime.invocations) == 1


# --- an endpoint that hosts an inference component (scale_to_zero) ----------------------------------


@pytest.fixture
def component_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's environment in a scale-to-zero serving stack, one API to keep the runs short."""
    monkeypatch.setenv("INFERENCE_COMPONENT_NAME", COMPONENT)
    monkeypatch.setenv("APIS", '["generate"]')


@pytest.mark.usefixtures("component_environment")
def test_every_call_names_the_inference_component(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint that hosts inference components refuses a request that names none: every call,
    to each API, must carry the component's name, and the summary says which component passed."""
    monkeypatch.setenv("APIS", '["generate", "messages"]')
    sagemaker_runtime.answer(streamed(tgi_generate(ANSWER)), streamed(tgi_chat(ANSWER)))

    summary = run_handler(handler_module, client)

    assert [request.inference_component for request in sagemaker_runtime.invocations] == [COMPONENT, COMPONENT]
    assert summary["inference_component"] == COMPONENT


@pytest.mark.usefixtures("component_environment")
def test_a_component_scaling_from_zero_is_waited_for(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """While the component has no copy SageMaker answers "no capacity" and the alarm brings a copy
    back: the smoke test must wait for it, saying in its log what it waits for, rather than fail
    the deploy on the first answer; the waits are not retries and leave the attempts alone."""
    sagemaker_runtime.answer(
        HttpError(*NO_CAPACITY),
        HttpError(*NO_CAPACITY),
        HttpError(*NO_CAPACITY),
        HttpError(*THROTTLED),
        streamed(tgi_generate(ANSWER)),
    )
    sleeps: list[float] = []

    with caplog.at_level(logging.INFO):
        summary = run_handler(handler_module, client, sleeps=sleeps)

    assert summary["generate"]["generated_tokens"] == len(ANSWER)
    assert sleeps == [invocation.CAPACITY_POLL_S] * 3 + [invocation.FIRST_BACKOFF_S]
    assert [request.inference_component for request in sagemaker_runtime.invocations] == [COMPONENT] * 5
    waits = [record.getMessage() for record in caplog.records if "has no copy yet" in record.getMessage()]
    assert len(waits) == 3
    for wait in waits:
        assert re.fullmatch(
            rf"generate: inference component {COMPONENT} has no copy yet: waiting for it to scale from zero,"
            rf" \d+ s of {invocation.CAPACITY_WAIT_S:.0f}",
            wait,
        ), wait
    assert "ThrottlingException on attempt 1 of 4" in caplog.text


@pytest.mark.usefixtures("component_environment")
def test_the_wait_for_a_copy_is_bounded(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """A scale from zero on Inferentia2 outlasts the function: the wait must end within its bound,
    the retry window the function's timeout was worked out with, and fail saying what it waited for."""
    sagemaker_runtime.answer(then=HttpError(*NO_CAPACITY))
    sleeps: list[float] = []
    # Each clock reading is 20 s later: attempts start 20, 60 and 100 s after the window opened, and
    # the third answer comes at 120 s, when one more poll would start past the window.
    failure = expect_failure(handler_module, client, sleeps=sleeps, clock=SteppingClock(20.0))

    assert invocation.CAPACITY_WAIT_S == invocation.RETRY_WINDOW_S == 120
    assert failure.check is failures.Check.INVOCATION
    assert str(failure).startswith(
        f"generate: invocation check failed: ValidationError: inference component {COMPONENT} still has no copy"
        " after 120 s, the longest this check waits for a scale from zero (120 s)"
    )
    assert len(sagemaker_runtime.invocations) == 3
    assert sleeps == [invocation.CAPACITY_POLL_S] * 2


@pytest.mark.usefixtures("component_environment")
@pytest.mark.parametrize("error", [COMPONENT_NOT_NAMED, NOT_FOUND], ids=["component-not-named", "endpoint-not-found"])
def test_other_validation_errors_are_not_waited_on(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any, error: tuple[int, str, str]
) -> None:
    """Only "no capacity" goes away by itself; any other ValidationError is a wrong name or request
    that waiting would only report minutes later."""
    sagemaker_runtime.answer(HttpError(*error), then=streamed(tgi_generate(ANSWER)))
    sleeps: list[float] = []

    failure = expect_failure(handler_module, client, sleeps=sleeps)

    assert str(failure).startswith(f"generate: invocation check failed: ValidationError after 1 attempt: {error[2]}")
    assert len(sagemaker_runtime.invocations) == 1
    assert sleeps == []


def test_without_a_component_no_capacity_is_not_waited_on(
    handler_module: ModuleType, sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """The wait is for the component the function was deployed with; a function that names none
    calls a classic endpoint, where that answer has no copy to wait for and fails as it came."""
    sagemaker_runtime.answer(HttpError(*NO_CAPACITY), then=streamed(tgi_generate(ANSWER)))
    sleeps: list[float] = []

    failure = expect_failure(handler_module, client, sleeps=sleeps)

    assert "ValidationError after 1 attempt: Inference Component has no capacity" in str(failure)
    assert sleeps == []
