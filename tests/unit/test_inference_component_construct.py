"""The endpoint hosting its model as an inference component, and the scaling to zero beside it,
each in a bare stack without the app's configuration: what the configuration, the component and
the scaling resources hold, and how they refer to each other."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from inf2_llm.components.component_scaling import ScaleToZero
from inf2_llm.components.endpoint_hosting import EndpointHosting, ModelInVariant
from inf2_llm.components.inference_component import NAME_LIMIT, InferenceComponentHosting
from inf2_llm.components.model_endpoint import ModelEndpoint
from inf2_llm.components.model_source import HubModel, ModelSource
from inf2_llm.parsers import inferentia2_devices
from inf2_llm.runtimes import VLLM
from tests.unit.endpoint_parts import (
    COMPILATION,
    HUB_ID,
    IMAGE,
    SETTINGS,
    artifact_source,
    bare_stack,
    logical_id,
    the_one,
)

SCALE_TO_ZERO = replace(SETTINGS, scale_to_zero=True)
# CreateInferenceComponent: "Pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$".
NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"


def _hosting(devices: int = 1, ami: str | None = None) -> InferenceComponentHosting:
    return InferenceComponentHosting(settings=SCALE_TO_ZERO, inference_ami_version=ami, accelerator_devices=devices)


def _endpoint(stack: cdk.Stack, hosting: EndpointHosting, model: ModelSource | None = None) -> ModelEndpoint:
    return ModelEndpoint(
        stack,
        "Model",
        hosting=hosting,
        runtime=VLLM,
        image=IMAGE,
        compilation=COMPILATION,
        key=kms.Key(stack, "Key"),
        model=model or HubModel(model_id=HUB_ID, revision=None),
    )


def _text(resource: Any) -> str:
    """An ARN as the template holds it, its tokens (partition) left out."""
    if isinstance(resource, str):
        return resource
    return "".join(part for part in resource["Fn::Join"][1] if isinstance(part, str))


def _component(template: Template) -> tuple[str, dict[str, Any]]:
    return the_one(template, "AWS::SageMaker::InferenceComponent")


def test_configuration_has_no_model_and_lets_instances_scale_to_zero() -> None:
    """An endpoint can take inference components only if its variant names no model; it scales to
    zero instances only with ManagedInstanceScaling's minimum at 0. Without a model, the
    configuration itself names the role and the key, and the runtime's AMI stays on the variant."""
    stack = bare_stack()
    endpoint = _endpoint(stack, _hosting(ami=VLLM.inference_ami_version))
    template = Template.from_stack(stack)
    _, config = the_one(template, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["Properties"]["ProductionVariants"]
    assert "ModelName" not in variant and "InitialVariantWeight" not in variant
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 3}
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    assert variant["InferenceAmiVersion"] == "al2-ami-sagemaker-inference-neuron-2"
    assert (variant["InstanceType"], variant["InitialInstanceCount"], variant["VolumeSizeInGB"]) == (
        "ml.inf2.xlarge",
        1,
        64,
    )
    assert config["Properties"]["ExecutionRoleArn"] == {"Fn::GetAtt": [logical_id(endpoint.role), "Arn"]}
    assert config["Properties"]["KmsKeyId"]["Fn::GetAtt"][1] == "Arn"
    # The role's policy (image pull, logs) must exist before SageMaker acts as the role.
    assert config["DependsOn"] == [logical_id(endpoint.role.node.find_child("DefaultPolicy"))]


@pytest.mark.parametrize(("isolated", "source"), [(False, "hub"), (True, "s3")])
def test_configuration_isolates_the_containers_as_the_source_asks(isolated: bool, source: str) -> None:
    """The variant has no model whose isolation would apply: the configuration carries the model
    source's choice, on for a model copied from S3 and off for one the container downloads."""
    stack = bare_stack()
    _endpoint(stack, _hosting(), artifact_source(stack) if source == "s3" else None)
    template = Template.from_stack(stack)
    _, config = the_one(template, "AWS::SageMaker::EndpointConfig")
    _, model = the_one(template, "AWS::SageMaker::Model")
    assert config["Properties"]["EnableNetworkIsolation"] is isolated
    assert model["Properties"]["EnableNetworkIsolation"] is isolated


