"""Lambda entry points of `Custom::NotebookRestart`: bring a SageMaker notebook instance through its
on-start hook again when the artifact that hook prepares has changed.

CDK's custom-resource provider framework calls `on_event` once per CloudFormation request, then
`is_complete` every query interval, with the request and `on_event`'s answer merged, until it
answers IsComplete; an exception in either fails the resource with the exception's message.

Resource properties (set by inf2_llm/components/notebook_restart.py):
  NotebookInstanceName  the notebook
  ArtifactIdentity      the artifact its on-start hook prepares; "" when the hook prepares none

The physical resource id, "<notebook name>/<artifact identity>", names what has run: the notebook
whose on-start hook has started with that identity. `restart_needed` says when that changes.

SageMaker facts relied on:
- The on-start hook is "A shell script that runs every time you start a notebook instance,
  including when you create the notebook instance" (CreateNotebookInstanceLifecycleConfig, OnStart:
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateNotebookInstanceLifecycleConfig.html).
  A stop and a start is therefore what runs it again with the lifecycle configuration's new content.
- StopNotebookInstance "Terminates the ML compute instance. [...] SageMaker AI preserves the ML
  storage volume"; StartNotebookInstance "Launches an ML compute instance [...] After configuring
  the notebook instance, SageMaker AI sets the notebook instance status to InService"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StopNotebookInstance.html,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartNotebookInstance.html).
  Both return at once; the status says when the instance has got there.
- DescribeNotebookInstance's NotebookInstanceStatus is one of Pending, InService, Stopping,
  Stopped, Failed, Deleting, Updating (the SDK's service model adds PendingMaintenance and
  InMaintenance), and FailureReason is, "If status is Failed, the reason it failed"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeNotebookInstance.html).
  InService and Stopped are where an instance rests; Failed and Deleting end the restart; every
  other status is on its way somewhere, and is waited out.
- "Lifecycle configuration scripts cannot run for longer than 5 minutes. If a script runs for
  longer than 5 minutes, it fails and the notebook instance is not created or started" (same
  CreateNotebookInstanceLifecycleConfig page): a failing hook shows as Failed, reported here with
  its FailureReason instead of as a wait condition that times out hours later.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import boto3

LOGGER = logging.getLogger()
# A log level configured on the function (AWS_LAMBDA_LOG_LEVEL) is applied by the runtime itself;
# without one the root logger stays at WARNING, which would drop the progress lines.
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    LOGGER.setLevel(logging.INFO)

IN_SERVICE, STOPPED, FAILED, DELETING = "InService", "Stopped", "Failed", "Deleting"
AT_REST = frozenset({IN_SERVICE, STOPPED})
# What `on_event` tells `is_complete` (the framework merges it into the event): whether this
# request restarts the notebook. CloudFormation never sees it: the framework answers with fixed fields.
RESTARTING = "NotebookRestarting"
POLL_SECONDS = 10
# `on_event` stops waiting this long before Lambda would end it, to fail with its own message.
ANSWER_SECONDS = 30

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class NotebookApi(Protocol):
    """The calls of a boto3 ``sagemaker`` client the restart makes; its role allows no others."""

    def describe_notebook_instance(self, **kwargs: Any) -> dict[str, Any]: ...

    def stop_notebook_instance(self, **kwargs: Any) -> dict[str, Any]: ...

    def start_notebook_instance(self, **kwargs: Any) -> dict[str, Any]: ...


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class NotebookRestartFailure(Exception):
    """The restart cannot go on; the message is what CloudFormation shows as the reason."""


def physical_id(properties: Mapping[str, str]) -> str:
    return f"{properties['NotebookInstanceName']}/{properties['ArtifactIdentity']}"


def restart_needed(event: Mapping[str, Any]) -> bool:
    """Whether the request asks the notebook to run its on-start hook with another artifact.

    - Create: no. The resource is created with the notebook, whose creation ran the hook with
      these very settings; a restart would kill the job that hook has just launched.
    - Delete: no. Nothing was made that a delete could undo.
    - Update: only if the physical id names this same notebook with another identity, and the new
      identity is not "" (a hook with no artifact job has nothing to run). A replaced notebook has
      another name and has just run its hook.

    The identity is compared with the physical id, what has run, rather than with
    OldResourceProperties, what the previous template said, because a rollback is an Update too.
    A successful restart returns a new physical id, which CloudFormation treats as a replacement
    ("If the value returned is different, CloudFormation recognizes the update as a replacement and
    sends a delete request to the old resource", custom resource Update request reference,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html):
    a later rollback deletes the new id, and Delete does nothing. A failed restart is rolled back by
    an Update with the old properties (ResourceProperties=OLD, OldResourceProperties=NEW, as the
    AWS CDK's notes on CloudFormation put it, aws-cdk docs/CLOUDFORMATION.md) against the physical
    id CloudFormation holds, which no successful response has changed: it names the old identity
    already, so the rollback restarts nothing, where a comparison with OldResourceProperties would
    restart a notebook whose hook has just failed, and fail the rollback with it.
    """
    if event["RequestType"] != "Update":
        return False
    properties = event["ResourceProperties"]
    ran_name, _, ran_identity = str(event["PhysicalResourceId"]).partition("/")
    identity = properties["ArtifactIdentity"]
    return bool(identity) and ran_name == properties["NotebookInstanceName"] and ran_identity != identity


class Notebook:
    """One notebook instance, as DescribeNotebookInstance reports it."""

    def __init__(self, client: NotebookApi, name: str, *, sleep: Sleep, clock: Clock) -> None:
        self.client = client
        self.name = name
        self.sleep = sleep
        self.clock = clock

    def status(self) -> str:
        """The current status; Failed and Deleting end the restart here, with SageMaker's reason."""
        described = self.client.describe_notebook_instance(NotebookInstanceName=self.name)
        status = str(described["NotebookInstanceStatus"])
        if status == FAILED:
            reason = described.get("FailureReason") or "SageMaker gave no FailureReason"
            raise NotebookRestartFailure(
                f"notebook instance {self.name} is Failed: {reason} (its on-start hook logs to log group "
                f"/aws/sagemaker/NotebookInstances, stream {self.name}/LifecycleConfigOnStart)"
            )
        if status == DELETING:
            raise NotebookRestartFailure(f"notebook instance {self.name} is being deleted")
        return status

    def wait_until(self, arrived: Callable[[str], bool], *, deadline: float, waiting_for: str) -> str:
        """Poll until `arrived(status)`; fail once the next poll would come after `deadline`."""
        while True:
            status = self.status()
            if arrived(status):
                return status
            if self.clock() + POLL_SECONDS > deadline:
                raise NotebookRestartFailure(
                    f"notebook instance {self.name} is still {status}, waiting for {waiting_for}; "
                    "deploy again once it is InService or Stopped"
                )
            LOGGER.info("notebook instance %s is %s, waiting for %s", self.name, status, waiting_for)
            self.sleep(POLL_SECONDS)

    def stop(self, *, deadline: float) -> None:
        self.client.stop_notebook_instance(NotebookInstanceName=self.name)
        # `is_complete` takes InService for "started again": the stop must show before it looks.
        self.wait_until(lambda status: status != IN_SERVICE, deadline=deadline, waiting_for="the stop to begin")
        LOGGER.info("notebook instance %s: stop requested", self.name)

    def start(self, *, deadline: float) -> None:
        self.client.start_notebook_instance(NotebookInstanceName=self.name)
        # A second StartNotebookInstance on an instance already starting would be refused.
        self.wait_until(lambda status: status != STOPPED, deadline=deadline, waiting_for="the start to begin")
        LOGGER.info("notebook instance %s: start requested; its on-start hook runs next", self.name)


def _notebook(event: Mapping[str, Any], client: NotebookApi | None, sleep: Sleep, clock: Clock) -> Notebook:
    # A new client per invocation: each runs once per deploy or poll, a cached one would save nothing.
    return Notebook(
        client or boto3.client("sagemaker"),
        event["ResourceProperties"]["NotebookInstanceName"],
        sleep=sleep,
        clock=clock,
    )


def _deadline(context: LambdaContext, clock: Clock) -> float:
    return clock() + context.get_remaining_time_in_millis() / 1000 - ANSWER_SECONDS


def on_event(
    event: Mapping[str, Any],
    context: LambdaContext,
    *,
    client: NotebookApi | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> dict[str, Any]:
    """Start the restart if the request needs one: wait out a status in between, then stop an
    InService notebook or start a Stopped one. The keyword-only arguments exist for tests."""
    if event["RequestType"] == "Delete":
        LOGGER.info("delete of %s: nothing to undo", event["PhysicalResourceId"])
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    restarting = restart_needed(event)
    answer = {"PhysicalResourceId": physical_id(event["ResourceProperties"]), RESTARTING: restarting}
    if not restarting:
        LOGGER.info("%s of %s: no restart needed", event["RequestType"].lower(), answer["PhysicalResourceId"])
        return answer
    LOGGER.info("%s replaces %s: restarting the notebook", answer["PhysicalResourceId"], event["PhysicalResourceId"])
    notebook = _notebook(event, client, sleep, clock)
    deadline = _deadline(context, clock)
    # Only a notebook at rest can be told what to do; one that is starting would reach InService
    # without telling whether its hook read the new settings, so it is waited for, then restarted.
    status = notebook.wait_until(AT_REST.__contains__, deadline=deadline, waiting_for="InService or Stopped")
    if status == IN_SERVICE:
        notebook.stop(deadline=deadline)
    else:
        notebook.start(deadline=deadline)
    return answer


def is_complete(
    event: Mapping[str, Any],
    context: LambdaContext,
    *,
    client: NotebookApi | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> dict[str, bool]:
    """Complete once a restarting notebook is InService again; start it once it has Stopped."""
    if not event.get(RESTARTING):
        return {"IsComplete": True}
    notebook = _notebook(event, client, sleep, clock)
    status = notebook.status()
    LOGGER.info("notebook instance %s is %s", notebook.name, status)
    if status == STOPPED:
        notebook.start(deadline=_deadline(context, clock))
        return {"IsComplete": False}
    # `on_event` left the notebook stopping or starting, so InService is the end of its start.
    return {"IsComplete": status == IN_SERVICE}
