"""The notebook-restart handler, driven as CDK's provider framework drives it: `on_event` once, then
`is_complete` every query interval with the request and `on_event`'s answer merged, until it says
IsComplete or raises.

moto 5.2.5 models a notebook instance that is InService or Stopped: StopNotebookInstance makes it
Stopped and StartNotebookInstance InService at once, and DescribeNotebookInstance carries no
FailureReason. The restarts from those two states run against moto; the statuses in between
(Pending, Stopping, Updating), stops that take several polls and Failed are scripted with botocore's
Stubber, which also proves that a request that restarts nothing makes no call at all.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from inf2_llm.components.notebook_restart import HANDLER_DIR, IS_COMPLETE_TIMEOUT, ON_EVENT_TIMEOUT, QUERY_INTERVAL

NOTEBOOK = "NotebookInstance-AbCdEf012345"
OLD_IDENTITY, NEW_IDENTITY = "0123456789ab", "ba9876543210"
REGION = "us-west-2"
# Enough is_complete polls for any scripted restart here; the provider's own limit is 80.
MAX_POLLS = 20


def _load_handler() -> ModuleType:
    """The handler under a unique module name, as Lambda loads it: from its own folder."""
    spec = importlib.util.spec_from_file_location("notebook_restart_handler", HANDLER_DIR / "notebook_restart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler = _load_handler()


class FakeTime:
    """A clock that moves only when the handler or the framework sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeContext:
    """Lambda's context: time left of the function's timeout since the invocation began."""

    def __init__(self, time: FakeTime, timeout_seconds: float) -> None:
        self.time = time
        self.ends_at = time.now + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends_at - self.time.now) * 1000)


def update(identity: str = NEW_IDENTITY, *, ran: str = f"{NOTEBOOK}/{OLD_IDENTITY}") -> dict[str, Any]:
    """An Update request whose physical id says which identity has run on which notebook."""
    return {
        "RequestType": "Update",
        "PhysicalResourceId": ran,
        "ResourceProperties": {"NotebookInstanceName": NOTEBOOK, "ArtifactIdentity": identity},
        "OldResourceProperties": {"NotebookInstanceName": NOTEBOOK, "ArtifactIdentity": OLD_IDENTITY},
    }


def run_provider(event: dict[str, Any], client: Any, time: FakeTime) -> tuple[dict[str, Any], int]:
    """What the framework does with one request: `on_event`, then `is_complete` after each query
    interval until complete. Returns `on_event`'s answer and the number of is_complete calls."""
    kwargs = {"client": client, "sleep": time.sleep, "clock": time.clock}
    answer = handler.on_event(event, FakeContext(time, ON_EVENT_TIMEOUT.to_seconds()), **kwargs)
    # The framework passes the merged event through Step Functions as JSON.
    merged = json.loads(json.dumps({**event, **answer}))
    for poll in range(1, MAX_POLLS + 1):
        if handler.is_complete(merged, FakeContext(time, IS_COMPLETE_TIMEOUT.to_seconds()), **kwargs)["IsComplete"]:
            return answer, poll
        time.sleep(QUERY_INTERVAL.to_seconds())
    pytest.fail(f"not complete after {MAX_POLLS} polls")


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's AWS settings (profile, endpoint, region) must not reach these clients."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


class CallLog(list[str]):
    """The names of the API operations a client has been asked for, in order."""

    def __call__(self, model: Any, **_: Any) -> None:
        self.append(model.name)


@pytest.fixture
def moto_notebook() -> Iterator[tuple[Any, CallLog]]:
    """An InService notebook instance in moto, and a client that logs each call made through it."""
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        client.create_notebook_instance(
            NotebookInstanceName=NOTEBOOK,
            InstanceType="ml.t3.medium",
            RoleArn="arn:aws:iam::123456789012:role/notebook",
        )
        calls = CallLog()
        client.meta.events.register("before-call.sagemaker", calls)
        yield client, calls


