"""Where the Hugging Face Deep Learning Container images live, per region, and how they are tagged.

Registry accounts, regions and tag parts come from the SageMaker Python SDK's own image-URI tables
(sagemaker-core), read as data: importing the SDK costs about two seconds of every synth, and a
hand-typed copy of the tables goes stale as regions are added.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# sagemaker-core ships the tables in sagemaker/core/; the top-level package is located rather
# than sagemaker.core, whose lookup would import it (a second of every synth).
SDK_PACKAGE = "sagemaker"
SDK_IMAGE_CONFIG_DIR = "core/image_uri_config"
# The tag names the inference tool; the tables key the container's OS by their own processor name.
INFERENCE_TOOL = "neuronx"


@dataclass(frozen=True)
class DlcRelease:
    """One release of an image family, as the SDK's table lists it."""

    version: str
    repository: str
    registry_accounts: Mapping[str, str]
    # The tag `image_uris.retrieve` composes for this release.
    sdk_tag: str

    @property
    def regions(self) -> list[str]:
        return sorted(self.registry_accounts)


@cache
def _table(config_name: str) -> dict[str, Any]:
    spec = importlib.util.find_spec(SDK_PACKAGE)
    assert spec is not None and spec.submodule_search_locations, f"{SDK_PACKAGE} is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / SDK_IMAGE_CONFIG_DIR / config_name
    table: dict[str, Any] = json.loads(path.read_text())["inference"]
    return table


def _release(version: str, entry: Mapping[str, Any], processor: str) -> DlcRelease:
    # As the SDK composes it: prefix, inference tool, Python, the newest Neuron SDK where the
    # table lists any, and the container's OS.
    sdk_versions = sorted(entry.get("sdk_versions", []), reverse=True)[:1]
    parts = [entry["tag_prefix"], INFERENCE_TOOL, entry["py_versions"][0], *sdk_versions]
    parts.append(entry["container_version"][processor])
    return DlcRelease(
        version=version,
        repository=entry["repository"],
        registry_accounts=entry["registries"],
        sdk_tag="-".join(parts),
    )


@cache
def dlc_release(config_name: str, version: str) -> DlcRelease:
    """The release of `version` in the SDK's table `config_name`."""
    table = _table(config_name)
    return _release(version, table["versions"][version], table["processors"][0])


@cache
def newest_dlc_release(config_name: str, series: str) -> DlcRelease:
    """The newest release whose version starts with `series` (e.g. "0.4.")."""
    versions = [version for version in _table(config_name)["versions"] if version.startswith(series)]
    newest = max(versions, key=lambda version: tuple(int(part) for part in version.split(".")))
    return dlc_release(config_name, newest)
