"""scripts/watch.py, run as a developer runs it beside `cdk deploy`, against the moto server.

The stacks are created from templates shaped like the app's, so watch finds its way from resources
as it does in AWS. Where moto cannot show what CloudFormation, SageMaker or a deploy in progress
would, the test sets it in moto's own state (the server runs in this process):
- moto creates a stack at once (CREATE_COMPLETE); a stack still waiting on its wait condition has
  its status set to CREATE_IN_PROGRESS, and back to CREATE_COMPLETE when the job has signalled;
- moto ignores AWS::CloudFormation::WaitCondition (it is listed with no type): watch learns of it
  from the template, as it must in AWS anyway, where the condition is listed only once started;
- moto would run Custom::Trigger's function in Docker: the trigger is recorded as created instead;
- moto's endpoints are always InService: a failed one has its status and reason set;
- moto runs no Lambda code: the smoke test's verdict is the message the real handler logs, run here
  against moto's SageMaker Runtime, written to the log group as the Lambda runtime writes it;
- moto has no inference components: the rehearsal's patches (tests/integration/
  moto_inference_components.py) add them, always InService with their copies; a component on its
  way, failed or scaled to zero has what DescribeInferenceComponent answers set.
A job still running is followed by reading watch's output line by line and changing AWS only once
watch has shown the phase before: no timing guess decides what the test proves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation import cloudformation_backends
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.models import Event
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal import mock_random
from moto.sagemaker.models import sagemaker_backends

from tests.fakes.model_streams import tgi_chat, tgi_generate
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime, Part, Streamed, timed
from tests.integration.moto_inference_components import FakeInferenceComponent, patch_inference_components
from tests.smoke.moto_fakes import (
    PROJECT_ROOT,
    REGION,
    SteppingClock,
    run_script,
    smoke_test_function,
)
from workstation.lambda_checks import failures, smoke_settings
from workstation.watch_job_log import JobRun, run_is_current
from workstation.watch_stacks import Resource

SCRIPT = "watch.py"
WORKBENCH = "Inf2Llm-dev-Workbench"
SERVING = "Inf2Llm-dev-Serving"
COMPONENT = "Inf2Llm-dev-Serving-ModelComponent-0123ABCD"
FAST = ("--poll-seconds", "0.05", "--timeout-minutes", "1")
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/notebook"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.2-optimum0.0.28-neuronx"
MODEL = "MLP-KTLim/llama-3-Korean-Bllossom-8B"
BUCKET_URI = "s3://artifacts/models/bllossom-8b/0123abc/"
# A job's messages as (seconds after the run began, message).
COMPILE_RUN = [
    (0, f"phase: pulling {IMAGE}"),
    (125, f"phase: downloading {MODEL} at 0123abc"),
    (200, "attempt 1 of 3 failed: huggingface-cli download"),
    (725, f"phase: compiling {MODEL} at 0123abc"),
    (3425, f"phase: uploading to {BUCKET_URI}"),
    (3605, f"SUCCESS: compiled model in {BUCKET_URI}"),
    # After its outcome the job may publish to the Hub: still the same run, nothing to wait for.
    (3606, "publishing to https://huggingface.co/example/bllossom-8b-neuron"),
]
# Each payload part of the smoke test's streams, one per token, arrives this long after the one
# before on the handler's clock: a decode of 25 ms per token.
SECONDS_PER_PART = 0.025
# Before the first token each stream sends TGI's keep-alive comments, parts without a token: with
# the request sent one step after the retry window is set, the first token arrives 12 steps after
# the request, 300 ms at 25 ms a step, apart from the decode time per token.
KEEP_ALIVES = [Part(0.0, b":\n\n")] * 11

# moto warns from its server thread about the wait condition it ignores.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudFormation..WaitCondition:UserWarning")


@pytest.fixture(autouse=True)
def triggers_recorded_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers a custom resource by running its function in Docker; like CloudFormation, this
    checks that the ServiceToken names a function, then records the resource as created."""

    def create(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CustomModel:
        lambda_backend(account_id, region_name).get_function(cloudformation_json["Properties"]["ServiceToken"])
        resource = CustomModel(region_name, str(mock_random.uuid4()), kwargs["LogicalId"], resource_name)
        cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"]).add_custom_resource(resource)
        resource.set_data({})
        return resource

    monkeypatch.setattr(CustomModel, "create_from_cloudformation_json", classmethod(create))


# --- the stacks, shaped like the app's ----------------------------------------------------------


def workbench_template(*, artifact_job: bool) -> dict[str, Any]:
    """The workbench: notebook (a type moto accepts), its log group, and with a job its wait condition."""
    resources: dict[str, Any] = {
        "NotebookLogs": {"Type": "AWS::Logs::LogGroup"},
        "NotebookInstance": {
            "Type": "AWS::SageMaker::NotebookInstance",
            "Properties": {"InstanceType": "ml.t3.medium", "RoleArn": ROLE_ARN},
        },
    }
    if artifact_job:
        resources["NotebookArtifactSignal"] = {"Type": "AWS::CloudFormation::WaitConditionHandle"}
        resources["NotebookArtifactReady"] = {
            "Type": "AWS::CloudFormation::WaitCondition",
            "DependsOn": ["NotebookInstance"],
            "Properties": {"Handle": {"Ref": "NotebookArtifactSignal"}, "Count": 1, "Timeout": "10800"},
        }
    return {"Resources": resources}


def serving_template(*, smoke_test: bool) -> dict[str, Any]:
    """The serving stack: model, endpoint, the smoke test's function and log group, maybe its trigger."""
    resources: dict[str, Any] = {
        "ModelModel": {
            "Type": "AWS::SageMaker::Model",
            "Properties": {"ExecutionRoleArn": ROLE_ARN, "PrimaryContainer": {"Image": IMAGE}},
        },
        "ModelConfig": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "ProductionVariants": [
                    {
                        "ModelName": {"Fn::GetAtt": ["ModelModel", "ModelName"]},
                        "VariantName": "AllTraffic",
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.t2.medium",
                        "InitialVariantWeight": 1,
                    }
                ]
            },
        },
        "ModelEndpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointConfigName": {"Fn::GetAtt": ["ModelConfig", "EndpointConfigName"]}},
        },
        "SmokeTestLogs": {"Type": "AWS::Logs::LogGroup"},
        **smoke_test_function({}, log_group="SmokeTestLogs"),
    }
    if smoke_test:
        resources["SmokeTestRunAfterDeploy"] = {
            "Type": "Custom::Trigger",
            "DependsOn": ["ModelEndpoint"],
            "Properties": {"ServiceToken": {"Fn::GetAtt": ["SmokeTestFunction3BA52CAE", "Arn"]}},
        }
    return {"Resources": resources}


