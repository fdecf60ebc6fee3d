"""What every step of a watch shares in reading AWS: paged calls, error codes, and a failed step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

MAX_PAGES = 100  # per read: a stream or event list longer than this is read on at the next poll


class StepFailed(Exception):
    """A step of the deploy failed, or AWS would not say how it is going: watch exits 1."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step} failed: {reason}")
        self.step = step
        self.reason = reason


def pages(call: Callable[..., Any], token: str = "NextToken", **arguments: Any) -> Iterator[dict[str, Any]]:
    """The pages of a paged AWS call, following its token; at most MAX_PAGES of them."""
    for _ in range(MAX_PAGES):
        page: dict[str, Any] = call(**arguments)
        yield page
        if not page.get(token):
            return
        arguments[token] = page[token]


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))
