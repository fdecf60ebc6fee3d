"""A serving runtime's container image as seen from one stack: its URI and its ECR repository."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnMapping, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from inf2_llm.runtimes import ServingRuntime


@dataclass(frozen=True)
class ContainerImage:
    # How role descriptions name the image.
    title: str
    repository_arn: str
    uri: str

    def grant_pull(self, role: iam.Role) -> None:
        """Pull this one repository of the AWS Deep Learning Containers registry."""
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[self.repository_arn],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ecr:GetAuthorizationToken has no resource-level permissions: ECR issues a login "
                "token per registry session, and the pull itself is limited to one repository.",
            )
        )


def runtime_image(scope: Construct, *, runtime: ServingRuntime, tag: str) -> ContainerImage:
    """Resolve the runtime's image for the stack's region.

    A stack with a fixed region gets literal values; an environment-agnostic stack gets a
    `CfnMapping` over every region the SDK lists, looked up by `AWS::Region` at deploy time.
    The domain suffix is `AWS::URLSuffix`, so China, GovCloud, ISO and sovereign partitions
    resolve to their own registries.
    """
    stack = Stack.of(scope)
    release = runtime.release
    mapping = stack.node.try_find_child(runtime.registry_mapping_id)
    if mapping is None:
        mapping = CfnMapping(
            stack,
            runtime.registry_mapping_id,
            mapping={region: {"account": account} for region, account in release.registry_accounts.items()},
            lazy=True,
        )
    assert isinstance(mapping, CfnMapping)
    account = mapping.find_in_map(stack.region, "account")
    registry = f"{account}.dkr.ecr.{stack.region}.{stack.url_suffix}"
    return ContainerImage(
        title=runtime.title,
        repository_arn=stack.format_arn(
            service="ecr", account=account, resource="repository", resource_name=release.repository
        ),
        uri=f"{registry}/{release.repository}:{tag}",
    )
