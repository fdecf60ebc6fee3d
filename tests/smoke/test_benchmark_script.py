"""scripts/benchmark.py, run as a developer runs it, against the fake SageMaker Runtime on loopback
(and moto for the stack and endpoint it reads)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from matplotlib import image

from tests.fakes.model_streams import PROMPT_TOKENS, tgi_generate, vllm_completion
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime, HttpError, Streamed, timed
from tests.smoke.moto_fakes import MODEL_ERROR, NO_CAPACITY, PROJECT_ROOT, run_script, smoke_test_function
from workstation.benchmark_charts import CHARTS, OVERVIEW

SCRIPT = "benchmark.py"
ENDPOINT = "benchmark-endpoint"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The summary's keys before the benchmark streamed, which a single level keeps at the top.
SINGLE_LEVEL_KEYS = (
    "endpoint",
    "api",
    "concurrency",
    "duration_s",
    "requests_succeeded",
    "requests_failed",
    "requests_per_s",
    "generated_tokens_per_s",
    "ms_per_token_p50",
    "ms_per_token_p95",
    "failures",
)


def answer_every_request(runtime: FakeSageMakerRuntime, tokens: int = 16) -> None:
    runtime.answer(then=Streamed(timed(tgi_generate(["딥"] * tokens), first_token_s=0.05, per_token_s=0.01)))


def test_help_describes_the_options() -> None:
    """A developer must learn the load's shape, its bounds and its outputs without reading the code."""
    result = run_script(SCRIPT, "--help")

    assert result.returncode == 0
    for option in (
        "--endpoint-name",
        "--stack-name",
        "--api",
        "--concurrency",
        "--duration",
        "--prompts",
        "--output-dir",
        "--price-per-hour",
        "--instance-type",
        "--quiet",
        "--inference-component-name",
        "--max-new-tokens",
    ):
        assert option in result.stdout
    assert "very-long" in result.stdout


