"""The README's configuration table, generated from the settings groups' declarations."""

from __future__ import annotations

from inf2_llm.config.loading import SETTINGS, as_cli_value


def markdown_table() -> str:
    """The README's table of keys, generated from the groups' declarations so that it cannot drift from the code."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, declared in SETTINGS.items():
        default = declared.derived_default or (
            "—" if declared.default is None else f"`{as_cli_value(declared.default)}`"
        )
        rows.append(f"| `{key}` | {default} | {declared.describe} |")
    return "\n".join(rows)
