"""The steps of a deploy, each followed until it is done: stacks, notebook, artifact job, endpoint
(and its inference component), smoke test, final status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from workstation.lambda_checks import smoke_run
from workstation.watch_aws import StepFailed, error_message
from workstation.watch_job_log import JOB_STREAM_SUFFIX, ArtifactJobLog, JobRun, StreamTail, run_is_current
from workstation.watch_progress import Waiting, Watch
from workstation.watch_smoke_log import SmokeLog, describe_summary
from workstation.watch_stacks import (
    TRIGGER,
    WAIT_CONDITION,
    Resource,
    Serving,
    StackState,
    Workbench,
    serving_of,
    workbench_of,
)


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


def component_state(component: dict[str, Any]) -> str:
    """ "InService, 1 of 1 copies": a DescribeInferenceComponent answer's status and its copies now
    and wanted; a component in service without one is scaled to zero."""
    status = component["InferenceComponentStatus"]
    copies = component.get("RuntimeConfig", {})
    current, desired = copies.get("CurrentCopyCount", 0), copies.get("DesiredCopyCount", 0)
    if status == "InService" and not current and not desired:
        return f"{status}, no copy (scaled to zero: the first request starts one)"
    return f"{status}, {current} of {desired} copies"


def follow_component(watch: Watch, stack: str) -> None:
    """The endpoint's inference component (scale_to_zero) until it is in service, each state it
    passes through on its own line: CloudFormation starts its first copy, then the smoke test runs."""

    def probe() -> tuple[Resource, str] | Waiting:
        state = watch.stack(stack)
        watch.check(state)
        serving = serving_of(state)
        component = serving.component if serving else None
        if component is None or not component.name:
            return Waiting("not created yet")
        try:
            described = watch.sagemaker.describe_inference_component(InferenceComponentName=component.name)
        except ClientError as error:
            if "Could not find" in error_message(error):
                return Waiting("not created yet")
            raise
        status, shown = described["InferenceComponentStatus"], component_state(described)
        if status == "Failed":
            raise StepFailed(f"inference component {component.name}", described.get("FailureReason", "no reason given"))
        if status != "InService":
            watch.say_once(f"inference component {component.name}: {shown}")
            return Waiting(shown)
        return component, shown

    component, shown = watch.wait_for("inference component", probe)
    watch.say(f"inference component {component.name}: {shown}")


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
            watch.say(f"{smoke_run.VERDICT_PASSED}: {describe_summary(result.text)}")
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
        hosting = "endpoint with an inference component (scale_to_zero)" if serving.component else "endpoint"
        watch.say(f"stack {state.name}: {hosting}, {smoke_test}")
        serving = follow_endpoint(watch, state.name)
        if serving.component:
            follow_component(watch, state.name)
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
