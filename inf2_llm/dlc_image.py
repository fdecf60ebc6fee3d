"""Where the Hugging Face TGI Neuron container image lives, per region.

The registry accounts come from the SageMaker Python SDK's own image-URI table, read as
data: importing the SDK costs about two seconds of every synth, and a hand-typed copy of
the table goes stale as regions are added.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from functools import cache

SDK_DISTRIBUTION = "sagemaker-core"
SDK_IMAGE_CONFIG = "sagemaker/core/image_uri_config/huggingface-llm-neuronx.json"
OPTIMUM_NEURON_VERSION = "0.0.28"


@dataclass(frozen=True)
class DlcRelease:
    repository: str
    registry_accounts: dict[str, str]

    @property
    def regions(self) -> list[str]:
        return sorted(self.registry_accounts)


@cache
def tgi_neuronx_release() -> DlcRelease:
    """The SDK's entry for the optimum-neuron release the project is built on."""
    config_path = importlib.metadata.distribution(SDK_DISTRIBUTION).locate_file(SDK_IMAGE_CONFIG)
    versions = json.loads(config_path.read_text())["inference"]["versions"]
    release = versions[OPTIMUM_NEURON_VERSION]
    return DlcRelease(repository=release["repository"], registry_accounts=release["registries"])
