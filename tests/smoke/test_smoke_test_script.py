"""scripts/smoke_test.py, run as a developer runs it, against the moto server."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
import subprocess
import sys

import boto3
import pytest

from tests.fakes.model_streams import tgi_chat, tgi_generate, vllm_chat, vllm_completion
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime, HttpError, Part, Streamed, timed
from tests.smoke.moto_fakes import NO_CAPACITY, run_script
from workstation import smoke_test
from workstation.lambda_checks import LAMBDA_SOURCE, invocation, smoke_settings

SCRIPT = "smoke_test.py"
# The smoke-test function's environment in a vLLM serving stack, as the construct writes it.
VLLM_SMOKE_TEST = {
    "APIS": '["completions", "messages"]',
    "MAX_MS_PER_TOKEN": "55",
    "MAX_FIRST_TOKEN_MS": "1500",
    "MAX_NEW_TOKENS": "256",
    "STOP_SEQUENCES": '["<|im_end|>"]',
}


def create_serving_stack(
    name: str, endpoint_name: str, environment: dict[str, str], component_name: str | None = None
) -> None:
    """A deployed serving stack: its EndpointName output (and InferenceComponentName, with
    scale_to_zero) and its smoke-test function."""
    role_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    template = {
        "Resources": {
            "SmokeTestRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": role_policy}},
            "SmokeTestFunction3BA52CAE": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "handler.handler",
                    "Role": {"Fn::GetAtt": ["SmokeTestRole", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context): pass"},
                    "Environment": {"Variables": {"ENDPOINT_NAME": endpoint_name, **environment}},
                },
            },
        },
        "Outputs": {"EndpointName": {"Value": endpoint_name}},
    }
    if component_name:
        template["Outputs"]["InferenceComponentName"] = {"Value": component_name}
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def create_stack(name: str, outputs: dict[str, str]) -> None:
    """A deployed stack with a bucket, its BucketName output and the given outputs."""
    template = {
        "Resources": {"ArtifactBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {
            "BucketName": {"Value": {"Ref": "ArtifactBucket"}},
            **{key: {"Value": value} for key, value in outputs.items()},
        },
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_help_describes_the_options() -> None:
    """A developer must learn how to point the test at an endpoint without reading the code."""
    result = run_script(SCRIPT, "--help")

    assert result.returncode == 0
    for option in (
        "--endpoint-name",
        "--stack-name",
        "--region",
        "--max-ms-per-token",
        "--max-first-token-ms",
        "--stop",
        "--api",
        "--inference-component-name",
        "--capacity-wait-minutes",
    ):
        assert option in result.stdout


def test_an_endpoint_or_a_stack_is_required() -> None:
    """Without a target the script must refuse, not test some default endpoint."""
    result = run_script(SCRIPT)

    assert result.returncode == 2
    assert "one of the arguments --endpoint-name --stack-name is required" in result.stderr


def tokens(count: int) -> list[str]:
    return ["딥러닝"] * count


def test_healthy_endpoint_exits_zero_and_prints_the_summary(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """The summary on stdout is what a developer or a pipeline step reads after a deployment."""
    sagemaker_runtime.answer(Streamed(timed(tgi_generate(tokens(128)))), Streamed(timed(tgi_chat(tokens(90)))))

    result = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["endpoint"] == "workstation-endpoint"
    assert summary["generate"]["generated_tokens"] == 128
    assert summary["messages"]["generated_tokens"] == 90
    for api in ("generate", "messages"):
        assert 0 < summary[api]["first_token_ms"] <= smoke_settings.DEFAULT_MAX_FIRST_TOKEN_MS
        assert 0 < summary[api]["decode_ms_per_token"] <= smoke_settings.DEFAULT_MAX_MS_PER_TOKEN


def test_failed_check_exits_non_zero_with_its_message(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """An expected failure must read as the failed check, not as a Python traceback."""
    sagemaker_runtime.answer(Streamed([Part(0.0, b"data:upstream connect error\n\n")]))

    result = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "smoke test failed: generate: JSON body check failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_budget_option_is_applied(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """--max-ms-per-token must reach the check, or a tighter budget would silently be ignored."""
    sagemaker_runtime.answer(Streamed(timed(tgi_generate(tokens(8)), per_token_s=0.001)))

    result = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint", "--max-ms-per-token", "1e-9")

    assert result.returncode == 1
    assert "generate: time per token check failed" in result.stderr
    assert "1e-09 ms budget" in result.stderr


def test_first_token_budget_option_is_applied(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """--max-first-token-ms must reach the check: a first token 300 ms after the request passes the
    default budget and fails a budget of 100 ms, before the rest of the answer is read."""
    answer = Streamed(timed(tgi_generate(tokens(8)), first_token_s=0.3))
    sagemaker_runtime.answer(answer, Streamed(timed(tgi_chat(tokens(8)))), answer)

    default = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint")
    tight = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint", "--max-first-token-ms", "100")

    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["generate"]["first_token_ms"] >= 300
    assert tight.returncode == 1
    assert "generate: time to first token check failed" in tight.stderr
    assert "over the 100 ms budget" in tight.stderr


def test_stack_name_tests_as_the_deployed_smoke_test_does(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """After cdk deploy the stack name is what a developer knows: the endpoint comes from its
    output, and the APIs, budgets, tokens and stop sequences from the stack's smoke-test function,
    so a vLLM stack is called through completions and chat, judged as its gate judges it."""
    create_serving_stack("Inf2Llm-dev-Serving", "endpoint-from-stack", VLLM_SMOKE_TEST)
    sagemaker_runtime.answer(Streamed(timed(vllm_completion(tokens(256)))), Streamed(timed(vllm_chat(tokens(200)))))

    result = run_script(SCRIPT, "--stack-name", "Inf2Llm-dev-Serving")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["endpoint"] == "endpoint-from-stack"
    assert (summary["max_ms_per_token"], summary["max_first_token_ms"]) == (55, 1500)
    assert summary["completions"]["generated_tokens"] == 256 and summary["messages"]["generated_tokens"] == 200
    assert "generate" not in summary
    assert {request.endpoint_name for request in sagemaker_runtime.invocations} == {"endpoint-from-stack"}


def test_options_override_the_deployed_settings(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """A developer tightening the budget or trying one API must not have to redeploy first."""
    create_serving_stack("Inf2Llm-dev-Serving", "endpoint-from-stack", VLLM_SMOKE_TEST)
    sagemaker_runtime.answer(Streamed(timed(vllm_chat(tokens(8)))))

    result = run_script(
        SCRIPT,
        *("--stack-name", "Inf2Llm-dev-Serving", "--api", "messages"),
        *("--max-ms-per-token", "70", "--max-first-token-ms", "1800"),
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["max_ms_per_token"], summary["max_first_token_ms"]) == (70, 1800)
    assert [name for name, result in summary.items() if isinstance(result, dict)] == ["messages"]


def test_a_scale_to_zero_stack_is_called_through_its_inference_component(
    sagemaker_runtime: FakeSageMakerRuntime,
) -> None:
    """An endpoint that hosts an inference component refuses requests that do not name it: with
    --stack-name the name comes from the stack's InferenceComponentName output, as the endpoint's
    from EndpointName."""
    create_serving_stack("Inf2Llm-dev-Serving", "endpoint-from-stack", VLLM_SMOKE_TEST, "component-from-stack")
    sagemaker_runtime.answer(Streamed(timed(vllm_completion(tokens(8)))), Streamed(timed(vllm_chat(tokens(8)))))

    result = run_script(SCRIPT, "--stack-name", "Inf2Llm-dev-Serving")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inference_component"] == "component-from-stack"
    invocations = sagemaker_runtime.invocations
    assert [(request.endpoint_name, request.inference_component) for request in invocations] == [
        ("endpoint-from-stack", "component-from-stack")
    ] * 2


def test_the_inference_component_option_names_it_for_an_endpoint(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """Given --endpoint-name there is no stack to read the component from: the option names it."""
    sagemaker_runtime.answer(Streamed(timed(tgi_generate(tokens(8)))), Streamed(timed(tgi_chat(tokens(8)))))

    result = run_script(SCRIPT, "--endpoint-name", "e", "--inference-component-name", "ic-by-hand")

    assert result.returncode == 0, result.stderr
    assert [request.inference_component for request in sagemaker_runtime.invocations] == ["ic-by-hand"] * 2


@pytest.mark.parametrize(("options", "shown_wait"), [((), "2400"), (("--capacity-wait-minutes", "15"), "900")])
def test_the_workstation_waits_for_a_scale_from_zero_as_long_as_asked(
    sagemaker_runtime: FakeSageMakerRuntime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    shown_wait: str,
) -> None:
    """Outside Lambda the smoke test may wait as long as a scale from zero takes (40 minutes by
    default: the scale-out and the default start-up timeout), or as long as --capacity-wait-minutes
    says. Run in process with a short poll interval, so that three waits take milliseconds."""
    monkeypatch.setattr(invocation, "CAPACITY_POLL_S", 0.01)
    no_capacity = HttpError(*NO_CAPACITY)
    sagemaker_runtime.answer(
        no_capacity,
        no_capacity,
        no_capacity,
        Streamed(timed(tgi_generate(tokens(8)))),
        Streamed(timed(tgi_chat(tokens(8)))),
    )

    with caplog.at_level(logging.WARNING):
        status = smoke_test.main(
            ["--endpoint-name", "e", "--inference-component-name", "ic", "--api", "generate", *options]
        )

    assert status == 0, capsys.readouterr().err
    waits = [record.getMessage() for record in caplog.records if "has no copy yet" in record.getMessage()]
    assert len(waits) == 3
    assert all(wait.endswith(f" s of {shown_wait}") for wait in waits), waits
    assert len(sagemaker_runtime.invocations) == 4


def test_the_capacity_wait_is_bounded() -> None:
    """The wait is bounded by the longest start-up timeout SageMaker accepts, plus the scale-out."""
    result = run_script(SCRIPT, "--endpoint-name", "e", "--capacity-wait-minutes", "71")

    assert result.returncode == 2
    assert "71 is not in (0, 70]" in result.stderr


def test_an_api_the_endpoint_does_not_answer_is_refused_by_argparse() -> None:
    """Only the APIs the checks know can be asked for; a typo fails before any call."""
    result = run_script(SCRIPT, "--endpoint-name", "e", "--api", "generation")

    assert result.returncode == 2
    assert "invalid choice: 'generation'" in result.stderr


def test_stack_without_the_output_is_reported() -> None:
    """Pointing at the wrong stack must say which output is missing and which ones exist."""
    create_stack("StorageStack", {})

    result = run_script(SCRIPT, "--stack-name", "StorageStack")

    assert result.returncode == 1
    assert "stack StorageStack has no EndpointName output (it has: BucketName)" in result.stderr


def test_missing_stack_is_reported() -> None:
    """A typo in the stack name must fail with CloudFormation's reason, not a traceback."""
    result = run_script(SCRIPT, "--stack-name", "NoSuchStack")

    assert result.returncode == 1
    assert "cannot read stack NoSuchStack" in result.stderr
    assert "Traceback" not in result.stderr


