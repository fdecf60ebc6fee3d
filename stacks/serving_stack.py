"""Serving: the TGI Neuron endpoint and the smoke test that gates it."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnWaitCondition, Stack
from constructs import Construct

from inf2_llm.components.artifact_store import ArtifactStore
from inf2_llm.components.container_image import tgi_neuronx_image
from inf2_llm.components.endpoint_smoke_test import EndpointSmokeTest
from inf2_llm.components.model_endpoint import ModelArtifact, ModelEndpoint
from inf2_llm.config import AppConfig
from stacks.retention import log_retention, removal_policy


class ServingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        artifacts: ArtifactStore,
        compile_done: CfnWaitCondition | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description="inf2-llm: TGI Neuron endpoint and smoke test", **kwargs)
        self.model_endpoint = ModelEndpoint(
            self,
            "Model",
            settings=config.endpoint,
            image=tgi_neuronx_image(self, tag=config.image_tag),
            compilation=config.compilation,
            max_input_length=config.max_input_length,
            max_total_tokens=config.max_total_tokens,
            key=artifacts.key,
            hub_model_id=config.profile.precompiled_hub_id,
            artifact=ModelArtifact(
                bucket=artifacts.bucket, prefix=config.artifact_prefix, reader=artifacts.models_reader
            )
            if compile_done
            else None,
        )
        if compile_done:
            # The endpoint may only be created once the notebook has signalled that the
            # compiled model is complete in S3.
            self.add_stack_dependency(Stack.of(compile_done), "the endpoint serves the model the notebook compiles")
        EndpointSmokeTest(
            self,
            "SmokeTest",
            endpoint=self.model_endpoint.endpoint,
            endpoint_name=self.model_endpoint.endpoint_name,
            endpoint_arn=self.model_endpoint.endpoint_arn,
            settings=config.smoke_test,
            stop_sequences=config.profile.stop_sequences,
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        self.endpoint_name_output = CfnOutput(self, "EndpointName", value=self.model_endpoint.endpoint_name)
