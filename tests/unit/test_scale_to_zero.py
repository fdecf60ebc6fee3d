"""`scale_to_zero=true` in the synthesized app: the serving stack's endpoint hosts the model as an
inference component that scales to zero and back, the alarms and callers follow the component,
and the classic endpoint stays what it was without the key."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

from inf2_llm.config import load_config
from stacks.llm_stage import LlmStage
from tests.unit.conftest import ACCOUNT, HUB, REGION, SCALE_TO_ZERO, SCALE_TO_ZERO_VLLM

SERVING = "Inf2Llm-dev-Serving"
CONFIGURATIONS = {"tgi-hub": SCALE_TO_ZERO, "vllm-s3-warm": SCALE_TO_ZERO_VLLM}


def _the(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = template.find_resources(resource_type).items()
    return logical_id, resource


@pytest.fixture(params=CONFIGURATIONS, scope="module")
def serving(request: pytest.FixtureRequest, synth) -> tuple[dict[str, str], Template]:
    overrides = CONFIGURATIONS[request.param]
    return overrides, synth(overrides).template(SERVING)


def test_every_resource_of_the_component_endpoint_names_the_next(serving) -> None:
    """The chain a request and a scale-out travel: the endpoint runs a configuration without a
    model, the component names that endpoint and the stack's model, the scalable target names the
    component (and waits for it), both policies act on the target, and the no-capacity alarm acts
    on the step policy. A broken link deploys, then never scales or never serves."""
    _, template = serving
    model_id, _ = _the(template, "AWS::SageMaker::Model")
    config_id, config = _the(template, "AWS::SageMaker::EndpointConfig")
    endpoint_id, endpoint = _the(template, "AWS::SageMaker::Endpoint")
    component_id, component = _the(template, "AWS::SageMaker::InferenceComponent")
    target_id, target = _the(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert endpoint["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    (variant,) = config["Properties"]["ProductionVariants"]
    assert "ModelName" not in variant
    assert component["Properties"]["EndpointName"] == {"Fn::GetAtt": [endpoint_id, "EndpointName"]}
    assert component["Properties"]["Specification"]["ModelName"] == {"Fn::GetAtt": [model_id, "ModelName"]}
    name = component["Properties"]["InferenceComponentName"]
    assert target["Properties"]["ResourceId"] == f"inference-component/{name}"
    assert component_id in target["DependsOn"]
    policies = template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy")
    assert sorted(policy["Properties"]["PolicyType"] for policy in policies.values()) == [
        "StepScaling",
        "TargetTrackingScaling",
    ]
    # One target only (`_the`): autoscaling=true, which one configuration gives, adds none on the variant.
    assert all(policy["Properties"]["ScalingTargetId"] == {"Ref": target_id} for policy in policies.values())
    (step_id,) = [key for key, policy in policies.items() if policy["Properties"]["PolicyType"] == "StepScaling"]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "NoCapacityInvocationFailures",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": name}],
            "AlarmActions": [{"Ref": step_id}],
        },
    )


def test_instances_and_copies_share_the_ceiling(serving) -> None:
    """One copy per instance: autoscaling_max_instances bounds SageMaker's instances and the
    component's copies alike, and both go down to zero."""
    overrides, template = serving
    ceiling = int(overrides.get("autoscaling_max_instances", 2))
    _, config = _the(template, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["Properties"]["ProductionVariants"]
    assert variant["ManagedInstanceScaling"] == {
        "Status": "ENABLED",
        "MinInstanceCount": 0,
        "MaxInstanceCount": ceiling,
    }
    _, target = _the(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (0, ceiling)


def test_each_runtime_and_source_keeps_what_it_needs(synth) -> None:
    """vLLM's AMI stays on the variant (its image needs the Neuron driver it brings); a model from
    S3 runs isolated and a Hub model does not, now on the configuration, which has no model."""
    hub = synth(SCALE_TO_ZERO).template(SERVING)
    vllm = synth(SCALE_TO_ZERO_VLLM).template(SERVING)
    for template, ami, isolated in ((hub, None, False), (vllm, "al2-ami-sagemaker-inference-neuron-2", True)):
        _, config = _the(template, "AWS::SageMaker::EndpointConfig")
        (variant,) = config["Properties"]["ProductionVariants"]
        assert variant.get("InferenceAmiVersion") == ami
        assert config["Properties"]["EnableNetworkIsolation"] is isolated
        template.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": isolated})
        assert config["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0].startswith("ModelRole")


def test_alarms_watch_the_component_and_page_the_topic(serving) -> None:
    """The variant of such an endpoint reports no invocation metrics of the model; errors and
    latency are watched on the component, and still page the environment's topic, while the
    no-capacity alarm only scales."""
    _, template = serving
    _, component = _the(template, "AWS::SageMaker::InferenceComponent")
    dimensions = [{"Name": "InferenceComponentName", "Value": component["Properties"]["InferenceComponentName"]}]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    paging = {a["Properties"]["MetricName"]: a for a in alarms.values() if "OKActions" in a["Properties"]}
    assert sorted(paging) == ["Invocation5XXErrors", "InvocationModelErrors", "ModelLatency"]
    for alarm in paging.values():
        assert alarm["Properties"]["Dimensions"] == dimensions
        assert "AlarmsTopic" in alarm["Properties"]["AlarmActions"][0]["Fn::ImportValue"]
    assert len(alarms) == len(paging) + 1


def test_warm_hours_only_where_asked(synth) -> None:
    """A warm copy costs an instance-hour every working hour: only the configuration that asks
    for it gets the schedule, in the zone it gave."""
    _, cold = _the(synth(SCALE_TO_ZERO).template(SERVING), "AWS::ApplicationAutoScaling::ScalableTarget")
    assert "ScheduledActions" not in cold["Properties"]
    _, warm = _the(synth(SCALE_TO_ZERO_VLLM).template(SERVING), "AWS::ApplicationAutoScaling::ScalableTarget")
    schedules = {
        a["Schedule"]: (a["ScalableTargetAction"], a["Timezone"]) for a in warm["Properties"]["ScheduledActions"]
    }
    assert schedules == {
        "cron(0 9 ? * MON-FRI *)": ({"MinCapacity": 1}, "Asia/Seoul"),
        "cron(0 18 ? * MON-FRI *)": ({"MinCapacity": 0}, "Asia/Seoul"),
    }


def test_callers_get_the_components_name(serving) -> None:
    """InvokeEndpoint on such an endpoint must name the component: the stack outputs it, the smoke
    Lambda's environment carries it, and the deploy's smoke run waits for the component, not just
    the endpoint, to be in service."""
    _, template = serving
    component_id, component = _the(template, "AWS::SageMaker::InferenceComponent")
    name = component["Properties"]["InferenceComponentName"]
    template.has_output("InferenceComponentName", {"Value": name})
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"INFERENCE_COMPONENT_NAME": name})}},
    )
    for trigger in template.find_resources("Custom::Trigger").values():
        assert component_id in trigger["DependsOn"]
    # The smoke function may invoke the endpoint and its component, both named exactly.
    (function_role,) = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("SmokeTestRole")
    ]
    (invoke,) = [statement for statement in function_role if statement["Action"] == "sagemaker:InvokeEndpoint"]
    resources = [json.dumps(resource) for resource in invoke["Resource"]]
    assert len(resources) == 2
    assert any('"Ref": "ModelEndpoint' in resource for resource in resources)
    assert any(f":inference-component/{name}" in resource for resource in resources)


def test_the_classic_endpoint_names_no_component(synth) -> None:
    """Without scale_to_zero nothing changes for callers: no component, no output and no
    environment variable that would name one."""
    template = synth(HUB).template(SERVING)
    template.resource_count_is("AWS::SageMaker::InferenceComponent", 0)
    assert "InferenceComponentName" not in template.find_outputs("*")
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "handler.handler"}}
    ).values()
    assert "INFERENCE_COMPONENT_NAME" not in function["Properties"]["Environment"]["Variables"]


def test_the_pipelines_stage_re_exposes_the_components_name() -> None:
    """The pipeline's post-deploy step reads a stage's outputs: the stage offers the component's
    name beside the endpoint's when the endpoint hosts one, and nothing otherwise."""
    environment = {"account": ACCOUNT, "region": REGION}
    app = App()
    scaled = LlmStage(app, "Scaled", config=load_config({**SCALE_TO_ZERO, **environment}))
    classic = LlmStage(app, "Classic", config=load_config(environment))
    assert classic.inference_component_name_output is None
    output = scaled.inference_component_name_output
    assert output is not None
    name = Stack.of(output).resolve(output.value)
    assert re.fullmatch(r"ScaledInf2LlmServing-Model-Component-[0-9A-F]{8}", name)
