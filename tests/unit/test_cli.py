"""What a user sees from the real CLI: `npx cdk synth` with `-c key=value` overrides."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.conftest import PROJECT_ROOT

BAD_OVERRIDES = {
    "not-a-number": (["-c", "batch_size=four"], "invalid configuration: batch_size='four': must be a whole number"),
    "prod-without-account": (["-c", "stage=prod"], "invalid configuration: account=None: required for prod stages"),
    "too-many-cores": (
        ["-c", "model_source=compile", "-c", "num_cores=4"],
        "invalid configuration: num_cores=4: ml.inf2.xlarge has 2 Neuron cores",
    ),
    "vllm-from-the-hub": (
        ["-c", "runtime=vllm-0.4", "-c", "model_source=hub"],
        "invalid configuration: model_source='hub': (chosen) serves a precompiled Hub copy, and runtime vllm-0.4 "
        "has none of bllossom-8b; use model_source=compile",
    ),
    "vllm-in-seoul": (
        ["-c", "runtime=vllm-0.4", "-c", "model_source=compile", "-c", "region=ap-northeast-2"],
        "invalid configuration: region='ap-northeast-2': runtime vllm-0.4's image (huggingface-vllm-inference-neuronx) "
        "is not published there; it is in: ap-northeast-1, ap-south-1, ap-southeast-1, ap-southeast-2, eu-central-1, "
        "eu-west-1, eu-west-3, sa-east-1, us-east-1, us-east-2, us-west-2",
    ),
    "vllm-with-a-tgi-key": (
        ["-c", "runtime=vllm-0.4", "-c", "model_source=compile", "-c", "max_total_tokens=4096"],
        "invalid configuration: max_total_tokens=4096: is read by runtime tgi-0.0.28 only, not by vllm-0.4",
    ),
}
GOOD_OVERRIDES = {"qwen": ["-c", "model=qwen2.5-7b-instruct"]}


def _cli_environment() -> dict[str, str]:
    return {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """All CLI runs at once: each is mostly the jsii runtime starting, so they overlap well."""
    started = {}
    for name, overrides in {**{k: v[0] for k, v in BAD_OVERRIDES.items()}, **GOOD_OVERRIDES}.items():
        outdir = tmp_path_factory.mktemp(name)
        command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(outdir), *overrides]
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=_cli_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started[name] = (process, outdir, command)
    results = {}
    for name, (process, outdir, command) in started.items():
        stdout, stderr = process.communicate(timeout=240)
        results[name] = (subprocess.CompletedProcess(command, process.returncode, stdout, stderr), outdir)
    return results


@pytest.mark.parametrize("name", BAD_OVERRIDES)
def test_bad_override_fails_with_one_clear_line_and_no_template(cli_runs, name: str) -> None:
    """A user who mistypes a value gets one line naming key, value and what is allowed, no Python
    traceback, and no template that a later `cdk deploy --app cdk.out` could pick up."""
    result, outdir = cli_runs[name]
    expected = BAD_OVERRIDES[name][1]
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("invalid configuration:")]
    assert len(ours) == 1 and ours[0].startswith(expected), result.stderr
    assert "Traceback" not in result.stderr
    assert not list(outdir.glob("*.template.json"))


def test_qwen_profile_synthesizes_through_the_cli(cli_runs) -> None:
    """The second model is one override away, with cdk.json's context applied by the CLI."""
    result, outdir = cli_runs["qwen"]
    assert result.returncode == 0, result.stderr
    assert {path.name for path in outdir.glob("*.template.json")} == {
        "Inf2Llm-dev-Storage.template.json",
        "Inf2Llm-dev-Workbench.template.json",
        "Inf2Llm-dev-Serving.template.json",
    }
    assert "Qwen2.5-7B-Instruct" in (outdir / "Inf2Llm-dev-Serving.template.json").read_text()
