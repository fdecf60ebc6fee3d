"""Fixtures that run the rendered lifecycle hooks in the sandbox of sandbox.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from inf2_llm.lifecycle import render_on_start
from tests.scripts.examples import PROFILES, hook_settings
from tests.scripts.sandbox import Boot, NotebookInstance, StartInstance


@pytest.fixture
def instance(tmp_path: Path) -> NotebookInstance:
    return NotebookInstance(tmp_path / "instance")


@pytest.fixture
def start_instance(instance: NotebookInstance) -> StartInstance:
    return lambda settings, **env: instance.run_boot(render_on_start(settings), **env)


@pytest.fixture(scope="module", params=PROFILES)
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Boot]:
    """(profile, ended boot) of a first start that compiled the profile without trouble."""
    instance = NotebookInstance(tmp_path_factory.mktemp(request.param))
    boot, _ = instance.run_boot(render_on_start(hook_settings(request.param)))
    return request.param, boot


@pytest.fixture(scope="module", params=PROFILES)
def compiled_for_vllm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Boot]:
    """(profile, ended boot) of a first start that compiled the profile for the vLLM runtime."""
    instance = NotebookInstance(tmp_path_factory.mktemp(f"vllm-{request.param}"))
    boot, _ = instance.run_boot(render_on_start(hook_settings(request.param, runtime="vllm-0.4")))
    return request.param, boot


@pytest.fixture(scope="module", params=PROFILES)
def mirrored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Boot]:
    """(profile, ended boot) of a first start that mirrored the profile's precompiled copy without trouble."""
    instance = NotebookInstance(tmp_path_factory.mktemp(f"mirror-{request.param}"))
    boot, _ = instance.run_boot(render_on_start(hook_settings(request.param, model_source="mirror")))
    return request.param, boot
