"""The SageMaker endpoint that serves the model with a serving runtime's container."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from inf2_llm.components.container_image import ContainerImage
from inf2_llm.components.sagemaker_role import sagemaker_role
from inf2_llm.config import EndpointSettings
from inf2_llm.lint_metadata import acknowledge_checkov
from inf2_llm.profiles import NeuronCompilation
from inf2_llm.runtimes import ServingRuntime

VARIANT_NAME = "AllTraffic"
# Where SageMaker places model data from S3; the container loads the model from there.
SAGEMAKER_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class HubModel:
    """A precompiled model the container downloads from the Hugging Face Hub when it starts."""

    model_id: str
    revision: str | None


@dataclass(frozen=True)
class ModelArtifact:
    """A model under an S3 prefix, uncompressed, with the weights it loads: nothing is fetched."""

    bucket: s3.IBucket
    prefix: str
    reader: iam.IManagedPolicy


class ModelEndpoint(Construct):
    """Model, endpoint configuration, endpoint, alarms on `alarm_topic`, optional autoscaling.

    From a `HubModel` the container downloads the model when it starts; from a `ModelArtifact`
    SageMaker copies the S3 prefix into the container and network isolation is on.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EndpointSettings,
        runtime: ServingRuntime,
        image: ContainerImage,
        compilation: NeuronCompilation,
        key: kms.IKey,
        model: HubModel | ModelArtifact,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)

        self.role = sagemaker_role(
            self,
            "Role",
            description=f"Endpoint: pull the {image.title} image, read the compiled model, write its logs",
            image=image,
            log_groups="/aws/sagemaker/Endpoints/*",
            log_groups_reason="SageMaker names an endpoint's log group after the endpoint, and CloudFormation "
            "generates that name only after this role must exist; the grant covers SageMaker endpoint log "
            "groups only.",
        )

        model_data_source = None
        if isinstance(model, ModelArtifact):
            self.role.add_managed_policy(model.reader)
            model_data_source = sagemaker.CfnModel.ModelDataSourceProperty(
                s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                    s3_uri=model.bucket.s3_url_for_object(model.prefix),
                    s3_data_type="S3Prefix",
                    compression_type="None",
                )
            )
        hub_model = model if isinstance(model, HubModel) else None
        container = sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image.uri,
            model_data_source=model_data_source,
            environment=runtime.container_environment(
                model=hub_model.model_id if hub_model else SAGEMAKER_MODEL_DIR,
                revision=hub_model.revision if hub_model else None,
                compilation=compilation,
            ),
        )
        network_isolation = hub_model is None
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=network_isolation,
            primary_container=container,
        )
        if hub_model:
            acknowledge_checkov(
                self.model,
                {
                    "CKV_AWS_370": "model_source=hub downloads the precompiled model from the Hugging Face Hub when the "
                    "container starts, which isolation forbids; mirror and compile (prod's default) serve from S3 isolated."
                },
            )
        # SageMaker checks at creation that the role can pull the image: the role's ARN orders the
        # role itself, its policy has to be waited for.
        self.model.node.add_dependency(self.role.node.find_child("DefaultPolicy"))

        variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=self.model.attr_model_name,
            instance_type=settings.instance_type,
            initial_instance_count=settings.instance_count,
            initial_variant_weight=1,
            volume_size_in_gb=settings.volume_size_gb,
            container_startup_health_check_timeout_in_seconds=settings.startup_timeout_seconds,
            model_data_download_timeout_in_seconds=settings.download_timeout_seconds,
            inference_ami_version=runtime.inference_ami_version,
        )
        endpoint_config = sagemaker.CfnEndpointConfig(
            self, "Config", kms_key_id=key.key_arn, production_variants=[variant]
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=endpoint_config.attr_endpoint_config_name
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        # Ref of a SageMaker endpoint is its ARN.
        self.endpoint_arn = self.endpoint.ref
        self.endpoint_config_name = endpoint_config.attr_endpoint_config_name
        # Model and endpoint configuration take every property at creation: any change replaces
        # the configuration under a new generated name and updates the endpoint in place. This
        # digest of their properties, as the template holds them, changes exactly then.
        served = [container, network_isolation, variant, key.key_arn]
        self.configuration_digest = hashlib.sha256(
            json.dumps(Stack.of(self).resolve(served), sort_keys=True).encode()
        ).hexdigest()[:16]

        self._add_alarms(settings, alarm_topic)
        if settings.autoscaling:
            self._add_autoscaling(settings)

    def _variant_metric(self, metric_name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT_NAME},
            statistic=statistic,
            period=Duration.minutes(5),
        )

    def _add_alarms(self, settings: EndpointSettings, topic: sns.ITopic) -> None:
        # https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html: InvocationModelErrors is
        # "the number of model invocation requests that did not result in 2XX HTTP response. This includes
        # 4XX/5XX status codes, low-level socket errors, malformed HTTP responses, and request timeouts".
        # Invocation4XXErrors counts the 4xx answers only. Both count a caller's bad request that the
        # container refuses, but a container that crashed, broke the connection or ran past the 60 s
        # limit shows in InvocationModelErrors alone: that is the model failing.
        errors = (
            ("ServerErrorsAlarm", "Invocation5XXErrors", "The endpoint answered with 5XX errors"),
            (
                "ModelErrorsAlarm",
                "InvocationModelErrors",
                "The model container failed requests: an error status, a broken connection or a timeout",
            ),
        )
        alarms = [
            self._variant_metric(metric_name, "Sum").create_alarm(
                self,
                alarm_id,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for alarm_id, metric_name, description in errors
        ]
        alarms.append(
            self._variant_metric("ModelLatency", "Average").create_alarm(
                self,
                "LatencyAlarm",
                alarm_description=f"Average model latency above {settings.latency_alarm_seconds} s",
                # ModelLatency is reported in microseconds.
                threshold=settings.latency_alarm_seconds * 1_000_000,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        # OK too: whoever was paged learns that the endpoint recovered.
        action = cloudwatch_actions.SnsAction(topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

    def _add_autoscaling(self, settings: EndpointSettings) -> None:
        target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.autoscaling_min_instances,
            max_capacity=settings.autoscaling_max_instances,
        )
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            target_value=settings.invocations_per_instance_target,
            # An inf2 instance takes 15 minutes to come into service; scaling in fast would thrash.
            scale_in_cooldown=Duration.minutes(30),
            scale_out_cooldown=Duration.minutes(5),
        )
