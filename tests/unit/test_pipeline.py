"""The CDK pipeline: source, synth, the dev and prod stages, their smoke tests and gates.

The pipeline app is synthesized once for the module, in-process, exactly as `cdk synth -c
pipeline=true ...` would (app.build with cdk.json's context under the overrides).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api
from aws_cdk.assertions import Match, Template

from inf2_llm.config import config_for_stage, load_config
from tests.unit.conftest import (
    ACCOUNT,
    CDK_JSON_CONTEXT,
    COMPILE_QWEN,
    CONNECTION_ARN,
    HUB,
    PIPELINE,
    REGION,
    SCALE_TO_ZERO,
    Synthesized,
)
from workstation import smoke_test
from workstation.scale_from_zero import capacity_wait_minutes

ENDPOINTS_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/*"


@dataclass
class PipelineApp:
    assembly: cx_api.CloudAssembly
    template: Template
    pipeline: dict[str, Any]

    def stage(self, name: str) -> dict[str, Any]:
        return next(stage for stage in self.pipeline["Properties"]["Stages"] if stage["Name"] == name)

    def stage_stack(self, stage: str, stack: str) -> cx_api.CloudFormationStackArtifact:
        nested = self.assembly.get_nested_assembly(f"assembly-Inf2Llm-Pipeline-{stage}")
        return nested.get_stack_by_name(f"{stage}-Inf2Llm-{stack}")

    def project(self, logical_id_prefix: str) -> tuple[str, dict[str, Any]]:
        projects = self.template.find_resources("AWS::CodeBuild::Project")
        matches = [(key, value) for key, value in projects.items() if key.startswith(logical_id_prefix)]
        assert len(matches) == 1, sorted(projects)
        return matches[0]


@pytest.fixture(scope="module")
def pipeline_app(synth: Callable[[dict[str, str]], Synthesized]) -> PipelineApp:
    synthesized = synth(PIPELINE)
    template = synthesized.template("Inf2Llm-Pipeline")
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return PipelineApp(assembly=synthesized.assembly, template=template, pipeline=pipeline)


def _buildspec(project: dict[str, Any]) -> dict[str, Any]:
    return json.loads(project["Properties"]["Source"]["BuildSpec"])


def _policy_statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    return [
        statement
        for policy in policies.values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_source_is_the_configured_connection_repository_and_branch(pipeline_app: PipelineApp) -> None:
    """The pipeline must build the repository and branch it was configured with, through the
    CodeConnections connection the owner authorized; any other source deploys someone else's code."""
    (action,) = pipeline_app.stage("Source")["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert action["Configuration"] == {
        "ConnectionArn": CONNECTION_ARN,
        "FullRepositoryId": "example-org/inf2-llm-cdk",
        "BranchName": "release",
    }


def test_synth_step_runs_the_tests_then_synthesizes_with_the_same_context(pipeline_app: PipelineApp) -> None:
    """The pipeline runs the developer's own test command before anything deploys, and
    re-synthesizes with the context it was synthesized with: otherwise self-mutation would turn
    it into a different pipeline (or fail for lack of account, region or connection)."""
    _, project = pipeline_app.project("PipelineBuildSynth")
    commands = _buildspec(project)["phases"]["build"]["commands"]
    assert commands[0] == "scripts/dev.sh test"
    words = shlex.split(commands[1])
    assert words[:2] == ["scripts/dev.sh", "synth"]
    assert words[2::2] == ["-c"] * len(words[2::2])
    context = dict(word.split("=", 1) for word in words[3::2])
    assert context == {**PIPELINE}
    assert load_config({**CDK_JSON_CONTEXT, **context}) == load_config(PIPELINE)


