"""What each stage keeps: production keeps logs longer and keeps them after a teardown."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from inf2_llm.config import AppConfig


def log_retention(config: AppConfig) -> logs.RetentionDays:
    return logs.RetentionDays.THREE_MONTHS if config.is_production else logs.RetentionDays.ONE_WEEK


def removal_policy(config: AppConfig) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY
