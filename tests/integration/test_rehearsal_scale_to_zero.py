"""The deploy/destroy rehearsal with `scale_to_zero=true`: the real CDK CLI deploys the endpoint
that hosts the model as an inference component into moto, boto3 reads the endpoint
configuration, the component and its scalable target, and `cdk destroy` must leave none of them.

Two configurations: the Hub model on TGI with a copy kept warm in working hours, and a model
compiled into S3, served in network isolation. moto has no inference components and no
CloudFormation support for scalable targets; moto_inference_components.py adds both, with the
checks the real services make. Scaling policies and alarms are not created by moto's
CloudFormation; the template tests check them (tests/unit/test_scale_to_zero.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.guide import GUIDE_IMAGE, GUIDE_INSTANCE_TYPE
from tests.integration.conftest import CliRun
from tests.integration.rehearsal import STACK_PREFIX, STACKS, Rehearsal, rehearse

pytestmark = pytest.mark.integration

CONFIGURATIONS = {
    "scale-to-zero-hub-warm": {"scale_to_zero": "true", "warm_hours": "09-18", "warm_timezone": "Asia/Seoul"},
    "scale-to-zero-compile": {"scale_to_zero": "true", "model_source": "compile"},
}
COPY_COUNT = "sagemaker:inference-component:DesiredCopyCount"


def _capture_deployed(aws: Callable[[str], Any], rehearsal: Rehearsal) -> None:
    """The endpoint, its configuration, the component named by the stack's output, the model it
    names, and the component's scalable target with its scheduled actions."""
    sagemaker, autoscaling = aws("sagemaker"), aws("application-autoscaling")
    seen = rehearsal.seen
    seen["endpoint"] = sagemaker.describe_endpoint(EndpointName=rehearsal.output("Serving", "EndpointName"))
    seen["endpoint_config"] = sagemaker.describe_endpoint_config(
        EndpointConfigName=seen["endpoint"]["EndpointConfigName"]
    )
    seen["component"] = sagemaker.describe_inference_component(
        InferenceComponentName=rehearsal.output("Serving", "InferenceComponentName")
    )
    seen["model"] = sagemaker.describe_model(ModelName=seen["component"]["Specification"]["ModelName"])
    resource_id = f"inference-component/{seen['component']['InferenceComponentName']}"
    seen["scalable_targets"] = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id]
    )["ScalableTargets"]
    seen["scheduled_actions"] = autoscaling.describe_scheduled_actions(
        ServiceNamespace="sagemaker", ResourceId=resource_id
    )["ScheduledActions"]


@pytest.fixture(scope="module", params=CONFIGURATIONS)
def rehearsal(
    request: pytest.FixtureRequest,
    bootstrapped: CliRun,
    cdk_cli: Callable[..., CliRun],
    aws: Callable[[str], Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Rehearsal:
    """Deploy one configuration, read everything, destroy, read what is left."""
    return rehearse(
        request.param,
        CONFIGURATIONS[request.param],
        cdk_cli=cdk_cli,
        aws=aws,
        tmp_path_factory=tmp_path_factory,
        capture_deployed=_capture_deployed,
    )


def test_deploy_creates_every_stack_and_outputs_the_components_name(rehearsal: Rehearsal) -> None:
    """Callers must name the component in InvokeEndpoint: the serving stack outputs it beside the
    endpoint's name, and every stack is created through change sets as `cdk deploy` creates it."""
    assert rehearsal.stack_status == {name: "CREATE_COMPLETE" for name in STACKS}
    assert set(rehearsal.outputs[f"{STACK_PREFIX}Serving"]) >= {"EndpointName", "InferenceComponentName"}


def test_endpoint_config_has_no_model_and_lets_instances_go_to_zero(rehearsal: Rehearsal) -> None:
    """An inference component can only be deployed to an endpoint whose variant names no model,
    and only ManagedInstanceScaling's minimum of 0 lets the instances go; the configuration names
    the model's role and isolates the containers when the model comes from S3."""
    config = rehearsal.seen["endpoint_config"]
    (variant,) = config["ProductionVariants"]
    assert "ModelName" not in variant
    assert variant["InstanceType"] == GUIDE_INSTANCE_TYPE
    assert variant["ManagedInstanceScaling"] == {
        "Status": "ENABLED",
        "MinInstanceCount": 0,
        "MaxInstanceCount": rehearsal.config.endpoint.autoscaling_max_instances,
    }
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    assert config["ExecutionRoleArn"] == rehearsal.seen["model"]["ExecutionRoleArn"]
    assert config["EnableNetworkIsolation"] is rehearsal.config.serves_from_s3
    assert config["KmsKeyId"] == rehearsal.output("Storage", "ArtifactKeyArn")
    assert rehearsal.seen["endpoint"]["EndpointStatus"] == "InService"


def test_component_runs_the_guides_model_on_that_endpoint(rehearsal: Rehearsal) -> None:
    """The component sits on the deployed endpoint's variant and runs the stack's model (the
    guide's image) with one Inferentia2 device and the endpoint's timeouts; the deploy starts
    one copy, which scaling later takes to zero."""
    component = rehearsal.seen["component"]
    assert component["EndpointName"] == rehearsal.seen["endpoint"]["EndpointName"]
    assert component["VariantName"] == "AllTraffic"
    assert component["InferenceComponentStatus"] == "InService"
    assert component["RuntimeConfig"]["DesiredCopyCount"] == 1
    specification = component["Specification"]
    assert specification["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"] == 1
    settings = rehearsal.config.endpoint
    assert specification["StartupParameters"] == {
        "ContainerStartupHealthCheckTimeoutInSeconds": settings.startup_timeout_seconds,
        "ModelDataDownloadTimeoutInSeconds": settings.download_timeout_seconds,
    }
    model = rehearsal.seen["model"]
    assert model["PrimaryContainer"]["Image"] == GUIDE_IMAGE
    assert model["EnableNetworkIsolation"] is rehearsal.config.serves_from_s3


def test_component_is_registered_to_scale_between_zero_and_the_ceiling(rehearsal: Rehearsal) -> None:
    """Application Auto Scaling knows the component's copy count as a target from 0 to the
    configured ceiling; with warm hours it holds the two weekday actions in their time zone."""
    (target,) = rehearsal.seen["scalable_targets"]
    assert target["ScalableDimension"] == COPY_COUNT
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, rehearsal.config.endpoint.autoscaling_max_instances)
    actions = {
        action["Schedule"]: (action["ScalableTargetAction"], action["Timezone"])
        for action in rehearsal.seen["scheduled_actions"]
    }
    if rehearsal.config.endpoint.warm_hours:
        assert actions == {
            "cron(0 9 ? * MON-FRI *)": ({"MinCapacity": 1}, "Asia/Seoul"),
            "cron(0 18 ? * MON-FRI *)": ({"MinCapacity": 0}, "Asia/Seoul"),
        }
    else:
        assert actions == {}


def test_cdk_destroy_leaves_no_component_target_or_other_resource(rehearsal: Rehearsal) -> None:
    """A dev teardown must take the component and its scalable target with the endpoint: a
    registration left behind would name a component that no longer exists, and every resource
    type of the app has a check, so a new type is noticed."""
    assert rehearsal.destroy is not None
    assert rehearsal.stacks_left == {}
    observed_types = {r.type for r in rehearsal.resources}
    assert observed_types >= {
        "AWS::SageMaker::InferenceComponent",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
    }
    assert rehearsal.unobserved_types == set()
    assert [f"{r.stack} {r.logical_id} {r.type} {r.physical_id}" for r in rehearsal.resources_left] == []
