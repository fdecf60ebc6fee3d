"""The project's configuration: one typed, validated, immutable object built once in app.py.

Values come from `cdk.json` context and `-c key=value` overrides. The CLI passes every
override as a string, so each key has a parser that accepts the string or the JSON value and
raises `ConfigError` naming the key, the value given and what is allowed. Cross-checks follow;
the rules a serving runtime adds live with the runtime (`inf2_llm.runtimes`), and everything is
checked at synth, because a container only reports a bad setting after a 15-minute deploy and a
rollback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from inf2_llm.config_error import ConfigError
from inf2_llm.profiles import PROFILES, ModelProfile, NeuronCompilation
from inf2_llm.runtimes import RUNTIMES, TGI, PrecompiledCopy, ServingRuntime

__all__ = ["AppConfig", "ConfigError", "load_config", "config_for_stage", "markdown_table"]

STAGES = ("dev", "prod")
# hub: the endpoint downloads the precompiled Hub copy; mirror: the notebook copies it (and the
# weights it was compiled from) to S3; compile: the notebook compiles the model into S3.
MODEL_SOURCES = ("hub", "mirror", "compile")
# A production endpoint that scales out or is replaced must not depend on a third-party Hub
# repository staying reachable and unchanged; dev takes the quickest path.
DEFAULT_MODEL_SOURCE = {"dev": "hub", "prod": "mirror"}
AUTO_CAST_TYPES = ("fp16", "bf16")
# InvokeEndpoint's limit on the model's processing time, seconds.
MAX_MODEL_SECONDS = 60
# Neuron cores per instance size: one Inferentia2 chip has two.
INF2_NEURON_CORES = {"xlarge": 2, "8xlarge": 2, "24xlarge": 12, "48xlarge": 24}


@dataclass(frozen=True)
class NotebookSettings:
    instance_type: str
    volume_size_gb: int
    platform_identifier: str
    idle_minutes: int
    subnet_id: str | None
    security_group_id: str | None
    compile_timeout_minutes: int
    publish_repo: str | None


@dataclass(frozen=True)
class EndpointSettings:
    instance_type: str
    instance_count: int
    volume_size_gb: int
    startup_timeout_seconds: int
    download_timeout_seconds: int
    latency_alarm_seconds: int
    autoscaling: bool
    autoscaling_min_instances: int
    autoscaling_max_instances: int
    invocations_per_instance_target: int


@dataclass(frozen=True)
class SmokeTestSettings:
    on_deploy: bool
    max_ms_per_token: float
    max_new_tokens: int


@dataclass(frozen=True)
class PipelineSettings:
    connection_arn: str
    repository: str
    branch: str


@dataclass(frozen=True)
class AppConfig:
    stage: str
    account: str | None
    region: str | None
    profile: ModelProfile
    runtime: ServingRuntime
    model_source: str
    # Pins the Hub repository the source reads: the precompiled copy (hub, mirror) or the model
    # compiled (compile); None takes the newest revision and records it in the manifest.
    hub_revision: str | None
    compilation: NeuronCompilation
    max_input_length: int
    max_total_tokens: int
    image_tag: str
    hf_token_secret_name: str | None
    alarm_email: str | None
    notebook: NotebookSettings
    endpoint: EndpointSettings
    smoke_test: SmokeTestSettings
    pipeline: PipelineSettings | None
    # The keys that were set, as `-c key=value` passes them: what a pipeline synthesizes itself with.
    overrides: tuple[tuple[str, str], ...]

    @property
    def is_production(self) -> bool:
        return self.stage == "prod"

    @property
    def serves_from_s3(self) -> bool:
        """Whether the notebook's job puts the model in S3 for the endpoint (mirror, compile)."""
        return self.model_source != "hub"

    @property
    def precompiled(self) -> PrecompiledCopy:
        """The runtime's Hub copy of the profile; the configuration is checked to have one
        wherever it is used (hub, mirror)."""
        return self.runtime.precompiled[self.profile.name]

    @property
    def source_repository(self) -> str:
        """The Hub repository the model comes from: the precompiled copy, or the model itself."""
        return self.profile.model_id if self.model_source == "compile" else self.precompiled.hub_id

    @property
    def artifact_identity(self) -> str:
        """Names one artifact in S3: the repository it comes from (at the pinned revision, if
        any), the image and the compile settings, hashed."""
        settings: list[Any] = [self.source_repository, self.image_tag, dataclasses.asdict(self.compilation)]
        if self.hub_revision:
            settings.append(self.hub_revision)
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def artifact_prefix(self) -> str:
        """Where the artifact lives: one prefix per identity, so that the endpoint can only load
        a model prepared for the image and settings it runs with."""
        return f"models/{self.profile.name}/{self.artifact_identity}/"