def component_serving_template(*, smoke_test: bool) -> dict[str, Any]:
    """The serving stack with scale_to_zero: a variant without a model, and the model as an inference
    component with one copy, which the smoke test's trigger waits for."""
    template = serving_template(smoke_test=smoke_test)
    resources = template["Resources"]
    configuration = resources["ModelConfig"]["Properties"]
    configuration["ExecutionRoleArn"] = ROLE_ARN
    (variant,) = configuration["ProductionVariants"]
    del variant["ModelName"], variant["InitialVariantWeight"]
    resources["ModelComponent"] = {
        "Type": "AWS::SageMaker::InferenceComponent",
        "Properties": {
            "InferenceComponentName": COMPONENT,
            "EndpointName": {"Fn::GetAtt": ["ModelEndpoint", "EndpointName"]},
            "VariantName": "AllTraffic",
            "Specification": {
                "ModelName": {"Fn::GetAtt": ["ModelModel", "ModelName"]},
                "ComputeResourceRequirements": {"NumberOfAcceleratorDevicesRequired": 1, "MinMemoryRequiredInMb": 8192},
            },
            "RuntimeConfig": {"CopyCount": 1},
        },
    }
    if smoke_test:
        resources["SmokeTestRunAfterDeploy"]["DependsOn"] = ["ModelComponent"]
    return template