def test_stopped_notebook_is_started(moto_notebook: tuple[Any, CallLog]) -> None:
    """A notebook stopped (by its idle auto-stop, say) is started, which runs the new hook, and the
    deploy goes on once it is InService; the physical id then names the identity that has run."""
    client, calls = moto_notebook
    client.stop_notebook_instance(NotebookInstanceName=NOTEBOOK)
    calls.clear()
    answer, polls = run_provider(update(), client, FakeTime())
    assert calls == ["DescribeNotebookInstance", "StartNotebookInstance", "DescribeNotebookInstance"] + [
        "DescribeNotebookInstance"
    ]
    assert polls == 1
    assert answer["PhysicalResourceId"] == f"{NOTEBOOK}/{NEW_IDENTITY}"
    assert client.describe_notebook_instance(NotebookInstanceName=NOTEBOOK)["NotebookInstanceStatus"] == "InService"


def test_running_notebook_is_stopped_then_started(moto_notebook: tuple[Any, CallLog]) -> None:
    """A running notebook must stop and start again: only a start runs the on-start hook, and the
    restart is complete only when the notebook is back InService, not when it has stopped."""
    client, calls = moto_notebook
    answer, polls = run_provider(update(), client, FakeTime())
    on_event = ["DescribeNotebookInstance", "StopNotebookInstance", "DescribeNotebookInstance"]
    first_poll = ["DescribeNotebookInstance", "StartNotebookInstance", "DescribeNotebookInstance"]
    assert calls == on_event + first_poll + ["DescribeNotebookInstance"]
    assert polls == 2
    assert answer["PhysicalResourceId"] == f"{NOTEBOOK}/{NEW_IDENTITY}"
    assert client.describe_notebook_instance(NotebookInstanceName=NOTEBOOK)["NotebookInstanceStatus"] == "InService"


