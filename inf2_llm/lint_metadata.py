"""cfn-lint findings that CDK's own rendering produces, acknowledged in the template itself."""

from __future__ import annotations

import jsii
from aws_cdk import CfnResource, IAspect
from constructs import IConstruct

# Resources CDK makes DependsOn their role *and* the role's policy while also reading the role's ARN.
ROLE_USERS = ("AWS::Lambda::Function", "AWS::CodePipeline::Pipeline")


@jsii.implements(IAspect)
class RoleDependencyLint:
    """CDK makes a Lambda function (its own custom-resource providers included) or a pipeline
    DependsOn its role and the role's policy, so that the policy exists before the first run;
    since the resource also reads the role's ARN, cfn-lint W3005 calls the role half of that
    DependsOn redundant. The policy half is needed, so the finding is acknowledged on each such
    resource, and W3005 stays on for every other resource."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, CfnResource) and node.cfn_resource_type in ROLE_USERS:
            node.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