class ComponentState:
    """What DescribeInferenceComponent answers for every component from now on: a status, the copies
    now and wanted, and the reason of a failure; None answers as created (InService, its copies)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answer: tuple[str, int, int] | None = None
        self.failure_reason = "Model container failed to pass the ping health check."
        described = FakeInferenceComponent.describe

        def describe(component: FakeInferenceComponent) -> dict[str, Any]:
            answer = described(component)
            if self.answer is not None:
                status, current, desired = self.answer
                answer["InferenceComponentStatus"] = status
                answer["RuntimeConfig"] = {"CurrentCopyCount": current, "DesiredCopyCount": desired}
                if status == "Failed":
                    answer["FailureReason"] = self.failure_reason
            return answer

        monkeypatch.setattr(FakeInferenceComponent, "describe", describe)


@pytest.fixture(scope="session")
def moto_inference_components() -> None:
    """moto's CloudFormation and SageMaker, in this process, with inference components: patched once,
    since the patches wrap moto's own functions."""
    patch_inference_components()


@pytest.fixture
def component_state(moto_inference_components: None, monkeypatch: pytest.MonkeyPatch) -> ComponentState:
    return ComponentState(monkeypatch)


def deploy(name: str, template: dict[str, Any]) -> None:
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def deploy_environment(*, artifact_job: bool, smoke_test: bool) -> None:
    deploy(WORKBENCH, workbench_template(artifact_job=artifact_job))
    deploy(SERVING, serving_template(smoke_test=smoke_test))


def physical_name(stack: str, resource_type: str) -> str:
    """The name CloudFormation gave the stack's resource of that type (the last part of an ARN)."""
    summaries = boto3.client("cloudformation").list_stack_resources(StackName=stack)["StackResourceSummaries"]
    (physical_id,) = [s["PhysicalResourceId"] for s in summaries if s["ResourceType"] == resource_type]
    return str(physical_id).rsplit("/", 1)[-1]


def moto_stack(name: str) -> Any:
    return cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].get_stack(name)


def set_stack_status(name: str, status: str) -> None:
    """What moto cannot show on its own: a stack whose operation has not ended yet."""
    moto_stack(name).status = status


# --- logs ------------------------------------------------------------------------------------------


def put_events(group: str, stream: str, started: datetime, events: list[tuple[float, str]]) -> None:
    """Log the messages at their offsets (seconds) from `started`, creating the stream if needed."""
    logs = boto3.client("logs")
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = int(started.timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": base + int(offset * 1000), "message": message} for offset, message in events],
    )


def log_job(events: list[tuple[float, str]], started: datetime) -> None:
    """The artifact job's messages, in its stream of the notebook's log group."""
    notebook = physical_name(WORKBENCH, "AWS::SageMaker::NotebookInstance")
    put_events(physical_name(WORKBENCH, "AWS::Logs::LogGroup"), f"{notebook}/artifact-job", started, events)


@pytest.fixture
def smoke_test_verdict(
    handler_module: ModuleType,
    sagemaker_runtime: FakeSageMakerRuntime,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[float], str]:
    """The verdict the real handler logs, with each payload part arriving the given seconds after
    the one before: the contract between the handler and watch is the handler's own message, not
    a copy of it."""

    def verdict(seconds_per_part: float) -> str:
        monkeypatch.setenv("ENDPOINT_NAME", "endpoint")
        sagemaker_runtime.answer(
            Streamed([*KEEP_ALIVES, *timed(tgi_generate(["딥"] * 512))]),
            Streamed([*KEEP_ALIVES, *timed(tgi_chat(["딥"] * 500))]),
        )
        caplog.clear()
        with caplog.at_level(logging.INFO), contextlib.suppress(failures.SmokeTestFailure):
            handler_module.handler({}, None, sleep=lambda _: None, clock=SteppingClock(seconds_per_part))
        (message,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("smoke test ")]
        return message

    return verdict


