#!/usr/bin/env python3
"""Follow a deploy of the app from a workstation, step by step, until its stacks are done.

With model_source=compile (or mirror) `cdk deploy` sits for up to an hour on the workbench's wait
condition while the notebook works. This shows what happens meanwhile, each step as it completes,
with the time since watch started:

  1. the notebook instance, until it is in service;
  2. the artifact job on the notebook, phase by phase, each with the time it took, from the CloudWatch
     Logs stream <notebook>/artifact-job, where "phase: <text>" begins a phase, "SUCCESS: <text>" or
     "FAILURE: <text>" ends the run and other messages are notes (with model_source=hub there is no job);
  3. the SageMaker endpoint, until it is in service;
  4. the smoke test the deploy runs (its summary or its failure), unless smoke_test_on_deploy is off;
  5. the stacks' final status.

Each stack's part is found from its resources (a notebook instance, an endpoint), not from its name.
Stacks that do not exist yet are waited for, so watch can start right after `cdk deploy`. On a
terminal, a live line on stderr shows what is running and for how long.
Credentials, region and endpoint URLs come from the standard AWS configuration (AWS_PROFILE,
AWS_REGION, AWS_ENDPOINT_URL, ...).

Exit status: 0 every stack deployed; 1 a step failed ("watch: <step> failed: <reason>" on stderr);
2 bad usage; 3 timed out ("watch: gave up after N minutes waiting for <step>").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from endpoint_options import bounded  # first: it puts the checks on the import path

# isort: split
from endpoint_checks import VERDICT_FAILED, VERDICT_PASSED

STAGES = ("dev", "prod")  # as app.py names the stacks: Inf2Llm-<stage>-<part>
DEFAULT_PARTS = ("Workbench", "Serving")
DEFAULT_TIMEOUT_MINUTES = 240.0
MAX_TIMEOUT_MINUTES = 1440.0
DEFAULT_POLL_SECONDS = 15.0
MAX_POLL_SECONDS = 300.0

NOTEBOOK = "AWS::SageMaker::NotebookInstance"
ENDPOINT = "AWS::SageMaker::Endpoint"
LOG_GROUP = "AWS::Logs::LogGroup"
WAIT_CONDITION = "AWS::CloudFormation::WaitCondition"
TRIGGER = "Custom::Trigger"

# The artifact job's contract: its stream in the notebook's log group, and its message prefixes.
JOB_STREAM_SUFFIX = "/artifact-job"
PHASE = "phase: "
ENDINGS = ("SUCCESS", "FAILURE")
# Each API's wall time per token in the handler's summary.
PER_TOKEN_KEY = "wall_ms_per_token"

# Stack statuses of an operation that has not ended yet; REVIEW_IN_PROGRESS is a stack that only
# has a change set so far, nothing deployed.
NOT_STARTED = "REVIEW_IN_PROGRESS"
# An operation's own first event on the stack; its failures come after it.
OPERATION_STARTS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "IMPORT_IN_PROGRESS"}
MAX_PAGES = 100  # per read: a stream or event list longer than this is read on at the next poll

T = TypeVar("T")


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step} failed: {reason}")
        self.step = step
        self.reason = reason


class TimedOut(Exception):
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


# --- stacks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """A stack's resource, from its template and, once CloudFormation has started on it, its list."""

    logical_id: str
    type: str
    physical_id: str | None = None
    status: str | None = None
    updated: datetime | None = None

    @property
    def name(self) -> str | None:
        """The name in the physical id: SageMaker's are ARNs (arn:...:notebook-instance/NAME) or names."""
        return self.physical_id.rsplit("/", 1)[-1] if self.physical_id else None

    def in_progress_since(self, timestamp_ms: int) -> bool:
        """Whether CloudFormation started (again) on this resource after that moment."""
        return bool(
            self.status
            and self.status.endswith("_IN_PROGRESS")
            and self.updated
            and self.updated.timestamp() * 1000 > timestamp_ms
        )


