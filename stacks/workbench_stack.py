"""The notebook workbench: where the model is compiled, as the guide does by hand."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from inf2_llm.components.artifact_store import ArtifactStore
from inf2_llm.components.container_image import tgi_neuronx_image
from inf2_llm.components.notebook_workbench import CompileRequest, NotebookWorkbench
from inf2_llm.config import AppConfig
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
            image=tgi_neuronx_image(self, tag=config.image_tag),
            bucket=artifacts.bucket,
            models_writer=artifacts.models_writer,
            key=artifacts.key,
            hf_token_secret_name=config.hf_token_secret_name,
            compile_request=(
                CompileRequest(
                    profile=config.profile,
                    compilation=config.compilation,
                    artifact_prefix=config.artifact_prefix,
                    identity=config.compile_identity,
                    timeout=Duration.minutes(config.notebook.compile_timeout_minutes),
                )
                if config.compiles_model
                else None
            ),
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        CfnOutput(self, "NotebookInstanceName", value=self.workbench.notebook.attr_notebook_instance_name)
        CfnOutput(self, "NotebookLogGroup", value=self.workbench.log_group.log_group_name)
