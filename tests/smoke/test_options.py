"""workstation/options.py: the one definition of a bounded number option the tools share."""

from __future__ import annotations

import argparse

import pytest

from workstation.options import add_bounded_option


def poll_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    add_bounded_option(
        parser, "--poll-seconds", float, high=300, default=15.0, metavar="SECONDS", help="time between two looks"
    )
    return parser


@pytest.mark.parametrize(("text", "refusal"), [("0", "0 is not in (0, 300]"), ("300.5", "300.5 is not in (0, 300]")])
def test_values_outside_the_range_are_usage_errors(text: str, refusal: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A tool given a zero or huge number must refuse it before any AWS call, as a usage error
    (exit 2) that names the option and its range, not run forever or spin in a tight loop."""
    with pytest.raises(SystemExit) as exit_:
        poll_parser().parse_args(["--poll-seconds", text])

    assert exit_.value.code == 2
    assert f"argument --poll-seconds: {refusal}" in capsys.readouterr().err


def test_values_in_the_range_keep_their_type() -> None:
    """The bound is inclusive at the top, and the tool receives the number, not the text."""
    assert poll_parser().parse_args(["--poll-seconds", "300"]).poll_seconds == 300.0
    assert poll_parser().parse_args([]).poll_seconds == 15.0


def test_a_value_of_the_wrong_kind_is_named_by_its_type(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse names the expected type in its refusal; the bound check must not hide it."""
    parser = argparse.ArgumentParser(prog="tool")
    add_bounded_option(parser, "--concurrency", int, high=64, default=4, metavar="N", help="requests in flight")

    with pytest.raises(SystemExit):
        parser.parse_args(["--concurrency", "2.5"])

    assert "argument --concurrency: invalid int value: '2.5'" in capsys.readouterr().err


def test_help_states_the_default_and_the_bound() -> None:
    """A developer learns both limits from --help; a default that comes from elsewhere (the deployed
    stack) is described rather than shown as the option's own value."""
    parser = poll_parser()
    add_bounded_option(parser, "--max-new-tokens", int, high=4096, metavar="N", help="tokens", shown_default="512")
    text = " ".join(parser.format_help().split())

    assert "time between two looks (default: 15; at most 300)" in text
    assert "tokens (default: 512; at most 4096)" in text
    assert parser.parse_args([]).max_new_tokens is None
