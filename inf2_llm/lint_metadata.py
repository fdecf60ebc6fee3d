"""Template linters' findings (cfn-lint, checkov) that the project answers knowingly, acknowledged
in the template itself, where each linter reads them: cfn-lint in `Metadata.cfn-lint`, checkov in
`Metadata.checkov.skip`. Our own resources are acknowledged next to the code that makes them; the
resources CDK renders itself, by the one aspect below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import CfnResource, IAspect
from constructs import IConstruct

# Resources CDK makes DependsOn their role *and* the role's policy while also reading the role's ARN:
# Lambda functions, pipelines and the provider framework's waiter state machines, by the (module,
# class) of their L1 construct. CDK's own custom-resource providers (triggers, bucket auto-deletion)
# render their functions as plain CfnResources instead, in a scope whose id ends with CDK_PROVIDER.
ROLE_USERS = {
    ("aws_cdk.aws_lambda", "CfnFunction"),
    ("aws_cdk.aws_codepipeline", "CfnPipeline"),
    ("aws_cdk.aws_stepfunctions", "CfnStateMachine"),
}
CDK_PROVIDER = "CustomResourceProvider"
# What cfn-lint reads to skip W3005 on one resource.
IGNORE_REDUNDANT_DEPENDS_ON = {"config": {"ignore_checks": ["W3005"]}}
CDK_PROVIDER_CHECKS = {
    "CKV_AWS_115": "CloudFormation invokes this CDK custom-resource provider once per resource and deploy, so its "
    "concurrency is bounded by the stack; a reservation would fail in accounts whose quota leaves none to reserve.",
    "CKV_AWS_116": "CloudFormation is the provider's only caller and learns of every failure from the custom-resource "
    "response; a dead-letter queue would collect events that nobody replays.",
    "CKV_AWS_117": "The provider only calls AWS APIs (Lambda, S3) for a few seconds per deploy and holds no data; "
    "a VPC would need NAT or interface endpoints without reducing what it can reach.",
}


def acknowledge_checkov(scope: IConstruct, reasons: Mapping[str, str]) -> None:
    """Skip checkov's checks on the CloudFormation resource of `scope` (itself or its default
    child): `reasons` maps each check's id to the comment a reviewer reads in the template; with
    none, it writes nothing."""
    if not reasons:
        return
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    assert isinstance(resource, CfnResource), f"{scope.node.path} renders no CloudFormation resource"
    metadata: dict[str, Any] = resource.get_metadata("checkov") or {}
    skips = [skip for skip in metadata.get("skip", []) if skip["id"] not in reasons]
    skips += [{"id": check_id, "comment": reason} for check_id, reason in reasons.items()]
    resource.add_metadata("checkov", {**metadata, "skip": skips})


@jsii.implements(IAspect)
class CdkRenderingAcknowledgments:
    """What template linters report of the way CDK renders its own constructs.

    - cfn-lint W3005: CDK makes a Lambda function (its own providers included), a pipeline or a
      state machine DependsOn its role and the role's policy, so that the policy exists before
      the first run; since the resource also reads the role's ARN, cfn-lint calls the role half of
      that DependsOn redundant. The policy half is needed, so the finding is acknowledged on each
      such resource, and W3005 stays on for every other resource.
    - checkov on CDK's custom-resource provider functions, which the app does not configure.
    """

    def visit(self, node: IConstruct) -> None:
        # This runs for every construct of every synth, and each property read is a call into the
        # jsii runtime: the Python class tells an L1 resource apart without one.
        if (type(node).__module__, type(node).__name__) in ROLE_USERS:
            node.add_metadata("cfn-lint", IGNORE_REDUNDANT_DEPENDS_ON)
        elif type(node) is CfnResource and node.cfn_resource_type == "AWS::Lambda::Function":
            scope = node.node.scope
            if scope and scope.node.id.endswith(CDK_PROVIDER):
                node.add_metadata("cfn-lint", IGNORE_REDUNDANT_DEPENDS_ON)
                acknowledge_checkov(node, CDK_PROVIDER_CHECKS)
