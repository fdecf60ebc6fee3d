"""The serving stack: a container environment the TGI Neuron container reads, a model fed from the
Hub or from S3, alarms that reach someone, and a smoke test that gates every deploy that changes
what the endpoint serves."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from inf2_llm.components.endpoint_smoke_test import FUNCTION_TIMEOUT
from inf2_llm.config.checks import SMOKE_TEST_ANSWER_SECONDS
from inf2_llm.runtimes import RUNTIMES
from tests.guide import GUIDE_ENVIRONMENT, GUIDE_HUB_MODEL, GUIDE_IMAGE, READ_ON_SAGEMAKER
from tests.unit.conftest import COMPILE, COMPILE_QWEN, HUB, MIRROR, PROD, VLLM
from workstation.lambda_checks import invocation

SERVING = "Inf2Llm-dev-Serving"
WORKBENCH = "Inf2Llm-dev-Workbench"
PROD_SERVING = "Inf2Llm-prod-Serving"
PROD_WORKBENCH = "Inf2Llm-prod-Workbench"
GUIDE_SETTINGS = {name: GUIDE_ENVIRONMENT[name] for name in READ_ON_SAGEMAKER}
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# The image's repository and tag; the registry part depends on the region, resolved at deploy time.
IMAGE_REPOSITORY_AND_TAG = GUIDE_IMAGE[GUIDE_IMAGE.index("/") :]


def _container(template) -> dict:
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    return model["Properties"]["PrimaryContainer"]


def test_hub_model_runs_the_guides_settings(synth) -> None:
    """The container gets the guide's values for what its SageMaker entrypoint reads, and nothing
    it ignores (the guide's HF_* compile settings and MESSAGES_API_ENABLED are read by no one there).
    Read at optimum-neuron v0.0.28, text-generation-inference/sagemaker-entrypoint.sh, which starts
    text-generation-launcher (text-generation-inference v3.0.0, launcher/src/main.rs)."""
    container = _container(synth(HUB).template(SERVING))
    assert container["Environment"] == {**GUIDE_SETTINGS, "HF_MODEL_ID": GUIDE_HUB_MODEL}
    assert "ModelDataSource" not in container
    assert container["Image"]["Fn::Join"][1][-1].endswith(IMAGE_REPOSITORY_AND_TAG)


def test_hub_revision_reaches_the_container_in_hub_mode_only(synth) -> None:
    """The entrypoint (optimum-neuron v0.0.28, text-generation-inference/sagemaker-entrypoint.sh)
    maps HF_MODEL_REVISION to TGI's REVISION, pinning the Hub copy; beside a local
    model directory it would make TGI's router look the directory up on the Hub and lose the chat
    template, so a model served from S3 never gets it."""
    pinned = {"hub_revision": COMMIT}
    environment = _container(synth(pinned).template(SERVING))["Environment"]
    assert environment["HF_MODEL_REVISION"] == COMMIT
    mirrored = _container(synth({**MIRROR, **pinned}).template(SERVING))["Environment"]
    assert "HF_MODEL_REVISION" not in mirrored and mirrored["HF_MODEL_ID"] == "/opt/ml/model"


def test_hub_model_may_reach_the_hub(synth) -> None:
    """The precompiled copy is downloaded at start, so network isolation must be off."""
    synth(HUB).template(SERVING).has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": False})


@pytest.mark.parametrize(
    ("overrides", "stack", "profile"),
    [
        (COMPILE, SERVING, "bllossom-8b"),
        (COMPILE_QWEN, SERVING, "qwen2.5-7b-instruct"),
        (MIRROR, SERVING, "bllossom-8b"),
        (PROD, PROD_SERVING, "bllossom-8b"),
    ],
    ids=["compile", "compile-qwen", "mirror", "prod-default"],
)
def test_model_from_s3_is_served_uncompressed_in_isolation(synth, overrides, stack: str, profile: str) -> None:
    """A compiled or mirrored artifact carries its weights, so the container needs no network; the
    prefix is copied as is (no tar.gz), into /opt/ml/model where TGI loads it from. prod does this
    by default."""
    template = synth(overrides).template(stack)
    template.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": True})
    container = _container(template)
    source = container["ModelDataSource"]["S3DataSource"]
    assert source["S3DataType"] == "S3Prefix"
    assert source["CompressionType"] == "None"
    assert re.fullmatch(rf"/models/{re.escape(profile)}/[0-9a-f]{{12}}/", source["S3Uri"]["Fn::Join"][1][-1])
    assert container["Environment"] == {**GUIDE_SETTINGS, "HF_MODEL_ID": "/opt/ml/model"}


def test_model_from_s3_waits_for_the_notebook(synth) -> None:
    """A single `cdk deploy --all` must create the endpoint only after the notebook signalled."""
    for overrides, serving, workbench in ((COMPILE, SERVING, WORKBENCH), (MIRROR, SERVING, WORKBENCH)):
        dependencies = [artifact.id for artifact in synth(overrides).stack_artifact(serving).dependencies]
        assert workbench in dependencies
    prod = [artifact.id for artifact in synth(PROD).stack_artifact(PROD_SERVING).dependencies]
    assert PROD_WORKBENCH in prod
    hub_dependencies = [artifact.id for artifact in synth(HUB).stack_artifact(SERVING).dependencies]
    assert WORKBENCH not in hub_dependencies


def test_endpoint_config_gives_the_container_time_to_start(synth) -> None:
    """The guide's deploys took 14-17 minutes; a shorter health-check timeout fails a good deploy."""
    synth(HUB).template(SERVING).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": {"Fn::ImportValue": Match.string_like_regexp("ArtifactsKey")},
            "ProductionVariants": [
                Match.object_like(
                    {
                        "InstanceType": "ml.inf2.xlarge",
                        "InitialInstanceCount": 1,
                        "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                        "ModelDataDownloadTimeoutInSeconds": 1800,
                        "VolumeSizeInGB": 64,
                        "VariantName": "AllTraffic",
                    }
                )
            ],
        },
    )


