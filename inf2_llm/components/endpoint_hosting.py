"""How an endpoint hosts its model: as the model of its production variant, or as an inference
component (see inference_component.py). Each hosting creates the endpoint configuration and the
endpoint, and says what serves requests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from inf2_llm.config import EndpointSettings

VARIANT_NAME = "AllTraffic"


@dataclass(frozen=True)
class HostedModel:
    """What a hosting made of the endpoint's model."""

    endpoint: sagemaker.CfnEndpoint
    endpoint_config: sagemaker.CfnEndpointConfig
    # The CloudWatch dimensions (namespace AWS/SageMaker) of the invocation metrics of what serves
    # requests: the variant, or the inference component.
    metric_dimensions: Mapping[str, str]
    # The resource whose creation means the model answers: the endpoint, or its inference component.
    ready: CfnResource
    # What callers name in InvokeEndpoint besides the endpoint; None when the endpoint serves its
    # variant's model.
    inference_component_name: str | None
    # What serves the model as the template holds it, for the endpoint's configuration digest.
    served: tuple[Any, ...]


class EndpointHosting(ABC):
    """A way for the endpoint to host its model. A new one subclasses this and implements `host`."""

    @abstractmethod
    def host(
        self, scope: Construct, *, model: sagemaker.CfnModel, role: iam.Role, network_isolation: bool, key: kms.IKey
    ) -> HostedModel:
        """Create the endpoint configuration, the endpoint and what else serves `model` in `scope`
        (the endpoint construct). `role` is the model's execution role, `network_isolation` what
        the model source asked for, `key` encrypts the instances' volumes."""

    @staticmethod
    def endpoint(scope: Construct, config: sagemaker.CfnEndpointConfig) -> sagemaker.CfnEndpoint:
        return sagemaker.CfnEndpoint(scope, "Endpoint", endpoint_config_name=config.attr_endpoint_config_name)


@dataclass(frozen=True)
class ModelInVariant(EndpointHosting):
    """The model is the production variant's: `settings.instance_count` instances serve it from
    the deploy on, until the endpoint is deleted."""

    settings: EndpointSettings
    # The runtime's InferenceAmiVersion; None keeps SageMaker's default.
    inference_ami_version: str | None

    def host(
        self, scope: Construct, *, model: sagemaker.CfnModel, role: iam.Role, network_isolation: bool, key: kms.IKey
    ) -> HostedModel:
        variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=model.attr_model_name,
            instance_type=self.settings.instance_type,
            initial_instance_count=self.settings.instance_count,
            initial_variant_weight=1,
            volume_size_in_gb=self.settings.volume_size_gb,
            container_startup_health_check_timeout_in_seconds=self.settings.startup_timeout_seconds,
            model_data_download_timeout_in_seconds=self.settings.download_timeout_seconds,
            inference_ami_version=self.inference_ami_version,
        )
        config = sagemaker.CfnEndpointConfig(scope, "Config", kms_key_id=key.key_arn, production_variants=[variant])
        endpoint = self.endpoint(scope, config)
        return HostedModel(
            endpoint=endpoint,
            endpoint_config=config,
            metric_dimensions={"EndpointName": endpoint.attr_endpoint_name, "VariantName": VARIANT_NAME},
            ready=endpoint,
            inference_component_name=None,
            served=(variant,),
        )
