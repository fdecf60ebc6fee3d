"""What the workstation tools share: the Lambda's endpoint checks on the import path, and the
options that shape a request to the endpoint."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The checks live beside the Lambda handler; "lambda" is a keyword, so it cannot be a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda" / "smoke_test"))

from endpoint_checks import DEFAULT_MAX_NEW_TOKENS  # noqa: E402  (needs the path above)

MAX_NEW_TOKENS = 4096  # the guide's MAX_TOTAL_TOKENS: no request can generate more


def bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    """An argparse type that rejects values outside (low, high]."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not in ({low:g}, {high:g}]")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid value" message
    return parse


def add_request_options(parser: argparse.ArgumentParser) -> None:
    """--region, --max-new-tokens and --stop, as both tools take them."""
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument(
        "--max-new-tokens",
        type=bounded(int, 0, MAX_NEW_TOKENS),
        default=DEFAULT_MAX_NEW_TOKENS,
        metavar="N",
        help="tokens to generate per request (default: %(default)d)",
    )
    parser.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="TEXT",
        help="a stop sequence, repeatable (e.g. --stop '<|im_end|>' for Qwen)",
    )
