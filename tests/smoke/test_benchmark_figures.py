"""The benchmark's figures against the fake SageMaker Runtime, whose answers arrive on a schedule the
test sets: the figures must be the schedule's, within the tolerances below.

Tolerances. The fake sends each part at its due time on its own clock (a late part does not delay the
next), over loopback, so a measured time is the scheduled one plus the request's way in and thread
wake-ups: milliseconds, more on a loaded machine. So
- time to first token and end-to-end latency, p50: at least the scheduled time, and at most
  LATE_MS later (a stream cannot come early; the first request also opens a connection);
- inter-token latency, p50 of every gap: within GAP_MS of the scheduled gap (each gap carries the
  jitter of two wake-ups);
- decode time per token, p50: within DECODE_MS (a mean over many gaps: only the first and the last
  token's jitter enter it).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest

from tests.fakes.model_streams import PROMPT_TOKENS, tgi_generate, tgi_generate_error, vllm_chat
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime, HttpError, Streamed, StreamError, timed
from tests.smoke.moto_fakes import THROTTLED
from workstation import benchmark_report, prices
from workstation.benchmark_run import LevelRun, load_of, run_level, run_levels
from workstation.lambda_checks import inference_apis, invocation
from workstation.prompts import PROMPTS

LATE_MS = 40.0
GAP_MS = 3.0
DECODE_MS = 1.0
FIRST_TOKEN_S = 0.2
PER_TOKEN_S = 0.02
TOKENS = 20
SCHEDULED_END_TO_END_S = FIRST_TOKEN_S + (TOKENS - 1) * PER_TOKEN_S
PRICE = prices.hourly_price([prices.Instances("ml.inf2.xlarge", 1)], region="us-east-1", price_per_hour=None)


def scheduled_answer() -> Streamed:
    return Streamed(timed(tgi_generate(["딥"] * TOKENS), first_token_s=FIRST_TOKEN_S, per_token_s=PER_TOKEN_S))


def run(
    levels: tuple[int, ...],
    *,
    duration_s: float = 1.5,
    api: inference_apis.InferenceApi = inference_apis.GENERATE,
    prompts: tuple[str, ...] = ("guide",),
) -> list[LevelRun]:
    load = load_of(
        invocation.runtime_client(max_pool_connections=max(levels)),
        "endpoint",
        api,
        [PROMPTS[name] for name in prompts],
        max_new_tokens=TOKENS,
        stop_sequences=(),
    )
    return run_levels(load, levels, duration_s=duration_s, progress=None, pause_after_failure_s=0.01)


def figures(runs: list[LevelRun]) -> list[dict[str, Any]]:
    return [benchmark_report.level_figures(level, PRICE.usd_per_hour) for level in runs]


def test_figures_are_the_timings_the_server_was_told_to_produce(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """What the tool is for: a time to first token, a time between tokens and an end-to-end time the
    server produced must come out as those times, not blurred into one another."""
    sagemaker_runtime.answer(then=scheduled_answer())

    (level,) = figures(run((2,)))

    assert level["requests_failed"] == 0 and level["requests_succeeded"] >= 4
    assert 0 <= level["time_to_first_token_ms"]["p50"] - FIRST_TOKEN_S * 1000 <= LATE_MS
    assert level["inter_token_latency_ms"]["p50"] == pytest.approx(PER_TOKEN_S * 1000, abs=GAP_MS)
    assert level["decode_ms_per_token"]["p50"] == pytest.approx(PER_TOKEN_S * 1000, abs=DECODE_MS)
    assert 0 <= level["end_to_end_latency_ms"]["p50"] - SCHEDULED_END_TO_END_S * 1000 <= LATE_MS
    # Two requests at a time, each TOKENS tokens in SCHEDULED_END_TO_END_S, back to back.
    assert level["generated_tokens_per_s"] == pytest.approx(2 * TOKENS / SCHEDULED_END_TO_END_S, rel=0.1)
    assert level["output_tokens_mean"] == TOKENS
    assert level["input_tokens_mean"] == PROMPT_TOKENS  # TGI's details.input_length
    assert level["cost_per_million_output_tokens_usd"] == pytest.approx(
        0.99 / (level["generated_tokens_per_s"] * 3600) * 1e6, rel=1e-3
    )


def test_a_full_batch_makes_the_next_request_wait_for_its_first_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the batch the endpoint was compiled for, a request waits for a place: its time to first
    token must show the wait, and the throughput must stop growing, as on the real server."""
    with FakeSageMakerRuntime(streams_at_once=1) as one_at_a_time:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", one_at_a_time.url)
        one_at_a_time.answer(then=scheduled_answer())

        (level,) = figures(run((2,)))

    waited_ms = (SCHEDULED_END_TO_END_S + FIRST_TOKEN_S) * 1000
    assert level["time_to_first_token_ms"]["p90"] >= waited_ms - LATE_MS
    assert level["generated_tokens_per_s"] == pytest.approx(TOKENS / SCHEDULED_END_TO_END_S, rel=0.15)
    assert level["inter_token_latency_ms"]["p50"] == pytest.approx(PER_TOKEN_S * 1000, abs=GAP_MS)


