"""Stateful resources: what a compute redeploy or teardown must never take with it.

The alarm topic lives here too: its subscriptions are confirmed by people, and a replaced
endpoint must not make them confirm again.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from inf2_llm.components.alarm_topic import AlarmTopic
from inf2_llm.components.artifact_store import ArtifactStore
from inf2_llm.config import AppConfig


class StorageStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="inf2-llm: artifact bucket, encryption key and alarm topic (stateful)",
            termination_protection=config.is_production,
            **kwargs,
        )
        self.artifacts = ArtifactStore(
            self,
            "Artifacts",
            retain=config.is_production,
            noncurrent_version_days=90 if config.is_production else 7,
            access_log_days=365 if config.is_production else 30,
        )
        self.alarms = AlarmTopic(self, "Alarms", key=self.artifacts.key, email=config.endpoint.alarm_email)
        CfnOutput(self, "ArtifactBucketName", value=self.artifacts.bucket.bucket_name)
        CfnOutput(self, "ArtifactKeyArn", value=self.artifacts.key.key_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