@dataclass(frozen=True)
class StackState:
    name: str
    status: str
    reason: str
    resources: tuple[Resource, ...]

    @property
    def in_progress(self) -> bool:
        return self.status.endswith("_IN_PROGRESS")

    @property
    def failed(self) -> bool:
        return "ROLLBACK" in self.status or self.status.endswith("_FAILED")

    def of_type(self, resource_type: str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type == resource_type]

    def one_log_group(self, purpose: str) -> Resource:
        """The stack's only log group: with two, watch could follow the wrong one."""
        groups = self.of_type(LOG_GROUP)
        if len(groups) != 1:
            raise StepFailed(f"stack {self.name}", f"holds {len(groups)} log groups, expected one ({purpose})")
        return groups[0]


class Stacks:
    """Reads stacks: their status, and their resources from the template and ListStackResources.

    The template is read because ListStackResources lists a resource only once CloudFormation has
    started on it: the wait condition starts after the notebook is in service, the smoke-test trigger
    after the endpoint, so from the list alone a compile would look like hub mode for minutes.
    """

    def __init__(self, cloudformation: Any) -> None:
        self._cloudformation = cloudformation
        self._templates: dict[tuple[str, str], dict[str, str]] = {}

    def read(self, name: str) -> StackState | None:
        """The stack, or None while it does not exist or only holds a change set."""
        try:
            (stack,) = self._cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
                return None
            raise
        if stack["StackStatus"] == NOT_STARTED:
            return None
        version = str(stack.get("LastUpdatedTime") or stack.get("CreationTime"))
        resources = {
            logical_id: Resource(logical_id, type_) for logical_id, type_ in self._types(name, version).items()
        }
        resources.update((resource.logical_id, resource) for resource in self._listed(name))
        return StackState(name, stack["StackStatus"], stack.get("StackStatusReason", ""), tuple(resources.values()))

    def _types(self, name: str, version: str) -> dict[str, str]:
        """Logical id to type, from the template; an operation's template is read once."""
        key = (name, version)
        if key not in self._templates:
            body = self._cloudformation.get_template(StackName=name)["TemplateBody"]
            if isinstance(body, str):  # botocore parses JSON templates; a YAML one stays text
                try:
                    body = json.loads(body)
                except ValueError:
                    body = {}
            resources = body.get("Resources", {}) if isinstance(body, dict) else {}
            self._templates[key] = {logical_id: str(spec.get("Type", "")) for logical_id, spec in resources.items()}
        return self._templates[key]

    def _listed(self, name: str) -> Iterator[Resource]:
        for page in pages(self._cloudformation.list_stack_resources, StackName=name):
            for summary in page["StackResourceSummaries"]:
                # moto lists types it does not implement without a logical id, a type or a physical id.
                if summary.get("LogicalResourceId") and summary.get("ResourceType"):
                    yield Resource(
                        summary["LogicalResourceId"],
                        summary["ResourceType"],
                        summary.get("PhysicalResourceId") or None,
                        summary.get("ResourceStatus"),
                        summary.get("LastUpdatedTimestamp"),
                    )

    def first_failure(self, state: StackState) -> str:
        """The failed stack's status with its first failed resource and why, as its events tell."""
        failures = [
            event
            for event in self._current_operation_events(state.name)
            if event["LogicalResourceId"] != state.name and event["ResourceStatus"].endswith("_FAILED")
        ]
        if not failures:
            return f"{state.status}: {state.reason or 'no reason given'}"
        first = failures[-1]  # events come newest first
        reason = first.get("ResourceStatusReason") or "no reason given"
        return f"{state.status}; first failed resource {first['LogicalResourceId']} ({first['ResourceType']}): {reason}"

    def _current_operation_events(self, name: str) -> Iterator[dict[str, Any]]:
        """Newest first, back to the event that started the stack's latest operation."""
        for page in pages(self._cloudformation.describe_stack_events, StackName=name):
            for event in page["StackEvents"]:
                yield event
                if event["LogicalResourceId"] == name and event["ResourceStatus"] in OPERATION_STARTS:
                    return


