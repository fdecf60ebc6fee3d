"""The project's configuration: one typed, validated, immutable object built once in app.py.

`AppConfig` declares the keys that choose what is deployed where; every other key belongs to the
settings group of the part that reads it (`GROUPS`, in the order the README's table lists them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from inf2_llm.config.groups import EndpointSettings, NotebookSettings, PipelineSettings, SmokeTestSettings
from inf2_llm.parsers import choice, matching, named
from inf2_llm.profiles import PROFILES, ModelProfile, NeuronCompilation
from inf2_llm.runtimes import RUNTIMES, TGI, PrecompiledCopy, ServingRuntime
from inf2_llm.settings import setting

STAGES = ("dev", "prod")
# hub: the endpoint downloads the precompiled Hub copy; mirror: the notebook copies it (and the
# weights it was compiled from) to S3; compile: the notebook compiles the model into S3.
MODEL_SOURCES = ("hub", "mirror", "compile")
# A production endpoint that scales out or is replaced must not depend on a third-party Hub
# repository staying reachable and unchanged; dev takes the quickest path.
DEFAULT_MODEL_SOURCE = {"dev": "hub", "prod": "mirror"}


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    stage: str = setting(
        "stage",
        choice(*STAGES),
        "Environment: `dev` is fully destroyable; `prod` retains data and protects the storage stack.",
        default="dev",
    )
    account: str | None = setting(
        "account",
        matching(r"\d{12}", "a 12-digit AWS account id", optional=True),
        "Target account. Optional for dev (environment-agnostic), required for prod and the pipeline.",
    )
    region: str | None = setting(
        "region",
        matching(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region such as us-west-2", optional=True),
        "Target region; must be one where the runtime's image is published. Required for prod and the pipeline.",
    )
    profile: ModelProfile = setting(
        "model",
        named(PROFILES),
        "Model profile: " + ", ".join(f"`{name}`" for name in PROFILES) + ".",
        default="bllossom-8b",
    )
    # The chosen runtime, bound to its own settings group when the configuration is loaded.
    runtime: ServingRuntime = setting(
        "runtime",
        named(RUNTIMES),
        "Serving runtime: `tgi-0.0.28`, the guide's TGI image, or `vllm-0.4`, vLLM on optimum-neuron 0.4.x "
        "(see Serving runtimes).",
        default=TGI.name,
    )
    image_tag: str = setting(
        "image_tag",
        matching(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "a container image tag"),
        "Tag of the runtime's image.",
        derived_default=", ".join(f"{runtime.name}: `{runtime.default_image_tag}`" for runtime in RUNTIMES.values()),
        derive=lambda basis: basis.runtime.default_image_tag,
    )
    model_source: str = setting(
        "model_source",
        choice(*MODEL_SOURCES),
        "`hub`: the endpoint downloads the precompiled Hub copy; `mirror`: the notebook copies it to S3; "
        "`compile`: the notebook compiles the model into S3. Mirror and compile serve from S3 in network isolation.",
        derived_default="`hub` for dev, `mirror` for prod",
        derive=lambda basis: DEFAULT_MODEL_SOURCE[basis.stage],
    )
    # Pins the Hub repository the source reads: the precompiled copy (hub, mirror) or the model
    # compiled (compile); None takes the newest revision and records it in the manifest.
    hub_revision: str | None = setting(
        "hub_revision",
        matching(r"[0-9a-f]{40}", "a 40-character Hub commit hash", optional=True),
        "Pins the Hub repository the source reads (hub, mirror: the precompiled copy; compile: the model) "
        "to a commit; hub passes it as `HF_MODEL_REVISION`.",
    )
    notebook: NotebookSettings
    endpoint: EndpointSettings
    # Its auto-cast type is the runtime's choice (`ServingRuntime.precision`).
    compilation: NeuronCompilation
    smoke_test: SmokeTestSettings
    # None unless pipeline=true.
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


# Every settings group, in the order the README's table lists their keys.
GROUPS: tuple[type, ...] = (
    AppConfig,
    NotebookSettings,
    EndpointSettings,
    NeuronCompilation,
    *dict.fromkeys(type(runtime.settings) for runtime in RUNTIMES.values()),
    SmokeTestSettings,
    PipelineSettings,
)
