#!/usr/bin/env python3
"""Draws the deployed system as a Mermaid flowchart, from a synthesized cloud assembly.

    scripts/dev.sh synth -c model_source=compile && .venv/bin/python scripts/architecture.py cdk.out

The README's picture is this script's output, and a test keeps the two equal.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

# The resources a reader of the picture cares about, and how to label them.
SHOWN_TYPES = {
    "AWS::KMS::Key": "KMS key",
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::SNS::Topic": "SNS topic",
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": "lifecycle config",
    "AWS::SageMaker::NotebookInstance": "notebook instance",
    "AWS::CloudFormation::WaitCondition": "wait condition",
    "AWS::SageMaker::Model": "SageMaker model",
    "AWS::SageMaker::EndpointConfig": "endpoint config",
    "AWS::SageMaker::Endpoint": "endpoint",
    "AWS::Lambda::Function": "Lambda",
    "Custom::Trigger": "trigger",
    "Custom::NotebookRestart": "notebook restart",
}
HIDDEN_PATH_PARTS = ("CustomResourceProvider",)


def _references(value: Any) -> set[str]:
    """Logical ids a template value refers to, within its stack."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _construct_path(resource: dict[str, Any], logical_id: str) -> str:
    """The construct's path inside its stack, without the L2 wrappers' `Resource`/`Default`."""
    parts = resource.get("Metadata", {}).get("aws:cdk:path", f"stack/{logical_id}").split("/")[1:]
    while len(parts) > 1 and parts[-1] in ("Resource", "Default"):
        parts.pop()
    return "/".join(parts)


def _node_id(stack: str, logical_id: str) -> str:
    return re.sub(r"\W", "_", f"{stack}_{logical_id}")


def mermaid(assembly_dir: Path) -> str:
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    stacks = {
        name: artifact
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    lines = ["flowchart LR"]
    edges: list[str] = []
    for name, artifact in stacks.items():
        template = json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
        resources = {
            logical_id: resource
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] in SHOWN_TYPES
            and not any(part in resource.get("Metadata", {}).get("aws:cdk:path", "") for part in HIDDEN_PATH_PARTS)
        }
        # A custom resource is drawn as one node: the functions in its construct are how it works.
        custom_paths = [
            _construct_path(resource, logical_id) + "/"
            for logical_id, resource in resources.items()
            if resource["Type"].startswith("Custom::")
        ]
        resources = {
            logical_id: resource
            for logical_id, resource in resources.items()
            if not _construct_path(resource, logical_id).startswith(tuple(custom_paths))
        }
        lines.append(f"  subgraph {_node_id(name, '')}[{name}]")
        for logical_id, resource in resources.items():
            label = f"{SHOWN_TYPES[resource['Type']]}<br/>{_construct_path(resource, logical_id)}"
            lines.append(f'    {_node_id(name, logical_id)}["{label}"]')
            for target in sorted(_references(resource.get("Properties", {})) | set(resource.get("DependsOn", []))):
                if target in resources and target != logical_id:
                    edges.append(f"  {_node_id(name, logical_id)} --> {_node_id(name, target)}")
        lines.append("  end")
        for dependency in artifact.get("dependencies", []):
            if dependency in stacks:
                edges.append(f"  {_node_id(name, '')} -.-> {_node_id(dependency, '')}")
    return "\n".join(lines + edges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assembly", type=Path, nargs="?", default=Path("cdk.out"), help="cloud assembly directory")
    print(mermaid(parser.parse_args().assembly))


if __name__ == "__main__":
    main()