def test_no_physical_names(synth) -> None:
    """A changed configuration must replace model, config and endpoint without a name clash."""
    template = synth(HUB).template(SERVING)
    for resource_type, name in (
        ("AWS::SageMaker::Model", "ModelName"),
        ("AWS::SageMaker::EndpointConfig", "EndpointConfigName"),
        ("AWS::SageMaker::Endpoint", "EndpointName"),
    ):
        for resource in template.find_resources(resource_type).values():
            assert name not in resource["Properties"]


def test_execution_role_is_least_privilege(synth) -> None:
    """The endpoint role pulls one image, reads models/ (compile only) and writes endpoint logs."""
    hub = synth(HUB).template(SERVING)
    roles = hub.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
                }
            }
        },
    )
    (hub_role,) = roles.values()
    assert "ManagedPolicyArns" not in hub_role["Properties"], "the hub model reads nothing from the bucket"
    compiled = synth(COMPILE).template(SERVING)
    (compile_role,) = compiled.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
                }
            }
        },
    ).values()
    (reader,) = compile_role["Properties"]["ManagedPolicyArns"]
    assert "ArtifactsModelsReader" in reader["Fn::ImportValue"]
    document = json.dumps(compiled.find_resources("AWS::IAM::Policy"))
    assert "/aws/sagemaker/Endpoints/*" in document
    assert "s3:PutObject" not in document


def test_alarms_watch_errors_and_latency(synth) -> None:
    """Someone must learn that the endpoint fails or slows down before its users do: model errors
    include the timeouts and broken connections a 4XX count misses, and the latency threshold is
    below the 60 s InvokeEndpoint gives the model, so the alarm can fire."""
    template = synth(HUB).template(SERVING)
    for metric in ("Invocation5XXErrors", "InvocationModelErrors", "ModelLatency"):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": metric,
                "Namespace": "AWS/SageMaker",
                "Dimensions": Match.array_with([Match.object_like({"Name": "EndpointName"})]),
            },
        )
    # ModelLatency is in microseconds (SageMaker's monitoring-cloudwatch page: "Units: Microseconds").
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ModelLatency", "Threshold": 30_000_000})
    thresholds = [
        alarm["Properties"]["Threshold"]
        for alarm in template.find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "ModelLatency"}}
        ).values()
    ]
    assert thresholds and all(threshold < 60_000_000 for threshold in thresholds)


def test_every_alarm_notifies_the_environments_topic(synth) -> None:
    """An alarm without an action reaches no one: each tells the storage stack's alarm topic when
    it fires and when it clears."""
    alarms = synth(HUB).template(SERVING).find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 3
    for alarm in alarms.values():
        [action] = alarm["Properties"]["AlarmActions"]
        assert re.match(r"Inf2Llm-dev-Storage:ExportsOutputRefAlarmsTopic", action["Fn::ImportValue"])
        assert alarm["Properties"]["OKActions"] == [action]


def test_autoscaling_only_when_asked(synth) -> None:
    """inf2 instances are billed by the hour: scaling is opt-in, bounded by configuration."""
    synth(HUB).template(SERVING).resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    template = synth(COMPILE_QWEN).template(SERVING)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 1, "MaxCapacity": 2, "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 20,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                }
            )
        },
    )


