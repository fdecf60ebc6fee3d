"""The whole system for one environment: storage, workbench and serving stacks."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Environment
from constructs import Construct

from inf2_llm.config import AppConfig
from stacks.serving_stack import ServingStack
from stacks.storage_stack import StorageStack
from stacks.workbench_stack import WorkbenchStack


@dataclass(frozen=True)
class LlmSystem:
    storage: StorageStack
    workbench: WorkbenchStack
    serving: ServingStack


def add_llm_system(scope: Construct, *, config: AppConfig, name_prefix: str) -> LlmSystem:
    """Add the three stacks to an app (workstation deploys) or to a pipeline stage.

    Stacks straight under the app keep `cdk deploy --all` working; a `Stage` is only used
    where a pipeline needs one.
    """
    env = Environment(account=config.account, region=config.region)
    storage = StorageStack(scope, f"{name_prefix}Storage", config=config, env=env)
    workbench = WorkbenchStack(scope, f"{name_prefix}Workbench", config=config, artifacts=storage.artifacts, env=env)
    serving = ServingStack(
        scope,
        f"{name_prefix}Serving",
        config=config,
        artifacts=storage.artifacts,
        alarm_topic=storage.alarms.topic,
        artifact_ready=workbench.workbench.artifact_ready,
        env=env,
    )
    return LlmSystem(storage=storage, workbench=workbench, serving=serving)