def test_the_documented_run_writes_results_and_charts(sagemaker_runtime: FakeSageMakerRuntime, tmp_path: Path) -> None:
    """The command the README gives for two levels must leave what it promises in the folder named:
    the figures of both levels, a row per request, and charts that open as PNG images."""
    answer_every_request(sagemaker_runtime)

    result = run_script(
        SCRIPT,
        *("--endpoint-name", "X", "--concurrency", "1,2", "--duration", "5", "--output-dir", "out"),
        timeout=60,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert json.loads(result.stdout) == document  # two levels: the same document, nothing flattened
    assert [level["concurrency"] for level in document["levels"]] == [1, 2]
    for level in document["levels"]:
        assert level["requests_failed"] == 0 and level["requests_succeeded"] > 0
        for figure in ("time_to_first_token_ms", "inter_token_latency_ms", "end_to_end_latency_ms"):
            assert set(level[figure]) == {"p50", "p90", "p99", "mean"}
        assert level["cost_per_million_output_tokens_usd"] > 0
    with (out / "results.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == sum(level["requests_succeeded"] for level in document["levels"])
    assert {row["concurrency"] for row in rows} == {"1", "2"}
    assert all(len(row["inter_token_latencies_ms"].split()) == int(row["output_tokens"]) - 1 for row in rows)
    for name in [*CHARTS, OVERVIEW]:
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
        height, width, _ = image.imread(out / name).shape
        assert width > height > 300


def test_a_single_level_keeps_the_summary_keys_and_shows_no_bar_off_a_terminal(
    sagemaker_runtime: FakeSageMakerRuntime,
) -> None:
    """Scripts that read the summary of a one-level run must find its figures where they were; a log
    file (stderr not a terminal) must not fill with progress-bar redraws."""
    answer_every_request(sagemaker_runtime, tokens=32)

    result = run_script(SCRIPT, "--endpoint-name", ENDPOINT, "--duration", "1", "--concurrency", "1")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(SINGLE_LEVEL_KEYS) <= set(summary)
    assert summary["levels"][0]["generated_tokens_per_s"] == summary["generated_tokens_per_s"]
    assert summary["generated_tokens_per_s"] == pytest.approx(
        32 * summary["requests_succeeded"] / summary["duration_s"], rel=0.01
    )
    assert 0 < summary["ms_per_token_p50"] <= summary["ms_per_token_p95"]
    assert "concurrency 1:" not in result.stderr and "\r" not in result.stderr


def test_vllm_endpoint_is_loaded_through_completions(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """vLLM answers no generate request: the benchmark loads it through an API it answers, and reads
    the prompt's tokens from the stream's usage."""
    sagemaker_runtime.answer(then=Streamed(timed(vllm_completion(["딥"] * 8), per_token_s=0.005)))

    result = run_script(
        SCRIPT, "--endpoint-name", ENDPOINT, "--api", "completions", "--duration", "1", "--concurrency", "1"
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["api"] == "completions" and summary["requests_failed"] == 0
    assert summary["input_tokens_mean"] == PROMPT_TOKENS
    assert "prompt" in sagemaker_runtime.invocations[0].body


def test_run_without_a_success_exits_non_zero(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """A benchmark of a broken endpoint must not look like a fast one to a script reading it."""
    sagemaker_runtime.answer(then=HttpError(*MODEL_ERROR))

    result = run_script(SCRIPT, "--endpoint-name", ENDPOINT, "--duration", "1", "--concurrency", "1")

    assert result.returncode == 1
    assert "benchmark failed: no request succeeded at concurrency 1" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests_failed"] >= 1
    assert set(summary["errors_by_kind"]) == {"invocation: ModelError"}
    assert summary["ms_per_token_p50"] is None and summary["time_to_first_token_ms"] is None


@pytest.mark.parametrize(
    "arguments",
    [
        ("--duration", "3601"),
        ("--duration", "0"),
        ("--concurrency", "0"),
        ("--concurrency", "65"),
        ("--concurrency", "1,1"),
        ("--concurrency", "1,2,3,4,5,6,7,8,9"),
        ("--prompts", "guide,nonsense"),
        ("--price-per-hour", "0"),
    ],
)
def test_load_is_bounded(arguments: tuple[str, str]) -> None:
    """The load must stop by itself and stay modest: unbounded runs cost money and hit quotas; and a
    mistyped level or prompt must be refused before any request is sent."""
    result = run_script(SCRIPT, "--endpoint-name", ENDPOINT, *arguments)

    assert result.returncode == 2
    assert f"argument {arguments[0]}" in result.stderr


def test_the_price_warns_outside_its_region_unless_given(
    sagemaker_runtime: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cost per token from another region's price is wrong by that region's difference: the run
    must say so, and a price given on the command line must be the one used."""
    answer_every_request(sagemaker_runtime)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    arguments = ("--endpoint-name", ENDPOINT, "--duration", "1", "--concurrency", "1")

    table = run_script(SCRIPT, *arguments)
    given = run_script(SCRIPT, *arguments, "--price-per-hour", "2.5")

    assert table.returncode == given.returncode == 0
    assert "prices were read for us-east-1; the endpoint is in ap-northeast-2" in table.stderr
    assert json.loads(table.stdout)["price"]["usd_per_hour"] == 0.99
    price = json.loads(given.stdout)["price"]
    assert (price["usd_per_hour"], price["source"], price["warnings"]) == (2.5, "--price-per-hour", [])
    level = json.loads(given.stdout)
    assert level["cost_per_million_output_tokens_usd"] == pytest.approx(
        2.5 / (level["generated_tokens_per_s"] * 3600) * 1e6, rel=1e-3
    )


def test_a_stack_is_priced_by_the_instances_its_endpoint_runs_on(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """An endpoint may run another instance type, or more instances, than the guide's: with
    --stack-name the price must follow the endpoint as deployed. (moto knows no ml.inf2 type, so the
    endpoint here runs two ml.inf1.xlarge, which the price table lacks.)"""
    answer_every_request(sagemaker_runtime)
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName="model", ExecutionRoleArn="arn:aws:iam::123456789012:role/model", PrimaryContainer={"Image": "image"}
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "model", "InstanceType": "ml.inf1.xlarge"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="config", ProductionVariants=[{**variant, "InitialInstanceCount": 2}]
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="config")
    template = {"Resources": smoke_test_function({}), "Outputs": {"EndpointName": {"Value": ENDPOINT}}}
    boto3.client("cloudformation").create_stack(StackName="Serving", TemplateBody=json.dumps(template))
    arguments = ("--stack-name", "Serving", "--duration", "1", "--concurrency", "1")

    table = run_script(SCRIPT, *arguments)
    given = run_script(SCRIPT, *arguments, "--price-per-hour", "0.5")

    assert table.returncode == given.returncode == 0, table.stderr
    price = json.loads(table.stdout)["price"]
    assert price["instances"] == [{"instance_type": "ml.inf1.xlarge", "count": 2}]
    assert price["usd_per_hour"] is None and json.loads(table.stdout)["cost_per_million_output_tokens_usd"] is None
    assert "no price for ml.inf1.xlarge in the table: pass --price-per-hour" in table.stderr
    assert json.loads(given.stdout)["price"]["usd_per_hour"] == 1.0


def test_a_scale_to_zero_stack_is_loaded_through_its_inference_component(
    sagemaker_runtime: FakeSageMakerRuntime,
) -> None:
    """Every request to an endpoint that hosts an inference component must name it, or SageMaker
    refuses it: with --stack-name the name comes from the stack's InferenceComponentName output."""
    answer_every_request(sagemaker_runtime)
    outputs = {"EndpointName": {"Value": ENDPOINT}, "InferenceComponentName": {"Value": "component-from-stack"}}
    template = {"Resources": smoke_test_function({}), "Outputs": outputs}
    boto3.client("cloudformation").create_stack(StackName="Serving", TemplateBody=json.dumps(template))

    result = run_script(SCRIPT, "--stack-name", "Serving", "--duration", "1", "--concurrency", "2", "--quiet")

    assert result.returncode == 0, result.stderr
    components = {request.inference_component for request in sagemaker_runtime.invocations}
    assert components == {"component-from-stack"} and len(sagemaker_runtime.invocations) > 2


def test_a_load_on_a_component_without_a_copy_counts_each_refusal_without_waiting(
    sagemaker_runtime: FakeSageMakerRuntime,
) -> None:
    """The benchmark measures what serves: a component scaled to zero fails each request at once,
    counted as SageMaker's refusal, rather than stalling the level on a wait for a copy."""
    sagemaker_runtime.answer(then=HttpError(*NO_CAPACITY))

    result = run_script(
        SCRIPT,
        *("--endpoint-name", ENDPOINT, "--inference-component-name", "idle-component"),
        *("--duration", "1", "--concurrency", "1", "--quiet"),
    )

    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert set(summary["errors_by_kind"]) == {"invocation: ValidationError"}
    # One request, one invocation: no request waited for a copy by asking again.
    assert summary["requests_failed"] == len(sagemaker_runtime.invocations) >= 1
    assert {request.inference_component for request in sagemaker_runtime.invocations} == {"idle-component"}


def test_matplotlib_is_loaded_only_to_draw() -> None:
    """Charts are the one part that needs matplotlib, slow to import and absent where only boto3 is
    installed: the benchmark's modules must load it when they draw, not when they are imported."""
    probe = "import sys; import workstation.benchmark, workstation.benchmark_charts; print('matplotlib' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )

    assert result.stdout.strip() == "False", result.stderr


def test_a_stack_whose_endpoint_cannot_be_described_is_priced_as_the_guides(
    sagemaker_runtime: FakeSageMakerRuntime,
) -> None:
    """A caller allowed to invoke but not to describe the endpoint still gets a cost, and is told
    which instances it assumed."""
    answer_every_request(sagemaker_runtime)
    template = {"Resources": smoke_test_function({}), "Outputs": {"EndpointName": {"Value": ENDPOINT}}}
    boto3.client("cloudformation").create_stack(StackName="Serving", TemplateBody=json.dumps(template))

    result = run_script(SCRIPT, "--stack-name", "Serving", "--duration", "1", "--concurrency", "1")

    assert result.returncode == 0, result.stderr
    assert f"cannot read the instances of {ENDPOINT} (" in result.stderr
    assert "priced as 1 x ml.inf2.xlarge" in result.stderr
    assert json.loads(result.stdout)["price"]["usd_per_hour"] == 0.99


def test_both_readmes_show_the_chart_drawn_against_the_fake_server() -> None:
    """The README's example chart must be there to see, and must say where its figures come from: a
    chart of the fake server taken for hardware would invent a measurement."""
    chart = PROJECT_ROOT / "docs" / "benchmark-fake-server.png"

    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    for readme, label in (("README.md", "offline fake SageMaker"), ("README.ko.md", "오프라인 가짜 SageMaker")):
        text = (PROJECT_ROOT / readme).read_text(encoding="utf-8")
        link = f"]({chart.relative_to(PROJECT_ROOT)})"
        shown_at = text.index(link)  # the image, and the paragraph under it
        assert label in text[shown_at - 200 : shown_at + 600]
