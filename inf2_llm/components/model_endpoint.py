"""The SageMaker endpoint that serves the model with the TGI Neuron container."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from inf2_llm.components.container_image import ContainerImage
from inf2_llm.components.sagemaker_role import sagemaker_role
from inf2_llm.config import EndpointSettings
from inf2_llm.profiles import NeuronCompilation

VARIANT_NAME = "AllTraffic"
# Where SageMaker places model data from S3; TGI loads the compiled model from there.
SAGEMAKER_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class ModelArtifact:
    """A compiled model under an S3 prefix, uncompressed; it carries its own weights."""

    bucket: s3.IBucket
    prefix: str
    reader: iam.IManagedPolicy


def tgi_environment(
    *, hf_model_id: str, compilation: NeuronCompilation, max_input_length: int, max_total_tokens: int
) -> dict[str, str]:
    """The container's settings; the container refuses to start unless they match the compiled model."""
    return {
        "HF_MODEL_ID": hf_model_id,
        "HF_NUM_CORES": str(compilation.num_cores),
        "HF_BATCH_SIZE": str(compilation.batch_size),
        "HF_SEQUENCE_LENGTH": str(compilation.sequence_length),
        "HF_AUTO_CAST_TYPE": compilation.auto_cast_type,
        "MAX_BATCH_SIZE": str(compilation.batch_size),
        "MAX_INPUT_LENGTH": str(max_input_length),
        "MAX_TOTAL_TOKENS": str(max_total_tokens),
        "MESSAGES_API_ENABLED": "true",
    }


class ModelEndpoint(Construct):
    """Model, endpoint configuration, endpoint, alarms and optional autoscaling.

    From the Hub (`artifact` None) the container downloads the precompiled model named by
    `hub_model_id`; from an `artifact` SageMaker copies the S3 prefix into the container and
    network isolation is on, since nothing has to be fetched at start.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EndpointSettings,
        image: ContainerImage,
        compilation: NeuronCompilation,
        max_input_length: int,
        max_total_tokens: int,
        key: kms.IKey,
        hub_model_id: str,
        artifact: ModelArtifact | None,
    ) -> None:
        super().__init__(scope, construct_id)

        self.role = sagemaker_role(
            self,
            "Role",
            description="Endpoint: pull the TGI Neuron image, read the compiled model, write its logs",
            image=image,
            log_groups="/aws/sagemaker/Endpoints/*",
            log_groups_reason="SageMaker names an endpoint's log group after the endpoint, and CloudFormation "
            "generates that name only after this role must exist; the grant covers SageMaker endpoint log "
            "groups only.",
        )

        model_data_source = None
        if artifact:
            self.role.add_managed_policy(artifact.reader)
            model_data_source = sagemaker.CfnModel.ModelDataSourceProperty(
                s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                    s3_uri=artifact.bucket.s3_url_for_object(artifact.prefix),
                    s3_data_type="S3Prefix",
                    compression_type="None",
                )
            )
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=artifact is not None,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.uri,
                model_data_source=model_data_source,
                environment=tgi_environment(
                    hf_model_id=SAGEMAKER_MODEL_DIR if artifact else hub_model_id,
                    compilation=compilation,
                    max_input_length=max_input_length,
                    max_total_tokens=max_total_tokens,
                ),
            ),
        )
        # SageMaker checks at creation that the role can pull the image: the role's ARN orders the
        # role itself, its policy has to be waited for.
        self.model.node.add_dependency(self.role.node.find_child("DefaultPolicy"))

        endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            kms_key_id=key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    model_name=self.model.attr_model_name,
                    instance_type=settings.instance_type,
                    initial_instance_count=settings.instance_count,
                    initial_variant_weight=1,
                    volume_size_in_gb=settings.volume_size_gb,
                    container_startup_health_check_timeout_in_seconds=settings.startup_timeout_seconds,
                    model_data_download_timeout_in_seconds=settings.download_timeout_seconds,
                )
            ],
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=endpoint_config.attr_endpoint_config_name
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        # Ref of a SageMaker endpoint is its ARN.
        self.endpoint_arn = self.endpoint.ref

        self._add_alarms(settings)
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

    def _add_alarms(self, settings: EndpointSettings) -> None:
        errors = (
            ("ServerErrorsAlarm", "Invocation5XXErrors", "The endpoint answered with 5XX errors"),
            # InvokeEndpoint reports a failing model container (ModelError) as a 4XX.
            (
                "ModelErrorsAlarm",
                "Invocation4XXErrors",
                "The model container failed requests (ModelError) or rejected them",
            ),
        )
        for alarm_id, metric_name, description in errors:
            self._variant_metric(metric_name, "Sum").create_alarm(
                self,
                alarm_id,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
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
