"""What the smoke and workstation-tool tests share: moto's stand-in for a deployed serving stack
(the smoke function's environment, its log group), the SageMaker Runtime errors the fake runtime
(tests/fakes/sagemaker_runtime.py) is scripted to answer with, a stepping clock, and running a
script the way a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def post_json(url: str, document: Any) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(document).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


class SteppingClock:
    """A clock that advances a fixed step on every reading: each invocation 'takes' one step."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def smoke_test_function(environment: dict[str, str], log_group: str | None = None) -> dict[str, Any]:
    """The template resources of a serving stack's smoke-test function: its role and the function,
    with the logical id the construct gives it."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    function: dict[str, Any] = {
        "Runtime": "python3.12",
        "Handler": "handler.handler",
        "Role": {"Fn::GetAtt": ["SmokeTestRole", "Arn"]},
        "Code": {"ZipFile": "def handler(event, context): pass"},
        "Environment": {"Variables": environment},
    }
    if log_group:
        function["LoggingConfig"] = {"LogGroup": {"Ref": log_group}}
    return {
        "SmokeTestRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
        "SmokeTestFunction3BA52CAE": {"Type": "AWS::Lambda::Function", "Properties": function},
    }


def generate_body(text: str = "딥러닝은 인공신경망을 쓰는 기계학습입니다.", tokens: int = 128) -> str:
    """What TGI on SageMaker answers a generate request with details=true: a one-element list
    (text-generation-inference v3.0.0, router/src/server.rs, compat_generate)."""
    return json.dumps(
        [
            {
                "generated_text": text,
                "details": {"finish_reason": "length", "generated_tokens": tokens, "seed": None},
            }
        ],
        ensure_ascii=False,
    )


THROTTLED = (400, "ThrottlingException", "Rate exceeded")
UNAVAILABLE = (503, "ServiceUnavailable", "Service is unavailable")
MODEL_ERROR = (
    424,
    "ModelError",
    'Received client error (422) from primary with message "Input validation error".',
)
NOT_FOUND = (400, "ValidationError", "Endpoint missing of account 123456789012 not found.")
# An inference component with no copy, as AWS's blog "Unlock cost savings with the new scale down to
# zero feature in SageMaker Inference" shows InvokeEndpoint answering it.
NO_CAPACITY = (
    400,
    "ValidationError",
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress "
    "(if configured) or try to increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API.",
)
# An endpoint that hosts inference components, called without naming one (the message's beginning).
COMPONENT_NOT_NAMED = (
    400,
    "ValidationError",
    "Inference Component Name header is required for endpoints to which you plan to deploy inference components.",
)


def run_script(
    script: str,
    *arguments: str,
    timeout: float = 30,
    python_options: Sequence[str] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a script under scripts/ as a developer would, with the test's AWS environment (and the
    interpreter's options before the script, such as -c with a harness that runs it), from `cwd`.

    Output is decoded without newline translation, so a progress line's carriage returns stay.
    """
    result = subprocess.run(
        [sys.executable, *python_options, str(PROJECT_ROOT / "scripts" / script), *arguments],
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        cwd=cwd,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    )