def log_smoke_test(verdict: str) -> None:
    """A line as the Python Lambda runtime writes the handler's log record."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    put_events(
        physical_name(SERVING, "AWS::Logs::LogGroup"),
        "2025/01/01/[$LATEST]0123456789abcdef",
        datetime.now(timezone.utc),
        [(0, f"[INFO]\t{stamp}\t5f1c0a2e-request\t{verdict}\n")],
    )


def hours_ago(hours: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=hours)


def lines_in_order(output: str, *fragments: str) -> None:
    """Each fragment on its own line, in this order."""
    lines = output.splitlines()
    position = 0
    for fragment in fragments:
        matches = [index for index, line in enumerate(lines) if index >= position and fragment in line]
        assert matches, f"{fragment!r} not found after line {position} in:\n{output}"
        position = matches[0] + 1


class RunningScript:
    """The script started in the background, read line by line while the test changes AWS under it."""

    def __init__(self, script: str, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "scripts" / script), *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            encoding="utf-8",
        )
        self.lines: list[str] = []

    def __enter__(self) -> RunningScript:
        return self

    def __exit__(self, *_: object) -> None:
        # A failed assertion must not leave the script polling moto for the rest of the session.
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()

    def wait_for_line(self, fragment: str) -> None:
        """Read until a line holds the fragment; the script's own --timeout-minutes bounds the wait."""
        assert self.process.stdout is not None
        while not self.lines or fragment not in self.lines[-1]:
            line = self.process.stdout.readline()
            assert line, f"the script ended before printing {fragment!r}:\n{''.join(self.lines)}"
            self.lines.append(line)

    def finish(self) -> tuple[int, str, str]:
        """Exit status, all of stdout, stderr."""
        stdout, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, "".join(self.lines) + stdout, stderr


# --- tests -----------------------------------------------------------------------------------------


def test_help_describes_the_options() -> None:
    """A developer waiting on a deploy must learn how to follow it without reading the code."""
    result = run_script(SCRIPT, "--help")

    assert result.returncode == 0
    for option in ("--stack-name", "--stage", "--region", "--timeout-minutes", "--poll-seconds"):
        assert option in result.stdout
    assert "artifact-job" in result.stdout


def test_timeout_beyond_a_day_is_refused() -> None:
    """An unbounded watch would poll AWS for days after a forgotten deploy; usage errors exit 2."""
    result = run_script(SCRIPT, "--timeout-minutes", "1441")

    assert result.returncode == 2
    assert "is not in (0, 1440]" in result.stderr


def test_completed_compile_is_reported_phase_by_phase(smoke_test_verdict: Callable[[float], str]) -> None:
    """After the fact, watch must tell the whole deploy: each phase and how long it took (from the
    log's own timestamps, not from when watch read them), the endpoint and the smoke test's numbers."""
    deploy_environment(artifact_job=True, smoke_test=True)
    # An earlier run's failure is history: only the latest run decides.
    log_job([(0, f"phase: pulling {IMAGE}"), (30, f"FAILURE: docker pull of {IMAGE} failed 3 times")], hours_ago(5))
    log_job(COMPILE_RUN, hours_ago(2))
    log_smoke_test(smoke_test_verdict(SECONDS_PER_PART))

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 0, result.stderr
    endpoint = physical_name(SERVING, "AWS::SageMaker::Endpoint")
    lines_in_order(
        result.stdout,
        f"stack {WORKBENCH}: notebook workbench, an artifact job",
        "notebook Inf2Llm-dev-Workbench-NotebookInstance-",
        "artifact job: 1 earlier run(s) in the log, following the latest",
        f"artifact job: pulling {IMAGE} (2m05s)",
        "artifact job: attempt 1 of 3 failed: huggingface-cli download",
        f"artifact job: downloading {MODEL} at 0123abc (10m00s)",
        f"artifact job: compiling {MODEL} at 0123abc (45m00s)",
        f"artifact job: uploading to {BUCKET_URI} (3m00s)",
        f"artifact job: SUCCESS after 1h00m05s: compiled model in {BUCKET_URI}",
        "artifact job: publishing to https://huggingface.co/example/bllossom-8b-neuron",
        f"stack {SERVING}: endpoint, smoke test on deploy",
        f"endpoint {endpoint}: InService",
        # What the gate judges: the decode time per token, first token to last (not the wall time
        # per token, which counts the keep-alives' wait too), and the time to the first token.
        "smoke test passed: generate 25 ms/token decode, first token 300 ms (512 tokens), "
        "messages 25 ms/token decode, first token 300 ms (500 tokens); budgets "
        f"max_ms_per_token {smoke_settings.DEFAULT_MAX_MS_PER_TOKEN:g}, "
        f"max_first_token_ms {smoke_settings.DEFAULT_MAX_FIRST_TOKEN_MS:g}",
        f"stack {WORKBENCH}: CREATE_COMPLETE",
        f"stack {SERVING}: CREATE_COMPLETE",
    )
    assert "docker pull" not in result.stdout
    assert result.stderr == ""


