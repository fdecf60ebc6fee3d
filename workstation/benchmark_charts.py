"""The benchmark's charts, drawn from its results (benchmark_report.results) with matplotlib: throughput,
time to first token and inter-token latency against concurrency, the latency-throughput curve, and
the four together.

matplotlib is imported when a chart is drawn, not with this module: the pipeline's smoke step
installs boto3 alone and imports the workstation package. Figures are built without pyplot, so no
GUI backend is involved: PNG files are rendered by Agg, matplotlib's raster renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# TGI's time_per_token in the guide, 49.02 and 49.27 ms: the reference for the time between tokens.
GUIDE_MS_PER_TOKEN = 49.0
DPI = 100
SINGLE_SIZE = (7.0, 4.5)  # inches
OVERVIEW_SIZE = (13.0, 9.0)
PERCENTILE_STYLES = (("p50", "-"), ("p90", "--"), ("p99", ":"))

Level = dict[str, Any]


def _concurrency_axis(axes: Axes, levels: list[Level]) -> list[int]:
    concurrency = [level["concurrency"] for level in levels]
    axes.set_xlabel("concurrent requests")
    axes.set_xticks(concurrency)
    axes.grid(True, alpha=0.3)
    return concurrency


def throughput(axes: Axes, levels: list[Level]) -> None:
    """Output tokens per second, the endpoint's and each request's (p50), and requests per second."""
    concurrency = _concurrency_axis(axes, levels)
    axes.plot(concurrency, [level["generated_tokens_per_s"] for level in levels], "o-", label="all requests")
    per_request = [level["generated_tokens_per_s_per_request"]["p50"] for level in levels]
    axes.plot(concurrency, per_request, "s--", label="per request (p50)")
    axes.set_ylabel("output tokens/s")
    axes.set_ylim(bottom=0)
    requests = axes.twinx()
    requests.plot(
        concurrency, [level["requests_per_s"] for level in levels], "^:", color="tab:green", label="requests/s"
    )
    requests.set_ylabel("requests/s")
    requests.set_ylim(bottom=0)
    lines = axes.get_legend_handles_labels()
    more = requests.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], loc="best")
    axes.set_title("Throughput")


def _percentiles(axes: Axes, levels: list[Level], key: str, title: str) -> None:
    concurrency = _concurrency_axis(axes, levels)
    for name, style in PERCENTILE_STYLES:
        axes.plot(concurrency, [level[key][name] for level in levels], "o" + style, label=name)
    axes.set_ylabel("ms")
    axes.set_ylim(bottom=0)
    axes.set_title(title)


def time_to_first_token(axes: Axes, levels: list[Level]) -> None:
    _percentiles(axes, levels, "time_to_first_token_ms", "Time to first token")
    axes.legend(loc="best")


def inter_token_latency(axes: Axes, levels: list[Level]) -> None:
    _percentiles(axes, levels, "inter_token_latency_ms", "Inter-token latency")
    axes.axhline(GUIDE_MS_PER_TOKEN, color="grey", linewidth=1, label=f"guide: {GUIDE_MS_PER_TOKEN:g} ms/token (TGI)")
    axes.set_ylim(0, max(axes.get_ylim()[1], GUIDE_MS_PER_TOKEN * 1.2))  # the reference stays in view
    axes.legend(loc="best")


def latency_throughput(axes: Axes, levels: list[Level]) -> None:
    """End-to-end latency against the endpoint's output tokens/s, each point a concurrency level."""
    tokens_per_s = [level["generated_tokens_per_s"] for level in levels]
    for name, style in PERCENTILE_STYLES[:2]:
        seconds = [level["end_to_end_latency_ms"][name] / 1000 for level in levels]
        axes.plot(tokens_per_s, seconds, "o" + style, label=f"end-to-end {name}")
    for level, x in zip(levels, tokens_per_s, strict=True):
        y = level["end_to_end_latency_ms"]["p50"] / 1000
        axes.annotate(f"{level['concurrency']}", (x, y), textcoords="offset points", xytext=(4, -12))
    axes.set_xlabel("output tokens/s (numbers: concurrent requests)")
    axes.set_ylabel("s")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    axes.set_title("Latency against throughput")


CHARTS: dict[str, Callable[[Axes, list[Level]], None]] = {
    "throughput.png": throughput,
    "time_to_first_token.png": time_to_first_token,
    "inter_token_latency.png": inter_token_latency,
    "latency_throughput.png": latency_throughput,
}
OVERVIEW = "overview.png"


def title(document: dict[str, Any], note: str | None) -> str:
    """What was measured: the endpoint, API, prompts and tokens asked for; and the note, if any."""
    prompts = ", ".join(document["prompts"])
    heading = (
        f"{document['endpoint']} · {document['api']} · prompts: {prompts} · {document['max_new_tokens']} new tokens"
    )
    return heading if note is None else f"{heading}\n{note}"


def draw_charts(document: dict[str, Any], directory: Path, *, note: str | None = None) -> list[Path]:
    """Each chart as a PNG in `directory`, and the overview of the four; none when no level has a
    successful request. `note` is printed under each title (e.g. where the figures come from)."""
    from matplotlib.figure import Figure  # imported where drawn: see the module's docstring

    levels = [level for level in document["levels"] if level["requests_succeeded"]]
    if not levels:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    heading = title(document, note)
    written = []
    for name, draw in CHARTS.items():
        figure = Figure(figsize=SINGLE_SIZE, layout="constrained")
        draw(figure.add_subplot(), levels)
        figure.suptitle(heading, fontsize=8)
        figure.savefig(directory / name, dpi=DPI)
        written.append(directory / name)
    figure = Figure(figsize=OVERVIEW_SIZE, layout="constrained")
    for axes, draw in zip(figure.subplots(2, 2).flat, CHARTS.values(), strict=True):
        draw(axes, levels)
    figure.suptitle(heading, fontsize=10)
    figure.savefig(directory / OVERVIEW, dpi=DPI)
    return [*written, directory / OVERVIEW]
