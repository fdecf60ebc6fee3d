"""The serving runtimes: the container an endpoint runs, and everything that differs with it.

A runtime owns its image, the container's environment, the command the notebook compiles with,
what the compiled model's configuration must record, the APIs the endpoint answers, what the
endpoint's instances need, its precompiled Hub copies, the configuration keys only it reads and
its own configuration rules; no construct or script asks which runtime it serves. The
configuration holds the chosen runtime bound to its own settings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Self

from inf2_llm.config_error import ConfigError
from inf2_llm.dlc_image import DlcRelease, dlc_release, newest_dlc_release
from inf2_llm.parsers import choice, whole_number
from inf2_llm.profiles import ModelProfile, NeuronCompilation
from inf2_llm.settings import build, declared_settings, defaults, setting

AUTO_CAST_TYPES = ("fp16", "bf16")


@dataclass(frozen=True)
class PrecompiledCopy:
    """A profile compiled for one runtime and published on the Hugging Face Hub."""

    hub_id: str
    compiled_with: NeuronCompilation


@dataclass(frozen=True)
class ServingRuntime(ABC):
    name: str
    # How stack and role descriptions name it.
    title: str
    # The SDK's image-URI table and the release in it.
    image_table: str
    image_version: str
    # Appended to the SDK's tag: the DLC patch release to pin ("" takes the SDK's tag as is).
    image_patch: str
    # Names the stack's region-to-registry mapping; one per image family.
    registry_mapping_id: str
    # What the endpoint answers on /invocations (names of lambda/smoke_test's InferenceApis).
    apis: tuple[str, ...]
    # The production variant's InferenceAmiVersion; None keeps SageMaker's default.
    inference_ami_version: str | None
    startup_timeout_seconds: int
    # Neuron tensor-parallel degrees the runtime's backend shards decoder models on.
    shard_sizes: tuple[int, ...]
    # Precompiled Hub copies, by profile name.
    precompiled: Mapping[str, PrecompiledCopy]
    # Where an exported model records its neuron configuration: a JSON file, and the key of the
    # section in it ("" for the whole file).
    neuron_config_file: str
    neuron_config_section: str
    # The runtime's own settings group, whose keys only this runtime reads: the constants below
    # hold its defaults, the configuration the values it was given.
    settings: object

    @property
    def release(self) -> DlcRelease:
        if self.image_version.endswith("."):
            return newest_dlc_release(self.image_table, self.image_version)
        return dlc_release(self.image_table, self.image_version)

    @property
    def default_image_tag(self) -> str:
        return self.release.sdk_tag + self.image_patch

    def with_settings(self, values: Mapping[str, Any]) -> Self:
        """This runtime bound to its settings group, built from the configuration's values."""
        return replace(self, settings=build(type(self.settings), values))

    @property
    def own_keys(self) -> frozenset[str]:
        """Configuration keys only this runtime reads; setting one for another runtime is refused."""
        return frozenset(declared.key for declared in declared_settings(type(self.settings)).values())

    @abstractmethod
    def precision(self, profile: ModelProfile) -> str | None:
        """The auto-cast type `profile` is compiled with: the one requested, or the runtime's choice."""

    @abstractmethod
    def container_environment(
        self, *, model: str, revision: str | None, compilation: NeuronCompilation
    ) -> dict[str, str]:
        """The container's environment to serve `model` (a Hub id, or the directory SageMaker
        copied the artifact to) compiled with `compilation`."""

    @abstractmethod
    def export_options(self, compilation: NeuronCompilation) -> tuple[str, ...]:
        """`optimum-cli export neuron` options, between `--model DIR` and the output directory."""

    @abstractmethod
    def neuron_config(self, compilation: NeuronCompilation) -> dict[str, Any]:
        """What an exported model's neuron configuration must record to be served with
        `compilation`: the notebook job checks a compiled or mirrored model against it."""

    def check(self, compilation: NeuronCompilation) -> None:
        """The runtime's own rules on its settings and the compilation; raises ConfigError."""
        if compilation.num_cores not in self.shard_sizes:
            raise ConfigError(
                "num_cores",
                compilation.num_cores,
                f"runtime {self.name} shards on {', '.join(map(str, self.shard_sizes))} cores",
            )


@dataclass(frozen=True, kw_only=True)
class TgiSettings:
    """The keys only TGI reads."""

    auto_cast_type: str | None = setting(
        "auto_cast_type",
        choice(*AUTO_CAST_TYPES),
        "Compiled precision (tgi-0.0.28; vllm-0.4 compiles in the checkpoint's own dtype).",
        derived_default="the profile's (`fp16` for bllossom-8b, `bf16` for qwen2.5-7b-instruct)",
    )
    max_input_length: int = setting(
        "max_input_length",
        whole_number(1, 131072),
        "TGI's `MAX_INPUT_LENGTH`: longest prompt in tokens; below `max_total_tokens`, at most 4096.",
        default=2048,
    )
    max_total_tokens: int = setting(
        "max_total_tokens",
        whole_number(1, 131072),
        "TGI's `MAX_TOTAL_TOKENS`: prompt plus generated tokens; at most `sequence_length`.",
        default=4096,
    )