# --- parsers: each takes (key, raw value) and returns the typed value or raises ConfigError ---

Parser = Callable[[str, Any], Any]


def _whole_number(minimum: int, maximum: int, *, why: str = "") -> Parser:
    """`why` says, after the range, the rule of the service that sets the bound."""
    allowed = f"must be a whole number from {minimum} to {maximum}" + (f": {why}" if why else "")

    def parse(key: str, raw: Any) -> int:
        text = str(raw).strip()
        if isinstance(raw, bool) or not re.fullmatch(r"[+-]?\d+", text):
            raise ConfigError(key, raw, allowed)
        value = int(text)
        if not minimum <= value <= maximum:
            raise ConfigError(key, raw, allowed)
        return value

    return parse


def _positive_number(maximum: float) -> Parser:
    def parse(key: str, raw: Any) -> float:
        try:
            value = float(raw) if not isinstance(raw, bool) else float("nan")
        except (TypeError, ValueError):
            value = float("nan")
        if not 0 < value <= maximum:
            raise ConfigError(key, raw, f"must be a number above 0 and at most {maximum:g}")
        return value

    return parse


def _choice(*allowed: str) -> Parser:
    def parse(key: str, raw: Any) -> str:
        if raw not in allowed:
            raise ConfigError(key, raw, f"must be one of {', '.join(allowed)}")
        return str(raw)

    return parse


def _boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise ConfigError(key, raw, "must be true or false")


def _matching(pattern: str, description: str, *, optional: bool = False) -> Parser:
    def parse(key: str, raw: Any) -> str | None:
        if optional and raw in (None, ""):
            return None
        if not isinstance(raw, str) or not re.fullmatch(pattern, raw):
            raise ConfigError(key, raw, f"must be {description}")
        return raw

    return parse


def _inf2_instance_type(key: str, raw: Any) -> str:
    sizes = ", ".join(f"ml.inf2.{size}" for size in INF2_NEURON_CORES)
    if not isinstance(raw, str) or not re.fullmatch(r"ml\.inf2\.[0-9a-z]+", raw):
        raise ConfigError(key, raw, f"must be an Inferentia2 instance type: {sizes}")
    if raw.removeprefix("ml.inf2.") not in INF2_NEURON_CORES:
        raise ConfigError(key, raw, f"is not an Inferentia2 size; known sizes: {sizes}")
    return raw


@dataclass(frozen=True)
class ConfigKey:
    name: str
    parse: Parser
    default: Any
    description: str
    # How the default is chosen when it depends on other keys (the default itself is then None).
    derived_default: str = ""


