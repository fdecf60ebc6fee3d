"""The model as an inference component: an endpoint whose variant has no model of its own, and
one AWS::SageMaker::InferenceComponent that runs copies of the model on the variant's instances.
Only such an endpoint can scale to zero instances and back (component_scaling.py).

"An endpoint can scale to and from zero instances only if it hosts inference components", and its
configuration's ManagedInstanceScaling has MinInstanceCount 0
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Names, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from inf2_llm.components.endpoint_hosting import VARIANT_NAME, EndpointHosting, HostedModel
from inf2_llm.components.nag import acknowledge_wildcard_resource
from inf2_llm.components.sagemaker_role import LOG_ACTIONS
from inf2_llm.config import EndpointSettings

# "The name of the inference component ... Maximum: 63"
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-inferencecomponent.html).
NAME_LIMIT = 63
# The deploy starts one copy on one instance. The API allows a CopyCount of 0, but creating a
# component with none was refused with "Inference components copy count an integer larger than 0"
# (https://github.com/stdapi-ai/stdapi.ai/issues/43): the copies reach zero by scaling afterwards.
INITIAL_COPIES = 1
# What one copy reserves on an instance besides its Inferentia2 devices: half of ml.inf2.xlarge's
# 4 vCPU and 16 GiB. The other half stays with the instance's operating system and SageMaker's
# own agent, whose share on an xlarge no AWS page gives (the optimum-neuron maintainer's
# ml.inf2.48xlarge sample leaves "12 vCPU and 18 GB memory for the sagemaker wrapper",
# github.com/dacorvo/deploy-inference-image-sagemaker, deploy_snippet_replicas.py). A reservation
# only places copies; no MaxMemoryRequiredInMb is set, so the container is not capped below what the
# classic endpoint gives it. The devices keep one copy per ml.inf2.xlarge or 8xlarge (one device).
CPU_CORES_PER_COPY = 2
MEMORY_MB_PER_COPY = 8192
# "LEAST_OUTSTANDING_REQUESTS: The endpoint routes requests to the specific instances that have more
# capacity to process them" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantRoutingConfig.html),
# which suits generations that take many seconds each.
ROUTING_STRATEGY = "LEAST_OUTSTANDING_REQUESTS"


@dataclass(frozen=True)
class InferenceComponentHosting(EndpointHosting):
    """The endpoint's variant has no model: SageMaker scales its instances between zero and
    `settings.autoscaling_max_instances` to fit the component's copies, each of which reserves
    `accelerator_devices` Inferentia2 devices."""

    settings: EndpointSettings
    # The runtime's InferenceAmiVersion; None keeps SageMaker's default.
    inference_ami_version: str | None
    # "The number of accelerators to allocate to run a model ... Accelerators include GPUs and AWS
    # Inferentia" (NumberOfAcceleratorDevicesRequired, minimum 1,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentComputeResourceRequirements.html):
    # whole Inferentia2 devices, two Neuron cores each.
    accelerator_devices: int

    def host(
        self, scope: Construct, *, model: sagemaker.CfnModel, role: iam.Role, network_isolation: bool, key: kms.IKey
    ) -> HostedModel:
        settings = self.settings
        variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            instance_type=settings.instance_type,
            initial_instance_count=INITIAL_COPIES,
            volume_size_in_gb=settings.volume_size_gb,
            container_startup_health_check_timeout_in_seconds=settings.startup_timeout_seconds,
            model_data_download_timeout_in_seconds=settings.download_timeout_seconds,
            inference_ami_version=self.inference_ami_version,
            managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                status="ENABLED", min_instance_count=0, max_instance_count=settings.autoscaling_max_instances
            ),
            routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(routing_strategy=ROUTING_STRATEGY),
        )
        # Without a model in the variant, the configuration names the role SageMaker acts as, and
        # isolates the containers the way the model source asked.
        config = sagemaker.CfnEndpointConfig(
            scope,
            "Config",
            kms_key_id=key.key_arn,
            execution_role_arn=role.role_arn,
            enable_network_isolation=network_isolation,
            production_variants=[variant],
        )
        config.node.add_dependency(role.node.find_child("DefaultPolicy"))
        endpoint = self.endpoint(scope, config)
        specification = sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
            model_name=model.attr_model_name,
            compute_resource_requirements=sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
                number_of_accelerator_devices_required=self.accelerator_devices,
                number_of_cpu_cores_required=CPU_CORES_PER_COPY,
                min_memory_required_in_mb=MEMORY_MB_PER_COPY,
            ),
            startup_parameters=sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty(
                container_startup_health_check_timeout_in_seconds=settings.startup_timeout_seconds,
                model_data_download_timeout_in_seconds=settings.download_timeout_seconds,
            ),
        )
        component = sagemaker.CfnInferenceComponent(
            scope,
            "Component",
            endpoint_name=endpoint.attr_endpoint_name,
            variant_name=VARIANT_NAME,
            specification=specification,
            # CopyCount is write-only: a stack update that changes the component sends it again
            # and sets the copies to one, whatever scaling had made of them (see README).
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(
                copy_count=INITIAL_COPIES
            ),
        )
        # Callers, scaling and alarms name the component, and CloudFormation returns only its ARN:
        # the name is fixed at synth, unique in the account and region as the stack's name is, and
        # follows the construct path, so a component that moves is created under a new name.
        name = Names.unique_resource_name(component, max_length=NAME_LIMIT, separator="-")
        component.inference_component_name = name
        _grant_component_logs(role, name)
        return HostedModel(
            endpoint=endpoint,
            endpoint_config=config,
            metric_dimensions={"InferenceComponentName": name},
            ready=component,
            inference_component_name=name,
            served=(variant, specification),
        )


def _grant_component_logs(role: iam.Role, component_name: str) -> None:
    """A component's containers log to a group of its own, beside the endpoint's."""
    log_group = Stack.of(role).format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"/aws/sagemaker/InferenceComponents/{component_name}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    streams = f"{log_group}:*"
    role.add_to_policy(iam.PolicyStatement(actions=LOG_ACTIONS, resources=[log_group, streams]))
    acknowledge_wildcard_resource(
        role,
        streams,
        reason="The log streams of the inference component's own log group, which SageMaker creates and names per "
        "container; the grant covers that one group only.",
    )