class ScriptedNotebook:
    """A stubbed client whose DescribeNotebookInstance answers follow a script."""

    def __init__(self) -> None:
        self.client = boto3.client("sagemaker", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.name = {"NotebookInstanceName": NOTEBOOK}

    def describe(self, *statuses: str, reason: str | None = None) -> ScriptedNotebook:
        for status in statuses:
            response: dict[str, Any] = {"NotebookInstanceName": NOTEBOOK, "NotebookInstanceStatus": status}
            if reason is not None:
                response["FailureReason"] = reason
            self.stubber.add_response("describe_notebook_instance", response, self.name)
        return self

    def stop(self) -> ScriptedNotebook:
        self.stubber.add_response("stop_notebook_instance", {}, self.name)
        return self

    def start(self) -> ScriptedNotebook:
        self.stubber.add_response("start_notebook_instance", {}, self.name)
        return self


@pytest.mark.parametrize("status", ["Stopping", "Updating"])
def test_notebook_on_its_way_to_stopped_is_waited_for_then_started(status: str) -> None:
    """A stop or an update already under way ends in Stopped: the handler waits for it rather than
    fail the deploy, then starts the notebook."""
    script = ScriptedNotebook().describe(status, status, "Stopped").start().describe("Pending")
    script.describe("Pending", "InService")
    time = FakeTime()
    _, polls = run_provider(update(), script.client, time)
    script.stubber.assert_no_pending_responses()
    assert polls == 2
    # Two waits inside on_event, one query interval between the two polls.
    assert time.sleeps == [handler.POLL_SECONDS] * 2 + [QUERY_INTERVAL.to_seconds()]


def test_starting_notebook_is_waited_for_then_restarted() -> None:
    """A start already under way may have read the old hook: the handler waits for InService, then
    restarts the notebook itself."""
    script = ScriptedNotebook().describe("Pending", "Pending", "InService").stop().describe("Stopping")
    script.describe("Stopped").start().describe("Pending").describe("InService")
    _, polls = run_provider(update(), script.client, FakeTime())
    script.stubber.assert_no_pending_responses()
    assert polls == 2


def test_stop_that_takes_several_polls() -> None:
    """An inf2 instance takes minutes to stop: each poll that still sees Stopping waits for the next,
    the start comes only once it is Stopped, and completion only once the start reaches InService."""
    script = ScriptedNotebook().describe("InService").stop().describe("Stopping")
    script.describe("Stopping", "Stopping", "Stopping", "Stopped").start().describe("Pending")
    script.describe("Pending", "Pending", "InService")
    time = FakeTime()
    _, polls = run_provider(update(), script.client, time)
    script.stubber.assert_no_pending_responses()
    assert polls == 7
    assert time.sleeps == [QUERY_INTERVAL.to_seconds()] * 6


def test_failed_notebook_fails_the_deploy_with_its_reason() -> None:
    """A Failed notebook cannot run the hook: the deploy fails at once with SageMaker's reason and
    touches nothing, instead of waiting hours for a job that never starts."""
    script = ScriptedNotebook().describe("Failed", reason="Notebook Instance Lifecycle Config timed out")
    with pytest.raises(handler.NotebookRestartFailure, match="is Failed: Notebook Instance Lifecycle Config timed out"):
        run_provider(update(), script.client, FakeTime())
    script.stubber.assert_no_pending_responses()


def test_failing_hook_fails_the_deploy_with_its_reason() -> None:
    """An on-start hook that fails (or runs past SageMaker's 5 minutes) leaves the notebook Failed:
    the restart fails with that reason and names the hook's log stream."""
    script = ScriptedNotebook().describe("Stopped").start().describe("Pending").describe("Pending")
    script.describe("Failed", reason="Lifecycle config script exited with code 1")
    with pytest.raises(handler.NotebookRestartFailure) as failure:
        run_provider(update(), script.client, FakeTime())
    script.stubber.assert_no_pending_responses()
    assert "Lifecycle config script exited with code 1" in str(failure.value)
    assert f"stream {NOTEBOOK}/LifecycleConfigOnStart" in str(failure.value)


def test_on_event_gives_up_before_lambda_ends_it() -> None:
    """A notebook that stays Pending past on_event's time fails with the handler's own message,
    which CloudFormation shows, rather than a Lambda timeout with none."""
    script = ScriptedNotebook().describe(*["Pending"] * 200)
    time = FakeTime()
    with pytest.raises(handler.NotebookRestartFailure, match="still Pending, waiting for InService or Stopped"):
        handler.on_event(
            update(),
            FakeContext(time, ON_EVENT_TIMEOUT.to_seconds()),
            client=script.client,
            sleep=time.sleep,
            clock=time.clock,
        )
    assert ON_EVENT_TIMEOUT.to_seconds() - handler.ANSWER_SECONDS - handler.POLL_SECONDS <= time.now
    assert time.now <= ON_EVENT_TIMEOUT.to_seconds() - handler.ANSWER_SECONDS


@pytest.mark.parametrize(
    "event",
    [
        {
            "RequestType": "Create",
            "ResourceProperties": {"NotebookInstanceName": NOTEBOOK, "ArtifactIdentity": NEW_IDENTITY},
        },
        update(ran=f"{NOTEBOOK}/{NEW_IDENTITY}"),
        update(ran=f"NotebookInstance-Replaced0001/{OLD_IDENTITY}"),
        update(""),
    ],
    ids=["create", "rollback-of-a-failed-restart", "notebook-replaced", "no-artifact"],
)
def test_requests_that_restart_nothing_make_no_call(event: dict[str, Any]) -> None:
    """Create: the new notebook has just run its hook with these settings, and a restart would kill
    the job it launched. A rollback whose physical id already names the identity it asks for, a
    replaced notebook, or a hook with no artifact job: nothing to run again. Each answers at once
    with the physical id of what has run, without a single SageMaker call (any call would fail the
    stub, which has no answer queued)."""
    script = ScriptedNotebook()
    answer, polls = run_provider(event, script.client, FakeTime())
    assert answer["PhysicalResourceId"] == f"{NOTEBOOK}/{event['ResourceProperties']['ArtifactIdentity']}"
    assert polls == 1


def test_delete_does_nothing() -> None:
    """The notebook is its own resource: deleting the restart (with the stack, or when CloudFormation
    cleans up a replaced physical id) must not touch it, nor change the physical id."""
    event = {
        "RequestType": "Delete",
        "PhysicalResourceId": f"{NOTEBOOK}/{OLD_IDENTITY}",
        "ResourceProperties": {"NotebookInstanceName": NOTEBOOK, "ArtifactIdentity": OLD_IDENTITY},
    }
    answer, polls = run_provider(event, ScriptedNotebook().client, FakeTime())
    assert answer == {"PhysicalResourceId": f"{NOTEBOOK}/{OLD_IDENTITY}"}
    assert polls == 1
