"""A private bucket encrypted with its own rotated key, with its access logs in a second bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from inf2_llm.lint_metadata import acknowledge_checkov


class EncryptedBucket(Construct):
    """Key (rotated), bucket (SSE-KMS, TLS only, public access blocked, versioned, access-logged)
    and access-log bucket.

    `retain` keeps all three when their stack is deleted; otherwise deletion empties the buckets
    and schedules the key's deletion. `current_version_days` expires objects (None keeps them).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        purpose: str,
        retain: bool,
        noncurrent_version_days: int,
        current_version_days: int | None,
        access_log_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        removal_policy = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts {purpose}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7),
        )
        # What both buckets are: private, TLS only, versioned (a deleted or overwritten object, a log
        # included, survives as a noncurrent version until it expires too), kept or emptied with the stack.
        private_versioned = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "versioned": True,
            "removal_policy": removal_policy,
            "auto_delete_objects": not retain,
        }
        # S3 server access logging can only deliver to SSE-S3 buckets, not SSE-KMS.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(access_log_days),
                    noncurrent_version_expiration=Duration.days(access_log_days),
                )
            ],
            **private_versioned,
        )
        # cdk-nag exempts a bucket that receives access logs; checkov does not.
        acknowledge_checkov(
            self.access_log_bucket,
            {
                "CKV_AWS_18": "This bucket is the access-log destination; logging it into itself would loop and "
                "logging it elsewhere only moves the question."
            },
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(current_version_days) if current_version_days else None,
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            **private_versioned,
        )
