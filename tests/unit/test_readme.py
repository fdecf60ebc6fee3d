"""The README is the user's manual: its commands, table and picture must match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from inf2_llm.config import markdown_table
from scripts.architecture import mermaid
from tests.unit.conftest import COMPILE, PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
README_KO = (PROJECT_ROOT / "README.ko.md").read_text()


def _commands(readme: str) -> list[str]:
    """The lines of the README's bash blocks, without their trailing comments (which are translated)."""
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    return [re.sub(r"\s{2,}#.*$", "", line).rstrip() for block in blocks for line in block.splitlines()]


def _table_rows(readme: str, header: str) -> list[tuple[str, list[str]]]:
    """Key and default values of each row of the configuration table under `header`: the values are
    the default cell's `code` spans (or its dash), since the words around them are translated."""
    table = readme[readme.index(header) :].split("\n\n", 1)[0].splitlines()[2:]
    rows = []
    for row in table:
        key, default = (cell.strip() for cell in row.split("|")[1:3])
        rows.append((key, re.findall(r"`[^`]+`|—", default)))
    return rows


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


def test_korean_readme_gives_the_same_commands() -> None:
    """The guide's readers follow README.ko.md: every command it gives must be the English one, in
    the same order, none missing and none of its own; only the comments are translated."""
    assert "scripts/dev.sh synth" in README_KO and "scripts/dev.sh test" in README_KO
    assert len(_commands(README)) >= 20
    assert _commands(README_KO) == _commands(README)


def test_korean_readme_documents_every_configuration_key() -> None:
    """Every key is in the Korean table, in the code's order, with the code's default values."""
    rows = _table_rows(markdown_table(), "| key | default | meaning |")
    assert len(rows) >= 40 and all(values for _, values in rows)
    assert _table_rows(README_KO, "| 키 | 기본값 | 의미 |") == rows


def test_cli_is_pinned_to_cdk_v2() -> None:
    """aws-cdk 3.x cannot read aws-cdk-lib 2.27x assemblies; the lock file must keep 2.x."""
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"].startswith("2.")
