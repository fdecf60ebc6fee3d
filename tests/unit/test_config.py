"""The configuration rejects, at synth, every setting the serving container or SageMaker would
refuse (or silently mishandle) after a 15-minute deploy, and names the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from inf2_llm.config import SETTINGS, ConfigError, config_for_stage, load_config
from inf2_llm.profiles import PROFILES
from inf2_llm.runtimes import TGI, VLLM
from workstation.lambda_checks import smoke_settings

COMPILE = {"model_source": "compile"}
MIRROR = {"model_source": "mirror"}
PROD = {"stage": "prod", "account": "123456789012", "region": "us-west-2"}
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ON_VLLM = {"runtime": "vllm-0.4", "model_source": "compile"}
SCALE_TO_ZERO = {"scale_to_zero": "true"}


def test_defaults_are_the_guides_settings() -> None:
    """With no context at all the app must serve the guide's model with the guide's settings."""
    config = load_config({})
    assert config.stage == "dev"
    assert config.profile.model_id == "MLP-KTLim/llama-3-Korean-Bllossom-8B"
    assert config.model_source == "hub"
    assert (config.compilation.batch_size, config.compilation.sequence_length) == (4, 4096)
    assert (config.compilation.auto_cast_type, config.compilation.num_cores) == ("fp16", 2)
    assert (config.runtime.settings.max_input_length, config.runtime.settings.max_total_tokens) == (2048, 4096)
    assert config.notebook.instance_type == config.endpoint.instance_type == "ml.inf2.xlarge"
    assert config.notebook.volume_size_gb == 128
    assert config.image_tag == "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.2"
    assert config.smoke_test.max_ms_per_token == 60.0
    assert config.hub_revision is None and config.endpoint.alarm_email is None
    assert config.pipeline is None


def test_model_source_defaults_by_stage() -> None:
    """dev takes the quickest path (the Hub); a production endpoint that scales out or is replaced
    must not depend on a third-party Hub repository staying reachable and unchanged."""
    assert load_config({}).model_source == "hub"
    assert load_config(PROD).model_source == "mirror"
    assert load_config({**PROD, "model_source": "hub"}).model_source == "hub"
    assert load_config({"model_source": "compile"}).model_source == "compile"


def test_a_stage_of_the_pipeline_gets_its_own_defaults() -> None:
    """The pipeline's prod stage must mirror by default even though the pipeline's own
    configuration (dev) serves from the Hub; an explicit choice still wins in both."""
    pipeline = load_config({**PROD, "stage": "dev"})
    assert config_for_stage(pipeline, "prod").model_source == "mirror"
    assert config_for_stage(load_config({**PROD, "model_source": "hub"}), "prod").model_source == "hub"


def test_hub_revision_pins_what_each_source_reads() -> None:
    """hub_revision names a commit of the repository the source downloads; mirror and compile
    record it in the artifact's identity, so a new pin is a new artifact."""
    pinned = {"hub_revision": COMMIT}
    assert load_config(pinned).hub_revision == COMMIT
    for source in (MIRROR, COMPILE):
        assert load_config({**source, **pinned}).artifact_prefix != load_config(source).artifact_prefix


def test_the_runtime_owns_its_defaults() -> None:
    """The vLLM runtime brings its own image (the newest 0.4.x the SDK lists) and compiles in the
    checkpoint's own dtype; nothing of TGI's leaks into it, and TGI's settings stay the guide's."""
    config = load_config(ON_VLLM)
    assert config.runtime == VLLM
    assert config.image_tag == "0.11.0-optimum0.4.4-neuronx-py310-sdk2.26.1-ubuntu22.04"
    assert config.compilation.auto_cast_type is None
    assert config.endpoint.startup_timeout_seconds == VLLM.startup_timeout_seconds
    assert load_config({}).runtime == TGI
    assert load_config({**ON_VLLM, "image_tag": "0.11.0-optimum0.4.2-neuronx-py310-sdk2.26.0-ubuntu22.04"})


def test_a_new_runtime_is_a_new_artifact() -> None:
    """Moving an environment to vLLM compiles anew under another prefix: the TGI artifact stays in
    S3 until its lifecycle rule expires it, and no endpoint can load the other runtime's model."""
    assert load_config(ON_VLLM).artifact_prefix != load_config({"model_source": "compile"}).artifact_prefix