@dataclass(frozen=True)
class NoSettings:
    """A runtime that reads no key of its own."""


@dataclass(frozen=True)
class TgiRuntime(ServingRuntime):
    """The guide's runtime: TGI 3.0.0 on transformers-neuronx, optimum-neuron 0.0.28.

    The image's SageMaker entrypoint (optimum-neuron v0.0.28, text-generation-inference/
    sagemaker-entrypoint.sh) requires HF_MODEL_ID and MAX_BATCH_SIZE, maps HF_MODEL_ID to MODEL_ID
    and HF_MODEL_REVISION to REVISION, and starts text-generation-launcher, which reads
    MAX_BATCH_SIZE, MAX_INPUT_LENGTH and MAX_TOTAL_TOKENS. Nothing there compares them with the
    compiled model: tgi_env.py, which does ("Invalid neuron config and env"), runs in the plain
    image only. The model always runs with its compiled batch size, sequence length, cores and
    precision, so the guide's HF_NUM_CORES, HF_BATCH_SIZE, HF_SEQUENCE_LENGTH and HF_AUTO_CAST_TYPE
    (read only to export a model that has no neuron configuration) and MESSAGES_API_ENABLED (gone
    since TGI 2.4: /invocations takes either API by payload shape) are not set.
    """

    settings: TgiSettings

    def precision(self, profile: ModelProfile) -> str | None:
        return self.settings.auto_cast_type or profile.auto_cast_type

    def container_environment(
        self, *, model: str, revision: str | None, compilation: NeuronCompilation
    ) -> dict[str, str]:
        environment = {
            "HF_MODEL_ID": model,
            # The router serves at most this many requests at once; above the compiled batch size
            # requests fail once more arrive together than the model has slots.
            "MAX_BATCH_SIZE": str(compilation.batch_size),
            "MAX_INPUT_LENGTH": str(self.settings.max_input_length),
            "MAX_TOTAL_TOKENS": str(self.settings.max_total_tokens),
        }
        # Only with a Hub id: beside a local directory the router would look the directory up on
        # the Hub by name and lose the chat template.
        if revision:
            environment["HF_MODEL_REVISION"] = revision
        return environment

    def export_options(self, compilation: NeuronCompilation) -> tuple[str, ...]:
        return (
            "--batch_size", str(compilation.batch_size),
            "--sequence_length", str(compilation.sequence_length),
            "--auto_cast_type", str(compilation.auto_cast_type),
            "--num_cores", str(compilation.num_cores),
        )  # fmt: skip

    def neuron_config(self, compilation: NeuronCompilation) -> dict[str, Any]:
        return {
            "batch_size": compilation.batch_size,
            "sequence_length": compilation.sequence_length,
            "auto_cast_type": compilation.auto_cast_type,
            "num_cores": compilation.num_cores,
        }

    def check(self, compilation: NeuronCompilation) -> None:
        super().check(compilation)
        settings = self.settings
        if settings.max_total_tokens > compilation.sequence_length:
            raise ConfigError(
                "max_total_tokens",
                settings.max_total_tokens,
                f"must not exceed sequence_length ({compilation.sequence_length}): TGI would accept requests "
                "the compiled model silently cuts short",
            )
        if settings.max_input_length >= settings.max_total_tokens:
            raise ConfigError(
                "max_input_length",
                settings.max_input_length,
                f"must be below max_total_tokens ({settings.max_total_tokens}): text-generation-launcher "
                "refuses to start otherwise",
            )
        if settings.max_input_length > ROUTER_PREFILL_TOKENS:
            raise ConfigError(
                "max_input_length",
                settings.max_input_length,
                f"must be at most {ROUTER_PREFILL_TOKENS}: TGI's router refuses to start with a prompt longer than "
                "its prefill budget (MAX_BATCH_PREFILL_TOKENS, which the project leaves at its default)",
            )


@dataclass(frozen=True)
class VllmRuntime(ServingRuntime):
    """vLLM 0.11 on NeuronX Distributed, started by optimum-neuron 0.4.x's `optimum-cli neuron serve`.

    The image's entrypoint (optimum-neuron v0.4.4, docker/vllm/Dockerfile) turns every SM_ON_X
    variable into `--x` for serve, after `--port 8080`. Serve refuses to start when a batch size,
    sequence length or tensor-parallel size it is given differs from the model's
    neuron_config.json, or when the model was exported by another optimum-neuron or compiler
    version (hence the export with the serving image itself). The export of 0.4.4 ignores
    --auto_cast_type and --torch_dtype for decoder models: the model is compiled in its
    checkpoint's own dtype.
    """

    settings: NoSettings

    def precision(self, profile: ModelProfile) -> str | None:
        return None

    def container_environment(
        self, *, model: str, revision: str | None, compilation: NeuronCompilation
    ) -> dict[str, str]:
        return {
            "SM_ON_MODEL": model,
            "SM_ON_BATCH_SIZE": str(compilation.batch_size),
            "SM_ON_SEQUENCE_LENGTH": str(compilation.sequence_length),
            "SM_ON_TENSOR_PARALLEL_SIZE": str(compilation.num_cores),
            # vLLM's OpenAI server batches 2048 prompt tokens per step by default, and a longer
            # prompt then waits in its queue for ever on Neuron (fixed after optimum-neuron 0.4.4,
            # commit 5f8e901d); one step must hold a whole sequence.
            "SM_ON_MAX_NUM_BATCHED_TOKENS": str(compilation.sequence_length),
            # The model and its weights come from S3 in network isolation: no Hub, no usage report.
            "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
        }

    def export_options(self, compilation: NeuronCompilation) -> tuple[str, ...]:
        return (
            "--batch_size", str(compilation.batch_size),
            "--sequence_length", str(compilation.sequence_length),
            "--tensor_parallel_size", str(compilation.num_cores),
            # The endpoint's family, whatever the compiling machine is.
            "--instance_type", "inf2",
        )  # fmt: skip

    def neuron_config(self, compilation: NeuronCompilation) -> dict[str, Any]:
        return {
            "batch_size": compilation.batch_size,
            "sequence_length": compilation.sequence_length,
            "tp_degree": compilation.num_cores,
        }


