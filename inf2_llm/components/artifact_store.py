"""The artifact store: compiled models and logs, encrypted with the project's key."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from inf2_llm.components.nag import acknowledge_wildcard_resource

MODELS_PREFIX = "models/"


class ArtifactStore(Construct):
    """A KMS key with rotation, the artifact bucket (SSE-KMS) and its access-log bucket, and
    the two policies through which compute roles reach the compiled models.

    `retain` keeps bucket, objects and key when the stack is destroyed (production data);
    otherwise `cdk destroy` empties and deletes them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain: bool,
        noncurrent_version_days: int,
        access_log_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        removal_policy = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the LLM artifacts, notebook volume and endpoint volume",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7),
        )
        # S3 server access logging can only deliver to SSE-S3 buckets, not SSE-KMS.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(access_log_days))],
            removal_policy=removal_policy,
            auto_delete_objects=not retain,
        )
        Validations.of(self.access_log_bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This bucket is the access-log destination; logging it into itself would loop "
                "and logging it elsewhere only moves the question.",
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="artifact-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=not retain,
        )
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

    def _models_policy(self, construct_id: str, *, object_actions: list[str], key_actions: list[str]) -> iam.ManagedPolicy:
        """Access to the models/ prefix only, declared beside the bucket so that compute stacks
        attach a policy instead of importing the bucket's ARN into wildcard statements."""
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
            "compile job chooses (one file per compiled shard); the wildcard is that prefix only.",
        )
        return policy
