"""The stacks a deploy creates, as watch reads them: status, resources, the parts it follows, and
the resource that failed first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from workstation.watch_aws import StepFailed, error_code, error_message, pages

NOTEBOOK = "AWS::SageMaker::NotebookInstance"
ENDPOINT = "AWS::SageMaker::Endpoint"
INFERENCE_COMPONENT = "AWS::SageMaker::InferenceComponent"
LOG_GROUP = "AWS::Logs::LogGroup"
WAIT_CONDITION = "AWS::CloudFormation::WaitCondition"
TRIGGER = "Custom::Trigger"

# Stack statuses of an operation that has not ended yet; REVIEW_IN_PROGRESS is a stack that only
# has a change set so far, nothing deployed.
NOT_STARTED = "REVIEW_IN_PROGRESS"
# An operation's own first event on the stack; its failures come after it.
OPERATION_STARTS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "IMPORT_IN_PROGRESS"}


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
    """The endpoint stack's parts: with a trigger, the deploy runs the smoke test; with an inference
    component (scale_to_zero), the endpoint serves the model through it."""

    endpoint: Resource
    log_group: Resource
    trigger: Resource | None
    component: Resource | None = None


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
    components = state.of_type(INFERENCE_COMPONENT)
    return Serving(
        endpoints[0],
        state.one_log_group("the smoke test's"),
        triggers[0] if triggers else None,
        components[0] if components else None,
    )