def test_failure_line_fails_with_the_phase_and_the_reason() -> None:
    """A failed compile must end the wait at once, saying where and why, not an hour later at the
    wait condition's timeout."""
    deploy(WORKBENCH, workbench_template(artifact_job=True))
    set_stack_status(WORKBENCH, "CREATE_IN_PROGRESS")  # the wait condition has not heard yet
    log_job(
        [
            (0, f"phase: pulling {IMAGE}"),
            (60, f"phase: compiling {MODEL} at 0123abc"),
            (1500, "FAILURE: optimum-cli export exited with status 1"),
        ],
        hours_ago(1),
    )

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 1
    assert f"artifact job: compiling {MODEL} at 0123abc (24m00s)" in result.stdout
    assert (
        f"watch: artifact job (compiling {MODEL} at 0123abc) failed: optimum-cli export exited with status 1"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_failed_endpoint_reports_its_failure_reason() -> None:
    """An endpoint that cannot start is the deploy's most common failure; its reason is the fix."""
    deploy_environment(artifact_job=False, smoke_test=True)
    endpoint = physical_name(SERVING, "AWS::SageMaker::Endpoint")
    failed = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].endpoints[endpoint]
    failed.endpoint_status = "Failed"
    failed.failure_reason = (
        "The primary container for production variant AllTraffic did not pass the ping health check."
    )

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 1
    assert (
        f"watch: endpoint {endpoint} failed: The primary container for production variant AllTraffic "
        "did not pass the ping health check." in result.stderr
    )
    assert "smoke test passed" not in result.stdout
    assert "Traceback" not in result.stderr


def test_failed_smoke_test_fails_with_its_message(smoke_test_verdict: Callable[[float], str]) -> None:
    """The deploy fails on the smoke test's verdict; watch must show which check failed, as the
    handler logged it, rather than only the trigger's rollback."""
    deploy_environment(artifact_job=False, smoke_test=True)
    set_stack_status(SERVING, "CREATE_IN_PROGRESS")  # the trigger's failure has not rolled back yet
    verdict = smoke_test_verdict(0.1)  # 100 ms per token
    log_smoke_test(verdict)

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 1
    assert verdict.startswith("smoke test failed: generate: time per token")
    assert f"watch: {verdict}" in result.stderr.splitlines()


def test_hub_mode_goes_straight_to_the_endpoint() -> None:
    """Without a wait condition nothing runs on the notebook: watch must not wait for a job log that
    will never come, and with the smoke test off it must say so rather than wait for a verdict."""
    deploy_environment(artifact_job=False, smoke_test=False)

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 0, result.stderr
    endpoint = physical_name(SERVING, "AWS::SageMaker::Endpoint")
    lines_in_order(
        result.stdout,
        f"stack {WORKBENCH}: notebook workbench, no artifact job (model_source=hub)",
        ": InService",
        f"endpoint {endpoint}: InService",
        f"smoke test: off (stack {SERVING} has no Custom::Trigger)",
        f"stack {SERVING}: CREATE_COMPLETE",
    )
    assert "artifact job:" not in result.stdout


