"""What a synthesized app asks of the account it is deployed to, read from its cloud assembly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.app_context import PROJECT_ROOT

# In the project's ignored build folder rather than cdk.out, which holds the user's own synth; kept,
# so that a failed synth's validation report can be read.
ASSEMBLY_DIRECTORY = PROJECT_ROOT / ".build" / "preflight.out"
STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"  # a pipeline's stage
LAMBDA_FUNCTION = "AWS::Lambda::Function"
CUSTOM_RESOURCE = "AWS::CloudFormation::CustomResource"


@dataclass(frozen=True)
class AppNeeds:
    # The bootstrap stack version the stacks and their asset manifests require (the version every
    # template's CheckBootstrapVersion rule asserts), and the SSM parameter that holds it.
    bootstrap_version: int
    bootstrap_version_parameter: str
    # The most Lambda executions the deploy of one stack can have running at once, counted as its
    # functions plus its custom resources: each custom resource's event runs a handler, while the
    # functions a handler calls (the smoke test under its trigger, a provider's own handlers) may
    # run too. Stacks are deployed one at a time.
    lambda_executions: int


class SynthesisFailed(Exception):
    """The app does not synthesize with this context: a cdk-nag finding, a construct's validation."""


def synthesize_needs(context: Mapping[str, Any]) -> AppNeeds:
    """Synthesizes the app as `cdk synth` does, with this context."""
    # Imported here: importing aws_cdk starts Node.js, which only this step needs.
    import aws_cdk as cdk

    import app as cdk_app

    shutil.rmtree(ASSEMBLY_DIRECTORY, ignore_errors=True)
    application = cdk.App(context=dict(context), outdir=str(ASSEMBLY_DIRECTORY))
    try:
        cdk_app.build(application)
        application.synth()
    except RuntimeError as error:  # how jsii raises an error of the CDK's own code
        raise SynthesisFailed(str(error).splitlines()[0]) from error
    return read_needs(ASSEMBLY_DIRECTORY)


def read_needs(assembly: Path) -> AppNeeds:
    versions: list[tuple[int, str]] = []
    executions: list[int] = []
    _read_assembly(assembly, versions, executions)
    version, parameter = max(versions, default=(0, ""))
    return AppNeeds(version, parameter, max(executions, default=0))


def _read_assembly(directory: Path, versions: list[tuple[int, str]], executions: list[int]) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        # Top-level only: the lookup role's own (higher) version matters to context lookups alone,
        # which the app does not make.
        if "requiresBootstrapStackVersion" in properties:
            versions.append(
                (properties["requiresBootstrapStackVersion"], properties.get("bootstrapStackVersionSsmParameter", ""))
            )
        if artifact["type"] == STACK_ARTIFACT:
            template = json.loads((directory / properties["templateFile"]).read_text())
            executions.append(sum(_runs_lambda(resource["Type"]) for resource in template["Resources"].values()))
        elif artifact["type"] == NESTED_ASSEMBLY:
            _read_assembly(directory / properties["directoryName"], versions, executions)


def _runs_lambda(resource_type: str) -> bool:
    return resource_type in (LAMBDA_FUNCTION, CUSTOM_RESOURCE) or resource_type.startswith("Custom::")
