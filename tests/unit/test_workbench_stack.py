"""The notebook workbench: the guide's hand set-up, least privilege, and the compile hand-off."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from tests.unit.conftest import COMPILE, COMPILE_QWEN, HUB, MIRROR, VLLM

WORKBENCH = "Inf2Llm-dev-Workbench"


def _policy_statements(template, role_prefix: str) -> list[dict]:
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = policy["Properties"]["Roles"]
        if any(role["Ref"].startswith(role_prefix) for role in roles):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_notebook_is_the_guides_instance_hardened(synth) -> None:
    """ml.inf2.xlarge with 128 GB (the guide), encrypted with the project key, IMDSv2 only, AL2023."""
    synth(HUB).template(WORKBENCH).has_resource_properties(
        "AWS::SageMaker::NotebookInstance",
        {
            "InstanceType": "ml.inf2.xlarge",
            "VolumeSizeInGB": 128,
            "KmsKeyId": {"Fn::ImportValue": Match.string_like_regexp("ArtifactsKey")},
            "PlatformIdentifier": "notebook-al2023-v1",
            "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "2"},
            "RootAccess": "Enabled",
            "DirectInternetAccess": "Enabled",
            "LifecycleConfigName": {"Fn::GetAtt": [Match.any_value(), "NotebookInstanceLifecycleConfigName"]},
        },
    )


def test_no_physical_names(synth) -> None:
    """Generated names let CloudFormation replace a notebook or lifecycle config without a clash."""
    template = synth(COMPILE).template(WORKBENCH)
    for notebook in template.find_resources("AWS::SageMaker::NotebookInstance").values():
        assert "NotebookInstanceName" not in notebook["Properties"]
    for lifecycle in template.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig").values():
        assert "NotebookInstanceLifecycleConfigName" not in lifecycle["Properties"]


def test_vpc_settings_turn_direct_internet_access_off(synth) -> None:
    """In a VPC the notebook must reach the internet only through the network the user chose."""
    synth(COMPILE_QWEN).template(WORKBENCH).has_resource_properties(
        "AWS::SageMaker::NotebookInstance",
        {
            "SubnetId": "subnet-0123456789abcdef0",
            "SecurityGroupIds": ["sg-0123456789abcdef0"],
            "DirectInternetAccess": "Disabled",
        },
    )


def test_role_pulls_one_repository_only(synth) -> None:
    """The notebook pulls the TGI Neuron image and nothing else from the DLC registry."""
    statements = _policy_statements(synth(HUB).template(WORKBENCH), "NotebookRole")
    pulls = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
    assert len(pulls) == 1
    repository = pulls[0]["Resource"]["Fn::Join"][1]
    assert repository[-1].endswith(":repository/huggingface-pytorch-tgi-inference")
    (token,) = [s for s in statements if s["Action"] == "ecr:GetAuthorizationToken"]
    assert token["Resource"] == "*"


def test_role_has_no_broad_managed_policies(synth) -> None:
    """The guide's AmazonSageMakerFullAccess and AmazonS3FullAccess are what this project replaces;
    no other role of the stack has a managed policy (CDK's default for Lambda functions would give
    AWSLambdaBasicExecutionRole, which writes to every log group of the account)."""
    template = synth(COMPILE_QWEN).template(WORKBENCH)
    roles = template.find_resources("AWS::IAM::Role")
    (notebook_role,) = [role for logical_id, role in roles.items() if logical_id.startswith("NotebookRole")]
    managed = notebook_role["Properties"]["ManagedPolicyArns"]
    assert len(managed) == 1 and "ArtifactsModelsWriter" in managed[0]["Fn::ImportValue"]
    # The restart's functions and CDK's provider framework get roles with their own grants only.
    assert [role for role in roles.values() if "ManagedPolicyArns" in role["Properties"]] == [notebook_role]
    assert "FullAccess" not in str(template.to_json())


def test_role_stops_and_describes_only_itself(synth) -> None:
    """Auto-stop needs to stop this notebook, not any notebook in the account."""
    template = synth(HUB).template(WORKBENCH)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": ["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"],
                        "Effect": "Allow",
                        "Resource": {"Ref": Match.string_like_regexp("^NotebookInstance")},
                    }
                ]
            }
        },
    )


def test_hf_token_secret_is_read_at_run_time_only(synth) -> None:
    """The token must be fetched by the job from Secrets Manager: only the secret's ARN may appear."""
    template = synth(COMPILE_QWEN).template(WORKBENCH)
    statements = _policy_statements(template, "NotebookRole")
    (read,) = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert "inf2-llm/hf-token" in str(read["Resource"])
    for function in template.find_resources("AWS::Lambda::Function").values():
        assert "hf-token" not in str(function["Properties"].get("Environment"))


