"""The app's context as `cdk synth` and `cdk deploy` see it: cdk.json's, under `-c key=value` options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def context_assignment(text: str) -> tuple[str, str]:
    """One `-c key=value`, split at the first `=` as the CDK CLI splits it; the value stays a string."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return key, value


def add_context_option(parser: argparse.ArgumentParser) -> None:
    """-c/--context KEY=VALUE, repeatable, as `cdk synth` and `cdk deploy` take it."""
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        type=context_assignment,
        default=[],
        metavar="KEY=VALUE",
        help="a configuration key, repeatable: the same -c options as the deploy",
    )


def app_context(assignments: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """cdk.json's context (feature flags and keys) with the `-c` assignments over it."""
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    context.update(assignments)
    return context
