"""scripts/smoke_test.py, run as a developer runs it, against the moto server."""

from __future__ import annotations

import json

import boto3
from endpoint_checks import DEFAULT_MAX_MS_PER_TOKEN

from tests.smoke.moto_fakes import chat_body, generate_body, queue_bodies, run_script

SCRIPT = "smoke_test.py"


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
    for option in ("--endpoint-name", "--stack-name", "--region", "--max-ms-per-token", "--stop"):
        assert option in result.stdout


def test_an_endpoint_or_a_stack_is_required() -> None:
    """Without a target the script must refuse, not test some default endpoint."""
    result = run_script(SCRIPT)

    assert result.returncode == 2
    assert "one of the arguments --endpoint-name --stack-name is required" in result.stderr


def test_healthy_endpoint_exits_zero_and_prints_the_summary(aws_environment: str) -> None:
    """The summary on stdout is what a developer or a pipeline step reads after a deployment."""
    queue_bodies(aws_environment, generate_body(tokens=128), chat_body(tokens=90))

    result = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["endpoint"] == "workstation-endpoint"
    assert summary["generate"]["generated_tokens"] == 128
    assert summary["messages"]["generated_tokens"] == 90
    for api in ("generate", "messages"):
        assert 0 < summary[api]["wall_ms_per_token"] <= DEFAULT_MAX_MS_PER_TOKEN


def test_failed_check_exits_non_zero_with_its_message(aws_environment: str) -> None:
    """An expected failure must read as the failed check, not as a Python traceback."""
    queue_bodies(aws_environment, "upstream connect error")

    result = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "smoke test failed: generate: JSON body check failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_budget_option_is_applied(aws_environment: str) -> None:
    """--max-ms-per-token must reach the check, or a tighter budget would silently be ignored."""
    queue_bodies(aws_environment, generate_body(), chat_body())

    result = run_script(SCRIPT, "--endpoint-name", "workstation-endpoint", "--max-ms-per-token", "1e-9")

    assert result.returncode == 1
    assert "generate: time per token check failed" in result.stderr
    assert "over the 1e-09 ms budget" in result.stderr


def test_stack_output_names_the_endpoint(aws_environment: str) -> None:
    """After cdk deploy the stack name is what a developer knows; its output holds the endpoint."""
    create_stack("Inf2LlmStack", {"EndpointName": "endpoint-from-stack"})
    queue_bodies(aws_environment, generate_body(), chat_body())

    result = run_script(SCRIPT, "--stack-name", "Inf2LlmStack")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["endpoint"] == "endpoint-from-stack"


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