def test_hub_source_has_no_artifact_job(synth) -> None:
    """Serving the precompiled Hub copy must not wait for a job nobody asked for."""
    template = synth(HUB).template(WORKBENCH)
    template.resource_count_is("AWS::CloudFormation::WaitCondition", 0)
    template.resource_count_is("AWS::CloudFormation::WaitConditionHandle", 0)
    on_start = _on_start_script(template)
    assert "readonly MODEL_SOURCE=" not in on_start
    assert "readonly WAIT_HANDLE_URL=" not in on_start


@pytest.mark.parametrize("overrides", [COMPILE, MIRROR], ids=["compile", "mirror"])
def test_s3_sources_wait_for_the_notebooks_signal(synth, overrides) -> None:
    """The endpoint may only start once the model is in S3, so the deploy waits for the job
    (3 hours by default) and the wait starts only once the notebook exists."""
    template = synth(overrides).template(WORKBENCH)
    template.resource_count_is("AWS::CloudFormation::WaitConditionHandle", 1)
    conditions = template.find_resources("AWS::CloudFormation::WaitCondition")
    ((logical_id, condition),) = conditions.items()
    assert logical_id.startswith("NotebookArtifactReady")
    assert condition["Properties"]["Timeout"] == "10800"
    assert condition["Properties"]["Count"] == 1
    assert any(dep.startswith("NotebookInstance") for dep in condition["DependsOn"])


def test_on_start_is_rendered_with_the_compile_settings(synth) -> None:
    """The hook carries the validated settings and the wait-condition URL, not a copy of them."""
    on_start = _on_start_script(synth(COMPILE_QWEN).template(WORKBENCH))
    assert "readonly MODEL_SOURCE=compile" in on_start
    assert "readonly REPOSITORY=Qwen/Qwen2.5-7B-Instruct" in on_start
    assert "readonly REVISION=0123456789abcdef0123456789abcdef01234567" in on_start
    assert (
        "readonly -a EXPORT_OPTIONS=(--batch_size 4 --sequence_length 4096 --auto_cast_type bf16 --num_cores 2)"
        in on_start
    )
    assert re.search(r"readonly ARTIFACT_PREFIX=models/qwen2\.5-7b-instruct/[0-9a-f]{12}/\n", on_start)
    assert "readonly PUBLISH_REPO=example/qwen2.5-7b-instruct-neuron" in on_start
    assert '{"Ref": "NotebookArtifactSignal' in on_start


def test_on_start_is_rendered_with_the_mirror_settings(synth) -> None:
    """Mirror downloads the precompiled copy and checks it against the settings the endpoint uses."""
    on_start = _on_start_script(synth(MIRROR).template(WORKBENCH))
    assert "readonly MODEL_SOURCE=mirror" in on_start
    assert "readonly REPOSITORY=Gonsoo/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B" in on_start
    assert (
        """readonly NEURON_CONFIG='{"auto_cast_type": "fp16", "batch_size": 4, "num_cores": 2, "sequence_length": 4096}'"""
        in on_start
    )
    assert "readonly NEURON_CONFIG_FILE=config.json\nreadonly NEURON_CONFIG_SECTION=neuron\n" in on_start


def _on_start_script(template) -> str:
    """The on-start hook as text, with CloudFormation references left as JSON."""
    (lifecycle,) = template.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig").values()
    content = lifecycle["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in content["Fn::Join"][1])


def test_lifecycle_content_is_plain_base64_of_the_script(synth) -> None:
    """SageMaker expects base64; a literal script would be rejected at create time."""
    template = synth(HUB).template(WORKBENCH)
    (lifecycle,) = template.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig").values()
    assert "Fn::Base64" in lifecycle["Properties"]["OnStart"][0]["Content"]
    assert "Fn::Base64" in lifecycle["Properties"]["OnCreate"][0]["Content"]


def test_vllm_compile_uses_the_vllm_image_and_its_export_flags(synth) -> None:
    """The notebook compiles with the image that will serve the model, with 0.4.x's flags, and
    checks the result against neuron_config.json, where 0.4.x records its settings."""
    template = synth(VLLM).template(WORKBENCH)
    on_start = _on_start_script(template)
    assert ":repository/huggingface-vllm-inference-neuronx" in json.dumps(template.to_json())
    assert "/huggingface-vllm-inference-neuronx:0.11.0-optimum0.4.4-neuronx-py310-sdk2.26.1-ubuntu22.04" in on_start
    assert (
        "readonly -a EXPORT_OPTIONS=(--batch_size 4 --sequence_length 4096 --tensor_parallel_size 2 "
        "--instance_type inf2)" in on_start
    )
    assert "readonly NEURON_CONFIG_FILE=neuron_config.json\nreadonly NEURON_CONFIG_SECTION=''\n" in on_start


def test_notebook_log_group_is_encrypted_with_the_project_key(synth) -> None:
    """The job's log names models, buckets and revisions: encrypted like the artifacts it describes."""
    synth(HUB).template(WORKBENCH).has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": {"Fn::ImportValue": Match.string_like_regexp("ArtifactsKey")}}
    )