def test_smoke_test_function_is_configured_from_the_profile(synth) -> None:
    """The handler reads the endpoint, the budgets and the stop sequence from its environment."""
    template = synth(COMPILE_QWEN).template(SERVING)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Handler": "handler.handler",
            "Environment": {
                "Variables": {
                    "ENDPOINT_NAME": {"Fn::GetAtt": [Match.string_like_regexp("^ModelEndpoint"), "EndpointName"]},
                    "ENDPOINT_CONFIG_NAME": {
                        "Fn::GetAtt": [Match.string_like_regexp("^ModelConfig"), "EndpointConfigName"]
                    },
                    "APIS": '["generate", "messages"]',
                    "MAX_MS_PER_TOKEN": "60",
                    "MAX_FIRST_TOKEN_MS": "2000",
                    "MAX_NEW_TOKENS": "512",
                    "STOP_SEQUENCES": '["<|im_end|>"]',
                }
            },
        },
    )


def test_smoke_test_budgets_come_from_the_configuration(synth) -> None:
    """Both budgets the gate judges reach the function as set: a budget dropped on the way would
    leave the deploy judged by the handler's default instead."""
    template = synth({**HUB, "smoke_test_max_ms_per_token": "55.5", "smoke_test_max_first_token_ms": "1500"}).template(
        SERVING
    )
    budgets = {"MAX_MS_PER_TOKEN": "55.5", "MAX_FIRST_TOKEN_MS": "1500"}
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like(budgets)}}
    )


def test_the_longest_smoke_run_fits_the_function_timeout(synth) -> None:
    """A run that outlives the function's timeout ends with no verdict in its log, and the trigger
    then reports only a timeout. The bound (lambda/smoke_test/invocation.py): each API retries for up
    to the retry window; all but the last then stream an answer the budgets pass, at most
    SMOKE_TEST_ANSWER_SECONDS (config/checks.py keeps the budgets within it); the last fails as late
    as it can, after a connect and two read timeouts, or a silence of one read timeout after such an
    answer. The timeouts are the deployed client's own, and the APIs the most a runtime checks."""
    client = invocation.runtime_client("us-east-1").meta.config
    connect_s, read_s = client.connect_timeout, client.read_timeout
    apis = max(len(runtime.apis) for runtime in RUNTIMES.values())
    answer_s = SMOKE_TEST_ANSWER_SECONDS
    longest_s = (
        apis * invocation.RETRY_WINDOW_S + (apis - 1) * answer_s + max(connect_s + 2 * read_s, answer_s + read_s)
    )
    assert longest_s <= FUNCTION_TIMEOUT.to_seconds()
    template = synth(HUB).template(SERVING)
    smoke_test = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": "handler.handler"}})
    (function,) = smoke_test.values()
    (trigger,) = template.find_resources("Custom::Trigger").values()
    assert function["Properties"]["Timeout"] == FUNCTION_TIMEOUT.to_seconds()
    # The trigger waits as long as the function may run, and no longer.
    assert trigger["Properties"]["Timeout"] == str(int(FUNCTION_TIMEOUT.to_seconds() * 1000))


def test_smoke_test_can_only_invoke_this_endpoint(synth) -> None:
    """A smoke test that could do more than call one endpoint would be a privilege for an attacker."""
    template = synth(HUB).template(SERVING)
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("^SmokeTestRole")}]}}
    )
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    invoke = [s for s in statements if "sagemaker" in str(s["Action"])]
    assert len(invoke) == 1
    assert invoke[0]["Action"] == "sagemaker:InvokeEndpoint"
    assert invoke[0]["Resource"]["Ref"].startswith("ModelEndpoint")
    assert {s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"]) for s in statements} <= {
        "sagemaker:InvokeEndpoint",
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        "kms:Decrypt",
    }
    (decrypt,) = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert "ArtifactsKey" in decrypt["Resource"]["Fn::ImportValue"]


def test_smoke_test_environment_and_logs_are_encrypted(synth) -> None:
    """Its environment and its logs are encrypted with the project key like everything else the
    environment stores."""
    template = synth(HUB).template(SERVING)
    key = {"Fn::ImportValue": Match.string_like_regexp("ArtifactsKey")}
    template.has_resource_properties("AWS::Lambda::Function", {"Handler": "handler.handler", "KmsKeyArn": key})
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": key})


def test_smoke_test_gates_the_deploy_unless_turned_off(synth) -> None:
    """By default a failing smoke test fails the deploy; `smoke_test_on_deploy=false` removes the trigger."""
    gated = synth(HUB).template(SERVING)
    triggers = gated.find_resources("Custom::Trigger")
    (trigger,) = triggers.values()
    assert any(dependency.startswith("ModelEndpoint") for dependency in trigger["DependsOn"])
    assert trigger["Properties"]["InvocationType"] == "RequestResponse"
    synth(COMPILE_QWEN).template(SERVING).resource_count_is("Custom::Trigger", 0)


def _trigger_handler_version(template) -> str:
    (trigger,) = template.find_resources("Custom::Trigger").values()
    return str(trigger["Properties"]["HandlerArn"]["Ref"])


