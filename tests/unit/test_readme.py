"""The README is the user's manual: its commands, table and picture must match the code."""

from __future__ import annotations

import json
from pathlib import Path

from inf2_llm.config import markdown_table
from scripts.architecture import mermaid
from tests.unit.conftest import COMPILE, PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_readme_gives_the_two_commands_ci_runs() -> None:
    """CI runs the README's test command; a README that drifts from .ci/run misleads every user."""
    assert "scripts/dev.sh synth" in README
    assert "scripts/dev.sh test" in README
    assert "scripts/dev.sh test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_configuration_table_matches_the_code() -> None:
    """Every key, with its default, is documented exactly as `inf2_llm.config` defines it."""
    assert markdown_table() in README


def test_architecture_picture_matches_the_synthesized_app(synth) -> None:
    """The picture is generated from the templates; a stale one would describe another system."""
    assert mermaid(Path(synth(COMPILE).assembly.directory)) in README


def test_cli_is_pinned_to_cdk_v2() -> None:
    """aws-cdk 3.x cannot read aws-cdk-lib 2.27x assemblies; the lock file must keep 2.x."""
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"].startswith("2.")
