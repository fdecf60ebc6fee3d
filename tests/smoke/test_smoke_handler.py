"""The smoke-test Lambda handler, run in process against moto's SageMaker Runtime."""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any

import endpoint_checks
import pytest
from endpoint_checks import (
    DEFAULT_MAX_MS_PER_TOKEN,
    FIRST_BACKOFF_S,
    MAX_ATTEMPTS,
    PREVIEW_CHARS,
    PROMPT,
    RETRY_WINDOW_S,
    SYSTEM_MESSAGE,
    Check,
    SmokeTestFailure,
)

from tests.smoke.moto_fakes import (
    MODEL_ERROR,
    NOT_FOUND,
    THROTTLED,
    UNAVAILABLE,
    InvocationTap,
    SteppingClock,
    chat_body,
    generate_body,
    queue_bodies,
    vllm_chat_body,
    vllm_completion_body,
)

ENDPOINT = "korean-llm-endpoint"


@pytest.fixture(autouse=True)
def endpoint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)


@pytest.fixture
def tap(aws_environment: str) -> InvocationTap:
    """A client built as the Lambda builds it (botocore retries off), tapped, pointing at moto."""
    return InvocationTap(endpoint_checks.runtime_client())


def run_handler(
    handler_module: ModuleType,
    tap: InvocationTap,
    sleeps: list[float] | None = None,
    clock_step_s: float = 0.01,
) -> dict[str, Any]:
    summary: dict[str, Any] = handler_module.handler(
        {},
        None,
        client=tap.client,
        sleep=(sleeps if sleeps is not None else []).append,
        clock=SteppingClock(clock_step_s),
    )
    return summary


def expect_failure(handler_module: ModuleType, tap: InvocationTap, **kwargs: Any) -> SmokeTestFailure:
    with pytest.raises(SmokeTestFailure) as raised:
        run_handler(handler_module, tap, **kwargs)
    return raised.value


