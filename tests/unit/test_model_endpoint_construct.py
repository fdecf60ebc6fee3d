"""The endpoint's constructs on their own, each in a bare stack without the app's configuration:
what a model source gives the model, what `grant_invoke` grants, and the alarms and scaling the
serving stack adds in the endpoint's scope."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from inf2_llm.components.endpoint_alarms import add_endpoint_alarms
from inf2_llm.components.endpoint_autoscaling import add_endpoint_autoscaling
from inf2_llm.components.endpoint_hosting import ModelInVariant
from inf2_llm.components.model_endpoint import ModelEndpoint
from inf2_llm.components.model_source import BoundModelSource, HubModel, ModelSource
from inf2_llm.config import EndpointSettings
from inf2_llm.runtimes import TGI
from tests.unit.endpoint_parts import (
    COMPILATION,
    HUB_ID,
    IMAGE,
    REVISION,
    SETTINGS,
    artifact_source,
    bare_stack,
    logical_id,
    the_one,
)


def _endpoint(stack: cdk.Stack, model: ModelSource, settings: EndpointSettings = SETTINGS) -> ModelEndpoint:
    return ModelEndpoint(
        stack,
        "Model",
        hosting=ModelInVariant(settings=settings, inference_ami_version=TGI.inference_ami_version),
        runtime=TGI,
        image=IMAGE,
        compilation=COMPILATION,
        key=kms.Key(stack, "Key"),
        model=model,
    )


def _endpoint_role(template: Template) -> dict[str, Any]:
    ((_, role),) = template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
                }
            }
        },
    ).items()
    return role


def test_hub_source_lets_the_container_download_its_pinned_model() -> None:
    """A Hub model reaches the container as its id and revision, with no data source; the container
    must reach the Hub, so isolation is off, and the checkov finding that says so is acknowledged
    on the model with the source's reason."""
    stack = bare_stack()
    _endpoint(stack, HubModel(model_id=HUB_ID, revision=REVISION))
    template = Template.from_stack(stack)
    _, model = the_one(template, "AWS::SageMaker::Model")
    container = model["Properties"]["PrimaryContainer"]
    assert container["Environment"]["HF_MODEL_ID"] == HUB_ID
    assert container["Environment"]["HF_MODEL_REVISION"] == REVISION
    assert "ModelDataSource" not in container
    assert model["Properties"]["EnableNetworkIsolation"] is False
    [skip] = model["Metadata"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_370" and "Hugging Face Hub" in skip["comment"]
    assert "ManagedPolicyArns" not in _endpoint_role(template)["Properties"], "a Hub model reads no bucket"


def test_artifact_source_is_copied_from_s3_and_served_isolated() -> None:
    """An S3 artifact is copied uncompressed into the directory the container loads from, so the
    container needs no network; the endpoint's role gets the source's reader policy, and nothing
    is acknowledged because nothing is excused."""
    stack = bare_stack()
    artifact = artifact_source(stack)
    _endpoint(stack, artifact)
    template = Template.from_stack(stack)
    _, model = the_one(template, "AWS::SageMaker::Model")
    container = model["Properties"]["PrimaryContainer"]
    assert container["Environment"]["HF_MODEL_ID"] == "/opt/ml/model"
    assert "HF_MODEL_REVISION" not in container["Environment"]
    source = container["ModelDataSource"]["S3DataSource"]
    assert (source["S3DataType"], source["CompressionType"]) == ("S3Prefix", "None")
    assert source["S3Uri"]["Fn::Join"][1][-1] == "/models/example/0123456789ab/"
    assert model["Properties"]["EnableNetworkIsolation"] is True
    assert "checkov" not in model.get("Metadata", {})
    reader_id = logical_id(artifact.reader)
    assert _endpoint_role(template)["Properties"]["ManagedPolicyArns"] == [{"Ref": reader_id}]


class _ExampleSource(ModelSource):
    """A source the endpoint has never heard of: what it binds must reach the model unchanged."""

    def __init__(self) -> None:
        self.bound_role: iam.IRole | None = None

    def bind(self, scope: Any, role: iam.IRole) -> BoundModelSource:
        self.bound_role = role
        return BoundModelSource(
            model="/opt/ml/model/example",
            revision=None,
            data_source=None,
            network_isolation=True,
            checkov_skips={"CKV_AWS_999": "an example reason"},
        )


def test_any_model_source_binds_to_the_endpoints_role() -> None:
    """The endpoint takes model, isolation and acknowledgments from whatever source it is given,
    and binds it to its own execution role: adding a source needs no change to the endpoint."""
    stack = bare_stack()
    source = _ExampleSource()
    endpoint = _endpoint(stack, source)
    assert source.bound_role is endpoint.role
    _, model = the_one(Template.from_stack(stack), "AWS::SageMaker::Model")
    assert model["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_ID"] == "/opt/ml/model/example"
    assert model["Properties"]["EnableNetworkIsolation"] is True
    assert model["Metadata"]["checkov"]["skip"] == [{"id": "CKV_AWS_999", "comment": "an example reason"}]


def test_grant_invoke_gives_exactly_invoke_on_this_endpoint() -> None:
    """A caller granted the endpoint may call it and nothing else: one action, on this endpoint's
    ARN (its Ref), not on every endpoint of the account."""
    stack = bare_stack()
    endpoint = _endpoint(stack, HubModel(model_id=HUB_ID, revision=None))
    caller = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    endpoint.grant_invoke(caller)
    template = Template.from_stack(stack)
    endpoint_id, _ = the_one(template, "AWS::SageMaker::Endpoint")
    caller_id = logical_id(caller)
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": caller_id}]}})
    statements = [s for policy in policies.values() for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert statements == [{"Action": "sagemaker:InvokeEndpoint", "Effect": "Allow", "Resource": {"Ref": endpoint_id}}]


def test_invoke_statement_covers_the_endpoints_of_one_account_and_region() -> None:
    """A caller that cannot reference the endpoint (the pipeline's smoke step: another stage's
    stack, a name generated at deploy) gets the same one action, on the endpoints of the given
    account and region only."""
    stack = bare_stack()
    endpoints = ModelEndpoint.endpoints_arn(stack, account="210987654321", region="eu-central-1")
    statement = stack.resolve(ModelEndpoint.invoke_statement([endpoints]).to_statement_json())
    assert statement == {
        "Action": "sagemaker:InvokeEndpoint",
        "Effect": "Allow",
        "Resource": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sagemaker:eu-central-1:210987654321:endpoint/*"]]
        },
    }


def _alarmed_endpoint() -> tuple[cdk.Stack, ModelEndpoint, sns.Topic, list[Any]]:
    stack = bare_stack()
    endpoint = _endpoint(stack, HubModel(model_id=HUB_ID, revision=None))
    topic = sns.Topic(stack, "Topic")
    alarms = add_endpoint_alarms(endpoint, topic=topic, latency_alarm_seconds=45)
    return stack, endpoint, topic, alarms


def test_alarms_watch_the_endpoints_variant_and_tell_the_topic_both_ways() -> None:
    """Errors and latency are watched on this endpoint's one variant (a metric with another
    dimension set would never have data), and each alarm tells the topic when it fires and when
    it clears."""
    stack, endpoint, topic, _ = _alarmed_endpoint()
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    endpoint_id, _ = the_one(template, "AWS::SageMaker::Endpoint")
    topic_ref = {"Ref": logical_id(topic)}
    dimensions = [
        {"Name": "EndpointName", "Value": {"Fn::GetAtt": [endpoint_id, "EndpointName"]}},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    for metric, statistic in (
        ("Invocation5XXErrors", "Sum"),
        ("InvocationModelErrors", "Sum"),
        ("ModelLatency", "Average"),
    ):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/SageMaker",
                "MetricName": metric,
                "Statistic": statistic,
                "Dimensions": dimensions,
                "AlarmActions": [topic_ref],
                "OKActions": [topic_ref],
            },
        )


def test_latency_alarm_threshold_is_in_microseconds() -> None:
    """ModelLatency is reported in microseconds ("Units: Microseconds",
    https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html): a threshold in
    seconds would fire on every request."""
    stack, *_ = _alarmed_endpoint()
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ModelLatency", "Threshold": 45_000_000, "EvaluationPeriods": 3}
    )


def test_alarms_are_children_of_the_endpoint() -> None:
    """A CloudFormation logical ID derives from the construct path: created in the endpoint's own
    scope, the alarms keep the IDs a deployed stack has (ModelServerErrorsAlarm..., and so on), so
    an update modifies them instead of replacing them."""
    stack, endpoint, _, alarms = _alarmed_endpoint()
    assert all(alarm.node.scope is endpoint for alarm in alarms)
    logical_ids = [logical_id(alarm) for alarm in alarms]
    assert [re.sub("[0-9A-F]{8}$", "", logical_id) for logical_id in logical_ids] == [
        "ModelServerErrorsAlarm",
        "ModelModelErrorsAlarm",
        "ModelLatencyAlarm",
    ]


def test_autoscaling_tracks_invocations_of_the_endpoints_variant() -> None:
    """The scalable target is this endpoint's variant, bounded as asked; the policy tracks
    invocations per instance and scales in slowly, since an inf2 instance takes many minutes to
    come into service. Created in the endpoint's scope, the target keeps its logical ID."""
    stack = bare_stack()
    endpoint = _endpoint(stack, HubModel(model_id=HUB_ID, revision=None))
    target = add_endpoint_autoscaling(endpoint, min_instances=1, max_instances=3, invocations_per_instance=20)
    template = Template.from_stack(stack)
    endpoint_id, _ = the_one(template, "AWS::SageMaker::Endpoint")
    target_id, scalable = the_one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target.node.scope is endpoint and target_id.startswith("ModelScalableTarget")
    assert scalable["Properties"]["ResourceId"] == {
        "Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, "/variant/AllTraffic"]]
    }
    assert scalable["Properties"]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (scalable["Properties"]["MinCapacity"], scalable["Properties"]["MaxCapacity"]) == (1, 3)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "ScalingTargetId": {"Ref": target_id},
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "TargetValue": 20,
                "ScaleInCooldown": 1800,
                "ScaleOutCooldown": 300,
            },
        },
    )


@pytest.mark.parametrize("autoscaled", [False, True])
def test_endpoint_alone_has_no_alarms_or_scaling(autoscaled: bool) -> None:
    """The endpoint construct is model, configuration and endpoint: alarms and scaling exist only
    where the stack adds them, whatever the settings say."""
    stack = bare_stack()
    _endpoint(stack, HubModel(model_id=HUB_ID, revision=None), replace(SETTINGS, autoscaling=autoscaled))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    for resource_type in ("AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint"):
        template.resource_count_is(resource_type, 1)