def test_failures_are_counted_by_kind_and_left_out_of_the_figures(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """Under load an endpoint throttles, times out mid-answer or fails a generation: each kind must be
    counted apart, and a half answer must not pass for a fast one."""
    parts = timed(tgi_generate(["딥"] * TOKENS))
    sagemaker_runtime.answer(
        HttpError(*THROTTLED),
        HttpError(*THROTTLED),
        Streamed(parts[:2], error=StreamError(0.0, "ModelStreamError", "too slow", "ModelInvocationTimeExceeded")),
        Streamed([*parts[:2], *timed([tgi_generate_error("out of memory")])]),
        Streamed(parts[:2], drop_connection=True),
        then=scheduled_answer(),
    )

    (level,) = figures(run((1,)))

    assert level["errors_by_kind"] == {
        "invocation: ThrottlingException": 2,
        "stream: ModelStreamError": 1,
        "stream": 1,
        "stream: ProtocolError": 1,
    }
    assert level["requests_failed"] == 5 and level["requests_succeeded"] >= 1
    assert level["time_to_first_token_ms"]["p50"] >= FIRST_TOKEN_S * 1000  # the failed streams began at once
    assert any("out of memory" in message for message in level["failures"])


def test_levels_run_one_after_the_other_in_the_order_given(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """Each level must measure its own concurrency: the next begins when the last request of the one
    before has ended, and within a level no more requests overlap than it allows."""
    sagemaker_runtime.answer(then=scheduled_answer())

    runs = run((2, 1), duration_s=1.0)

    assert [level.concurrency for level in runs] == [2, 1]
    first, second = runs
    assert second.started_at >= first.started_at + first.elapsed_s - 0.01
    for level in runs:
        spans = [(result.started_s, result.ended_s) for result in level.results]
        in_flight = max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
        assert in_flight == level.concurrency
    assert len(sagemaker_runtime.invocations) == sum(len(level.results) for level in runs)
    started = [datetime.fromisoformat(level["started_at"]) for level in figures(runs)]
    assert started == sorted(started)


def test_prompts_are_sent_in_turn_and_input_tokens_come_from_the_usage(
    sagemaker_runtime: FakeSageMakerRuntime,
) -> None:
    """Several prompts must each get their share of the load, each request carrying its own text, and
    an OpenAI-style stream's usage must give the input tokens."""
    sagemaker_runtime.answer(then=Streamed(timed(vllm_chat(["딥"] * TOKENS), first_token_s=0.05, per_token_s=0.005)))

    (level_run,) = run((1,), api=inference_apis.MESSAGES, prompts=("short", "very-long"))

    sent = [request.body["messages"][-1]["content"] for request in sagemaker_runtime.invocations]
    assert sent[:4] == [PROMPTS["short"].text, PROMPTS["very-long"].text] * 2
    assert [result.prompt for result in level_run.results[:2]] == ["short", "very-long"]
    assert all(request.body["stream"] is True for request in sagemaker_runtime.invocations)
    assert figures([level_run])[0]["input_tokens_mean"] == PROMPT_TOKENS  # usage.prompt_tokens


def test_the_progress_bar_shows_the_level_and_its_counts(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """A long run must show it is alive and how it goes, on the stream it is given (stderr in use)."""
    sagemaker_runtime.answer(then=scheduled_answer())
    shown = io.StringIO()
    load = load_of(
        invocation.runtime_client(),
        "endpoint",
        inference_apis.GENERATE,
        [PROMPTS["guide"]],
        max_new_tokens=TOKENS,
        stop_sequences=(),
    )

    run_level(load, 1, duration_s=1.2, progress=shown)

    assert "concurrency 1:" in shown.getvalue()
    assert " ok, 0 failed, p50 TTFT 2" in shown.getvalue()
