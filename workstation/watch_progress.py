"""What every step of a watch shares: its AWS clients and clocks, the loop that waits for a step, and
what it shows (each completed step with the time since watch started, and a live line on a terminal
while a step is waiting)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from workstation.watch_aws import StepFailed
from workstation.watch_stacks import Stacks, StackState

T = TypeVar("T")


class TimedOut(Exception):
    """A step still waiting at the deadline (--timeout-minutes): watch exits 3."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


@dataclass(frozen=True)
class Waiting:
    """A probe's answer while its step is not done: what it is waiting on, for the progress line."""

    status: str


def format_duration(seconds: float) -> str:
    """12s, 12m03s, 1h02m03s: short enough for a line that also names an image or a model."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, seconds_left = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds_left:02d}s"
    if minutes:
        return f"{minutes}m{seconds_left:02d}s"
    return f"{seconds_left}s"


@dataclass(frozen=True)
class Clocks:
    """Time as watch sees it: waiting, measuring, and the wall clock log timestamps compare with.

    Tests pass their own, so that a watch of an hour-long deploy takes them milliseconds.
    """

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


@dataclass
class Watch:
    """The AWS clients, the clocks and the output every step shares."""

    stacks: Stacks
    sagemaker: Any
    logs: Any
    poll_seconds: float
    timeout_minutes: float
    clocks: Clocks = Clocks()
    output: TextIO = sys.stdout
    # The live line goes to a terminal only; a log or a test reads the completed steps on stdout.
    progress: TextIO | None = None
    started: float = field(init=False)
    _said: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.started = self.clocks.monotonic()

    def say(self, text: str) -> None:
        self._clear_progress()
        print(f"[{format_duration(self.clocks.monotonic() - self.started):>8}] {text}", file=self.output, flush=True)

    def say_once(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.say(text)

    def now_ms(self) -> float:
        return self.clocks.wall() * 1000

    def wait_for(self, step: str, probe: Callable[[], T | Waiting]) -> T:
        """Poll until the probe has its answer; AWS errors fail the step, the deadline times it out."""
        deadline = self.started + self.timeout_minutes * 60
        while True:
            try:
                answer = probe()
            except (ClientError, BotoCoreError) as error:
                raise StepFailed(step, str(error)) from error
            if not isinstance(answer, Waiting):
                self._clear_progress()
                return answer
            self._show_progress(f"{step}: {answer.status}")
            remaining = deadline - self.clocks.monotonic()
            if remaining <= 0:
                self._clear_progress()
                raise TimedOut(step)
            self.clocks.sleep(min(self.poll_seconds, remaining))

    def stack(self, name: str) -> StackState:
        """The stack as it is now; one that went away mid-deploy fails the step that needs it."""
        state = self.stacks.read(name)
        if state is None:
            raise StepFailed(f"stack {name}", "it does not exist (any more)")
        return state

    def check(self, state: StackState) -> None:
        """A rolled-back or failed stack ends the watch, with the resource that failed first."""
        if state.failed:
            raise StepFailed(f"stack {state.name}", self.stacks.first_failure(state))

    def _show_progress(self, text: str) -> None:
        if self.progress:
            elapsed = format_duration(self.clocks.monotonic() - self.started)
            self.progress.write(f"\r\x1b[K[{elapsed:>8}] {text}")
            self.progress.flush()

    def _clear_progress(self) -> None:
        if self.progress:
            self.progress.write("\r\x1b[K")
            self.progress.flush()