def test_running_job_is_followed_until_it_ends(smoke_test_verdict: Callable[[float], str]) -> None:
    """The reason watch exists: started while the job compiles and before the serving stack exists,
    it must pick up each new phase as the job logs it, then follow the stack that comes next."""
    deploy(WORKBENCH, workbench_template(artifact_job=True))
    set_stack_status(WORKBENCH, "CREATE_IN_PROGRESS")
    started = hours_ago(0.5)
    log_job(COMPILE_RUN[:2], started)

    with RunningScript(SCRIPT, *FAST) as watch:
        # The first phase is complete once the second has begun; the second is still running.
        watch.wait_for_line(f"artifact job: pulling {IMAGE} (2m05s)")
        log_job(COMPILE_RUN[2:], started)
        set_stack_status(WORKBENCH, "CREATE_COMPLETE")  # the wait condition got the signal
        watch.wait_for_line(f"stack {SERVING}: not created yet, waiting for it")
        # Run before the stack exists: moto completes a stack at once, and a verdict still being
        # computed then would reach the log after watch saw the stack complete without one.
        verdict = smoke_test_verdict(SECONDS_PER_PART)
        # CDK deploys the dependent stack once the workbench is done.
        deploy(SERVING, serving_template(smoke_test=True))
        log_smoke_test(verdict)
        status, stdout, stderr = watch.finish()

    assert status == 0, stderr
    assert "a new run began" not in stdout
    lines_in_order(
        stdout,
        f"artifact job: pulling {IMAGE} (2m05s)",
        "artifact job: attempt 1 of 3 failed: huggingface-cli download",
        f"artifact job: downloading {MODEL} at 0123abc (10m00s)",
        f"artifact job: compiling {MODEL} at 0123abc (45m00s)",
        f"artifact job: uploading to {BUCKET_URI} (3m00s)",
        f"artifact job: SUCCESS after 1h00m05s: compiled model in {BUCKET_URI}",
        f"stack {SERVING}: not created yet, waiting for it",
        f"stack {SERVING}: endpoint, smoke test on deploy",
        "smoke test passed: generate 25 ms/token decode, first token 300 ms",
        f"stack {SERVING}: CREATE_COMPLETE",
    )


def test_waiting_is_bounded_by_the_timeout() -> None:
    """A job that never ends must not keep a terminal (or a pipeline step) busy forever; exit 3
    tells a timeout apart from a failure."""
    deploy(WORKBENCH, workbench_template(artifact_job=True))
    set_stack_status(WORKBENCH, "CREATE_IN_PROGRESS")
    log_job([(0, f"phase: compiling {MODEL} at 0123abc")], hours_ago(0.1))

    began = time.monotonic()
    result = run_script(SCRIPT, "--poll-seconds", "0.05", "--timeout-minutes", "0.02")

    assert result.returncode == 3
    assert "watch: gave up after 0.02 minutes waiting for artifact job" in result.stderr
    assert time.monotonic() - began < 10


def test_stage_names_the_default_stacks() -> None:
    """With no --stack-name, --stage must select the app's stack names; here none exists yet, so
    watch waits for the first of them and gives up naming it."""
    deploy("Inf2Llm-dev-Workbench", workbench_template(artifact_job=False))

    result = run_script(SCRIPT, "--stage", "prod", "--poll-seconds", "0.05", "--timeout-minutes", "0.01")

    assert result.returncode == 3
    assert "stack Inf2Llm-prod-Workbench: not created yet" in result.stdout
    assert "watch: gave up after 0.01 minutes waiting for stack Inf2Llm-prod-Workbench" in result.stderr


def test_aws_errors_fail_a_step_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expired or missing credentials are the usual first error on a workstation: one line naming
    the step and botocore's reason, not a traceback."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to look for either

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 1
    assert result.stderr == f"watch: stack {WORKBENCH} failed: Unable to locate credentials\n"


def test_rolled_back_stack_names_the_first_failed_resource() -> None:
    """A rollback's own events mostly say "cancelled"; the first failure is the one to act on."""
    deploy(SERVING, serving_template(smoke_test=True))
    stack = moto_stack(SERVING)
    for logical_id, resource_type, status, reason in (
        ("ModelEndpoint", "AWS::SageMaker::Endpoint", "CREATE_FAILED", "Endpoint quota exceeded for ml.inf2.xlarge"),
        ("SmokeTestFunction3BA52CAE", "AWS::Lambda::Function", "CREATE_FAILED", "Resource creation cancelled"),
    ):
        stack.events.append(Event(stack.stack_id, SERVING, logical_id, "", resource_type, status, reason, None))
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"

    result = run_script(SCRIPT, "--stack-name", SERVING, *FAST)

    assert result.returncode == 1
    assert (
        f"watch: stack {SERVING} failed: ROLLBACK_COMPLETE; first failed resource ModelEndpoint "
        "(AWS::SageMaker::Endpoint): Endpoint quota exceeded for ml.inf2.xlarge" in result.stderr
    )


