"""The smoke test itself: stream one answer of each API, judge its time to the first token and its
decode time per token against their budgets, and sum the run up for the log and the terminal.
"""

from __future__ import annotations

import time
from typing import Any

from failures import Check, SmokeTestFailure
from inference_apis import INFERENCE_APIS, InferenceApi, preview
from invocation import EndpointInvoker, Sleep, invoke_stream
from smoke_settings import SmokeTestSettings
from streaming import Clock, TokenTimes

# Each run's verdict begins with one of these, followed by ": " and the summary or the failure:
# the workstation's watch finds the verdict in the function's log by them.
VERDICT_PASSED = "smoke test passed"
VERDICT_FAILED = "smoke test failed"


def check_api(
    client: EndpointInvoker,
    settings: SmokeTestSettings,
    api: InferenceApi,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Stream one answer of one API (retrying only transient errors, and waiting while the inference
    component has no copy) and judge it and its speed: the time to the first token and the decode
    time per token, each against its budget."""
    payload = api.build_payload(settings.max_new_tokens, settings.stop_sequences)
    answer = invoke_stream(
        client,
        settings.endpoint_name,
        api,
        payload,
        inference_component_name=settings.inference_component_name,
        capacity_wait_s=settings.capacity_wait_s,
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
        "preview": preview(answer.completion.text),
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
    if settings.inference_component_name:
        summary["inference_component"] = settings.inference_component_name
    for name in settings.apis:
        summary[name] = check_api(client, settings, INFERENCE_APIS[name], sleep=sleep, clock=clock)
    return summary