def test_healthy_endpoint_passes_with_only_the_environment(
    handler_module: ModuleType, aws_environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda calls handler(event, context) alone: its default client and clock must do the job,
    and the summary names the endpoint configuration this run tested and the budget it applied."""
    monkeypatch.setenv("ENDPOINT_CONFIG_NAME", "ModelConfig-abc123")
    queue_bodies(aws_environment, generate_body(tokens=128), chat_body(tokens=100))

    summary = handler_module.handler({}, None)

    assert summary["endpoint"] == ENDPOINT
    assert summary["endpoint_config"] == "ModelConfig-abc123"
    assert summary["max_ms_per_token"] == DEFAULT_MAX_MS_PER_TOKEN == 60
    assert summary["generate"]["generated_tokens"] == 128
    assert summary["messages"]["generated_tokens"] == 100
    for api in ("generate", "messages"):
        assert 0 < summary[api]["wall_ms_per_token"] <= DEFAULT_MAX_MS_PER_TOKEN
    assert json.loads(json.dumps(summary)) == summary


def test_summary_divides_wall_time_by_generated_tokens(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap
) -> None:
    """The budget is per generated token, so the reported figure must be wall time over tokens."""
    queue_bodies(aws_environment, generate_body(tokens=128), chat_body(tokens=64))

    summary = run_handler(handler_module, tap, clock_step_s=0.64)

    assert summary["generate"]["wall_ms_per_token"] == pytest.approx(640 / 128)
    assert summary["messages"]["wall_ms_per_token"] == pytest.approx(640 / 64)
    assert summary["generate"]["elapsed_ms"] == pytest.approx(640)
    assert summary["messages"]["generated_tokens"] == 64
    assert summary["generate"]["preview"] == json.loads(generate_body())[0]["generated_text"]


def test_requests_are_the_guide_payloads_with_the_profile_settings(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TGI on /invocations picks the API by payload shape; Qwen needs its stop sequence in both."""
    monkeypatch.setenv("MAX_NEW_TOKENS", "64")
    monkeypatch.setenv("STOP_SEQUENCES", '["<|im_end|>"]')
    queue_bodies(aws_environment, generate_body(tokens=64), chat_body(tokens=64))

    run_handler(handler_module, tap)

    generate_request, messages_request = tap.sent_bodies
    assert generate_request == {
        "inputs": PROMPT,
        "parameters": {
            "max_new_tokens": 64,
            "return_full_text": False,
            "details": True,
            "stop": ["<|im_end|>"],
        },
    }
    assert messages_request == {
        "messages": [
            {"role": "system", "content": SYSTEM_MESSAGE},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": 64,
        "stop": ["<|im_end|>"],
    }


def test_apis_come_from_the_environment(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The construct names the APIs its runtime answers; the handler checks those, in that order."""
    monkeypatch.setenv("APIS", '["messages"]')
    queue_bodies(aws_environment, chat_body(tokens=64))

    summary = run_handler(handler_module, tap)

    assert [request.keys() >= {"messages"} for request in tap.sent_bodies] == [True]
    assert "generate" not in summary and summary["messages"]["generated_tokens"] == 64


def test_stop_is_left_out_when_no_stop_sequence_is_configured(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap
) -> None:
    """Models that need no stop sequence (Llama) must get TGI's defaults, not an empty override."""
    queue_bodies(aws_environment, generate_body(), chat_body())

    run_handler(handler_module, tap)

    generate_request, messages_request = tap.sent_bodies
    assert "stop" not in generate_request["parameters"]
    assert "stop" not in messages_request


def test_model_error_fails_at_once_without_retry(handler_module: ModuleType, tap: InvocationTap) -> None:
    """A ModelError is the container's answer: a retry doubles the load and delays the alarm."""
    tap.script_errors(MODEL_ERROR)
    sleeps: list[float] = []

    failure = expect_failure(handler_module, tap, sleeps=sleeps)

    assert failure.check is Check.INVOCATION
    assert str(failure).startswith("generate: invocation check failed: ModelError after 1 attempt:")
    assert "Received client error (422)" in str(failure)
    assert tap.calls == 1
    assert sleeps == []


def test_missing_endpoint_is_not_retried(handler_module: ModuleType, tap: InvocationTap) -> None:
    """After deployment a missing endpoint is a wrong name; waiting would only delay the report."""
    tap.script_errors(NOT_FOUND)

    failure = expect_failure(handler_module, tap)

    assert "ValidationError after 1 attempt" in str(failure)
    assert "not found" in str(failure)
    assert tap.calls == 1


def test_connection_failure_is_an_invocation_failure(
    handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable endpoint must fail the named check, not escape as a botocore traceback."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    tap = InvocationTap(endpoint_checks.runtime_client())

    failure = expect_failure(handler_module, tap)

    assert failure.check is Check.INVOCATION
    assert "EndpointConnectionError" in str(failure)
    assert tap.calls == 1


def test_throttling_and_unavailability_are_retried_then_pass(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap
) -> None:
    """A busy endpoint right after deployment must not fail the deployment if it recovers."""
    tap.script_errors(THROTTLED, UNAVAILABLE)
    queue_bodies(aws_environment, generate_body(), chat_body())
    sleeps: list[float] = []

    summary = run_handler(handler_module, tap, sleeps=sleeps)

    assert summary["generate"]["generated_tokens"] == 128
    assert sleeps == [FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S]
    assert tap.calls == 3 + 1  # generate: two errors then success; messages: first try


def test_retries_are_bounded(handler_module: ModuleType, tap: InvocationTap) -> None:
    """A persistently throttled endpoint must fail in bounded time, not hang the deployment."""
    tap.script_errors(*[THROTTLED] * (MAX_ATTEMPTS + 5))
    sleeps: list[float] = []

    failure = expect_failure(handler_module, tap, sleeps=sleeps)

    assert f"ThrottlingException after {MAX_ATTEMPTS} attempts: Rate exceeded" in str(failure)
    assert tap.calls == MAX_ATTEMPTS
    assert sleeps == [FIRST_BACKOFF_S * 2**retry for retry in range(MAX_ATTEMPTS - 1)]


def test_no_retry_starts_after_the_retry_window(handler_module: ModuleType, tap: InvocationTap) -> None:
    """Slow throttled attempts must not add up past the Lambda timeout: time bounds retries too."""
    tap.script_errors(*[THROTTLED] * MAX_ATTEMPTS)
    sleeps: list[float] = []
    # Every clock reading is RETRY_WINDOW_S / 2.4 later: the window allows one retry, not two.
    failure = expect_failure(handler_module, tap, sleeps=sleeps, clock_step_s=RETRY_WINDOW_S / 2.4)

    assert "ThrottlingException after 2 attempts" in str(failure)
    assert tap.calls == 2
    assert sleeps == [FIRST_BACKOFF_S]


def test_body_that_is_not_json_fails_the_json_check(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap
) -> None:
    """A proxy or container error page must be reported as such, with what it said."""
    queue_bodies(aws_environment, "<html>502 Bad Gateway</html>")

    failure = expect_failure(handler_module, tap)

    assert failure.check is Check.JSON_BODY
    assert str(failure) == ("generate: JSON body check failed: the body is not JSON: '<html>502 Bad Gateway</html>'")


@pytest.mark.parametrize(
    ("bodies", "expected_message"),
    [
        pytest.param(
            [json.dumps({"generated_text": "딥러닝", "details": {"generated_tokens": 3}})],
            "generate: response shape check failed: no [0].generated_text in the body",
            id="generate-not-wrapped-in-a-list",
        ),
        pytest.param(
            [json.dumps([{"generated_text": "딥러닝"}])],
            "generate: response shape check failed: no [0].details.generated_tokens",
            id="generate-without-details",
        ),
        pytest.param(
            [json.dumps([{"generated_text": "딥러닝", "details": {"generated_tokens": "3"}}])],
            "generate: response shape check failed: [0].details.generated_tokens is str, expected int",
            id="generate-token-count-not-a-number",
        ),
        pytest.param(
            [generate_body(), json.dumps({**json.loads(chat_body()), "object": "text_completion"})],
            "messages: response shape check failed: object is 'text_completion', expected 'chat.completion'",
            id="messages-wrong-object",
        ),
        pytest.param(
            [generate_body(), json.dumps({**json.loads(chat_body()), "choices": []})],
            "messages: response shape check failed: no choices[0].message.content",
            id="messages-without-choices",
        ),
        pytest.param(
            [
                generate_body(),
                json.dumps({k: v for k, v in json.loads(chat_body()).items() if k != "usage"}),
            ],
            "messages: response shape check failed: no usage.completion_tokens",
            id="messages-without-usage",
        ),
        pytest.param(
            [generate_body(tokens=0)],
            "generate: response shape check failed: 0 generated tokens reported for non-empty text",
            id="generate-zero-tokens",
        ),
    ],
)
def test_wrong_shape_fails_the_shape_check_naming_the_field(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    bodies: list[str],
    expected_message: str,
) -> None:
    """A TGI version or route change shows up as a changed body; the message must say where."""
    queue_bodies(aws_environment, *bodies)

    failure = expect_failure(handler_module, tap)

    assert failure.check is Check.SHAPE
    assert str(failure).startswith(expected_message)


@pytest.mark.parametrize(
    ("bodies", "api"),
    [
        pytest.param([generate_body(text=" \n ")], "generate", id="generate"),
        pytest.param([generate_body(), chat_body(content="")], "messages", id="messages"),
    ],
)
def test_empty_text_fails_the_non_empty_text_check(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    bodies: list[str],
    api: str,
) -> None:
    """A model that stops at once (bad template, wrong stop) answers in shape but says nothing."""
    queue_bodies(aws_environment, *bodies)

    failure = expect_failure(handler_module, tap)

    assert failure.check is Check.NON_EMPTY_TEXT
    assert str(failure).startswith(f"{api}: non-empty text check failed: the model returned no text")


def test_slow_endpoint_fails_the_time_per_token_check(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap
) -> None:
    """The guide's 49 ms per token is the point of inf2; an endpoint far slower must fail the test."""
    queue_bodies(aws_environment, generate_body(tokens=128))

    failure = expect_failure(handler_module, tap, clock_step_s=10.0)

    assert failure.check is Check.TIME_PER_TOKEN
    assert str(failure) == (
        f"generate: time per token check failed: {10_000 / 128:.1f} ms per token "
        f"(10000 ms for 128 tokens) is over the {DEFAULT_MAX_MS_PER_TOKEN:g} ms budget"
    )


def test_budget_comes_from_the_environment(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each model profile sets its own budget through MAX_MS_PER_TOKEN, without a code change."""
    monkeypatch.setenv("MAX_MS_PER_TOKEN", "4")
    queue_bodies(aws_environment, generate_body(tokens=128))

    failure = expect_failure(handler_module, tap, clock_step_s=0.64)

    assert failure.check is Check.TIME_PER_TOKEN
    assert "5.0 ms per token" in str(failure)
    assert "over the 4 ms budget" in str(failure)


@pytest.mark.parametrize(
    ("variable", "value", "expected_message"),
    [
        ("ENDPOINT_NAME", "", "smoke test: configuration check failed: ENDPOINT_NAME is not set"),
        ("MAX_MS_PER_TOKEN", "fast", "MAX_MS_PER_TOKEN='fast' cannot be read as float"),
        ("MAX_MS_PER_TOKEN", "-1", "the budget -1.0 ms per token is not a positive number"),
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
    tap: InvocationTap,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    expected_message: str,
) -> None:
    """A construct that passes a bad setting must be told which one, not get a confusing result."""
    monkeypatch.setenv(variable, value)

    failure = expect_failure(handler_module, tap)

    assert failure.check is Check.CONFIGURATION
    assert expected_message in str(failure)
    assert tap.calls == 0


def test_logs_hold_a_short_preview_not_the_whole_answer(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs are kept and widely readable: model output beyond a preview does not belong there."""
    answer = "딥러닝은 " * 200 + "END-OF-ANSWER"
    queue_bodies(aws_environment, generate_body(text=answer), chat_body(content=answer))

    with caplog.at_level(logging.INFO):
        summary = run_handler(handler_module, tap)

    assert "smoke test passed" in caplog.text
    assert "END-OF-ANSWER" not in caplog.text
    assert len(summary["generate"]["preview"]) <= PREVIEW_CHARS
    assert summary["messages"]["preview"].startswith("딥러닝은")


def test_failure_is_logged_with_its_check(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A metric filter or a person reading the log must find the failed check without the trace."""
    queue_bodies(aws_environment, generate_body(text=""))

    with caplog.at_level(logging.INFO), pytest.raises(SmokeTestFailure):
        run_handler(handler_module, tap)

    assert "smoke test failed: generate: non-empty text check failed" in caplog.text


VLLM_APIS = '["completions", "messages"]'


def test_vllm_endpoint_passes_with_openai_shaped_answers(
    handler_module: ModuleType, aws_environment: str, tap: InvocationTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM answers a prompt on /invocations as a completion and messages as a chat completion
    (vllm v0.11.0, vllm/entrypoints/openai/api_server.py, invocations); neither request names a
    model, since vLLM answers 404 to any name but the one it serves and takes none as that one
    (vllm/entrypoints/openai/serving_engine.py, _check_model)."""
    monkeypatch.setenv("APIS", VLLM_APIS)
    monkeypatch.setenv("STOP_SEQUENCES", '["<|im_end|>"]')
    queue_bodies(aws_environment, vllm_completion_body(tokens=128), vllm_chat_body(tokens=96))

    summary = run_handler(handler_module, tap, clock_step_s=0.64)

    completions_request, messages_request = tap.sent_bodies
    assert completions_request == {"prompt": PROMPT, "max_tokens": 512, "stop": ["<|im_end|>"]}
    assert "model" not in messages_request and messages_request["messages"][1]["content"] == PROMPT
    assert summary["completions"]["generated_tokens"] == 128
    assert summary["completions"]["wall_ms_per_token"] == pytest.approx(640 / 128)
    assert summary["messages"]["generated_tokens"] == 96
    assert summary["completions"]["preview"] == json.loads(vllm_completion_body())["choices"][0]["text"].strip()


@pytest.mark.parametrize(
    ("bodies", "check", "expected_message"),
    [
        pytest.param(
            [json.dumps({**json.loads(vllm_completion_body()), "object": "chat.completion"})],
            Check.SHAPE,
            "completions: response shape check failed: object is 'chat.completion', expected 'text_completion'",
            id="completion-answered-as-chat",
        ),
        pytest.param(
            [json.dumps({**json.loads(vllm_completion_body()), "choices": []})],
            Check.SHAPE,
            "completions: response shape check failed: no choices[0].text",
            id="completion-without-choices",
        ),
        pytest.param(
            [json.dumps({**json.loads(vllm_completion_body()), "usage": {"prompt_tokens": 8}})],
            Check.SHAPE,
            "completions: response shape check failed: no usage.completion_tokens",
            id="completion-without-token-count",
        ),
        pytest.param(
            [vllm_completion_body(text="  ")],
            Check.NON_EMPTY_TEXT,
            "completions: non-empty text check failed",
            id="completion-empty",
        ),
        pytest.param(
            [
                vllm_completion_body(),
                json.dumps({**json.loads(vllm_chat_body()), "choices": [{"message": {"content": None}}]}),
            ],
            Check.SHAPE,
            "messages: response shape check failed: choices[0].message.content is NoneType, expected str",
            id="chat-with-null-content",
        ),
    ],
)
def test_vllm_answers_of_the_wrong_shape_fail(
    handler_module: ModuleType,
    aws_environment: str,
    tap: InvocationTap,
    monkeypatch: pytest.MonkeyPatch,
    bodies: list[str],
    check: Check,
    expected_message: str,
) -> None:
    """A vLLM upgrade or a misrouted request shows up as a changed body; the message says where."""
    monkeypatch.setenv("APIS", VLLM_APIS)
    queue_bodies(aws_environment, *bodies)

    failure = expect_failure(handler_module, tap)

    assert failure.check is check
    assert str(failure).startswith(expected_message)


def test_vllm_rejecting_the_request_is_an_invocation_failure(
    handler_module: ModuleType, tap: InvocationTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's 400 for a request over the model's length arrives as SageMaker's ModelError: reported
    with vLLM's own words, not retried."""
    monkeypatch.setenv("APIS", VLLM_APIS)
    tap.script_errors(
        (424, "ModelError", "Received client error (400) from primary with message \"'max_tokens' is too large\".")
    )

    failure = expect_failure(handler_module, tap)

    assert failure.check is Check.INVOCATION
    assert str(failure).startswith("completions: invocation check failed: ModelError after 1 attempt:")
    assert "'max_tokens' is too large" in str(failure)
    assert tap.calls == 1