_OPTIONAL = None
KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        "stage",
        _choice(*STAGES),
        "dev",
        "Environment: `dev` is fully destroyable; `prod` retains data and protects the storage stack.",
    ),
    ConfigKey(
        "account",
        _matching(r"\d{12}", "a 12-digit AWS account id", optional=True),
        _OPTIONAL,
        "Target account. Optional for dev (environment-agnostic), required for prod and the pipeline.",
    ),
    ConfigKey(
        "region",
        _matching(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region such as us-west-2", optional=True),
        _OPTIONAL,
        "Target region; must be one where the runtime's image is published. Required for prod and the pipeline.",
    ),
    ConfigKey(
        "model",
        _choice(*PROFILES),
        "bllossom-8b",
        "Model profile: " + ", ".join(f"`{name}`" for name in PROFILES) + ".",
    ),
    ConfigKey(
        "runtime",
        _choice(*RUNTIMES),
        TGI.name,
        "Serving runtime: `tgi-0.0.28`, the guide's TGI image, or `vllm-0.4`, vLLM on optimum-neuron 0.4.x "
        "(see Serving runtimes).",
    ),
    ConfigKey(
        "model_source",
        _choice(*MODEL_SOURCES),
        _OPTIONAL,
        "`hub`: the endpoint downloads the precompiled Hub copy; `mirror`: the notebook copies it to S3; "
        "`compile`: the notebook compiles the model into S3. Mirror and compile serve from S3 in network isolation.",
        derived_default="`hub` for dev, `mirror` for prod",
    ),
    ConfigKey(
        "hub_revision",
        _matching(r"[0-9a-f]{40}", "a 40-character Hub commit hash", optional=True),
        _OPTIONAL,
        "Pins the Hub repository the source reads (hub, mirror: the precompiled copy; compile: the model) "
        "to a commit; hub passes it as `HF_MODEL_REVISION`.",
    ),
    ConfigKey(
        "notebook_instance_type", _inf2_instance_type, "ml.inf2.xlarge", "Notebook instance type (Inferentia2 family)."
    ),
    ConfigKey(
        "notebook_volume_size_gb",
        _whole_number(64, 16384),
        128,
        "Notebook volume, GB; Docker's data root and the compiled model live here.",
    ),
    ConfigKey(
        "notebook_platform",
        _matching(
            r"notebook-al2023-v\d+|notebook-al2-v\d+",
            "a SageMaker notebook platform identifier such as notebook-al2023-v1",
        ),
        "notebook-al2023-v1",
        "Notebook platform (Amazon Linux 2023).",
    ),
    ConfigKey(
        "notebook_idle_minutes",
        _whole_number(5, 10080),
        60,
        "The notebook stops itself after this many idle minutes once no artifact job runs.",
    ),
    ConfigKey(
        "notebook_subnet_id",
        _matching(r"subnet-[0-9a-f]{8,17}", "a subnet id (subnet-...)", optional=True),
        _OPTIONAL,
        "Optional VPC subnet for the notebook; with it, direct internet access is off.",
    ),
    ConfigKey(
        "notebook_security_group_id",
        _matching(r"sg-[0-9a-f]{8,17}", "a security group id (sg-...)", optional=True),
        _OPTIONAL,
        "Security group for the notebook in `notebook_subnet_id` (required with it).",
    ),
    ConfigKey(
        "compile_timeout_minutes",
        _whole_number(30, 720),
        180,
        "How long the deploy waits for the notebook's artifact job (compile or mirror) to signal.",
    ),
    ConfigKey(
        "hf_token_secret_name",
        _matching(r"[A-Za-z0-9/_+=.@-]{1,512}", "a Secrets Manager secret name", optional=True),
        _OPTIONAL,
        "Secrets Manager secret holding a Hugging Face token (gated models, publishing); read at run time only.",
    ),
    ConfigKey(
        "publish_repo",
        _matching(
            r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*",
            "a Hugging Face repository id (owner/name)",
            optional=True,
        ),
        _OPTIONAL,
        "Hugging Face repository the compiled model is pushed to; publishing is off when empty.",
    ),
    ConfigKey(
        "endpoint_instance_type", _inf2_instance_type, "ml.inf2.xlarge", "Endpoint instance type (Inferentia2 family)."
    ),
    ConfigKey("endpoint_instance_count", _whole_number(1, 32), 1, "Endpoint instances at deploy time."),
    ConfigKey(
        "endpoint_volume_size_gb", _whole_number(1, 512), 64, "Storage volume attached to each endpoint instance, GB."
    ),
    ConfigKey(
        "startup_timeout_seconds",
        _whole_number(900, 3600),
        _OPTIONAL,
        "Container start-up health-check timeout; the guide's deploys took 14–17 minutes.",
        derived_default="the runtime's (`1800` for both)",
    ),
    ConfigKey("download_timeout_seconds", _whole_number(60, 3600), 1800, "Model data download timeout."),
    ConfigKey(
        "latency_alarm_seconds",
        # "The model itself can have a maximum processing time of 60 seconds before responding"
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html):
        # an average ModelLatency of 60 s or more never happens, so such an alarm could never fire.
        _whole_number(
            1,
            MAX_MODEL_SECONDS - 1,
            why=f"InvokeEndpoint gives the model at most {MAX_MODEL_SECONDS} s, so an average model latency "
            "at or above that never happens and the alarm could never fire",
        ),
        # The guide's 512-token answer took 25.1 s of TGI's time (49 ms per token); 30 s is the smoke
        # gate's 1.2 times margin over it, and still leaves room below the 60 s at which calls fail.
        30,
        "Alarm when the average model latency exceeds this, in seconds (below InvokeEndpoint's 60 s limit).",
    ),
    ConfigKey(
        "alarm_email",
        _matching(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address", optional=True),
        _OPTIONAL,
        "Subscribes this address to the environment's alarm topic (SNS asks it to confirm).",
    ),
    ConfigKey("autoscaling", _boolean, False, "Target-tracking autoscaling on invocations per instance."),
    ConfigKey("autoscaling_min_instances", _whole_number(1, 32), 1, "Autoscaling floor."),
    ConfigKey("autoscaling_max_instances", _whole_number(1, 32), 2, "Autoscaling ceiling."),
    ConfigKey(
        "invocations_per_instance_target",
        _whole_number(1, 10000),
        20,
        "Autoscaling target: invocations per instance per minute.",
    ),
    ConfigKey(
        "num_cores",
        _whole_number(1, max(INF2_NEURON_CORES.values())),
        2,
        "Neuron cores the model is sharded on (tensor parallelism).",
    ),
    ConfigKey("batch_size", _whole_number(1, 256), 4, "Compiled batch size: requests decoded together."),
    ConfigKey("sequence_length", _whole_number(1, 131072), 4096, "Compiled sequence length: prompt plus generation."),
    ConfigKey(
        "auto_cast_type",
        _choice(*AUTO_CAST_TYPES),
        _OPTIONAL,
        "Compiled precision (tgi-0.0.28; vllm-0.4 compiles in the checkpoint's own dtype).",
        derived_default="the profile's (`fp16` for bllossom-8b, `bf16` for qwen2.5-7b-instruct)",
    ),
    ConfigKey(
        "max_input_length",
        _whole_number(1, 131072),
        2048,
        "TGI's `MAX_INPUT_LENGTH`: longest prompt in tokens; below `max_total_tokens`, at most 4096.",
    ),
    ConfigKey(
        "max_total_tokens",
        _whole_number(1, 131072),
        4096,
        "TGI's `MAX_TOTAL_TOKENS`: prompt plus generated tokens; at most `sequence_length`.",
    ),
    ConfigKey(
        "image_tag",
        _matching(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "a container image tag"),
        _OPTIONAL,
        "Tag of the runtime's image.",
        derived_default=", ".join(f"{runtime.name}: `{runtime.default_image_tag}`" for runtime in RUNTIMES.values()),
    ),
    ConfigKey(
        "smoke_test_on_deploy",
        _boolean,
        True,
        "Run the smoke-test Lambda after the endpoint is in service; a failure fails the deploy.",
    ),
    ConfigKey(
        "smoke_test_max_ms_per_token",
        _positive_number(10000),
        60.0,
        "Wall-time-per-token budget of the smoke test, ms: the guide's 49 ms of TGI's own time plus the "
        "network, routing and prefill a wall clock adds.",
    ),
    ConfigKey(
        "smoke_test_max_new_tokens",
        _whole_number(1, 4096),
        512,
        "Tokens generated per smoke-test call: the guide's 512, so that the time per token compares with its 49 ms.",
    ),
    ConfigKey("pipeline", _boolean, False, "Synthesize the CDK pipeline that deploys dev, then prod after approval."),
    ConfigKey(
        "connection_arn",
        _matching(
            r"arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}",
            "a CodeConnections connection ARN",
            optional=True,
        ),
        _OPTIONAL,
        "Pipeline source: the CodeStar/CodeConnections connection ARN.",
    ),
    ConfigKey(
        "repository",
        _matching(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "owner/name", optional=True),
        _OPTIONAL,
        "Pipeline source repository, `owner/name`.",
    ),
    ConfigKey("branch", _matching(r"[A-Za-z0-9._/-]{1,255}", "a branch name"), "main", "Pipeline source branch."),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}