def test_cli_strings_are_parsed() -> None:
    """`-c key=value` always arrives as a string; numbers and booleans must still come out typed."""
    config = load_config(
        {"model_source": "compile", "batch_size": "8", "autoscaling": "true", "smoke_test_max_ms_per_token": "55.5"}
    )
    assert config.compilation.batch_size == 8
    assert config.endpoint.autoscaling is True
    assert config.smoke_test.max_ms_per_token == 55.5


def test_scale_to_zero_implies_the_components_scaling() -> None:
    """Scaling to zero needs the scaling policies, so asking for autoscaling as well is consistent;
    warm hours are parsed into the hours the schedule sets, in the zone given (UTC otherwise)."""
    config = load_config({**SCALE_TO_ZERO, "autoscaling": "true", "warm_hours": "08-20", "warm_timezone": "Asia/Seoul"})
    assert config.endpoint.scale_to_zero and config.endpoint.autoscaling
    assert (config.endpoint.warm_hours, config.endpoint.warm_timezone) == ((8, 20), "Asia/Seoul")
    assert load_config(SCALE_TO_ZERO).endpoint.warm_timezone == "UTC"
    assert load_config({}).endpoint.scale_to_zero is False
    assert load_config({**PROD, **SCALE_TO_ZERO}).endpoint.scale_to_zero


def test_qwen_profile_defaults_to_its_own_precision() -> None:
    """Qwen's precompiled copy is bf16; inheriting bllossom's fp16 would break the hub deploy."""
    config = load_config({"model": "qwen2.5-7b-instruct"})
    assert config.profile.model_id == "Qwen/Qwen2.5-7B-Instruct"
    assert config.compilation.auto_cast_type == "bf16"
    assert config.profile.stop_sequences == ("<|im_end|>",)


def test_every_profile_hub_copy_matches_the_defaults() -> None:
    """Each profile must deploy from the Hub with no extra settings, or the default path fails."""
    for name in PROFILES:
        config = load_config({"model": name})
        assert config.compilation == TGI.precompiled[name].compiled_with
        assert config.source_repository == TGI.precompiled[name].hub_id


