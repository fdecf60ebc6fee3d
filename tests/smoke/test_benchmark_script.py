"""scripts/benchmark.py, run briefly against the moto server on loopback."""

from __future__ import annotations

import json

import pytest

from tests.smoke.moto_fakes import generate_body, queue_bodies, run_script, vllm_completion_body

SCRIPT = "benchmark.py"
ENDPOINT = "benchmark-endpoint"


def test_help_describes_the_options() -> None:
    """A developer must learn the load's shape and bounds without reading the code."""
    result = run_script(SCRIPT, "--help")

    assert result.returncode == 0
    for option in ("--endpoint-name", "--stack-name", "--api", "--concurrency", "--duration", "--max-new-tokens"):
        assert option in result.stdout


def test_short_run_reports_positive_figures(aws_environment: str) -> None:
    """The figures are what the run is for: they must be present, consistent and positive."""
    # Concurrent first calls may each take a queued body before moto remembers the answer.
    queue_bodies(aws_environment, *[generate_body(tokens=128)] * 4)

    result = run_script(SCRIPT, "--endpoint-name", ENDPOINT, "--duration", "2", "--concurrency", "2")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests_succeeded"] > 0
    assert summary["requests_failed"] == 0
    assert summary["requests_per_s"] > 0
    assert summary["generated_tokens_per_s"] == pytest.approx(
        128 * summary["requests_succeeded"] / summary["duration_s"], rel=0.01
    )
    assert 0 < summary["ms_per_token_p50"] <= summary["ms_per_token_p95"]
    assert 2 <= summary["duration_s"] < 10
    assert "\r" in result.stderr and " ok " in result.stderr


def test_vllm_endpoint_is_loaded_through_completions(aws_environment: str) -> None:
    """vLLM answers no generate request: the benchmark loads it through an API it answers."""
    queue_bodies(aws_environment, *[vllm_completion_body(tokens=64)] * 2)

    result = run_script(
        SCRIPT, "--endpoint-name", ENDPOINT, "--api", "completions", "--duration", "1", "--concurrency", "1"
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["api"] == "completions" and summary["requests_failed"] == 0
    assert summary["generated_tokens_per_s"] == pytest.approx(
        64 * summary["requests_succeeded"] / summary["duration_s"], rel=0.01
    )


def test_run_without_a_success_exits_non_zero(aws_environment: str) -> None:
    """A benchmark of a broken endpoint must not look like a fast one to a script reading it."""
    queue_bodies(aws_environment, "not json")

    result = run_script(SCRIPT, "--endpoint-name", ENDPOINT, "--duration", "1", "--concurrency", "1")

    assert result.returncode == 1
    assert "benchmark failed: no request succeeded" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests_failed"] >= 1
    assert summary["ms_per_token_p50"] is None
    assert any("JSON body check failed" in message for message in summary["failures"])


@pytest.mark.parametrize(
    "arguments",
    [("--duration", "3601"), ("--duration", "0"), ("--concurrency", "0"), ("--concurrency", "65")],
)
def test_load_is_bounded(arguments: tuple[str, str]) -> None:
    """The load must stop by itself and stay modest: unbounded runs cost money and hit quotas."""
    result = run_script(SCRIPT, "--endpoint-name", ENDPOINT, *arguments)

    assert result.returncode == 2
    assert f"argument {arguments[0]}" in result.stderr