def _is_cdk_context(name: str) -> bool:
    """Feature flags, CLI settings and lookup caches share the context with our keys."""
    return name.startswith("@") or ":" in name or name.startswith("aws-cdk")


def load_config(context: Mapping[str, Any]) -> AppConfig:
    """Parse and cross-check every key; the first problem found raises `ConfigError`."""
    unknown = sorted(name for name in context if name not in KEYS_BY_NAME and not _is_cdk_context(name))
    if unknown:
        raise ConfigError(unknown[0], context[unknown[0]], f"unknown key; known keys: {', '.join(KEYS_BY_NAME)}")

    given = {key.name for key in KEYS if context.get(key.name) is not None}
    values = {key.name: key.parse(key.name, context[key.name]) if key.name in given else key.default for key in KEYS}
    profile = PROFILES[values["model"]]
    runtime = RUNTIMES[values["runtime"]]
    values["model_source"] = values["model_source"] or DEFAULT_MODEL_SOURCE[values["stage"]]
    values["image_tag"] = values["image_tag"] or runtime.default_image_tag
    values["startup_timeout_seconds"] = values["startup_timeout_seconds"] or runtime.startup_timeout_seconds
    compilation = NeuronCompilation(
        batch_size=values["batch_size"],
        sequence_length=values["sequence_length"],
        auto_cast_type=runtime.precision(profile, values["auto_cast_type"]),
        num_cores=values["num_cores"],
    )
    _check_runtime(values, given, runtime, profile, compilation)
    _check_serving_limits(values, profile, compilation)
    _check_environment(values)
    return AppConfig(
        stage=values["stage"],
        account=values["account"],
        region=values["region"],
        profile=profile,
        runtime=runtime,
        model_source=values["model_source"],
        hub_revision=values["hub_revision"],
        compilation=compilation,
        max_input_length=values["max_input_length"],
        max_total_tokens=values["max_total_tokens"],
        image_tag=values["image_tag"],
        hf_token_secret_name=values["hf_token_secret_name"],
        alarm_email=values["alarm_email"],
        notebook=NotebookSettings(
            instance_type=values["notebook_instance_type"],
            volume_size_gb=values["notebook_volume_size_gb"],
            platform_identifier=values["notebook_platform"],
            idle_minutes=values["notebook_idle_minutes"],
            subnet_id=values["notebook_subnet_id"],
            security_group_id=values["notebook_security_group_id"],
            compile_timeout_minutes=values["compile_timeout_minutes"],
            publish_repo=values["publish_repo"],
        ),
        endpoint=EndpointSettings(
            instance_type=values["endpoint_instance_type"],
            instance_count=values["endpoint_instance_count"],
            volume_size_gb=values["endpoint_volume_size_gb"],
            startup_timeout_seconds=values["startup_timeout_seconds"],
            download_timeout_seconds=values["download_timeout_seconds"],
            latency_alarm_seconds=values["latency_alarm_seconds"],
            autoscaling=values["autoscaling"],
            autoscaling_min_instances=values["autoscaling_min_instances"],
            autoscaling_max_instances=values["autoscaling_max_instances"],
            invocations_per_instance_target=values["invocations_per_instance_target"],
        ),
        smoke_test=SmokeTestSettings(
            on_deploy=values["smoke_test_on_deploy"],
            max_ms_per_token=values["smoke_test_max_ms_per_token"],
            max_new_tokens=values["smoke_test_max_new_tokens"],
        ),
        overrides=tuple((key.name, _as_cli_value(context[key.name])) for key in KEYS if key.name in given),
        pipeline=(
            PipelineSettings(
                connection_arn=values["connection_arn"],
                repository=values["repository"],
                branch=values["branch"],
            )
            if values["pipeline"]
            else None
        ),
    )


