"""The artifact job's phases, read from its CloudWatch Logs stream on the notebook's log group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from workstation.watch_aws import MAX_PAGES, error_code
from workstation.watch_progress import format_duration
from workstation.watch_stacks import Resource

# The artifact job's contract: its stream in the notebook's log group, and its message prefixes.
JOB_STREAM_SUFFIX = "/artifact-job"
PHASE = "phase: "
ENDINGS = ("SUCCESS", "FAILURE")


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # milliseconds since the epoch, as CloudWatch Logs keeps them
    message: str

    @property
    def phase(self) -> str | None:
        """The phase this message begins, if it begins one."""
        return self.message[len(PHASE) :].strip() if self.message.startswith(PHASE) else None

    @property
    def ending(self) -> tuple[str, str] | None:
        """("SUCCESS" or "FAILURE", text) when this message ends a run of the job."""
        for outcome in ENDINGS:
            if self.message.startswith(f"{outcome}:"):
                return outcome, self.message[len(outcome) + 1 :].strip()
        return None

    def opens_run_after(self, run_ended: bool) -> bool:
        """After an ending, a phase or another ending is a new run (the next start of the notebook);
        other messages still belong to the run that ended (e.g. publishing to the Hub after it)."""
        return run_ended and (self.phase is not None or self.ending is not None)


class StreamTail:
    """Reads a log stream from its start, then what was added since the previous read."""

    def __init__(self, logs: Any, group: str, stream: str) -> None:
        self._logs = logs
        self._group = group
        self._stream = stream
        self._token: str | None = None

    def read(self) -> list[LogEvent] | None:
        """New events, oldest first; None while the stream does not exist (the job has not started)."""
        events: list[LogEvent] = []
        for _ in range(MAX_PAGES):
            # startFromHead also with a forward token: CloudWatch Logs asks for it.
            arguments: dict[str, Any] = {
                "logGroupName": self._group,
                "logStreamName": self._stream,
                "startFromHead": True,
            }
            if self._token:
                arguments["nextToken"] = self._token
            try:
                page = self._logs.get_log_events(**arguments)
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    return None
                raise
            events.extend(LogEvent(event["timestamp"], event["message"].strip()) for event in page["events"])
            # The end of the stream, for now: CloudWatch Logs hands back the token it was given.
            if page["nextForwardToken"] == self._token:
                break
            self._token = page["nextForwardToken"]
        return events


def latest_run(events: list[LogEvent]) -> tuple[list[LogEvent], int]:
    """The events of the job's latest run, and how many earlier runs the stream holds before it."""
    start, earlier, ended = 0, 0, False
    for index, event in enumerate(events):
        if event.opens_run_after(ended):
            start, earlier, ended = index, earlier + 1, False
        ended = ended or event.ending is not None
    return events[start:], earlier


@dataclass
class JobRun:
    """One run of the artifact job, as its log tells it so far."""

    phase: str | None = None
    phase_started: int = 0
    run_started: int | None = None
    outcome: str | None = None
    reason: str = ""
    ended: int = 0
    last_phase: str | None = None

    def feed(self, event: LogEvent) -> list[str]:
        """The lines the event completes: the previous phase with its time, a note, the outcome."""
        if self.run_started is None:
            self.run_started = event.timestamp
        lines = []
        ending, phase = event.ending, event.phase
        if phase is not None or ending:
            lines.extend(self._end_phase(event.timestamp))
        if ending:
            self.outcome, self.reason = ending
            self.ended = event.timestamp
            took = format_duration((event.timestamp - self.run_started) / 1000)
            lines.append(f"artifact job: {self.outcome} after {took}: {self.reason}")
        elif phase is not None:
            self.phase, self.phase_started = phase, event.timestamp
        else:
            lines.append(f"artifact job: {event.message}")
        return lines

    def _end_phase(self, timestamp: int) -> list[str]:
        if self.phase is None:
            return []
        line = f"artifact job: {self.phase} ({format_duration((timestamp - self.phase_started) / 1000)})"
        self.last_phase, self.phase = self.phase, None
        return [line]

    def progress(self, now_ms: float) -> str:
        if self.phase is None:
            return "waiting for its next message"
        return f"{self.phase} {format_duration((now_ms - self.phase_started) / 1000)}"


def run_is_current(run: JobRun, wait_conditions: Sequence[Resource]) -> bool:
    """Whether the run that ended is the one the deploy waits for.

    A stream outlives a deploy: after a change of model or settings, a new wait condition starts
    while the stream still ends with the previous run's outcome. A wait condition that started
    after the run ended is waiting for another run.
    """
    return not any(condition.in_progress_since(run.ended) for condition in wait_conditions)


class ArtifactJobLog:
    """The job's runs as its stream tells them; of what was logged before watch started, only the
    latest run is shown."""

    def __init__(self, tail: StreamTail) -> None:
        self._tail = tail
        self.run = JobRun()
        self.started = False

    def read(self) -> list[str]:
        """The lines the new events complete."""
        events = self._tail.read()
        if events is None:
            return []
        lines = []
        if not self.started:
            self.started = True
            events, earlier = latest_run(events)
            if earlier:
                lines.append(f"artifact job: {earlier} earlier run(s) in the log, following the latest")
        for event in events:
            if event.opens_run_after(self.run.outcome is not None):
                self.run = JobRun()
                lines.append("artifact job: a new run began")
            lines.extend(self.run.feed(event))
        return lines