@dataclass(frozen=True)
class Workbench:
    """The notebook stack's parts: with a wait condition, an artifact job runs on the notebook."""

    notebook: Resource
    log_group: Resource
    wait_condition: Resource | None


@dataclass(frozen=True)
class Serving:
    """The endpoint stack's parts: with a trigger, the deploy runs the smoke test."""

    endpoint: Resource
    log_group: Resource
    trigger: Resource | None


def workbench_of(state: StackState) -> Workbench | None:
    notebooks = state.of_type(NOTEBOOK)
    if not notebooks:
        return None
    wait_conditions = state.of_type(WAIT_CONDITION)
    return Workbench(
        notebooks[0], state.one_log_group("the notebook's"), wait_conditions[0] if wait_conditions else None
    )


def serving_of(state: StackState) -> Serving | None:
    endpoints = state.of_type(ENDPOINT)
    if not endpoints:
        return None
    triggers = state.of_type(TRIGGER)
    return Serving(endpoints[0], state.one_log_group("the smoke test's"), triggers[0] if triggers else None)


# --- the artifact job's log ------------------------------------------------------------------


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


# --- the smoke test's log --------------------------------------------------------------------


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
    for verdict, passed in ((VERDICT_PASSED, True), (VERDICT_FAILED, False)):
        marker = f"{verdict}: "
        if marker in message:
            return SmokeResult(timestamp, passed, message.split(marker, 1)[1].strip())
    return None


def describe_summary(text: str) -> str:
    """Each API's time per token against the budget, from the handler's JSON summary."""
    try:
        summary, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return text
    if not isinstance(summary, dict):
        return text
    apis = [line for name, result in summary.items() if (line := describe_api(name, result))]
    return f"{', '.join(apis) or text}; budget max_ms_per_token {number(summary.get('max_ms_per_token'))}"


def describe_api(name: str, result: object) -> str | None:
    """ "generate 23.4 ms/token (512 tokens)" for an API's entry in the summary; None for other entries."""
    if not isinstance(result, dict) or PER_TOKEN_KEY not in result:
        return None
    return f"{name} {number(result[PER_TOKEN_KEY])} ms/token ({number(result.get('generated_tokens'))} tokens)"


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


# --- following ----------------------------------------------------------------------------------


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


def wait_for_stack(watch: Watch, name: str, earlier: Sequence[str]) -> StackState:
    """A stack that is being deployed; an earlier one's failure means it never will be."""

    def probe() -> StackState | Waiting:
        for other in earlier:
            state = watch.stacks.read(other)
            if state:
                watch.check(state)
        state = watch.stacks.read(name)
        if state is None:
            watch.say_once(f"stack {name}: not created yet, waiting for it")
            return Waiting("not created yet")
        return state

    return watch.wait_for(f"stack {name}", probe)


def follow_notebook(watch: Watch, stack: str) -> Workbench:
    def probe() -> tuple[Workbench, str] | Waiting:
        # The stack first: a rollback deletes the notebook, and its events keep the reason.
        state = watch.stack(stack)
        watch.check(state)
        workbench = workbench_of(state)
        if workbench is None or not workbench.notebook.name or not workbench.log_group.physical_id:
            return Waiting("not created yet")
        notebook = watch.sagemaker.describe_notebook_instance(NotebookInstanceName=workbench.notebook.name)
        status = notebook["NotebookInstanceStatus"]
        if status == "Failed":
            raise StepFailed(f"notebook {workbench.notebook.name}", notebook.get("FailureReason", "no reason given"))
        # Stopped is a notebook that ran and stopped itself when idle; the job says whether it is needed.
        return (workbench, status) if status in ("InService", "Stopped") else Waiting(status)

    workbench, status = watch.wait_for("notebook", probe)
    watch.say(f"notebook {workbench.notebook.name}: {status}")
    return workbench


