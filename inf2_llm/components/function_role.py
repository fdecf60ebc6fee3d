"""What each of the project's Lambda functions starts from: a role of its own and a log group."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


def function_role_and_logs(
    scope: Construct,
    *,
    description: str,
    key: kms.IKey,
    log_retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
) -> tuple[iam.Role, logs.LogGroup]:
    """A role only Lambda assumes (no managed policy: the caller grants what its function does, the
    log group's writing included) and a log group encrypted with the project key, kept as long as the
    stage keeps logs; created in `scope` as "Role" and "Logs"."""
    log_group = logs.LogGroup(scope, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy)
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
    return role, log_group