def test_builds_run_on_python_3_11_and_node_20(pipeline_app: PipelineApp) -> None:
    """scripts/dev.sh needs Python 3.11 and Node 20 (the pinned CDK CLI) on an image where it
    can apt-get shellcheck; the smoke test's boto3 is the version requirements.txt pins."""
    for prefix in ("PipelineBuildSynth", "PipelineDevSmokeTest", "PipelineProdSmokeTest"):
        _, project = pipeline_app.project(prefix)
        assert project["Properties"]["Environment"]["Image"] == "aws/codebuild/standard:7.0"
        install = _buildspec(project)["phases"]["install"]
        assert install["runtime-versions"] == {"python": "3.11", "nodejs": "20"}
    _, mutation = pipeline_app.project("PipelineUpdatePipelineSelfMutation")
    cli = json.loads((Path(__file__).resolve().parents[2] / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert _buildspec(mutation)["phases"]["install"]["commands"] == [f"npm install -g aws-cdk@{cli}"]


def test_only_the_synth_build_is_privileged(pipeline_app: PipelineApp) -> None:
    """The test suite's lifecycle sandbox needs a mount namespace (privileged build); the smoke
    tests and self-mutation only call AWS APIs and get no such power."""
    _, synth = pipeline_app.project("PipelineBuildSynth")
    assert synth["Properties"]["Environment"]["PrivilegedMode"] is True
    for prefix in ("PipelineDevSmokeTest", "PipelineProdSmokeTest", "PipelineUpdatePipelineSelfMutation"):
        _, project = pipeline_app.project(prefix)
        assert not project["Properties"]["Environment"].get("PrivilegedMode", False)


def test_dev_deploys_before_prod_and_prod_waits_for_approval(pipeline_app: PipelineApp) -> None:
    """Prod is only touched after dev deployed and passed its smoke test, and after a person
    approved: the approval must run before every prod deploy action."""
    names = [stage["Name"] for stage in pipeline_app.pipeline["Properties"]["Stages"]]
    assert names.index("Dev") < names.index("Prod")
    assert not [a for a in pipeline_app.stage("Dev")["Actions"] if a["ActionTypeId"]["Category"] == "Approval"]
    actions = pipeline_app.stage("Prod")["Actions"]
    (approval,) = [action for action in actions if action["ActionTypeId"]["Category"] == "Approval"]
    deploys = [action for action in actions if action["ActionTypeId"]["Category"] == "Deploy"]
    assert {action["Configuration"]["StackName"] for action in deploys} == {
        "Prod-Inf2Llm-Storage",
        "Prod-Inf2Llm-Workbench",
        "Prod-Inf2Llm-Serving",
    }
    assert approval["RunOrder"] < min(action["RunOrder"] for action in deploys)


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_each_stage_is_smoke_tested_with_its_own_endpoint(pipeline_app: PipelineApp, stage: str) -> None:
    """The smoke test must call the endpoint this stage just deployed, after it deployed: the
    name comes from the stage's serving stack output, not from a guess."""
    actions = pipeline_app.stage(stage)["Actions"]
    (serving,) = [
        a for a in actions if a["Configuration"].get("StackName") == f"{stage}-Inf2Llm-Serving" and "Namespace" in a
    ]
    (smoke,) = [a for a in actions if a["Name"] == "SmokeTest"]
    assert smoke["RunOrder"] > max(a["RunOrder"] for a in actions if a["ActionTypeId"]["Category"] == "Deploy")
    assert json.loads(smoke["Configuration"]["EnvironmentVariables"]) == [
        {"name": "ENDPOINT_NAME", "type": "PLAINTEXT", "value": f"#{{{serving['Namespace']}.EndpointName}}"}
    ]
    outputs = pipeline_app.stage_stack(stage, "Serving").template["Outputs"]
    assert "EndpointName" in outputs
    project_id, project = pipeline_app.project(f"Pipeline{stage}SmokeTest")
    assert smoke["Configuration"]["ProjectName"] == {"Ref": project_id}
    (command,) = _buildspec(project)["phases"]["build"]["commands"]
    words = shlex.split(command)
    assert words[:6] == [
        "python",
        "scripts/smoke_test.py",
        "--endpoint-name",
        "$ENDPOINT_NAME",
        "--region",
        REGION,
    ]
    # A classic endpoint hosts no inference component; the step's build time is the run's alone.
    assert "--inference-component-name" not in words
    assert project["Properties"]["TimeoutInMinutes"] == 20
    # The step's role may only invoke endpoints, so it is told the runtime's APIs.
    assert [words[index + 1] for index, word in enumerate(words) if word == "--api"] == ["generate", "messages"]
    # The script's own parser reads the configured budgets from the command: the step judges as the
    # deploy trigger does.
    arguments = smoke_test.parse_arguments(words[2:])
    configured = load_config(PIPELINE).smoke_test
    assert (arguments.max_ms_per_token, arguments.max_first_token_ms, arguments.max_new_tokens) == (
        configured.max_ms_per_token,
        configured.max_first_token_ms,
        configured.max_new_tokens,
    )


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_a_scale_to_zero_stage_is_smoke_tested_through_its_inference_component(
    synth: Callable[[dict[str, str]], Synthesized], stage: str
) -> None:
    """An endpoint that hosts an inference component refuses requests that do not name it: the step
    takes the name from the stage's InferenceComponentName output, and, since a deploy that leaves
    the component alone may find it idle at zero copies, waits for the copy its first request brings
    back as long as a scale from zero may take, within a build timeout that allows for that wait."""
    overrides = {**PIPELINE, **SCALE_TO_ZERO}
    app = synth(overrides)
    template = app.template("Inf2Llm-Pipeline")
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    actions = next(s for s in pipeline["Properties"]["Stages"] if s["Name"] == stage)["Actions"]
    (serving,) = [
        a for a in actions if a["Configuration"].get("StackName") == f"{stage}-Inf2Llm-Serving" and "Namespace" in a
    ]
    (smoke,) = [a for a in actions if a["Name"] == "SmokeTest"]
    assert json.loads(smoke["Configuration"]["EnvironmentVariables"]) == [
        {"name": "ENDPOINT_NAME", "type": "PLAINTEXT", "value": f"#{{{serving['Namespace']}.EndpointName}}"},
        {
            "name": "INFERENCE_COMPONENT_NAME",
            "type": "PLAINTEXT",
            "value": f"#{{{serving['Namespace']}.InferenceComponentName}}",
        },
    ]
    projects = template.find_resources("AWS::CodeBuild::Project")
    (project,) = [value for key, value in projects.items() if key.startswith(f"Pipeline{stage}SmokeTest")]
    (command,) = _buildspec(project)["phases"]["build"]["commands"]
    arguments = smoke_test.parse_arguments(shlex.split(command)[2:])
    assert arguments.inference_component_name == "$INFERENCE_COMPONENT_NAME"
    startup_timeout = config_for_stage(load_config(overrides), stage.lower()).endpoint.startup_timeout_seconds
    assert arguments.capacity_wait_minutes == capacity_wait_minutes(startup_timeout) == 40
    assert project["Properties"]["TimeoutInMinutes"] == 20 + 40
    # Its role may invoke the stage's endpoints and this one component, named exactly.
    role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    (invoke,) = [s for s in _policy_statements(template, role_id) if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert ENDPOINTS_ARN in invoke["Resource"] and len(invoke["Resource"]) == 2
    (component_arn,) = [json.dumps(resource) for resource in invoke["Resource"] if resource != ENDPOINTS_ARN]
    assert ":inference-component/" in component_arn and "*" not in component_arn


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_smoke_test_role_can_only_invoke_endpoints(pipeline_app: PipelineApp, stage: str) -> None:
    """The smoke test runs code from the repository with AWS credentials; beyond the CodeBuild
    plumbing (its logs, reports, the pipeline's artifacts) its role may invoke the stage's
    endpoints and do nothing else in SageMaker or any other service."""
    _, project = pipeline_app.project(f"Pipeline{stage}SmokeTest")
    role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    statements = _policy_statements(pipeline_app.template, role_id)
    actions = {action for statement in statements for action in _as_list(statement["Action"])}
    assert {action.split(":")[0] for action in actions} == {"logs", "codebuild", "s3", "kms", "sagemaker"}
    assert [action for action in actions if action.startswith("sagemaker:")] == ["sagemaker:InvokeEndpoint"]
    assert not [action for action in actions if action == "*" or action.endswith(":*")]
    (invoke,) = [statement for statement in statements if statement["Action"] == "sagemaker:InvokeEndpoint"]
    assert invoke["Resource"] == ENDPOINTS_ARN
    assert all(statement["Effect"] == "Allow" and statement["Resource"] != "*" for statement in statements)
    roles = pipeline_app.template.find_resources("AWS::IAM::Role")
    assert "ManagedPolicyArns" not in roles[role_id]["Properties"]


def test_prod_serves_its_own_copy_of_the_model(pipeline_app: PipelineApp) -> None:
    """The pipeline's prod stage mirrors the model into its own bucket and serves it in network
    isolation, while dev serves from the Hub: each stage takes its own default model source."""
    prod_workbench = Template.from_json(pipeline_app.stage_stack("Prod", "Workbench").template)
    prod_workbench.resource_count_is("AWS::CloudFormation::WaitCondition", 1)
    Template.from_json(pipeline_app.stage_stack("Prod", "Serving").template).has_resource_properties(
        "AWS::SageMaker::Model", {"EnableNetworkIsolation": True}
    )
    dev_workbench = Template.from_json(pipeline_app.stage_stack("Dev", "Workbench").template)
    dev_workbench.resource_count_is("AWS::CloudFormation::WaitCondition", 0)


def test_prod_storage_is_protected_and_retained(pipeline_app: PipelineApp) -> None:
    """Prod's compiled models and their key must survive a stack deletion or replacement, and
    the stack itself must resist deletion; losing the key makes every artifact unreadable."""
    stack = pipeline_app.stage_stack("Prod", "Storage")
    assert stack.termination_protection is True
    template = Template.from_json(stack.template)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        resources = template.find_resources(resource_type)
        assert resources
        for resource in resources.values():
            assert resource["DeletionPolicy"] == "Retain"
            assert resource["UpdateReplacePolicy"] == "Retain"


def test_dev_storage_is_destroyable(pipeline_app: PipelineApp) -> None:
    """Dev must be torn down completely by deleting its stacks, or every rebuild leaves a
    bucket and a key behind (and a key costs money each month until deleted)."""
    stack = pipeline_app.stage_stack("Dev", "Storage")
    assert not stack.termination_protection
    template = Template.from_json(stack.template)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Delete"


def test_pipeline_artifacts_are_encrypted_logged_and_tls_only(pipeline_app: PipelineApp) -> None:
    """Artifacts carry the whole cloud assembly (templates, Lambda code): they are encrypted
    with a rotated customer key, access-logged, and unreachable without TLS."""
    template = pipeline_app.template
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    bucket_id = pipeline_app.pipeline["Properties"]["ArtifactStore"]["Location"]["Ref"]
    bucket = template.find_resources("AWS::S3::Bucket")[bucket_id]["Properties"]
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )


def test_workstation_app_has_no_pipeline(synth: Callable[[dict[str, str]], Synthesized]) -> None:
    """Without pipeline=true the three stacks stay directly under the app, where
    `cdk deploy --all` finds them; stacks inside a Stage would be skipped by --all."""
    # Read from the manifest: jsii caches an artifact's proxy under the type it was first seen as
    # (a stack's dependencies are plain CloudArtifacts), so `assembly.stacks` depends on test order.
    manifest = json.loads((Path(synth(HUB).assembly.directory) / "manifest.json").read_text())
    types = {name: artifact["type"] for name, artifact in manifest["artifacts"].items()}
    assert sorted(name for name, kind in types.items() if kind == "aws:cloudformation:stack") == [
        "Inf2Llm-dev-Serving",
        "Inf2Llm-dev-Storage",
        "Inf2Llm-dev-Workbench",
    ]
    assert "cdk:cloud-assembly" not in types.values()


@pytest.mark.parametrize("overrides", [PIPELINE, {**PIPELINE, **COMPILE_QWEN, "smoke_test_max_ms_per_token": "61.5"}])
def test_overrides_reproduce_the_configuration(overrides: dict[str, str]) -> None:
    """The -c arguments the pipeline synthesizes itself with load back into the same configuration."""
    config = load_config(overrides)
    assert load_config(dict(config.overrides)) == config