def config_for_stage(config: AppConfig, stage: str) -> AppConfig:
    """The configuration with another stage, its stage-dependent defaults chosen anew."""
    return load_config({**dict(config.overrides), "stage": stage})


def _as_cli_value(raw: Any) -> str:
    return str(raw).lower() if isinstance(raw, bool) else str(raw)


def _check_runtime(
    values: dict[str, Any],
    given: set[str],
    runtime: ServingRuntime,
    profile: ModelProfile,
    compilation: NeuronCompilation,
) -> None:
    """What the chosen runtime can serve: where its image is published, its own keys, and its
    precompiled copies, which hub and mirror serve and must match exactly."""
    release = runtime.release
    if values["region"] and values["region"] not in release.registry_accounts:
        raise ConfigError(
            "region",
            values["region"],
            f"runtime {runtime.name}'s image ({release.repository}) is not published there; "
            f"it is in: {', '.join(release.regions)}",
        )
    for other in RUNTIMES.values():
        for key in sorted((other.own_keys - runtime.own_keys) & given):
            raise ConfigError(key, values[key], f"is read by runtime {other.name} only, not by {runtime.name}")
    source = values["model_source"]
    if source in ("hub", "mirror"):
        precompiled = runtime.precompiled.get(profile.name)
        if precompiled is None:
            chosen = "chosen" if "model_source" in given else f"{values['stage']}'s default"
            raise ConfigError(
                "model_source",
                source,
                f"({chosen}) serves a precompiled Hub copy, and runtime {runtime.name} has none of "
                f"{profile.name}; use model_source=compile",
            )
        for field in ("batch_size", "sequence_length", "auto_cast_type", "num_cores"):
            compiled = getattr(precompiled.compiled_with, field)
            if getattr(compilation, field) != compiled:
                raise ConfigError(
                    field,
                    getattr(compilation, field),
                    f"the precompiled {precompiled.hub_id} was compiled with {field}={compiled}; "
                    "use model_source=compile for other settings",
                )
    runtime.check(values, compilation)


