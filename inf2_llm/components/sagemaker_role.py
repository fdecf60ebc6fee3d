"""The role a SageMaker notebook or model runs with: it pulls the TGI Neuron image and writes the
logs SageMaker keeps for the resource."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from inf2_llm.components.container_image import ContainerImage
from inf2_llm.components.nag import acknowledge_wildcard_resource

# What SageMaker does with a log group it writes a resource's logs to.
LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]


def sagemaker_role(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    image: ContainerImage,
    log_groups: str,
    log_groups_reason: str,
) -> iam.Role:
    """`log_groups` is the log-group name (pattern) SageMaker writes to; SageMaker chooses the
    names, so the grant is a pattern and `log_groups_reason` says why it is no wider."""
    role = iam.Role(
        scope, construct_id, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
    )
    image.grant_pull(role)
    log_group_arn = Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=log_groups, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=LOG_ACTIONS,
            resources=[log_group_arn],
        )
    )
    acknowledge_wildcard_resource(role, log_group_arn, reason=log_groups_reason)
    return role