def test_component_runs_the_model_on_the_endpoint_with_its_devices_and_timeouts() -> None:
    """The component names the endpoint, its variant and the SageMaker model; each copy reserves
    whole Inferentia2 devices, CPU and memory that fit an ml.inf2.xlarge, and gets the endpoint's
    download and health-check timeouts; the deploy starts one copy."""
    stack = bare_stack()
    endpoint = _endpoint(stack, _hosting(devices=6))
    template = Template.from_stack(stack)
    component_id, component = _component(template)
    properties = component["Properties"]
    assert properties["EndpointName"] == {"Fn::GetAtt": [logical_id(endpoint.endpoint), "EndpointName"]}
    assert properties["VariantName"] == "AllTraffic"
    specification = properties["Specification"]
    assert specification["ModelName"] == {"Fn::GetAtt": [logical_id(endpoint.model), "ModelName"]}
    assert specification["ComputeResourceRequirements"] == {
        "NumberOfAcceleratorDevicesRequired": 6,
        "NumberOfCpuCoresRequired": 2,
        "MinMemoryRequiredInMb": 8192,
    }
    assert specification["StartupParameters"] == {
        "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
        "ModelDataDownloadTimeoutInSeconds": 1800,
    }
    assert properties["RuntimeConfig"] == {"CopyCount": 1}
    assert endpoint.ready is endpoint.node.find_child("Component")
    assert logical_id(endpoint.ready) == component_id


def test_devices_are_the_chips_the_cores_sit_on() -> None:
    """NumberOfAcceleratorDevicesRequired counts Inferentia devices, two Neuron cores each: the
    guide's two cores are the one device of an ml.inf2.xlarge, and an odd core still takes a chip."""
    assert [inferentia2_devices(cores) for cores in (1, 2, 4, 12, 24)] == [1, 1, 2, 6, 12]


def test_callers_name_the_component_by_a_name_the_service_accepts() -> None:
    """InvokeEndpoint, scaling and alarms name the component; the name is fixed at synth, within
    the 63 characters and the pattern the API allows even under a long stack name, and differs
    between stacks, since names are unique per account and region."""
    names = []
    for stack_name in ("Inf2Llm-dev-Serving", "Inf2Llm-dev-Serving-" + "x" * 90):
        stack = bare_stack(stack_name)
        endpoint = _endpoint(stack, _hosting())
        _, component = _component(Template.from_stack(stack))
        name = component["Properties"]["InferenceComponentName"]
        assert name == endpoint.inference_component_name
        assert len(name) <= NAME_LIMIT
        assert re.fullmatch(NAME_PATTERN, name), name
        names.append(name)
    assert names[0] != names[1]


def test_metrics_and_logs_are_the_components() -> None:
    """A component's invocations are counted under its own dimension, and its containers log to
    a group of their own: the endpoint's role may write there, and only there beside the
    endpoint's groups."""
    stack = bare_stack()
    endpoint = _endpoint(stack, _hosting())
    name = endpoint.inference_component_name
    metric = stack.resolve(endpoint.metric("Invocation5XXErrors", statistic="Sum").dimensions)
    assert metric == {"InferenceComponentName": name}
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    resources = [
        _text(resource).partition(":log-group:")[2]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "logs:PutLogEvents" in statement["Action"]
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    ]
    assert resources == [
        "/aws/sagemaker/Endpoints/*",
        f"/aws/sagemaker/InferenceComponents/{name}",
        f"/aws/sagemaker/InferenceComponents/{name}:*",
    ]


def test_a_change_to_the_component_is_a_change_to_what_is_served() -> None:
    """The smoke test runs again when the digest changes: a component that reserves other devices
    serves differently, though model and endpoint configuration stay the same."""
    digests = []
    for devices in (1, 1, 2):
        stack = bare_stack()
        digests.append(_endpoint(stack, _hosting(devices=devices)).configuration_digest)
    assert digests[0] == digests[1] != digests[2]


