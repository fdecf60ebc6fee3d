"""moto patches for an endpoint that hosts an inference component and scales it to zero
(`scale_to_zero=true`); moto_launcher.py applies them with its own.

moto 5.2.5 has no inference components at all, insists that every production variant names a
model, drops an endpoint configuration's ExecutionRoleArn and EnableNetworkIsolation, refuses
Application Auto Scaling's inference-component dimension, and has no CloudFormation support for
AWS::ApplicationAutoScaling::ScalableTarget. Each patch closes one of those gaps, and keeps, or
adds, the checks the real service makes, so that a template that would fail in AWS fails here.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

COPY_COUNT = "sagemaker:inference-component:DesiredCopyCount"
COMPONENT_PREFIX = "inference-component/"
# (account, region) -> component name -> component.
_COMPONENTS: dict[tuple[str, str], dict[str, FakeInferenceComponent]] = {}


def _components(account_id: str, region_name: str) -> dict[str, FakeInferenceComponent]:
    return _COMPONENTS.setdefault((account_id, region_name), {})


def _accept_variants_without_models() -> None:
    """CreateEndpointConfig: a variant's ModelName is optional ("VariantName" is the only required
    member of ProductionVariant), and a configuration whose variants name no model is the one
    inference components are deployed to. The real service then requires ExecutionRoleArn (a 400
    without it, github.com/stdapi-ai/stdapi.ai/issues/43; the SageMaker Python SDK: "ExecutionRoleArn
    will be needed in the endpoint config to create Endpoint"), which this checks too. moto drops
    ExecutionRoleArn and EnableNetworkIsolation from the template; they are kept and described."""
    from moto.sagemaker import models as sagemaker
    from moto.sagemaker.exceptions import ValidationError

    backend_class = sagemaker.SageMakerModelBackend
    original_validate = backend_class.validate_production_variants

    def validate_production_variants(self: Any, production_variants: list[dict[str, Any]]) -> None:
        original_validate(self, [variant for variant in production_variants if "ModelName" in variant])

    backend_class.validate_production_variants = validate_production_variants  # type: ignore[method-assign]

    config_class = sagemaker.FakeEndpointConfig
    original_create = config_class.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        hosts_components = not any("ModelName" in variant for variant in properties["ProductionVariants"])
        if hosts_components and not properties.get("ExecutionRoleArn"):
            raise ValidationError(message="ExecutionRoleArn is required for an endpoint config without models")
        config = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        config.execution_role_arn = properties.get("ExecutionRoleArn")
        config.enable_network_isolation = properties.get("EnableNetworkIsolation") in (True, "true", "True")
        return config

    config_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


class FakeInferenceComponent(CloudFormationModel):
    """AWS::SageMaker::InferenceComponent, created as CreateInferenceComponent would: on an
    existing endpoint whose variant has no model, naming an existing model, with at least one
    copy; DescribeInferenceComponent reads it, its stack's deletion deletes it."""

    # moto files every model class under the service named by its module's second part.
    __module__ = "moto.sagemaker.inference_component"

    def __init__(self, account_id: str, region_name: str, name: str, properties: dict[str, Any]) -> None:
        from moto.sagemaker.utils import arn_formatter

        self.name = name
        self.arn = arn_formatter("inference-component", name, account_id, region_name)
        self.endpoint_name = properties["EndpointName"]
        self.endpoint_arn = arn_formatter("endpoint", self.endpoint_name, account_id, region_name)
        self.variant_name = properties["VariantName"]
        self.specification = properties["Specification"]
        self.copies = int(properties["RuntimeConfig"]["CopyCount"])

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "InferenceComponentName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::InferenceComponent"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> FakeInferenceComponent:
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import sagemaker_backends

        properties = cloudformation_json["Properties"]
        backend = sagemaker_backends[account_id][region_name]
        endpoint = backend.endpoints.get(properties["EndpointName"])
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint '{properties['EndpointName']}'.")
        variants = backend.endpoint_configs[endpoint.endpoint_config_name].production_variants
        variant = next((v for v in variants if v["VariantName"] == properties.get("VariantName")), None)
        if variant is None:
            raise ValidationError(message=f"Could not find variant '{properties.get('VariantName')}'.")
        if "ModelName" in variant:
            # As the real service answers (hashicorp/terraform-provider-aws#40644).
            raise ValidationError(
                message="Inference Components are not supported in this Endpoint. "
                "Please make sure this endpoint can deploy inference components."
            )
        if properties["Specification"]["ModelName"] not in backend._models:
            raise ValidationError(message=f"Could not find model '{properties['Specification']['ModelName']}'.")
        if int(properties["RuntimeConfig"]["CopyCount"]) < 1:
            raise ValidationError(message="Inference components copy count an integer larger than 0")
        component = cls(account_id, region_name, properties.get("InferenceComponentName", resource_name), properties)
        _components(account_id, region_name)[component.name] = component
        return component

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        _components(account_id, region_name).pop(resource_name.rsplit("/", 1)[-1], None)

    def describe(self) -> dict[str, Any]:
        return {
            "InferenceComponentName": self.name,
            "InferenceComponentArn": self.arn,
            "EndpointName": self.endpoint_name,
            "EndpointArn": self.endpoint_arn,
            "VariantName": self.variant_name,
            "Specification": self.specification,
            "RuntimeConfig": {"DesiredCopyCount": self.copies, "CurrentCopyCount": self.copies},
            "InferenceComponentStatus": "InService",
        }


def _serve_inference_components() -> None:
    """DescribeInferenceComponent, which the rehearsal reads and watches disappear."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def describe_inference_component(self: SageMakerResponse) -> ActionResult:
        name = self._get_param("InferenceComponentName")
        component = _components(self.current_account, self.region).get(name)
        if component is None:
            raise ValidationError(message=f"Could not find inference component '{name}'.")
        return ActionResult(component.describe())

    SageMakerResponse.describe_inference_component = describe_inference_component  # type: ignore[attr-defined]


class ScalableTargetResource(CloudFormationModel):
    """AWS::ApplicationAutoScaling::ScalableTarget, registered with moto's Application Auto Scaling
    backend with its scheduled actions. Like RegisterScalableTarget, it refuses an inference
    component that does not exist; deleting it deregisters the target, and "deregistering a
    scalable target deletes the scaling policies and the scheduled actions that are associated
    with it" (API_DeregisterScalableTarget)."""

    __module__ = "moto.applicationautoscaling.scalable_target"

    def __init__(self, account_id: str, region_name: str, namespace: str, resource_id: str, dimension: str) -> None:
        self.account_id, self.region_name = account_id, region_name
        self.namespace, self.resource_id, self.dimension = namespace, resource_id, dimension

    @property
    def physical_resource_id(self) -> str:
        # What CloudFormation's Ref returns for a scalable target.
        return f"{self.resource_id}|{self.dimension}|{self.namespace}"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalableTarget"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> ScalableTargetResource:
        from moto.applicationautoscaling.exceptions import AWSValidationException
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        properties = cloudformation_json["Properties"]
        target = cls(
            account_id,
            region_name,
            properties["ServiceNamespace"],
            properties["ResourceId"],
            properties["ScalableDimension"],
        )
        component = target.resource_id.removeprefix(COMPONENT_PREFIX)
        if target.dimension == COPY_COUNT and component not in _components(account_id, region_name):
            raise AWSValidationException(f"Inference component {component} does not exist")
        backend = applicationautoscaling_backends[account_id][region_name]
        backend.register_scalable_target(
            target.namespace,
            target.resource_id,
            target.dimension,
            int(properties["MinCapacity"]),
            int(properties["MaxCapacity"]),
            properties.get("RoleARN", ""),
            properties.get("SuspendedState"),
        )
        for action in properties.get("ScheduledActions", []):
            backend.put_scheduled_action(
                target.namespace,
                action["Schedule"],
                action.get("Timezone", "UTC"),
                action["ScheduledActionName"],
                target.resource_id,
                target.dimension,
                action.get("StartTime"),
                action.get("EndTime"),
                action.get("ScalableTargetAction", {}),
            )
        return target

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        resource_id, dimension, namespace = resource_name.split("|")
        backend = applicationautoscaling_backends[account_id][region_name]
        backend.deregister_scalable_target(namespace, resource_id, dimension)
        backend.scheduled_actions = [
            action
            for action in backend.scheduled_actions
            if (action.resource_id, action.scalable_dimension) != (resource_id, dimension)
        ]


def _accept_the_copy_count_dimension() -> None:
    """Register- and DescribeScalableTargets accept "sagemaker:inference-component:DesiredCopyCount"
    for a resource "inference-component/<name>" (the scale-to-zero guide's register-scalable-target);
    moto's list of dimensions, checked by its backend and by its request parser, predates it."""
    from moto.applicationautoscaling import models as autoscaling
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    original = autoscaling._target_params_are_valid

    def target_params_are_valid(namespace: str, r_id: str, dimension: str) -> bool:
        if (namespace, dimension) == ("sagemaker", COPY_COUNT) and r_id.startswith(COMPONENT_PREFIX):
            return True
        return bool(original(namespace, r_id, dimension))

    autoscaling._target_params_are_valid = target_params_are_valid

    original_validate = ApplicationAutoScalingResponse._validate_params

    def validate_params(self: ApplicationAutoScalingResponse) -> None:
        if (self._get_param("ServiceNamespace"), self._get_param("ScalableDimension")) != ("sagemaker", COPY_COUNT):
            original_validate(self)

    ApplicationAutoScalingResponse._validate_params = validate_params  # type: ignore[method-assign]


def patch_inference_components() -> None:
    """Apply every patch above; CloudFormation's model registry is rebuilt to include the new types."""
    from moto.cloudformation import parsing

    _accept_variants_without_models()
    _serve_inference_components()
    _accept_the_copy_count_dimension()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
