"""The models the project knows how to serve, and how their Hub copies were compiled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NeuronCompilation:
    """The settings a model is compiled with; the TGI Neuron container must be started with the same."""

    batch_size: int
    sequence_length: int
    auto_cast_type: str
    num_cores: int


@dataclass(frozen=True)
class ModelProfile:
    name: str
    model_id: str
    auto_cast_type: str
    max_position_embeddings: int
    precompiled_hub_id: str
    precompiled_with: NeuronCompilation
    stop_sequences: tuple[str, ...] = ()


PROFILES: dict[str, ModelProfile] = {
    profile.name: profile
    for profile in (
        ModelProfile(
            name="bllossom-8b",
            model_id="MLP-KTLim/llama-3-Korean-Bllossom-8B",
            auto_cast_type="fp16",
            max_position_embeddings=8192,
            precompiled_hub_id="Gonsoo/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B",
            precompiled_with=NeuronCompilation(batch_size=4, sequence_length=4096, auto_cast_type="fp16", num_cores=2),
        ),
        ModelProfile(
            name="qwen2.5-7b-instruct",
            model_id="Qwen/Qwen2.5-7B-Instruct",
            auto_cast_type="bf16",
            max_position_embeddings=32768,
            precompiled_hub_id="Gonsoo/AWS-HF-optimum-neuron-0-0-28-Qwen2.5-7B-Instruct",
            precompiled_with=NeuronCompilation(batch_size=4, sequence_length=4096, auto_cast_type="bf16", num_cores=2),
            # Qwen's chat template ends a turn with this token; without it as a stop
            # sequence the generate API runs on to max_new_tokens.
            stop_sequences=("<|im_end|>",),
        ),
    )
}
