"""The benchmark's figures, per concurrency level, as the tools endpoints are compared with report them
(ray-project/llmperf, aws-samples/foundation-model-benchmarking-tool, vLLM's `bench serve`), and the
files that keep them: results.json (the figures) and results.csv (one row per request).

Figures of successful requests only; failed ones are counted by kind. Per level, after its
started_at (UTC, to find it in the endpoint's CloudWatch metrics) and duration_s:
- requests_per_s, generated_tokens_per_s: completed requests and their output tokens over the level's
  time, the requests still in flight at its deadline included (they are awaited);
- generated_tokens_per_s_per_request: each request's output tokens over its own end-to-end time;
- time_to_first_token_ms: from sending the request to the first token's arrival (queueing, routing,
  prefill);
- inter_token_latency_ms: every gap between two consecutive tokens of a request, all requests pooled
  (vLLM's ITL); a part that carries two tokens makes a gap of 0;
- decode_ms_per_token: per request, the first token to the last over the tokens after the first
  (vLLM's TPOT, TGI's time_per_token, the smoke test's figure): what the guide's 49 ms compares with;
- end_to_end_latency_ms: from sending the request to the end of its stream;
- ms_per_token_p50 and ms_per_token_p95: wall time over output tokens, the figure this tool reported
  before it streamed, kept for the scripts that read it;
- cost_per_million_output_tokens_usd: the endpoint's hourly price over the output tokens of an hour
  at the level's generated_tokens_per_s.
Percentiles are nearest-rank: each one is a value that was measured.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.benchmark_run import LevelRun, RequestResult
from workstation.prices import HourlyPrice, cost_per_million_tokens

PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
FAILURE_MESSAGES_SHOWN = 5
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
CSV_COLUMNS = (
    "concurrency",
    "prompt",
    "started_s",
    "end_to_end_latency_ms",
    "time_to_first_token_ms",
    "decode_ms_per_token",
    "input_tokens",
    "output_tokens",
    "generated_tokens_per_s",
    "failure",
    "message",
    "inter_token_latencies_ms",  # space-separated, in the order the tokens arrived
)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def distribution(values: Sequence[float], *, scale: float = 1.0, digits: int = 1) -> dict[str, float] | None:
    """p50, p90, p99 and the mean of the values times `scale`; None without values."""
    if not values:
        return None
    figures = {name: round(percentile(values, fraction) * scale, digits) for name, fraction in PERCENTILES}
    return {**figures, "mean": round(statistics.fmean(values) * scale, digits)}


def decode_s_per_token(result: RequestResult) -> float | None:
    """The first token to the last over the tokens after the first; None below two tokens."""
    arrivals = result.token_arrivals_s
    return (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) if len(arrivals) >= 2 else None


def _mean(values: Sequence[int]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def level_figures(run: LevelRun, usd_per_hour: float | None) -> dict[str, Any]:
    """One level's figures (the module's docstring says what each is)."""
    done = [result for result in run.results if result.failure is None]
    failed = [result for result in run.results if result.failure is not None]
    output_tokens = [result.output_tokens or 0 for result in done]
    tokens_per_s = sum(output_tokens) / run.elapsed_s
    wall_s_per_token = [result.end_to_end_s / tokens for result, tokens in zip(done, output_tokens, strict=True)]
    decode = [value for result in done if (value := decode_s_per_token(result)) is not None]
    cost = cost_per_million_tokens(usd_per_hour, tokens_per_s)
    return {
        "concurrency": run.concurrency,
        "started_at": datetime.fromtimestamp(run.started_at, UTC).isoformat(timespec="milliseconds"),
        "duration_s": round(run.elapsed_s, 2),
        "requests_succeeded": len(done),
        "requests_failed": len(failed),
        "requests_per_s": round(len(done) / run.elapsed_s, 3),
        "generated_tokens_per_s": round(tokens_per_s, 2),
        "generated_tokens_per_s_per_request": distribution(
            [tokens / result.end_to_end_s for result, tokens in zip(done, output_tokens, strict=True)], digits=2
        ),
        "time_to_first_token_ms": distribution(
            [result.first_token_s for result in done if result.first_token_s is not None], scale=1000
        ),
        "inter_token_latency_ms": distribution(
            [gap for result in done for gap in result.inter_token_s], scale=1000, digits=2
        ),
        "decode_ms_per_token": distribution(decode, scale=1000, digits=2),
        "end_to_end_latency_ms": distribution([result.end_to_end_s for result in done], scale=1000),
        # Means of the requests the server counted: TGI's generate gives details.input_length, the
        # OpenAI-style streams usage.prompt_tokens; a request without a count is left out.
        "input_tokens_mean": _mean([result.input_tokens for result in done if result.input_tokens is not None]),
        "output_tokens_mean": _mean(output_tokens),
        "ms_per_token_p50": round(percentile(wall_s_per_token, 0.5) * 1000, 3) if done else None,
        "ms_per_token_p95": round(percentile(wall_s_per_token, 0.95) * 1000, 3) if done else None,
        "cost_per_million_output_tokens_usd": None if cost is None else round(cost, 4),
        "errors_by_kind": dict(Counter(result.failure for result in failed if result.failure)),
        "failures": dict(
            Counter(result.message for result in failed if result.message).most_common(FAILURE_MESSAGES_SHOWN)
        ),
    }


def results(
    *,
    endpoint: str,
    api: str,
    prompts: Sequence[str],
    max_new_tokens: int,
    price: HourlyPrice,
    runs: Sequence[LevelRun],
) -> dict[str, Any]:
    """The run's results: what was measured, how, and the figures of each level in the order run."""
    return {
        "endpoint": endpoint,
        "api": api,
        "prompts": list(prompts),
        "max_new_tokens": max_new_tokens,
        "price": price.summary(),
        "interrupted": any(run.interrupted for run in runs),
        "levels": [level_figures(run, price.usd_per_hour) for run in runs],
    }


def printed_summary(document: dict[str, Any]) -> dict[str, Any]:
    """What stdout gets: the results, and with a single level its figures at the top as well, where
    the summary of a single-level run has always had them."""
    levels = document["levels"]
    return {**document, **levels[0]} if len(levels) == 1 else document


def _ms(seconds: float | None, digits: int = 1) -> float | str:
    return "" if seconds is None else round(seconds * 1000, digits)


def csv_row(concurrency: int, result: RequestResult) -> dict[str, Any]:
    tokens = result.output_tokens
    return {
        "concurrency": concurrency,
        "prompt": result.prompt,
        "started_s": round(result.started_s, 3),
        "end_to_end_latency_ms": _ms(result.end_to_end_s),
        "time_to_first_token_ms": _ms(result.first_token_s),
        "decode_ms_per_token": _ms(decode_s_per_token(result), 2),
        "input_tokens": "" if result.input_tokens is None else result.input_tokens,
        "output_tokens": "" if tokens is None else tokens,
        "generated_tokens_per_s": "" if tokens is None else round(tokens / result.end_to_end_s, 2),
        "failure": result.failure or "",
        "message": result.message or "",
        "inter_token_latencies_ms": " ".join(f"{gap * 1000:.2f}" for gap in result.inter_token_s),
    }


def write_results(directory: Path, document: dict[str, Any], runs: Sequence[LevelRun]) -> list[Path]:
    """results.json and results.csv in `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    summary_path, requests_path = directory / RESULTS_JSON, directory / RESULTS_CSV
    summary_path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with requests_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(run.concurrency, result) for run in runs for result in run.results)
    return [summary_path, requests_path]
