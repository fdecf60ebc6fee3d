"""Serving: the endpoint running the configured runtime, and the smoke test that gates it."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnWaitCondition, Stack
from aws_cdk import aws_sns as sns
from constructs import Construct

from inf2_llm.components.artifact_store import ArtifactStore
from inf2_llm.components.component_scaling import ScaleToZero
from inf2_llm.components.container_image import runtime_image
from inf2_llm.components.endpoint_alarms import add_endpoint_alarms
from inf2_llm.components.endpoint_autoscaling import add_endpoint_autoscaling
from inf2_llm.components.endpoint_hosting import ModelInVariant
from inf2_llm.components.endpoint_smoke_test import EndpointSmokeTest
from inf2_llm.components.inference_component import InferenceComponentHosting
from inf2_llm.components.model_endpoint import ModelEndpoint
from inf2_llm.components.model_source import HubModel, ModelArtifact
from inf2_llm.config import AppConfig
from inf2_llm.parsers import inferentia2_devices
from stacks.retention import log_retention, removal_policy


class ServingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        artifacts: ArtifactStore,
        alarm_topic: sns.ITopic,
        artifact_ready: CfnWaitCondition | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"inf2-llm: {config.runtime.title} endpoint and smoke test", **kwargs
        )
        settings = config.endpoint
        ami_version = config.runtime.inference_ami_version
        self.model_endpoint = ModelEndpoint(
            self,
            "Model",
            hosting=(
                InferenceComponentHosting(
                    settings=settings,
                    inference_ami_version=ami_version,
                    accelerator_devices=inferentia2_devices(config.compilation.num_cores),
                )
                if settings.scale_to_zero
                else ModelInVariant(settings=settings, inference_ami_version=ami_version)
            ),
            runtime=config.runtime,
            image=runtime_image(self, runtime=config.runtime, tag=config.image_tag),
            compilation=config.compilation,
            key=artifacts.key,
            model=(
                ModelArtifact(bucket=artifacts.bucket, prefix=config.artifact_prefix, reader=artifacts.models_reader)
                if config.serves_from_s3
                else HubModel(model_id=config.precompiled.hub_id, revision=config.hub_revision)
            ),
        )
        add_endpoint_alarms(
            self.model_endpoint, topic=alarm_topic, latency_alarm_seconds=settings.latency_alarm_seconds
        )
        if settings.scale_to_zero:
            # One copy per instance: the ceiling of instances is the ceiling of copies.
            ScaleToZero(
                self,
                "ScaleToZero",
                endpoint=self.model_endpoint,
                max_copies=settings.autoscaling_max_instances,
                invocations_per_copy=settings.invocations_per_instance_target,
                warm_hours=settings.warm_hours,
                warm_timezone=settings.warm_timezone,
            )
        elif settings.autoscaling:
            add_endpoint_autoscaling(
                self.model_endpoint,
                min_instances=settings.autoscaling_min_instances,
                max_instances=settings.autoscaling_max_instances,
                invocations_per_instance=settings.invocations_per_instance_target,
            )
        if artifact_ready:
            # The endpoint may only be created once the notebook has signalled that the model
            # is complete in S3.
            self.add_stack_dependency(Stack.of(artifact_ready), "the endpoint serves the model the notebook prepares")
        EndpointSmokeTest(
            self,
            "SmokeTest",
            endpoint=self.model_endpoint,
            apis=config.runtime.apis,
            settings=config.smoke_test,
            stop_sequences=config.profile.stop_sequences,
            key=artifacts.key,
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        self.endpoint_name_output = CfnOutput(self, "EndpointName", value=self.model_endpoint.endpoint_name)
        # InvokeEndpoint on an endpoint that hosts inference components names one of them.
        component_name = self.model_endpoint.inference_component_name
        self.inference_component_name_output = (
            CfnOutput(self, "InferenceComponentName", value=component_name) if component_name else None
        )