# Runs the script named after it as `python <script>` would, in an interpreter that can import only the
# top-level modules in ALLOWED: what a CodeBuild image with boto3 alone installed can import.
ONLY_ALLOWED_IMPORTS = """
import runpy
import sys


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in ALLOWED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def installed_with(distribution: str) -> set[str]:
    """The top-level modules `pip install <distribution>` brings: its own and its dependencies' (extras aside)."""

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    wanted, installed = [distribution], set()
    while wanted:
        name = canonical(wanted.pop())
        if name not in installed:
            installed.add(name)
            requirements = importlib.metadata.requires(name) or []
            # A requirement begins with its distribution's name: "botocore (<1.45.0,>=1.44.5)".
            wanted += [re.split(r"[^A-Za-z0-9._-]", r, maxsplit=1)[0] for r in requirements if "extra ==" not in r]
    providers = importlib.metadata.packages_distributions()
    return {module for module, names in providers.items() if installed & {canonical(name) for name in names}}


def run_with_boto3_alone(script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The script run where only the standard library, boto3 (with what pip installs for it) and the
    repository's own workstation package and Lambda modules can be imported."""
    lambda_modules = {path.stem for path in LAMBDA_SOURCE.glob("*.py")}
    allowed = set(sys.stdlib_module_names) | installed_with("boto3") | lambda_modules | {"workstation"}
    harness = f"ALLOWED = {sorted(allowed)!r}\n{ONLY_ALLOWED_IMPORTS}"
    return run_script(script, *arguments, python_options=("-c", harness))


def test_the_pipeline_smoke_step_needs_nothing_beyond_boto3(sagemaker_runtime: FakeSageMakerRuntime) -> None:
    """The pipeline's smoke step installs boto3 alone, then runs this script (stacks/pipeline_stack.py):
    were any module on its way to import aws_cdk, the app's configuration or another package, that
    step would fail after every deploy while every test on a developer's machine passed."""
    sagemaker_runtime.answer(Streamed(timed(tgi_generate(tokens(128)))), Streamed(timed(tgi_chat(tokens(90)))))

    result = run_with_boto3_alone(SCRIPT, "--endpoint-name", "workstation-endpoint")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"]["generated_tokens"] == 90


def test_a_script_that_needs_the_app_fails_with_boto3_alone() -> None:
    """The check above can fail: preflight synthesizes the app, so it needs aws_cdk and the app's own
    packages, and with boto3 alone its import fails."""
    result = run_with_boto3_alone("preflight.py", "--help")

    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'inf2_llm" in result.stderr