def follow_artifact_job(watch: Watch, stack: str, workbench: Workbench) -> None:
    notebook, group = workbench.notebook.name, workbench.log_group.physical_id
    assert notebook and group  # follow_notebook waited for both
    job = ArtifactJobLog(StreamTail(watch.logs, group, f"{notebook}{JOB_STREAM_SUFFIX}"))

    def probe() -> JobRun | Waiting:
        state = watch.stack(stack)
        for line in job.read():
            watch.say(line)
        run = job.run
        if run.outcome and run_is_current(run, state.of_type(WAIT_CONDITION)):
            if run.outcome == "FAILURE":
                raise StepFailed(f"artifact job ({run.last_phase or 'before its first phase'})", run.reason)
            return run
        watch.check(state)
        if run.outcome:
            watch.say_once("artifact job: that run ended before the wait condition started; waiting for the next")
        if not state.in_progress:
            watch.say(f"artifact job: stack {stack} is {state.status} without a job outcome in {group}; moving on")
            return run
        return Waiting(job_status(watch, notebook, job))

    watch.wait_for("artifact job", probe)


def job_status(watch: Watch, notebook: str, job: ArtifactJobLog) -> str:
    """What the job is doing, or why it may not be running at all."""
    status = watch.sagemaker.describe_notebook_instance(NotebookInstanceName=notebook)["NotebookInstanceStatus"]
    if status in ("Stopped", "Stopping"):
        watch.say_once(
            f"artifact job: notebook {notebook} is {status}; the job runs when it starts "
            f"(aws sagemaker start-notebook-instance --notebook-instance-name {notebook})"
        )
    if not job.started:
        return f"waiting for the job's log stream ({status} notebook)"
    return job.run.progress(watch.now_ms())


def follow_endpoint(watch: Watch, stack: str) -> Serving:
    def probe() -> tuple[Serving, str] | Waiting:
        # The stack first: a rollback deletes the endpoint, and its events keep the reason.
        state = watch.stack(stack)
        watch.check(state)
        serving = serving_of(state)
        if serving is None or not serving.endpoint.name:
            return Waiting("not created yet")
        try:
            endpoint = watch.sagemaker.describe_endpoint(EndpointName=serving.endpoint.name)
        except ClientError as error:
            if "Could not find" in error_message(error):
                return Waiting("not created yet")
            raise
        status = endpoint["EndpointStatus"]
        if status == "Failed":
            raise StepFailed(f"endpoint {serving.endpoint.name}", endpoint.get("FailureReason", "no reason given"))
        return (serving, status) if status == "InService" else Waiting(status)

    serving, status = watch.wait_for("endpoint", probe)
    watch.say(f"endpoint {serving.endpoint.name}: {status}")
    return serving


def follow_smoke_test(watch: Watch, stack: str, serving: Serving) -> None:
    if serving.trigger is None:
        watch.say(f"smoke test: off (stack {stack} has no {TRIGGER})")
        return
    logs: dict[str, SmokeLog] = {}  # by group name, known once CloudFormation has created the group

    def probe() -> bool | Waiting:
        state = watch.stack(stack)
        group = state.one_log_group("the smoke test's").physical_id
        if group is None:
            watch.check(state)
            return Waiting("its log group is not created yet")
        result = logs.setdefault(group, SmokeLog(watch.logs, group)).read()
        # As with the job: a trigger that started after the verdict was logged waits for a new one.
        # The verdict before the stack's state: the handler's message says more than a rollback.
        if result and not any(trigger.in_progress_since(result.timestamp) for trigger in state.of_type(TRIGGER)):
            if not result.passed:
                raise StepFailed("smoke test", result.text)
            watch.say(f"{VERDICT_PASSED}: {describe_summary(result.text)}")
            return True
        watch.check(state)
        if not state.in_progress:
            watch.say(f"smoke test: stack {stack} is {state.status} without a verdict in {group}")
            return True
        return Waiting(f"waiting for its verdict in {group}")

    watch.wait_for("smoke test", probe)


