"""The command-line options the workstation tools share, each defined once."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from workstation.lambda_checks import inference_apis, smoke_settings

MAX_NEW_TOKENS = 4096  # the guide's MAX_TOTAL_TOKENS: no request can generate more


def at_most(kind: Callable[[str], Any], high: float) -> Callable[[str], Any]:
    """An argparse type that rejects values outside (0, high]."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not in (0, {high:g}]")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid value" message
    return parse


def add_bounded_option(
    parser: argparse.ArgumentParser,
    flag: str,
    kind: Callable[[str], Any],
    *,
    high: float,
    metavar: str,
    help: str,
    default: float | None = None,
    shown_default: str | None = None,
) -> None:
    """A number option in (0, high]: argparse refuses others (exit 2), and the help ends with the
    default and the bound, "(default: D; at most H)". `shown_default` is what the help calls the
    default when that is not the option's own value (None: the value comes from elsewhere)."""
    shown = shown_default if shown_default is not None else f"{default:g}"
    parser.add_argument(
        flag,
        type=at_most(kind, high),
        default=default,
        metavar=metavar,
        help=f"{help} (default: {shown}; at most {high:g})",
    )


def add_region_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")


def add_request_options(parser: argparse.ArgumentParser) -> None:
    """--region, --max-new-tokens and --stop, as the tools that call an endpoint take them; unset,
    they come from the stack's smoke test or the defaults."""
    add_region_option(parser)
    add_bounded_option(
        parser,
        "--max-new-tokens",
        int,
        high=MAX_NEW_TOKENS,
        metavar="N",
        help="tokens to generate per request",
        shown_default=str(smoke_settings.SmokeTestSettings.max_new_tokens),
    )
    parser.add_argument(
        "--stop",
        action="append",
        metavar="TEXT",
        help="a stop sequence, repeatable (e.g. --stop '<|im_end|>' for Qwen)",
    )


def api_option(name: str, *, repeatable: bool) -> dict[str, Any]:
    """The keyword arguments of an --api option; `name` says which API is the default."""
    return {
        "action": "append" if repeatable else "store",
        "choices": list(inference_apis.INFERENCE_APIS),
        "metavar": "API",
        "help": f"{'an' if repeatable else 'the'} API to call, {'repeatable, ' if repeatable else ''}one of "
        f"{', '.join(inference_apis.INFERENCE_APIS)} (default: {name})",
    }
