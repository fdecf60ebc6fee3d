"""The rehearsal's steps, shared by the rehearsal modules: deploy the app with some `-c` options
through the real CDK CLI into moto, read what was created, destroy it, and read what is left.
Each deploy and destroy takes seconds against moto.

The smoke-test trigger is off (`smoke_test_on_deploy=false`): moto cannot run Lambda code
without Docker, and a trigger it cannot run would be reported as a success.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from inf2_llm.config import AppConfig, load_config
from tests.integration.conftest import CliRun, record_times

STACK_PREFIX = "Inf2Llm-dev-"
STACKS = tuple(f"{STACK_PREFIX}{name}" for name in ("Storage", "Workbench", "Serving"))
DEPLOY_TIMEOUT = 180
DESTROY_TIMEOUT = 120
NOT_FOUND_CODES = {
    "404",
    "NoSuchBucket",
    "NotFound",
    "NotFoundException",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "StateMachineDoesNotExist",
}
# SageMaker reports a missing resource as a ValidationException; only these messages mean "gone".
SAGEMAKER_NOT_FOUND = re.compile(r"Could not find|does not exist|RecordNotFound")
# Resource types whose deletion cannot be observed on their own: a custom resource's record,
# a wait condition handle (a presigned URL), and inline policies, which go with their role.
NOTHING_TO_OBSERVE = {
    "Custom::S3AutoDeleteObjects",
    "Custom::NotebookRestart",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::IAM::Policy",
    "AWS::SNS::TopicPolicy",
}


@dataclass(frozen=True)
class StackResource:
    stack: str
    logical_id: str
    type: str
    physical_id: str


@dataclass(repr=False)
class Rehearsal:
    name: str
    config: AppConfig
    deploy: CliRun
    destroy: CliRun | None = None
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    stack_status: dict[str, str] = field(default_factory=dict)
    resources: list[StackResource] = field(default_factory=list)
    seen: dict[str, Any] = field(default_factory=dict)
    stacks_left: dict[str, str] = field(default_factory=dict)
    resources_left: list[StackResource] = field(default_factory=list)
    unobserved_types: set[str] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"Rehearsal({self.name!r})"

    def output(self, stack: str, key: str) -> str:
        return self.outputs[f"{STACK_PREFIX}{stack}"][key]

    def physical_id(self, stack: str, logical_prefix: str) -> str:
        (match,) = [
            r.physical_id
            for r in self.resources
            if r.stack == f"{STACK_PREFIX}{stack}" and r.logical_id.startswith(logical_prefix)
        ]
        return match


def rehearse(
    name: str,
    overrides: Mapping[str, str],
    *,
    cdk_cli: Callable[..., CliRun],
    aws: Callable[[str], Any],
    tmp_path_factory: pytest.TempPathFactory,
    capture_deployed: Callable[[Callable[[str], Any], Rehearsal], None],
) -> Rehearsal:
    """Deploy with `overrides` (and the smoke trigger off), let `capture_deployed` read what the
    tests look at while the stacks exist, destroy, and read what is left."""
    overrides = {"smoke_test_on_deploy": "false", **overrides}
    # A private output directory: the rehearsal never touches a developer's cdk.out.
    assembly = tmp_path_factory.mktemp(f"cdk-out-{name}")
    deploy = cdk_cli(
        "deploy",
        "--all",
        "--require-approval",
        "never",
        *(item for key, value in overrides.items() for item in ("-c", f"{key}={value}")),
        "--output",
        str(assembly),
        timeout=DEPLOY_TIMEOUT,
    )
    rehearsal = Rehearsal(name=name, config=load_config(overrides), deploy=deploy)
    _capture_stacks(aws, rehearsal)
    capture_deployed(aws, rehearsal)
    # Destroy exactly the assembly that was deployed, without synthesizing it again.
    rehearsal.destroy = cdk_cli("destroy", "--all", "--force", "--app", str(assembly), timeout=DESTROY_TIMEOUT)
    _capture_destroyed(aws, rehearsal)
    print(f"\nrehearsal[{name}]: cdk deploy {deploy.seconds:.1f} s, cdk destroy {rehearsal.destroy.seconds:.1f} s")
    record_times(
        **{name: {"deploy_seconds": round(deploy.seconds, 1), "destroy_seconds": round(rehearsal.destroy.seconds, 1)}}
    )
    return rehearsal


def _exists(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as error:
        code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        if code in NOT_FOUND_CODES or (code == "ValidationException" and SAGEMAKER_NOT_FOUND.search(message)):
            return False
        raise
    return True


def _capture_stacks(aws: Callable[[str], Any], rehearsal: Rehearsal) -> None:
    cloudformation = aws("cloudformation")
    for name in STACKS:
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        rehearsal.stack_status[name] = stack["StackStatus"]
        rehearsal.outputs[name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        for summary in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]:
            # moto lists resource types it does not implement without ids; nothing exists for them.
            if summary.get("PhysicalResourceId"):
                rehearsal.resources.append(
                    StackResource(
                        name, summary["LogicalResourceId"], summary["ResourceType"], summary["PhysicalResourceId"]
                    )
                )


def _observers(aws: Callable[[str], Any]) -> dict[str, Callable[[str], Any]]:
    """For each resource type: a call that fails with a not-found error once the resource is gone."""
    s3, kms, iam, logs, lambda_, sagemaker, sns, stepfunctions, autoscaling = (
        aws(s)
        for s in (
            "s3",
            "kms",
            "iam",
            "logs",
            "lambda",
            "sagemaker",
            "sns",
            "stepfunctions",
            "application-autoscaling",
        )
    )

    def key_not_scheduled_for_deletion(key_id: str) -> None:
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        if metadata["KeyState"] == "PendingDeletion":
            raise ClientError({"Error": {"Code": "NotFoundException"}}, "DescribeKey")

    def log_group(name: str) -> None:
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        if not any(g["logGroupName"] == name for g in groups):
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeLogGroups")

    def name_of(arn: str) -> str:
        return arn.rsplit("/", 1)[-1]

    def scalable_target(physical_id: str) -> None:
        # CloudFormation's physical ID of a scalable target: "resource ID|dimension|namespace".
        resource_id, dimension, namespace = physical_id.split("|")
        targets = autoscaling.describe_scalable_targets(
            ServiceNamespace=namespace, ResourceIds=[resource_id], ScalableDimension=dimension
        )["ScalableTargets"]
        if not targets:
            raise ClientError({"Error": {"Code": "NotFound"}}, "DescribeScalableTargets")

    return {
        "AWS::S3::Bucket": lambda name: s3.head_bucket(Bucket=name),
        "AWS::KMS::Key": key_not_scheduled_for_deletion,
        "AWS::IAM::Role": lambda name: iam.get_role(RoleName=name),
        "AWS::IAM::ManagedPolicy": lambda arn: iam.get_policy(PolicyArn=arn),
        "AWS::Logs::LogGroup": log_group,
        "AWS::Lambda::Function": lambda name: lambda_.get_function(FunctionName=name),
        "AWS::SageMaker::NotebookInstance": lambda arn: sagemaker.describe_notebook_instance(
            NotebookInstanceName=name_of(arn)
        ),
        "AWS::SageMaker::NotebookInstanceLifecycleConfig": lambda arn: sagemaker.describe_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name_of(arn)
        ),
        "AWS::SageMaker::Model": lambda arn: sagemaker.describe_model(ModelName=name_of(arn)),
        "AWS::SageMaker::EndpointConfig": lambda arn: sagemaker.describe_endpoint_config(
            EndpointConfigName=name_of(arn)
        ),
        "AWS::SageMaker::Endpoint": lambda arn: sagemaker.describe_endpoint(EndpointName=name_of(arn)),
        "AWS::SageMaker::InferenceComponent": lambda arn: sagemaker.describe_inference_component(
            InferenceComponentName=name_of(arn)
        ),
        "AWS::ApplicationAutoScaling::ScalableTarget": scalable_target,
        "AWS::SNS::Topic": lambda arn: sns.get_topic_attributes(TopicArn=arn),
        "AWS::StepFunctions::StateMachine": lambda arn: stepfunctions.describe_state_machine(stateMachineArn=arn),
    }


def _capture_destroyed(aws: Callable[[str], Any], rehearsal: Rehearsal) -> None:
    cloudformation = aws("cloudformation")
    for name in STACKS:
        try:
            (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if "does not exist" not in error.response["Error"]["Message"]:
                raise
        else:
            if stack["StackStatus"] != "DELETE_COMPLETE":
                rehearsal.stacks_left[name] = stack["StackStatus"]
    observers = _observers(aws)
    for resource in rehearsal.resources:
        observe = observers.get(resource.type)
        if observe is None:
            if resource.type not in NOTHING_TO_OBSERVE:
                rehearsal.unobserved_types.add(resource.type)
        elif _exists(lambda: observe(resource.physical_id)):  # noqa: B023 - called at once
            rehearsal.resources_left.append(resource)
