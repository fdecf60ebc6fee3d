"""What a failed check of the endpoint says: which check failed, for which API, and why.

Every module here raises SmokeTestFailure; the handler and the workstation tools report it as it
reads, so a failed deploy, a terminal and a benchmark's error count name the same check.
"""

from __future__ import annotations

from enum import StrEnum

from botocore.exceptions import ClientError

ERROR_DETAIL_CHARS = 300  # an AWS error message or a stream's failure, cut short of a wall of text


class Check(StrEnum):
    """What a failed smoke test was checking; its value is what the failure message says."""

    CONFIGURATION = "configuration"
    INVOCATION = "invocation"
    STREAM = "stream"
    JSON_BODY = "JSON body"
    SHAPE = "response shape"
    NON_EMPTY_TEXT = "non-empty text"
    TOKEN_COUNT = "token count"
    FIRST_TOKEN = "time to first token"
    TIME_PER_TOKEN = "time per token"


class SmokeTestFailure(Exception):
    """A failed check; the message names the API and the check, so an alarm says what broke."""

    def __init__(self, check: Check, api: str | None, detail: str) -> None:
        super().__init__(f"{api or 'smoke test'}: {check} check failed: {detail}")
        self.check = check
        self.api = api


def error_code_and_message(error: ClientError) -> tuple[str, str]:
    """The code and the message of an AWS error, as botocore parsed them from the response or,
    for an exception event, from the stream."""
    reported = error.response.get("Error", {})
    return reported.get("Code", "Unknown"), reported.get("Message", "")