BAD_INPUTS = [
    # (context, key named in the error, words of what is allowed)
    ({"stage": "staging"}, "stage", "dev, prod"),
    ({"model": "llama-70b"}, "model", "bllossom-8b"),
    ({"model_source": "s3"}, "model_source", "hub, mirror, compile"),
    ({**COMPILE, "auto_cast_type": "int8"}, "auto_cast_type", "fp16, bf16"),
    ({"endpoint_instance_type": "ml.g5.xlarge"}, "endpoint_instance_type", "Inferentia2"),
    ({"notebook_instance_type": "ml.inf2.2xlarge"}, "notebook_instance_type", "known sizes"),
    ({"batch_size": "four"}, "batch_size", "whole number"),
    ({"batch_size": "0"}, "batch_size", "whole number from 1"),
    ({"sequence_length": "-4096"}, "sequence_length", "whole number"),
    ({"num_cores": "2.5"}, "num_cores", "whole number"),
    ({"max_input_length": ""}, "max_input_length", "whole number"),
    ({**COMPILE, "num_cores": "4"}, "num_cores", "has 2 Neuron cores"),
    (
        {**COMPILE, "endpoint_instance_type": "ml.inf2.24xlarge", "num_cores": "6"},
        "num_cores",
        "tgi-0.0.28 shards on 1, 2, 4, 8, 12, 24 cores",
    ),
    ({**COMPILE, "max_total_tokens": "8192"}, "max_total_tokens", "must not exceed sequence_length (4096)"),
    # text-generation-inference v3.0.0, launcher/src/main.rs: max_input_tokens must be < max_total_tokens.
    ({**COMPILE, "max_total_tokens": "2048"}, "max_input_length", "text-generation-launcher refuses to start"),
    # backends/v3/src/main.rs: max_batch_prefill_tokens (launcher default 4096) must be >= max_input_tokens.
    (
        {**COMPILE, "sequence_length": "8192", "max_total_tokens": "8192", "max_input_length": "6000"},
        "max_input_length",
        "router refuses to start",
    ),
    ({**COMPILE, "sequence_length": "16384", "max_total_tokens": "16384"}, "sequence_length", "at most 8192"),
    ({"batch_size": "8"}, "batch_size", "compiled with batch_size=4"),
    (
        {"sequence_length": "2048", "max_total_tokens": "2048", "max_input_length": "1024"},
        "sequence_length",
        "compiled with sequence_length=4096",
    ),
    ({"auto_cast_type": "bf16"}, "auto_cast_type", "compiled with auto_cast_type=fp16"),
    ({"num_cores": "1"}, "num_cores", "compiled with num_cores=2"),
    ({**MIRROR, "batch_size": "8"}, "batch_size", "compiled with batch_size=4"),
    ({**PROD, "auto_cast_type": "bf16"}, "auto_cast_type", "compiled with auto_cast_type=fp16"),
    ({"region": "xx-moon-1"}, "region", "not published there"),
    ({"region": "Oregon"}, "region", "an AWS region"),
    ({"hub_revision": "main"}, "hub_revision", "40-character Hub commit hash"),
    ({"alarm_email": "ops-at-example.com"}, "alarm_email", "an email address"),
    ({"account": "12345"}, "account", "12-digit"),
    ({"stage": "prod"}, "account", "required for prod"),
    ({"stage": "prod", "account": "123456789012"}, "region", "required for prod"),
    ({"pipeline": "yes"}, "pipeline", "true or false"),
    (
        {"pipeline": "true", "account": "123456789012", "region": "us-west-2"},
        "connection_arn",
        "required with pipeline=true",
    ),
    ({"smoke_test_max_ms_per_token": "fast"}, "smoke_test_max_ms_per_token", "number above 0"),
    ({"smoke_test_max_ms_per_token": "-1"}, "smoke_test_max_ms_per_token", "number above 0"),
    ({"smoke_test_max_first_token_ms": "0"}, "smoke_test_max_first_token_ms", "number above 0"),
    ({"smoke_test_max_first_token_ms": "90000"}, "smoke_test_max_first_token_ms", "at most 60000"),
    # The longest answer the budgets pass must fit the smoke-test function's 10 minutes: 2 s to the
    # first token, then 4095 tokens at 60 ms, is 248 s; 512 tokens at 300 ms is 155 s.
    ({"smoke_test_max_new_tokens": "4096"}, "smoke_test_max_new_tokens", "may stream for 248 s, over the 140 s"),
    ({"smoke_test_max_ms_per_token": "300"}, "smoke_test_max_ms_per_token", "smoke_test_max_new_tokens=512 and"),
    ({"startup_timeout_seconds": "300"}, "startup_timeout_seconds", "from 900"),
    # InvokeEndpoint API reference: "The model itself can have a maximum processing time of 60 seconds".
    ({"latency_alarm_seconds": "60"}, "latency_alarm_seconds", "from 1 to 59: InvokeEndpoint gives the model at most"),
    ({"latency_alarm_seconds": "600"}, "latency_alarm_seconds", "the alarm could never fire"),
    ({"image_tag": "bad tag!"}, "image_tag", "container image tag"),
    ({**COMPILE, "publish_repo": "me/model"}, "publish_repo", "hf_token_secret_name"),
    ({**MIRROR, "publish_repo": "me/model"}, "publish_repo", "only a model compiled on the notebook"),
    ({"notebook_subnet_id": "subnet-0123456789abcdef0"}, "notebook_security_group_id", "go together"),
    (
        {"autoscaling_min_instances": "3", "autoscaling_max_instances": "2"},
        "autoscaling_min_instances",
        "must not exceed",
    ),
    ({"modle": "bllossom-8b"}, "modle", "unknown key"),
    ({"runtime": "vllm"}, "runtime", "tgi-0.0.28, vllm-0.4"),
    ({"runtime": "vllm-0.4"}, "model_source", "(dev's default) serves a precompiled Hub copy"),
    ({"runtime": "vllm-0.4", "model_source": "hub"}, "model_source", "vllm-0.4 has none of bllossom-8b"),
    (
        {**ON_VLLM, "stage": "prod", "account": "123456789012", "region": "us-west-2", "model_source": "mirror"},
        "model_source",
        "use model_source=compile",
    ),
    ({**ON_VLLM, "region": "ap-northeast-2"}, "region", "published there; it is in: ap-northeast-1, ap-south-1"),
    ({**ON_VLLM, "max_input_length": "1024"}, "max_input_length", "read by runtime tgi-0.0.28 only"),
    ({**ON_VLLM, "auto_cast_type": "fp16"}, "auto_cast_type", "read by runtime tgi-0.0.28 only"),
    ({**ON_VLLM, "endpoint_instance_type": "ml.inf2.24xlarge", "num_cores": "12"}, "num_cores", "vllm-0.4 shards on"),
    ({"scale_to_zero": "yes"}, "scale_to_zero", "true or false"),
    ({**SCALE_TO_ZERO, "autoscaling": "false"}, "autoscaling", "scales the copies to zero and back with scaling"),
    ({**SCALE_TO_ZERO, "autoscaling_min_instances": "1"}, "autoscaling_min_instances", "the floor is zero copies"),
    ({**SCALE_TO_ZERO, "endpoint_instance_count": "2"}, "endpoint_instance_count", "instances follow the copies"),
    ({"warm_hours": "09-18"}, "warm_hours", "set scale_to_zero=true"),
    ({**SCALE_TO_ZERO, "warm_hours": "18-09"}, "warm_hours", "the first before the second"),
    ({**SCALE_TO_ZERO, "warm_hours": "9am-6pm"}, "warm_hours", "HH-HH of a 24-hour clock"),
    ({**SCALE_TO_ZERO, "warm_hours": "09-24"}, "warm_hours", "HH-HH of a 24-hour clock"),
    ({**SCALE_TO_ZERO, "warm_hours": "09-18", "warm_timezone": "KST"}, "warm_timezone", "IANA time zone"),
]


