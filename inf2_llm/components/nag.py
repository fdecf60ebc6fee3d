"""Precise cdk-nag acknowledgments.

cdk-nag 3 acknowledges each finding by its exact id, and an IAM5 finding names the wildcard
resource as cdk-nag renders it from the template (`<Logical.Attr>`, `<AWS::Region>`). Rendering
the resource the same way here acknowledges that one resource and no other.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return f"<{resource}.{attribute}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    raise ValueError(f"cannot render {value!r} as cdk-nag does")


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, *, reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for one wildcard resource of a policy in `scope`'s stack."""
    rendered = _render(Stack.of(scope).resolve(resource))
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{rendered}]", reason=reason))