def test_a_run_that_ended_before_the_wait_condition_started_is_history() -> None:
    """After a change of model or settings the stream still ends with the previous run's SUCCESS;
    taking it for the new compile would skip the hour watch is for."""
    ended = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    run = JobRun(outcome="SUCCESS", ended=int(ended.timestamp() * 1000))

    def condition(status: str, minutes_after_the_run: int) -> Resource:
        updated = ended + timedelta(minutes=minutes_after_the_run)
        return Resource("NotebookArtifactReady", "AWS::CloudFormation::WaitCondition", "id", status, updated)

    assert not run_is_current(run, [condition("CREATE_IN_PROGRESS", 5)])
    assert run_is_current(run, [condition("CREATE_IN_PROGRESS", -5)])  # the signal is on its way
    assert run_is_current(run, [condition("CREATE_COMPLETE", 5)])
    assert run_is_current(run, [])


# --- scale_to_zero: the endpoint's inference component ----------------------------------------------


@pytest.mark.parametrize(
    ("copies", "shown"),
    [(1, "InService, 1 of 1 copies"), (0, "InService, no copy (scaled to zero: the first request starts one)")],
)
def test_a_scale_to_zero_stack_shows_its_inference_component(
    component_state: ComponentState,
    smoke_test_verdict: Callable[[float], str],
    monkeypatch: pytest.MonkeyPatch,
    copies: int,
    shown: str,
) -> None:
    """With scale_to_zero the endpoint serves through its inference component: watch must show the
    component's state and copies (a component idling at zero copies is not a failure) between the
    endpoint and the smoke test's verdict, which reads as before."""
    deploy(WORKBENCH, workbench_template(artifact_job=False))
    deploy(SERVING, component_serving_template(smoke_test=True))
    component_state.answer = ("InService", copies, copies)
    monkeypatch.setenv("INFERENCE_COMPONENT_NAME", COMPONENT)
    log_smoke_test(smoke_test_verdict(SECONDS_PER_PART))

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 0, result.stderr
    lines_in_order(
        result.stdout,
        f"stack {SERVING}: endpoint with an inference component (scale_to_zero), smoke test on deploy",
        f"endpoint {physical_name(SERVING, 'AWS::SageMaker::Endpoint')}: InService",
        f"inference component {COMPONENT}: {shown}",
        "smoke test passed: generate 25 ms/token decode, first token 300 ms",
        f"stack {SERVING}: CREATE_COMPLETE",
    )


def test_a_component_on_its_way_is_followed_until_it_is_in_service(component_state: ComponentState) -> None:
    """CloudFormation creates the component and starts its copy after the endpoint: watch must show
    each state the component passes through, not take the endpoint's InService for the model's."""
    deploy(WORKBENCH, workbench_template(artifact_job=False))
    component_state.answer = ("Creating", 0, 1)
    deploy(SERVING, component_serving_template(smoke_test=False))

    with RunningScript(SCRIPT, *FAST) as watch:
        watch.wait_for_line(f"inference component {COMPONENT}: Creating, 0 of 1 copies")
        component_state.answer = ("InService", 1, 1)
        status, stdout, stderr = watch.finish()

    assert status == 0, stderr
    lines_in_order(
        stdout,
        f"inference component {COMPONENT}: Creating, 0 of 1 copies",
        f"inference component {COMPONENT}: InService, 1 of 1 copies",
        f"smoke test: off (stack {SERVING} has no Custom::Trigger)",
    )


def test_a_failed_component_fails_with_its_reason(component_state: ComponentState) -> None:
    """A copy whose container never passes its health check fails the component, not the endpoint:
    watch must stop there with SageMaker's reason."""
    deploy(WORKBENCH, workbench_template(artifact_job=False))
    component_state.answer = ("Failed", 0, 1)
    deploy(SERVING, component_serving_template(smoke_test=False))

    result = run_script(SCRIPT, *FAST)

    assert result.returncode == 1
    assert f"watch: inference component {COMPONENT} failed: {component_state.failure_reason}" in result.stderr
