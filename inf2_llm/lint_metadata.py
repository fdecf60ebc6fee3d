"""cfn-lint findings that CDK's own rendering produces, acknowledged in the template itself."""

from __future__ import annotations

import jsii
from aws_cdk import CfnResource, IAspect
from constructs import IConstruct


@jsii.implements(IAspect)
class FunctionRoleDependencyLint:
    """CDK makes every Lambda function (its own custom-resource providers included) DependsOn its
    role, so that the role's policies exist before the first invocation; since the function also
    reads the role's ARN, cfn-lint W3005 calls the role half of that DependsOn redundant. The
    acknowledgment sits on each function, so W3005 stays on for every other resource."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, CfnResource) and node.cfn_resource_type == "AWS::Lambda::Function":
            node.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
