"""What the endpoint's construct tests build on: a bare stack, endpoint settings as the app's
defaults give them, an image, a model in S3, and ways to find resources in a template."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from inf2_llm.components.container_image import ContainerImage
from inf2_llm.components.model_source import ModelArtifact
from inf2_llm.config import EndpointSettings
from inf2_llm.profiles import NeuronCompilation

ACCOUNT, REGION = "123456789012", "us-west-2"
HUB_ID = "example-org/model-neuron"
REVISION = "0123456789abcdef0123456789abcdef01234567"
SETTINGS = EndpointSettings(
    instance_type="ml.inf2.xlarge",
    instance_count=1,
    volume_size_gb=64,
    startup_timeout_seconds=1800,
    download_timeout_seconds=1800,
    latency_alarm_seconds=30,
    alarm_email=None,
    autoscaling=False,
    autoscaling_min_instances=1,
    autoscaling_max_instances=3,
    invocations_per_instance_target=20,
    scale_to_zero=False,
    warm_hours=None,
    warm_timezone="UTC",
)
IMAGE = ContainerImage(
    title="TGI Neuron",
    repository_arn=f"arn:aws:ecr:{REGION}:763104351884:repository/huggingface-pytorch-tgi-inference",
    uri=f"763104351884.dkr.ecr.{REGION}.amazonaws.com/huggingface-pytorch-tgi-inference:tag",
)
COMPILATION = NeuronCompilation(batch_size=4, sequence_length=4096, auto_cast_type="fp16", num_cores=2)


def bare_stack(name: str = "Test") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name, env=cdk.Environment(account=ACCOUNT, region=REGION))


def artifact_source(stack: cdk.Stack) -> ModelArtifact:
    bucket = s3.Bucket(stack, "Bucket")
    reader = iam.ManagedPolicy(
        stack,
        "Reader",
        statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("models/*")])],
    )
    return ModelArtifact(bucket=bucket, prefix="models/example/0123456789ab/", reader=reader)


def logical_id(construct: Any) -> str:
    """The logical ID of a CloudFormation resource, or of the one a higher-level construct renders."""
    element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    stack = cdk.Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(element)))


def the_one(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((found_id, resource),) = template.find_resources(resource_type).items()
    return found_id, resource
