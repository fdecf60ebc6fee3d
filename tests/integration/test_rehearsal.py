"""A deploy/destroy rehearsal: the real CDK CLI bootstraps a local moto account, deploys the
whole app, boto3 checks what was created, and `cdk destroy` must leave nothing of it behind.

The three model sources are rehearsed (tests/integration/rehearsal.py), one after the other in the
same account:
- `hub`: the endpoint downloads the precompiled model from the Hugging Face Hub;
- `mirror` and `compile`: the notebook's on-start hook carries the artifact job and the wait
  handle URL, and the model is served from S3 (ModelDataSource, network isolation).
Deploying the next after destroying the previous also shows that a teardown leaves nothing that
would block the next deploy.

What moto cannot show (see moto_launcher.py): the wait condition is ignored, so the Serving
stack does not wait for a compile; no Lambda code or custom resource runs; CloudWatch alarms
and bucket policies are not created. Those are left to the template-level tests and gates
(tests/unit, cdk-nag).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.guide import (
    GUIDE_ENVIRONMENT,
    GUIDE_HUB_MODEL,
    GUIDE_IMAGE,
    GUIDE_INSTANCE_TYPE,
    GUIDE_NOTEBOOK_VOLUME_GB,
    READ_ON_SAGEMAKER,
)
from tests.integration.conftest import CliRun
from tests.integration.rehearsal import STACK_PREFIX, STACKS, Rehearsal, rehearse

pytestmark = pytest.mark.integration

MODEL_SOURCES = ("hub", "mirror", "compile")
GUIDE_SETTINGS = {name: GUIDE_ENVIRONMENT[name] for name in READ_ON_SAGEMAKER}
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
# CreateNotebookInstanceLifecycleConfig rejects longer hook content; moto does not check.
LIFECYCLE_HOOK_LIMIT = 16384
BROAD_MANAGED_POLICIES = ("AmazonSageMakerFullAccess", "AmazonS3FullAccess", "AdministratorAccess")


def _capture_deployed(aws: Callable[[str], Any], rehearsal: Rehearsal) -> None:
    """Everything the tests look at, read while the stacks exist."""
    s3, kms, iam, sagemaker = aws("s3"), aws("kms"), aws("iam"), aws("sagemaker")
    seen = rehearsal.seen
    bucket = rehearsal.output("Storage", "ArtifactBucketName")
    key_arn = rehearsal.output("Storage", "ArtifactKeyArn")
    seen["bucket_encryption"] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    seen["bucket_versioning"] = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    seen["bucket_public_access_block"] = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    seen["key"] = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    seen["key_rotation"] = kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]

    notebook = sagemaker.describe_notebook_instance(
        NotebookInstanceName=rehearsal.output("Workbench", "NotebookInstanceName")
    )
    seen["notebook"] = notebook
    seen["lifecycle"] = sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=notebook["NotebookInstanceLifecycleConfigName"]
    )
    endpoint = sagemaker.describe_endpoint(EndpointName=rehearsal.output("Serving", "EndpointName"))
    seen["endpoint"] = endpoint
    seen["endpoint_config"] = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    seen["model"] = sagemaker.describe_model(ModelName=seen["endpoint_config"]["ProductionVariants"][0]["ModelName"])

    seen["roles"] = {}
    for purpose, role_arn in (("notebook", notebook["RoleArn"]), ("model", seen["model"]["ExecutionRoleArn"])):
        role_name = role_arn.rsplit("/", 1)[-1]
        seen["roles"][purpose] = {
            "arn": role_arn,
            "trust": iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"],
            "managed_policies": [
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
            ],
        }


@pytest.fixture(scope="module", params=MODEL_SOURCES)
def rehearsal(
    request: pytest.FixtureRequest,
    bootstrapped: CliRun,
    cdk_cli: Callable[..., CliRun],
    aws: Callable[[str], Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Rehearsal:
    """Deploy with one model source, read everything, destroy, read what is left."""
    model_source: str = request.param
    return rehearse(
        model_source,
        {"model_source": model_source},
        cdk_cli=cdk_cli,
        aws=aws,
        tmp_path_factory=tmp_path_factory,
        capture_deployed=_capture_deployed,
    )


def _decoded_hooks(hooks: list[dict[str, str]]) -> list[str]:
    return [base64.b64decode(hook["Content"]).decode() for hook in hooks]


def test_cdk_deploy_creates_every_stack(rehearsal: Rehearsal) -> None:
    """`cdk deploy --all` is the one command a developer and the pipeline run: every stack must be
    created through change sets, with the outputs the smoke test and the operators read."""
    assert rehearsal.stack_status == {name: "CREATE_COMPLETE" for name in STACKS}
    assert set(rehearsal.outputs[f"{STACK_PREFIX}Storage"]) >= {"ArtifactBucketName", "ArtifactKeyArn"}
    assert set(rehearsal.outputs[f"{STACK_PREFIX}Workbench"]) >= {"NotebookInstanceName", "NotebookLogGroup"}
    assert set(rehearsal.outputs[f"{STACK_PREFIX}Serving"]) >= {"EndpointName"}


def test_artifact_bucket_is_kms_encrypted_versioned_and_private(rehearsal: Rehearsal) -> None:
    """The compiled model (hours of Inferentia time) lives here: it must be encrypted with the
    project's key, keep overwritten versions, and never be public."""
    (rule,) = rehearsal.seen["bucket_encryption"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"] == rehearsal.output("Storage", "ArtifactKeyArn")
    assert rehearsal.seen["bucket_versioning"] == "Enabled"
    assert rehearsal.seen["bucket_public_access_block"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_artifact_key_rotates(rehearsal: Rehearsal) -> None:
    """The key encrypts the models and both instances' volumes; yearly rotation limits what one
    leaked key version exposes."""
    assert rehearsal.seen["key"]["Arn"] == rehearsal.output("Storage", "ArtifactKeyArn")
    assert rehearsal.seen["key"]["KeyState"] == "Enabled"
    assert rehearsal.seen["key_rotation"] is True


def test_roles_trust_only_sagemaker_and_hold_no_broad_managed_policies(rehearsal: Rehearsal) -> None:
    """The guide gives the notebook AmazonSageMakerFullAccess and AmazonS3FullAccess; the project
    grants the notebook write access and the endpoint read access to models/ only, and both
    roles can be assumed by SageMaker alone."""
    writer = rehearsal.physical_id("Storage", "ArtifactsModelsWriter")
    reader = rehearsal.physical_id("Storage", "ArtifactsModelsReader")
    roles = rehearsal.seen["roles"]
    for role in roles.values():
        (statement,) = role["trust"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert not [arn for arn in role["managed_policies"] if arn.rsplit("/", 1)[-1] in BROAD_MANAGED_POLICIES]
    assert roles["notebook"]["managed_policies"] == [writer]
    # Only a model served from S3 reads the bucket; the Hub model needs no access to it.
    assert roles["model"]["managed_policies"] == ([reader] if rehearsal.config.serves_from_s3 else [])


def test_notebook_is_the_guides_inf2_workbench(rehearsal: Rehearsal) -> None:
    """The guide compiles on an ml.inf2.xlarge with a 128 GB volume (Docker's data root and the
    compiled model live there); the volume is encrypted with the project's key, the platform is
    the configured Amazon Linux, the hooks are attached and the metadata service needs IMDSv2."""
    notebook = rehearsal.seen["notebook"]
    assert notebook["InstanceType"] == GUIDE_INSTANCE_TYPE
    assert notebook["VolumeSizeInGB"] == GUIDE_NOTEBOOK_VOLUME_GB
    assert notebook["PlatformIdentifier"] == rehearsal.config.notebook.platform_identifier
    assert notebook["KmsKeyId"] == rehearsal.seen["key"]["KeyId"]
    assert (
        notebook["NotebookInstanceLifecycleConfigName"]
        == rehearsal.seen["lifecycle"]["NotebookInstanceLifecycleConfigName"]
    )
    assert notebook["InstanceMetadataServiceConfiguration"] == {"MinimumInstanceMetadataServiceVersion": "2"}
    assert notebook["RoleArn"] == rehearsal.seen["roles"]["notebook"]["arn"]
    assert notebook["NotebookInstanceStatus"] == "InService"


def test_lifecycle_hooks_fit_and_carry_the_deployed_settings(rehearsal: Rehearsal) -> None:
    """SageMaker rejects a hook over 16 KiB, and moto does not, so the limit is checked here on
    what was deployed. The hooks must receive the names CloudFormation resolved (bucket, log
    group, image) and, on the compile path only, the model to compile and the wait handle URL
    the artifact job signals to release the Serving stack."""
    lifecycle = rehearsal.seen["lifecycle"]
    assert len(lifecycle["OnCreate"]) == 1 and len(lifecycle["OnStart"]) == 1
    for hook in lifecycle["OnCreate"] + lifecycle["OnStart"]:
        assert len(hook["Content"]) <= LIFECYCLE_HOOK_LIMIT
    (on_create,) = _decoded_hooks(lifecycle["OnCreate"])
    (on_start,) = _decoded_hooks(lifecycle["OnStart"])
    assert on_create.startswith("#!") and on_start.startswith("#!")
    assert rehearsal.output("Storage", "ArtifactBucketName") in on_start
    assert rehearsal.output("Workbench", "NotebookLogGroup") in on_start
    assert GUIDE_IMAGE in on_start
    assert "${Token[" not in on_start
    has_wait_handle = "https://cloudformation-waitcondition-" in on_start
    if rehearsal.config.serves_from_s3:
        assert f"readonly REPOSITORY={rehearsal.config.source_repository}\n" in on_start
        assert f"readonly MODEL_SOURCE={rehearsal.config.model_source}\n" in on_start
        assert rehearsal.config.artifact_prefix in on_start
        assert has_wait_handle
    else:
        assert "readonly REPOSITORY=" not in on_start
        assert not has_wait_handle


def test_model_serves_the_guides_image_with_matching_neuron_settings(rehearsal: Rehearsal) -> None:
    """The deployed model must carry the guide's image, the guide's values for what the TGI
    container reads (MAX_*), and the right model location; from S3, nothing is fetched at start."""
    model = rehearsal.seen["model"]
    container = model["PrimaryContainer"]
    assert container["Image"] == GUIDE_IMAGE
    assert model["ExecutionRoleArn"] == rehearsal.seen["roles"]["model"]["arn"]
    if rehearsal.config.serves_from_s3:
        bucket = rehearsal.output("Storage", "ArtifactBucketName")
        assert container["Environment"] == {**GUIDE_SETTINGS, "HF_MODEL_ID": SAGEMAKER_MODEL_DIR}
        assert container["ModelDataSource"] == {
            "S3DataSource": {
                "S3Uri": f"s3://{bucket}/{rehearsal.config.artifact_prefix}",
                "S3DataType": "S3Prefix",
                "CompressionType": "None",
            }
        }
        # Everything is copied in from S3 before start: nothing has to be fetched from outside.
        assert model["EnableNetworkIsolation"] is True
    else:
        assert container["Environment"] == {**GUIDE_SETTINGS, "HF_MODEL_ID": GUIDE_HUB_MODEL}
        assert "ModelDataSource" not in container
        # The container downloads the model from the Hub at start.
        assert model["EnableNetworkIsolation"] is False


def test_endpoint_config_gives_the_inf2_container_time_to_start(rehearsal: Rehearsal) -> None:
    """The guide's endpoints took 14-17 minutes to come up; with SageMaker's default health-check
    timeout the deploy would roll back. One ml.inf2.xlarge, its volume encrypted with the key."""
    config = rehearsal.seen["endpoint_config"]
    (variant,) = config["ProductionVariants"]
    settings = rehearsal.config.endpoint
    assert variant["InstanceType"] == GUIDE_INSTANCE_TYPE
    assert variant["InitialInstanceCount"] == settings.instance_count == 1
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == settings.startup_timeout_seconds >= 17 * 60
    assert variant["ModelDataDownloadTimeoutInSeconds"] == settings.download_timeout_seconds
    assert variant["VolumeSizeInGB"] == settings.volume_size_gb
    assert variant["ModelName"] == rehearsal.seen["model"]["ModelName"]
    assert config["KmsKeyId"] == rehearsal.output("Storage", "ArtifactKeyArn")


def test_endpoint_is_created_from_that_config(rehearsal: Rehearsal) -> None:
    """The stack output the smoke test and benchmark read must name the endpoint that serves
    this configuration."""
    endpoint = rehearsal.seen["endpoint"]
    assert endpoint["EndpointName"] == rehearsal.output("Serving", "EndpointName")
    assert endpoint["EndpointConfigName"] == rehearsal.seen["endpoint_config"]["EndpointConfigName"]
    assert endpoint["EndpointStatus"] == "InService"


def test_cdk_destroy_removes_every_stack(rehearsal: Rehearsal) -> None:
    """`cdk destroy --all` is how a dev environment is torn down: an inf2 notebook and endpoint
    left running cost money every hour, so no stack of the app may survive it."""
    assert rehearsal.destroy is not None
    assert rehearsal.stacks_left == {}
    for name in STACKS:
        assert f"{name}: destroyed" in rehearsal.destroy.output


def test_cdk_destroy_leaves_no_resource_behind(rehearsal: Rehearsal) -> None:
    """A dev teardown must take everything with it: the notebook, endpoint, endpoint config,
    model, lifecycle configuration, roles, log groups and both buckets (the key is scheduled
    for deletion). Every resource type of the app has a check, so a new type is noticed."""
    observed_types = {r.type for r in rehearsal.resources}
    assert observed_types >= {
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::IAM::Role",
        "AWS::SageMaker::NotebookInstance",
        "AWS::SageMaker::NotebookInstanceLifecycleConfig",
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
    }
    assert rehearsal.unobserved_types == set()
    assert [f"{r.stack} {r.logical_id} {r.type} {r.physical_id}" for r in rehearsal.resources_left] == []