def _restart(template) -> tuple[str, dict]:
    ((logical_id, restart),) = template.find_resources("Custom::NotebookRestart").items()
    return logical_id, restart


def test_restart_follows_the_artifact_identity(synth) -> None:
    """A new batch size is a new artifact: the restart's properties change with it (CloudFormation
    sends an Update only when they do), so the notebook runs the job with no hand on it. The
    restart is the same resource in every configuration, with identity "" when there is no job,
    so that a change from the Hub to a compile is an Update that restarts, not a Create that does not."""
    identities = {}
    logical_ids = set()
    for name, overrides in (("hub", HUB), ("compile", COMPILE), ("compile-batch-8", {**COMPILE, "batch_size": "8"})):
        template = synth(overrides).template(WORKBENCH)
        logical_id, restart = _restart(template)
        logical_ids.add(logical_id)
        notebook_id, attribute = restart["Properties"]["NotebookInstanceName"]["Fn::GetAtt"]
        assert notebook_id.startswith("NotebookInstance") and attribute == "NotebookInstanceName"
        identities[name] = restart["Properties"]["ArtifactIdentity"]
        # The identity is the artifact the wait condition waits for.
        for wait_condition_id in template.find_resources("AWS::CloudFormation::WaitCondition"):
            assert wait_condition_id.startswith(f"NotebookArtifactReady{identities[name]}")
    assert identities["hub"] == ""
    assert re.fullmatch(r"[0-9a-f]{12}", identities["compile"])
    assert re.fullmatch(r"[0-9a-f]{12}", identities["compile-batch-8"])
    assert identities["compile"] != identities["compile-batch-8"]
    assert len(logical_ids) == 1


def test_artifact_wait_starts_after_the_restart(synth) -> None:
    """The wait condition must not start its clock before the hook has started with the new
    settings, and the restart must not run before the lifecycle configuration holds them."""
    template = synth(COMPILE).template(WORKBENCH)
    restart_id, restart = _restart(template)
    (lifecycle_id,) = template.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig")
    assert restart["DependsOn"] == [lifecycle_id]
    (condition,) = template.find_resources("AWS::CloudFormation::WaitCondition").values()
    assert restart_id in condition["DependsOn"]


def test_restart_role_may_only_describe_stop_and_start_the_notebook(synth) -> None:
    """The function that restarts the notebook can describe, stop and start that one notebook
    (a notebook's Ref is its ARN) and write its own log group, nothing else."""
    template = synth(COMPILE).template(WORKBENCH)
    (log_group_id,) = [
        logical_id for logical_id in template.find_resources("AWS::Logs::LogGroup") if "Restart" in logical_id
    ]
    (notebook_id,) = template.find_resources("AWS::SageMaker::NotebookInstance")
    statements = _policy_statements(template, "NotebookRestartRole")
    assert statements == [
        {
            "Action": [
                "sagemaker:DescribeNotebookInstance",
                "sagemaker:StartNotebookInstance",
                "sagemaker:StopNotebookInstance",
            ],
            "Effect": "Allow",
            "Resource": {"Ref": notebook_id},
        },
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
        },
    ]
    # No other role of the stack may start the notebook.
    starters = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sagemaker:StartNotebookInstance" in statement["Action"]
    ]
    assert len(starters) == 1


def test_restart_functions_log_to_their_encrypted_group(synth) -> None:
    """The handler and CDK's provider framework write to one log group of the stack, encrypted with
    the project key and kept as long as the stage keeps logs, not to log groups Lambda would create
    on its own with no retention."""
    template = synth(COMPILE).template(WORKBENCH)
    (log_group_id,) = [
        logical_id for logical_id in template.find_resources("AWS::Logs::LogGroup") if "Restart" in logical_id
    ]
    log_group = template.find_resources("AWS::Logs::LogGroup")[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 7
    assert "ArtifactsKey" in json.dumps(log_group["Properties"]["KmsKeyId"])
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 5
    for function in functions.values():
        assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}
