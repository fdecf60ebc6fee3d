"""Synthesizes each configuration the tests need once per session, exactly as `cdk synth` would:
with cdk.json's context (feature flags) under the test's overrides and the cdk-nag gate on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import cx_api
from aws_cdk.assertions import Template

import app as cdk_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
# What the CLI adds to every synth: construct paths in the template metadata, asset metadata.
CLI_CONTEXT = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}

HUB = {}
MIRROR = {"model_source": "mirror"}
COMPILE = {"model_source": "compile"}
VLLM = {"runtime": "vllm-0.4", "model_source": "compile"}
COMPILE_QWEN = {
    "model_source": "compile",
    "model": "qwen2.5-7b-instruct",
    "hub_revision": "0123456789abcdef0123456789abcdef01234567",
    "alarm_email": "ops@example.com",
    "hf_token_secret_name": "inf2-llm/hf-token",
    "publish_repo": "example/qwen2.5-7b-instruct-neuron",
    "notebook_subnet_id": "subnet-0123456789abcdef0",
    "notebook_security_group_id": "sg-0123456789abcdef0",
    "autoscaling": "true",
    "smoke_test_on_deploy": "false",
}
# The endpoint as an inference component that scales to zero: Hub model on TGI (dev's defaults),
# and the other runtime from S3, in network isolation, with a copy kept warm in working hours and
# autoscaling asked for as well (which scale_to_zero implies).
SCALE_TO_ZERO = {"scale_to_zero": "true"}
SCALE_TO_ZERO_VLLM = {
    **VLLM,
    "scale_to_zero": "true",
    "autoscaling": "true",
    "warm_hours": "09-18",
    "warm_timezone": "Asia/Seoul",
    "autoscaling_max_instances": "3",
}
ACCOUNT, REGION = "123456789012", "us-west-2"
PROD = {"stage": "prod", "account": ACCOUNT, "region": REGION}
CONNECTION_ARN = f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/0123abcd-0123-4567-89ab-0123456789ab"
PIPELINE = {
    "pipeline": "true",
    "connection_arn": CONNECTION_ARN,
    "repository": "example-org/inf2-llm-cdk",
    "branch": "release",
    "account": ACCOUNT,
    "region": REGION,
}


class Synthesized:
    def __init__(self, app: cdk.App, assembly: cx_api.CloudAssembly) -> None:
        self.app = app
        self.assembly = assembly
        self._templates: dict[str, Template] = {}

    def template(self, stack_name: str) -> Template:
        # Read from the assembly's directory: jsii caches an artifact's proxy under the type it was
        # first seen as (a stack's `dependencies` are plain CloudArtifacts), which has no template.
        if stack_name not in self._templates:
            path = Path(self.assembly.directory) / f"{stack_name}.template.json"
            self._templates[stack_name] = Template.from_json(json.loads(path.read_text()))
        return self._templates[stack_name]

    def stack_artifact(self, stack_name: str) -> cx_api.CloudFormationStackArtifact:
        return self.assembly.get_stack_by_name(stack_name)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    cache: dict[str, Synthesized] = {}

    def synthesize(overrides: dict[str, str]) -> Synthesized:
        key = json.dumps(overrides, sort_keys=True)
        if key not in cache:
            app = cdk.App(
                context={**CDK_JSON_CONTEXT, **CLI_CONTEXT, **overrides},
                outdir=str(tmp_path_factory.mktemp("cdk.out")),
            )
            cdk_app.build(app)
            cache[key] = Synthesized(app, app.synth())
        return cache[key]

    return synthesize
