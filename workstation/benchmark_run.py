"""The benchmark's load: for each concurrency level in turn, that many workers stream requests back to
back for the level's duration, one attempt each, and every request's timings are kept.

A worker sends the prompts in turn (one shared rotation, so each prompt gets its share at any
concurrency) and streams each answer with the smoke test's own call (invocation.invoke_stream), which
reads the clock as the request is sent and as each part of the answer arrives. Requests in flight at
the deadline are awaited (each silence bounded by the client's 70 s read timeout), so a level ends
with no request of its own still running and the next level starts on an idle endpoint.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore.exceptions import ClientError
from tqdm import tqdm

from workstation.lambda_checks import failures, inference_apis, invocation, streaming
from workstation.prompts import Prompt

PROGRESS_INTERVAL_S = 1.0
PROGRESS_WINDOW = 100  # requests
# A worker pauses after a failure so a broken endpoint is not hammered in a tight loop.
PAUSE_AFTER_FAILURE_S = 1.0


@dataclass(frozen=True)
class Load:
    """What the workers send: to which endpoint (and inference component, on an endpoint that hosts
    one), through which API, and the request of each prompt."""

    client: invocation.EndpointInvoker
    endpoint_name: str
    api: inference_apis.InferenceApi
    requests: tuple[tuple[Prompt, dict[str, Any]], ...]
    inference_component_name: str | None = None


def load_of(
    client: invocation.EndpointInvoker,
    endpoint_name: str,
    api: inference_apis.InferenceApi,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int,
    stop_sequences: Sequence[str],
    inference_component_name: str | None = None,
) -> Load:
    """The load of these prompts, each asked for `max_new_tokens` as a streamed request of `api`."""
    requests = tuple(
        (prompt, api.build_payload(max_new_tokens, stop_sequences, prompt=prompt.text)) for prompt in prompts
    )
    return Load(client, endpoint_name, api, requests, inference_component_name)


@dataclass(frozen=True)
class RequestResult:
    """One request: when it ran (seconds since its level began) and what it measured, or its failure."""

    prompt: str
    started_s: float
    ended_s: float  # the stream's end, or the failure
    failure: str | None = None  # its kind, e.g. "invocation: ThrottlingException"; None for a whole answer
    message: str | None = None
    token_arrivals_s: tuple[float, ...] = ()  # each token's arrival, since the request was sent
    input_tokens: int | None = None  # as the server counted them; None when it did not say
    output_tokens: int | None = None

    @property
    def first_token_s(self) -> float | None:
        return self.token_arrivals_s[0] if self.token_arrivals_s else None

    @property
    def inter_token_s(self) -> tuple[float, ...]:
        """The time between each token and the one before it."""
        return tuple(later - earlier for earlier, later in itertools.pairwise(self.token_arrivals_s))

    @property
    def end_to_end_s(self) -> float:
        return self.ended_s - self.started_s


@dataclass(frozen=True)
class LevelRun:
    """Every request of one concurrency level, and how long the level took, stragglers included."""

    concurrency: int
    started_at: float  # seconds since the epoch, to find the level in the endpoint's metrics
    elapsed_s: float
    results: tuple[RequestResult, ...]
    interrupted: bool = False


def failure_kind(failure: failures.SmokeTestFailure) -> str:
    """What kind of failure this is: the check it failed and what raised it (an AWS error's code, or
    the exception's type), so that throttling, a model's error and a connection cut are counted apart."""
    cause = failure.__cause__
    if isinstance(cause, ClientError):
        return f"{failure.check}: {failures.error_code_and_message(cause)[0]}"
    return str(failure.check) if cause is None else f"{failure.check}: {type(cause).__name__}"


@dataclass
class _Level:
    """The state the workers of one level share."""

    load: Load
    origin: float  # the level's start on the clock the requests are timed with
    pause_after_failure_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    results: list[RequestResult] = field(default_factory=list)
    rotation: Iterator[tuple[Prompt, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.rotation = itertools.cycle(self.load.requests)

    def work(self) -> None:
        load = self.load
        while not self.stop.is_set():
            with self.lock:
                prompt, payload = next(self.rotation)
            started = time.perf_counter()
            try:
                # One attempt, and no wait for a copy: retrying throttled requests would hide the
                # overload this measures, and a load on a component scaling from zero measures nothing.
                answer = invocation.invoke_stream(
                    load.client,
                    load.endpoint_name,
                    load.api,
                    payload,
                    inference_component_name=load.inference_component_name,
                    attempts=1,
                )
            except failures.SmokeTestFailure as failure:
                self._record(
                    RequestResult(
                        prompt.name,
                        started - self.origin,
                        time.perf_counter() - self.origin,
                        failure_kind(failure),
                        str(failure),
                    )
                )
                self.stop.wait(self.pause_after_failure_s)
            else:
                self._record(self._measured(prompt, answer))

    def _measured(self, prompt: Prompt, answer: streaming.StreamedAnswer) -> RequestResult:
        times = answer.times
        return RequestResult(
            prompt.name,
            times.request_sent - self.origin,
            times.stream_ended - self.origin,
            token_arrivals_s=tuple(arrival - times.request_sent for arrival in times.tokens),
            input_tokens=answer.prompt_tokens,
            output_tokens=answer.completion.generated_tokens,
        )

    def _record(self, result: RequestResult) -> None:
        with self.lock:
            self.results.append(result)

    def progress(self) -> str:
        """The counts so far, and the medians of the latest requests (a window, so that redrawing the
        bar every second stays cheap however long the level runs)."""
        with self.lock:
            done = [result for result in self.results if result.failure is None]
            failed = len(self.results) - len(done)
        recent = done[-PROGRESS_WINDOW:]
        first_tokens = [result.first_token_s for result in recent if result.first_token_s is not None]
        gaps = [gap for result in recent for gap in result.inter_token_s]
        ttft = f"{statistics.median(first_tokens) * 1000:.0f}" if first_tokens else "-"
        itl = f"{statistics.median(gaps) * 1000:.1f}" if gaps else "-"
        return f"{len(done)} ok, {failed} failed, p50 TTFT {ttft} ms, p50 ITL {itl} ms"


def run_level(
    load: Load,
    concurrency: int,
    *,
    duration_s: float,
    progress: TextIO | None,
    pause_after_failure_s: float = PAUSE_AFTER_FAILURE_S,
) -> LevelRun:
    """Stream requests from `concurrency` workers until the deadline (or Ctrl-C), then await those in
    flight. With `progress`, a bar of the level's time there, with its counts and medians so far."""
    started_at = time.time()
    level = _Level(load, time.perf_counter(), pause_after_failure_s)
    workers = [threading.Thread(target=level.work, daemon=True) for _ in range(concurrency)]
    for worker in workers:
        worker.start()
    interrupted = False
    bar = tqdm(
        total=duration_s,
        desc=f"concurrency {concurrency}",
        unit="s",
        bar_format="{desc}: {bar} {n:.0f}/{total:.0f} s, {postfix}",
        file=progress,
        disable=progress is None,
        leave=True,
    )
    try:
        while (remaining := level.origin + duration_s - time.perf_counter()) > 0:
            time.sleep(min(PROGRESS_INTERVAL_S, remaining))
            bar.update(min(duration_s, time.perf_counter() - level.origin) - bar.n)
            bar.set_postfix_str(level.progress())
    except KeyboardInterrupt:
        interrupted = True
        tqdm.write("interrupted; waiting for the requests in flight", file=progress or sys.stderr)
    finally:
        level.stop.set()
        for worker in workers:
            worker.join()
        bar.close()
    elapsed_s = time.perf_counter() - level.origin
    requests = tuple(sorted(level.results, key=lambda result: result.started_s))
    return LevelRun(concurrency, started_at, elapsed_s, requests, interrupted)


def run_levels(
    load: Load,
    levels: Sequence[int],
    *,
    duration_s: float,
    progress: TextIO | None,
    pause_after_failure_s: float = PAUSE_AFTER_FAILURE_S,
) -> list[LevelRun]:
    """Each concurrency level in the order given, one after the other; Ctrl-C ends the run after the
    level it interrupted."""
    runs = []
    for concurrency in levels:
        runs.append(
            run_level(
                load,
                concurrency,
                duration_s=duration_s,
                progress=progress,
                pause_after_failure_s=pause_after_failure_s,
            )
        )
        if runs[-1].interrupted:
            break
    return runs