@pytest.mark.parametrize(("context", "key", "allowed"), BAD_INPUTS, ids=[str(case[0]) for case in BAD_INPUTS])
def test_bad_input_names_key_value_and_what_is_allowed(context: dict[str, str], key: str, allowed: str) -> None:
    """Each bad input must stop the synth with one line a user can act on, not a deploy that rolls back."""
    with pytest.raises(ConfigError) as raised:
        load_config(context)
    message = str(raised.value)
    assert raised.value.key == key
    assert message.startswith(f"invalid configuration: {key}=")
    assert allowed in message
    assert "\n" not in message
    if key in context:
        assert repr(context[key]) in message or str(context[key]) in message


def test_cdk_feature_flags_and_lookups_are_not_mistaken_for_keys() -> None:
    """The CLI puts its own settings into the same context; they must not trip the unknown-key check."""
    load_config({"@aws-cdk/core:enablePartitionLiterals": True, "aws:cdk:enable-path-metadata": True})


def test_every_key_has_a_default_and_a_description() -> None:
    """The README's table is generated from these; a key without them would be undocumented."""
    for key, declared in SETTINGS.items():
        assert declared.describe.strip(), key


def test_smoke_test_defaults_match_the_handlers() -> None:
    """The Lambda cannot import the configuration, so it keeps its own defaults for a bare run;
    they must be the same as the configuration's, or the two smoke tests judge differently."""
    defaults = load_config({}).smoke_test
    assert (defaults.max_ms_per_token, defaults.max_first_token_ms, defaults.max_new_tokens) == (
        smoke_settings.DEFAULT_MAX_MS_PER_TOKEN,
        smoke_settings.DEFAULT_MAX_FIRST_TOKEN_MS,
        smoke_settings.DEFAULT_MAX_NEW_TOKENS,
    )


def test_smoke_test_answers_up_to_the_functions_allowance_are_accepted() -> None:
    """The limit on the budgets refuses only what cannot fit the function's time: 2 s to the first
    token and 2300 tokens more at 60 ms is exactly the 140 s an answer may take, one token more is not."""
    assert load_config({"smoke_test_max_new_tokens": "2301"}).smoke_test.max_new_tokens == 2301
    with pytest.raises(ConfigError, match="smoke_test_max_new_tokens=2302: with smoke_test_max_ms_per_token=60"):
        load_config({"smoke_test_max_new_tokens": "2302"})


def test_each_artifact_gets_its_own_prefix() -> None:
    """An endpoint must never load a model prepared otherwise: another source, image or compile
    setting names a new prefix (and a new wait condition); unrelated keys do not."""
    base = load_config(COMPILE)
    assert base.artifact_prefix == f"models/bllossom-8b/{base.artifact_identity}/"
    assert load_config(MIRROR).artifact_prefix != base.artifact_prefix
    assert load_config({**COMPILE, "endpoint_instance_count": "2"}).artifact_prefix == base.artifact_prefix
    changed = [
        {**COMPILE, "batch_size": "8"},
        {**COMPILE, "auto_cast_type": "bf16"},
        {**COMPILE, "image_tag": "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.3"},
        {**COMPILE, "model": "qwen2.5-7b-instruct"},
    ]
    prefixes = {load_config(context).artifact_prefix for context in changed}
    assert len(prefixes) == len(changed) and base.artifact_prefix not in prefixes
