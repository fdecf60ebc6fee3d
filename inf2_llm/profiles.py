"""The models the project knows how to serve, and the settings a model is compiled with."""

from __future__ import annotations

from dataclasses import dataclass

from inf2_llm.parsers import INF2_NEURON_CORES, whole_number
from inf2_llm.settings import setting


@dataclass(frozen=True, kw_only=True)
class NeuronCompilation:
    """The settings a model is compiled with; the serving container must be started with the same."""

    num_cores: int = setting(
        "num_cores",
        whole_number(1, max(INF2_NEURON_CORES.values())),
        "Neuron cores the model is sharded on (tensor parallelism).",
        default=2,
    )
    batch_size: int = setting(
        "batch_size", whole_number(1, 256), "Compiled batch size: requests decoded together.", default=4
    )
    sequence_length: int = setting(
        "sequence_length",
        whole_number(1, 131072),
        "Compiled sequence length: prompt plus generation.",
        default=4096,
    )
    # The runtime's choice (`ServingRuntime.precision`); None: compiled in the checkpoint's own
    # dtype (the runtime offers no choice).
    auto_cast_type: str | None


@dataclass(frozen=True)
class ModelProfile:
    name: str
    model_id: str
    # The precision the guide compiles it with, where the runtime lets it be chosen.
    auto_cast_type: str
    max_position_embeddings: int
    stop_sequences: tuple[str, ...] = ()


PROFILES: dict[str, ModelProfile] = {
    profile.name: profile
    for profile in (
        ModelProfile(
            name="bllossom-8b",
            model_id="MLP-KTLim/llama-3-Korean-Bllossom-8B",
            auto_cast_type="fp16",
            max_position_embeddings=8192,
        ),
        ModelProfile(
            name="qwen2.5-7b-instruct",
            model_id="Qwen/Qwen2.5-7B-Instruct",
            auto_cast_type="bf16",
            max_position_embeddings=32768,
            # Qwen's chat template ends a turn with this token; without it as a stop
            # sequence the generate API runs on to max_new_tokens.
            stop_sequences=("<|im_end|>",),
        ),
    )
}
