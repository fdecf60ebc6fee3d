"""The notebook workbench: where the model is compiled, or mirrored from the Hub, into S3 as the guide does by hand."""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from inf2_llm.components.artifact_store import ArtifactStore
from inf2_llm.components.container_image import runtime_image
from inf2_llm.components.notebook_workbench import ArtifactRequest, NotebookWorkbench
from inf2_llm.config import AppConfig
from inf2_llm.lifecycle import ArtifactJob
from stacks.retention import log_retention, removal_policy


class WorkbenchStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, artifacts: ArtifactStore, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, description="inf2-llm: ml.inf2 notebook workbench", **kwargs)
        self.workbench = NotebookWorkbench(
            self,
            "Notebook",
            settings=config.notebook,
            image=runtime_image(self, runtime=config.runtime, tag=config.image_tag),
            bucket=artifacts.bucket,
            models_writer=artifacts.models_writer,
            key=artifacts.key,
            hf_token_secret_name=config.notebook.hf_token_secret_name,
            artifact_request=_artifact_request(config) if config.serves_from_s3 else None,
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        CfnOutput(self, "NotebookInstanceName", value=self.workbench.notebook.attr_notebook_instance_name)
        CfnOutput(self, "NotebookLogGroup", value=self.workbench.log_group.log_group_name)


def _artifact_request(config: AppConfig) -> ArtifactRequest:
    return ArtifactRequest(
        job=artifact_job(config),
        identity=config.artifact_identity,
        timeout=Duration.minutes(config.notebook.compile_timeout_minutes),
    )


def artifact_job(config: AppConfig) -> ArtifactJob:
    """What the notebook's job does for a configuration that serves the model from S3."""
    runtime = config.runtime
    return ArtifactJob(
        model_source=config.model_source,
        repository=config.source_repository,
        revision=config.hub_revision or "",
        profile=config.profile.name,
        export_options=runtime.export_options(config.compilation),
        neuron_config=runtime.neuron_config(config.compilation),
        neuron_config_file=runtime.neuron_config_file,
        neuron_config_section=runtime.neuron_config_section,
        compilation=dataclasses.asdict(config.compilation),
        artifact_prefix=config.artifact_prefix,
        publish_repo=config.notebook.publish_repo or "",
    )
