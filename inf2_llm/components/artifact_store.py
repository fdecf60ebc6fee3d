"""The artifact store: compiled models and logs, encrypted with the project's key."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from inf2_llm.components.encrypted_bucket import EncryptedBucket
from inf2_llm.components.nag import acknowledge_wildcard_resource

MODELS_PREFIX = "models/"


class ArtifactStore(EncryptedBucket):
    """The bucket for compiled models and the two policies through which compute roles reach
    its models/ prefix, declared here so that compute stacks attach a policy instead of importing
    the bucket's ARN into wildcard statements of their own."""

    def __init__(
        self, scope: Construct, construct_id: str, *, retain: bool, noncurrent_version_days: int, access_log_days: int
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            purpose="the LLM artifacts, notebook volume and endpoint volume",
            retain=retain,
            noncurrent_version_days=noncurrent_version_days,
            current_version_days=None,
            access_log_days=access_log_days,
        )
        self._let_log_groups_use_the_key()
        self.models_reader = self._models_policy(
            "ModelsReader",
            object_actions=["s3:GetObject"],
            key_actions=["kms:Decrypt"],
        )
        self.models_writer = self._models_policy(
            "ModelsWriter",
            object_actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            key_actions=["kms:Decrypt", "kms:GenerateDataKey"],
        )

    def _let_log_groups_use_the_key(self) -> None:
        """The compute stacks' log groups are encrypted with this key: CloudWatch Logs may use it,
        for log groups of this account and region only."""
        stack = Stack.of(self)
        log_groups = stack.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )

    def _models_policy(
        self, construct_id: str, *, object_actions: list[str], key_actions: list[str]
    ) -> iam.ManagedPolicy:
        models = self.bucket.arn_for_objects(f"{MODELS_PREFIX}*")
        policy = iam.ManagedPolicy(
            self,
            construct_id,
            description=f"{' '.join(object_actions)} on the artifact bucket's {MODELS_PREFIX} prefix",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[self.bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{MODELS_PREFIX}*"]}},
                ),
                iam.PolicyStatement(actions=object_actions, resources=[models]),
                iam.PolicyStatement(actions=key_actions, resources=[self.key.key_arn]),
            ],
        )
        acknowledge_wildcard_resource(
            policy,
            models,
            reason=f"Objects are addressed by key under the {MODELS_PREFIX} prefix, whose names the "
            "notebook's artifact job chooses (one file per compiled shard); the wildcard is that prefix only.",
        )
        return policy
