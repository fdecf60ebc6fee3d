"""The smoke test's verdict, as its handler logs it in the function's log group."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workstation.lambda_checks import smoke_run
from workstation.watch_aws import pages

# The figures the gate judges in each API's entry of the handler's summary (smoke_run.check_api).
DECODE_KEY = "decode_ms_per_token"
FIRST_TOKEN_KEY = "first_token_ms"


@dataclass(frozen=True)
class SmokeResult:
    timestamp: int
    passed: bool
    text: str


def smoke_result(message: str, timestamp: int) -> SmokeResult | None:
    """The handler's verdict in a Lambda log line, in the text or the JSON log format."""
    if message.lstrip().startswith("{"):
        try:
            message = str(json.loads(message).get("message", message))
        except (ValueError, AttributeError):
            pass
    for verdict, passed in ((smoke_run.VERDICT_PASSED, True), (smoke_run.VERDICT_FAILED, False)):
        marker = f"{verdict}: "
        if marker in message:
            return SmokeResult(timestamp, passed, message.split(marker, 1)[1].strip())
    return None


def describe_summary(text: str) -> str:
    """Each API's decode time per token and time to first token, then the budgets, from the
    handler's JSON summary."""
    try:
        summary, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return text
    if not isinstance(summary, dict):
        return text
    apis = [line for name, result in summary.items() if (line := describe_api(name, result))]
    budgets = (
        f"max_ms_per_token {number(summary.get('max_ms_per_token'))}, "
        f"max_first_token_ms {number(summary.get('max_first_token_ms'))}"
    )
    return f"{', '.join(apis) or text}; budgets {budgets}"


def describe_api(name: str, result: object) -> str | None:
    """ "generate 49.1 ms/token decode, first token 310 ms (512 tokens)" for an API's entry in the
    summary; None for other entries."""
    if not isinstance(result, dict) or DECODE_KEY not in result:
        return None
    return (
        f"{name} {number(result[DECODE_KEY])} ms/token decode, first token {number(result.get(FIRST_TOKEN_KEY))} ms"
        f" ({number(result.get('generated_tokens'))} tokens)"
    )


def number(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


class SmokeLog:
    """Finds the latest verdict in the smoke test's log group, reading only what is new."""

    def __init__(self, logs: Any, group: str) -> None:
        self._logs = logs
        self._group = group
        self._since = 0
        self._seen: set[str] = set()
        self.latest: SmokeResult | None = None

    def read(self) -> SmokeResult | None:
        # From the newest event seen, which is read again: more events may share its millisecond.
        for page in pages(self._logs.filter_log_events, "nextToken", logGroupName=self._group, startTime=self._since):
            for event in page["events"]:
                self._take(event)
        return self.latest

    def _take(self, event: dict[str, Any]) -> None:
        if event["eventId"] in self._seen:
            return
        self._seen.add(event["eventId"])
        self._since = max(self._since, event["timestamp"])
        result = smoke_result(event["message"], event["timestamp"])
        if result and (self.latest is None or result.timestamp >= self.latest.timestamp):
            self.latest = result
