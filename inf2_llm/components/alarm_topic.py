"""The environment's alarm topic: where every alarm says ALARM and OK, encrypted with the project key."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class AlarmTopic(Construct):
    """An SNS topic encrypted with `key`, reachable over TLS only, that CloudWatch alarms of this
    account and region may publish to; `email`, when given, is subscribed (SNS asks the address
    to confirm)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str | None) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.topic = sns.Topic(self, "Topic", display_name="inf2-llm alarms", master_key=key, enforce_ssl=True)
        # CloudWatch publishes as a service: it needs the topic and, the topic being encrypted,
        # the key. Both grants hold only for alarms of this account and region.
        alarms = stack.format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        cloudwatch = iam.ServicePrincipal(
            "cloudwatch.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}},
        )
        self.topic.grant_publish(cloudwatch)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