def follow_stack(watch: Watch, state: StackState) -> None:
    """Steps 1 to 4, for whichever parts the stack holds."""
    workbench, serving = workbench_of(state), serving_of(state)
    if workbench:
        job = "an artifact job" if workbench.wait_condition else "no artifact job (model_source=hub)"
        watch.say(f"stack {state.name}: notebook workbench, {job}")
        workbench = follow_notebook(watch, state.name)
        if workbench.wait_condition:
            follow_artifact_job(watch, state.name, workbench)
    if serving:
        smoke_test = "smoke test on deploy" if serving.trigger else "no smoke test on deploy"
        watch.say(f"stack {state.name}: endpoint, {smoke_test}")
        serving = follow_endpoint(watch, state.name)
        follow_smoke_test(watch, state.name, serving)
    if not workbench and not serving:
        watch.say(f"stack {state.name}: no notebook or endpoint, following its status only")


def follow_final_status(watch: Watch, name: str) -> None:
    def probe() -> StackState | Waiting:
        state = watch.stack(name)
        watch.check(state)
        return Waiting(state.status) if state.in_progress else state

    state = watch.wait_for(f"stack {name}", probe)
    watch.say(f"stack {name}: {state.status}")


def follow(watch: Watch, stack_names: Sequence[str]) -> None:
    """Each stack's steps in the order given, then every stack's final status."""
    for index, name in enumerate(stack_names):
        follow_stack(watch, wait_for_stack(watch, name, stack_names[:index]))
    for name in stack_names:
        follow_final_status(watch, name)


# --- command line -------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stack-name",
        action="append",
        metavar="NAME",
        help="a stack to follow, repeatable; followed in the order given "
        "(default: Inf2Llm-<stage>-Workbench, then Inf2Llm-<stage>-Serving)",
    )
    parser.add_argument("--stage", choices=STAGES, default="dev", help="the stage of the default stacks (default: dev)")
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument(
        "--timeout-minutes",
        type=bounded(float, 0, MAX_TIMEOUT_MINUTES),
        default=DEFAULT_TIMEOUT_MINUTES,
        metavar="MINUTES",
        help=f"give up (exit 3) after this long (default: %(default)g, at most {MAX_TIMEOUT_MINUTES:g})",
    )
    parser.add_argument(
        "--poll-seconds",
        type=bounded(float, 0, MAX_POLL_SECONDS),
        default=DEFAULT_POLL_SECONDS,
        metavar="SECONDS",
        help="time between two looks at AWS (default: %(default)g)",
    )
    arguments = parser.parse_args(argv)
    arguments.stack_name = arguments.stack_name or [f"Inf2Llm-{arguments.stage}-{part}" for part in DEFAULT_PARTS]
    return arguments


def create_watch(arguments: argparse.Namespace, clocks: Clocks) -> Watch:
    # Standard retries ride out throttling over the many describe calls of a long watch.
    config = Config(retries={"mode": "standard", "max_attempts": 5})

    def client(service: str) -> Any:
        return boto3.client(service, region_name=arguments.region, config=config)

    return Watch(
        stacks=Stacks(client("cloudformation")),
        sagemaker=client("sagemaker"),
        logs=client("logs"),
        poll_seconds=arguments.poll_seconds,
        timeout_minutes=arguments.timeout_minutes,
        clocks=clocks,
        progress=sys.stderr if sys.stderr.isatty() else None,
    )


def main(argv: Sequence[str] | None = None, clocks: Clocks = Clocks()) -> int:
    arguments = parse_arguments(argv)
    try:
        watch = create_watch(arguments, clocks)
    except BotoCoreError as error:  # e.g. no region configured
        print(f"watch: setup failed: {error}", file=sys.stderr)
        return 1
    watch.say(f"following {', '.join(arguments.stack_name)} for up to {arguments.timeout_minutes:g} minutes")
    try:
        follow(watch, arguments.stack_name)
    except StepFailed as failure:
        print(f"watch: {failure}", file=sys.stderr)
        return 1
    except TimedOut as timeout:
        print(f"watch: gave up after {arguments.timeout_minutes:g} minutes waiting for {timeout.step}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