def _scaled(warm_hours: tuple[int, int] | None = None) -> tuple[Template, ModelEndpoint, ScaleToZero]:
    stack = bare_stack()
    endpoint = _endpoint(stack, _hosting())
    scaling = ScaleToZero(
        stack,
        "ScaleToZero",
        endpoint=endpoint,
        max_copies=3,
        invocations_per_copy=20,
        warm_hours=warm_hours,
        warm_timezone="Asia/Seoul",
    )
    return Template.from_stack(stack), endpoint, scaling


def test_component_is_a_scalable_target_from_zero_copies() -> None:
    """Scaling to zero is the component's copy count with minimum 0; registering it needs the
    component to exist, so the target depends on it, and target tracking follows invocations per
    copy, the metric SageMaker's scale-to-zero guide uses."""
    template, endpoint, _ = _scaled()
    component_id, _ = _component(template)
    target_id, target = the_one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["Properties"]["ResourceId"] == f"inference-component/{endpoint.inference_component_name}"
    assert target["Properties"]["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (0, 3)
    assert component_id in target["DependsOn"]
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "ScalingTargetId": {"Ref": target_id},
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
                },
                "TargetValue": 20,
                "ScaleInCooldown": 1800,
                "ScaleOutCooldown": 300,
            },
        },
    )


def test_one_request_that_finds_no_copy_adds_one() -> None:
    """From zero copies target tracking has nothing to track: SageMaker counts a request that
    found no copy in NoCapacityInvocationFailures, and one such request in a minute fires the
    alarm whose only action is the step policy adding a copy; it pages no one."""
    template, endpoint, scaling = _scaled()
    target_id, _ = the_one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    steps = template.find_resources(
        "AWS::ApplicationAutoScaling::ScalingPolicy", {"Properties": {"PolicyType": "StepScaling"}}
    )
    ((step_id, step),) = steps.items()
    assert step["Properties"]["ScalingTargetId"] == {"Ref": target_id}
    assert step["Properties"]["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity",
        "MetricAggregationType": "Maximum",
        "Cooldown": 60,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
    }
    ((_, alarm),) = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "NoCapacityInvocationFailures"}}
    ).items()
    properties = dict(alarm["Properties"])
    assert "scale out from zero" in properties.pop("AlarmDescription")
    assert properties == {
        "Namespace": "AWS/SageMaker",
        "MetricName": "NoCapacityInvocationFailures",
        "Dimensions": [{"Name": "InferenceComponentName", "Value": endpoint.inference_component_name}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": step_id}],
    }
    assert scaling.scale_from_zero_alarm.node.scope is scaling


def test_warm_hours_raise_the_floor_on_weekdays_in_their_time_zone() -> None:
    """Warm hours are two scheduled actions on the target: at the start the floor becomes one copy
    (Application Auto Scaling then adds it), at the end zero again, Monday to Friday, in the
    configured zone; without warm hours there is no schedule."""
    template, _, _ = _scaled(warm_hours=(9, 18))
    _, target = the_one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    actions = sorted(target["Properties"]["ScheduledActions"], key=lambda action: action["Schedule"])
    assert [(action["Schedule"], action["ScalableTargetAction"], action["Timezone"]) for action in actions] == [
        ("cron(0 18 ? * MON-FRI *)", {"MinCapacity": 0}, "Asia/Seoul"),
        ("cron(0 9 ? * MON-FRI *)", {"MinCapacity": 1}, "Asia/Seoul"),
    ]
    cold, _, _ = _scaled()
    assert "ScheduledActions" not in the_one(cold, "AWS::ApplicationAutoScaling::ScalableTarget")[1]["Properties"]


def test_only_an_endpoint_with_a_component_scales_to_zero() -> None:
    """A classic endpoint's variant has no copies to scale; asking for it is a programming error,
    reported at synth rather than as a scalable target that names nothing."""
    stack = bare_stack()
    endpoint = _endpoint(stack, ModelInVariant(settings=SETTINGS, inference_ami_version=None))
    assert endpoint.inference_component_name is None
    with pytest.raises(ValueError, match="inference component"):
        ScaleToZero(
            stack,
            "ScaleToZero",
            endpoint=endpoint,
            max_copies=2,
            invocations_per_copy=20,
            warm_hours=None,
            warm_timezone="UTC",
        )