# TGI's router prefills at most this many tokens per batch by default (min(4096, the model's
# max_position_embeddings), and both profiles allow more).
ROUTER_PREFILL_TOKENS = 4096
GUIDE_COMPILATION = {"batch_size": 4, "sequence_length": 4096, "num_cores": 2}

TGI = TgiRuntime(
    name="tgi-0.0.28",
    title="TGI Neuron",
    image_table="huggingface-llm-neuronx.json",
    image_version="0.0.28",
    # The guide's image: DLC release v1.2 of optimum-neuron 0.0.28.
    image_patch="-v1.2",
    registry_mapping_id="TgiNeuronxRegistryAccounts",
    apis=("generate", "messages"),
    inference_ami_version=None,
    # The guide's deploys took 14-17 minutes to pass the health check.
    startup_timeout_seconds=1800,
    shard_sizes=(1, 2, 4, 8, 12, 24),
    neuron_config_file="config.json",
    neuron_config_section="neuron",
    precompiled={
        "bllossom-8b": PrecompiledCopy(
            hub_id="Gonsoo/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B",
            compiled_with=NeuronCompilation(**GUIDE_COMPILATION, auto_cast_type="fp16"),
        ),
        "qwen2.5-7b-instruct": PrecompiledCopy(
            hub_id="Gonsoo/AWS-HF-optimum-neuron-0-0-28-Qwen2.5-7B-Instruct",
            compiled_with=NeuronCompilation(**GUIDE_COMPILATION, auto_cast_type="bf16"),
        ),
    },
    settings=defaults(TgiSettings),
)

VLLM = VllmRuntime(
    name="vllm-0.4",
    title="vLLM Neuron",
    image_table="huggingface-vllm-neuronx.json",
    # The newest optimum-neuron 0.4.x release the SDK lists.
    image_version="0.4.",
    image_patch="",
    registry_mapping_id="VllmNeuronxRegistryAccounts",
    apis=("completions", "messages"),
    # The image runs Neuron runtime 2.28 (SDK 2.26.1; optimum-neuron v0.4.4, docker/vllm/Dockerfile pins
    # aws-neuronx-runtime-lib 2.28.23.0). The only Neuron AMI value is "al2-ami-sagemaker-inference-neuron-2
    # ... Neuron driver version: 2.19" (ProductionVariant API reference,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html); the default AMI's
    # driver is undocumented and was 2.10 in AWS's own DLC tests (awslabs/llm-hosting-container PR #156).
    # Neuron's rule: "The driver remains backwards compatible with older versions of Neuron Runtime, but newer
    # versions of the Runtime might rely on the functionality that is only provided by a newer driver"
    # (https://awsdocs-neuron.readthedocs-hosted.com/en/latest/neuron-runtime/nrt-troubleshoot.html). The
    # runtime release notes name no driver requirement for 2.28 on Inf2; the first break is runtime 2.32
    # (SDK 2.30): "not backward-compatible with Neuron Driver 2.26 or earlier", so an image of SDK 2.30 or
    # newer cannot run on this AMI. Drivers 2.19 to 2.25 accept the same runtime range on Inf2 (aws-neuron-driver,
    # src/v2/neuron_dhal_v2.c, V2_RT_MAX_COMPATIBLE_VERSION 7), and optimum-neuron's own SageMaker notebook
    # deploys this image with this AMI (notebooks/sagemaker/deploy-llama-3-3-70b.ipynb, 2026-01).
    inference_ami_version="al2-ami-sagemaker-inference-neuron-2",
    startup_timeout_seconds=1800,
    shard_sizes=(1, 2, 4, 8, 16, 32),
    neuron_config_file="neuron_config.json",
    neuron_config_section="",
    # No 0.4.x copy of either profile is published: the model is compiled on the notebook.
    precompiled={},
    settings=NoSettings(),
)

RUNTIMES: dict[str, ServingRuntime] = {runtime.name: runtime for runtime in (TGI, VLLM)}