def _check_serving_limits(values: dict[str, Any], profile: ModelProfile, compilation: NeuronCompilation) -> None:
    """The hardware's limits and the rules between keys that hold for every runtime."""
    cores = INF2_NEURON_CORES[values["endpoint_instance_type"].removeprefix("ml.inf2.")]
    if compilation.num_cores > cores:
        raise ConfigError(
            "num_cores", compilation.num_cores, f"{values['endpoint_instance_type']} has {cores} Neuron cores"
        )
    if compilation.sequence_length > profile.max_position_embeddings:
        raise ConfigError(
            "sequence_length",
            compilation.sequence_length,
            f"{profile.model_id} handles at most {profile.max_position_embeddings} tokens",
        )
    if values["autoscaling_min_instances"] > values["autoscaling_max_instances"]:
        raise ConfigError(
            "autoscaling_min_instances",
            values["autoscaling_min_instances"],
            f"must not exceed autoscaling_max_instances ({values['autoscaling_max_instances']})",
        )
    if values["publish_repo"] and values["model_source"] != "compile":
        raise ConfigError(
            "publish_repo",
            values["publish_repo"],
            f"only a model compiled on the notebook is published (model_source={values['model_source']})",
        )
    if values["publish_repo"] and not values["hf_token_secret_name"]:
        raise ConfigError(
            "publish_repo", values["publish_repo"], "publishing needs hf_token_secret_name (a write token)"
        )
    if bool(values["notebook_subnet_id"]) != bool(values["notebook_security_group_id"]):
        raise ConfigError(
            "notebook_security_group_id",
            values["notebook_security_group_id"],
            "notebook_subnet_id and notebook_security_group_id go together",
        )


def _check_environment(values: dict[str, Any]) -> None:
    needs_environment = "prod stages" if values["stage"] == "prod" else "the pipeline" if values["pipeline"] else None
    if needs_environment:
        for key in ("account", "region"):
            if values[key] is None:
                raise ConfigError(key, None, f"required for {needs_environment}: pass -c {key}=...")
    if values["pipeline"]:
        for key in ("connection_arn", "repository"):
            if values[key] is None:
                raise ConfigError(key, None, f"required with pipeline=true: pass -c {key}=...")


def markdown_table() -> str:
    """The README's table of keys, generated from `KEYS` so that it cannot drift from the code."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key in KEYS:
        default = key.derived_default or ("—" if key.default is None else f"`{_as_cli_value(key.default)}`")
        rows.append(f"| `{key.name}` | {default} | {key.description} |")
    return "\n".join(rows)