@pytest.mark.parametrize(
    ("change", "replaces_configuration"),
    [
        ({"image_tag": "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.3"}, True),
        ({"startup_timeout_seconds": "2400"}, True),
        ({"endpoint_volume_size_gb": "96"}, True),
        ({"model_source": "mirror"}, True),
        ({"latency_alarm_seconds": "45"}, False),
        ({"autoscaling": "true"}, False),
    ],
    ids=["image", "startup-timeout", "volume", "model-source", "latency-alarm", "autoscaling"],
)
def test_the_smoke_test_runs_again_when_what_is_served_changes(synth, change, replaces_configuration: bool) -> None:
    """A new model, image or setting replaces the endpoint configuration (every property of a model
    and an endpoint configuration is fixed at creation) and updates the endpoint in place under
    the same name. CDK's trigger runs when its handler's version changes, so such a change must
    publish a new version; a change that leaves the configuration alone must not rerun a
    20-minute-old test."""
    base, changed = synth(HUB).template(SERVING), synth(change).template(SERVING)
    configuration_changed = base.find_resources("AWS::SageMaker::EndpointConfig") != changed.find_resources(
        "AWS::SageMaker::EndpointConfig"
    ) or base.find_resources("AWS::SageMaker::Model") != changed.find_resources("AWS::SageMaker::Model")
    assert configuration_changed == replaces_configuration
    assert (_trigger_handler_version(base) != _trigger_handler_version(changed)) == replaces_configuration


def test_log_groups_have_retention(synth) -> None:
    """Logs that never expire are a cost that grows forever."""
    template = synth(HUB).template(SERVING)
    for log_group in template.find_resources("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 7


def test_outputs_the_endpoint_name(synth) -> None:
    """The workstation smoke test and the pipeline's post-deploy step find the endpoint by this output."""
    synth(HUB).template(SERVING).has_output(
        "EndpointName", {"Value": {"Fn::GetAtt": [Match.string_like_regexp("^ModelEndpoint"), "EndpointName"]}}
    )


def test_vllm_endpoint_runs_the_vllm_image_from_s3_with_its_contract(synth) -> None:
    """optimum-neuron 0.4.x's entrypoint (v0.4.4, docker/vllm/Dockerfile) turns each SM_ON_X into
    `--x` for `optimum-cli neuron serve`, which refuses to start when a batch size, sequence length
    or tensor-parallel size it is given differs from the model's neuron_config.json (v0.4.4,
    optimum/commands/neuron/serve.py); the model comes from S3, offline, in network isolation."""
    template = synth(VLLM).template(SERVING)
    template.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": True})
    container = _container(template)
    assert container["Environment"] == {
        "SM_ON_MODEL": "/opt/ml/model",
        "SM_ON_BATCH_SIZE": "4",
        "SM_ON_SEQUENCE_LENGTH": "4096",
        "SM_ON_TENSOR_PARALLEL_SIZE": "2",
        "SM_ON_MAX_NUM_BATCHED_TOKENS": "4096",
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    image = container["Image"]["Fn::Join"][1]
    assert image[-1].endswith(
        "/huggingface-vllm-inference-neuronx:0.11.0-optimum0.4.4-neuronx-py310-sdk2.26.1-ubuntu22.04"
    )
    assert image[0]["Fn::FindInMap"][0] == "VllmNeuronxRegistryAccounts"


def test_vllm_endpoint_runs_on_the_neuron_inference_ami(synth) -> None:
    """The default AMI's Neuron driver is too old for the image's Neuron SDK 2.26 runtime; the TGI
    endpoint keeps SageMaker's default, as in the guide."""
    (vllm_config,) = synth(VLLM).template(SERVING).find_resources("AWS::SageMaker::EndpointConfig").values()
    (variant,) = vllm_config["Properties"]["ProductionVariants"]
    assert variant["InferenceAmiVersion"] == "al2-ami-sagemaker-inference-neuron-2"
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1800
    (tgi_config,) = synth(HUB).template(SERVING).find_resources("AWS::SageMaker::EndpointConfig").values()
    assert "InferenceAmiVersion" not in tgi_config["Properties"]["ProductionVariants"][0]


def test_vllm_smoke_test_calls_the_apis_vllm_answers(synth) -> None:
    """vLLM answers OpenAI completions and chat on /invocations, not TGI's generate."""
    template = synth(VLLM).template(SERVING)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"APIS": '["completions", "messages"]'})}},
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": [
                                    "ecr:BatchCheckLayerAvailability",
                                    "ecr:BatchGetImage",
                                    "ecr:GetDownloadUrlForLayer",
                                ],
                                "Resource": {
                                    "Fn::Join": [
                                        "",
                                        Match.array_with([":repository/huggingface-vllm-inference-neuronx"]),
                                    ]
                                },
                            }
                        )
                    ]
                )
            }
        },
    )
