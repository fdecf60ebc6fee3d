"""Scripting the moto server that stands in for SageMaker Runtime, and running the scripts.

Moto answers InvokeEndpoint with bodies queued through its /moto-api (one queue per account
and region, consumed in order, each answer then remembered per endpoint and request body).
It cannot answer with an error, so errors are injected on the client just before sending:
botocore still parses them exactly as it parses a real SageMaker error response.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders

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


def queue_bodies(moto_url: str, *bodies: str) -> None:
    """Make moto answer the next InvokeEndpoint calls with these bodies, in order."""
    post_json(
        f"{moto_url}/moto-api/static/sagemaker/endpoint-results",
        {
            "region": REGION,
            "results": [{"Body": body, "ContentType": "application/json"} for body in bodies],
        },
    )


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


def chat_body(content: str = "딥러닝은 데이터에서 표현을 배우는 방법입니다.", tokens: int = 100) -> str:
    """What TGI on SageMaker answers a messages request with (text-generation-inference v3.0.0,
    router/src/lib.rs: ChatCompletion, whose "object" is a serde tag; router/src/sagemaker.rs picks
    the API by the payload's shape)."""
    return json.dumps(
        {
            "object": "chat.completion",
            "id": "",
            "created": 1,
            "model": "tgi",
            "system_fingerprint": "3.0.0-native",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "length",
                }
            ],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": tokens,
                "total_tokens": 20 + tokens,
            },
        },
        ensure_ascii=False,
    )


def vllm_chat_body(content: str = "딥러닝은 데이터에서 표현을 배우는 방법입니다.", tokens: int = 100) -> str:
    """What vLLM's OpenAI server answers a chat request with (vllm v0.11.0,
    vllm/entrypoints/openai/protocol.py, ChatCompletionResponse)."""
    return json.dumps(
        {
            "id": "chatcmpl-0123456789abcdef",
            "object": "chat.completion",
            "created": 1,
            "model": "/opt/ml/model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "tool_calls": [], "reasoning_content": None},
                    "logprobs": None,
                    "finish_reason": "length",
                    "stop_reason": None,
                }
            ],
            "usage": {"prompt_tokens": 20, "total_tokens": 20 + tokens, "completion_tokens": tokens},
            "prompt_logprobs": None,
        },
        ensure_ascii=False,
    )


def vllm_completion_body(text: str = " 딥러닝은 인공신경망을 쓰는 기계학습입니다.", tokens: int = 128) -> str:
    """What vLLM's OpenAI server answers a completion request with (vllm v0.11.0,
    vllm/entrypoints/openai/protocol.py, CompletionResponse)."""
    return json.dumps(
        {
            "id": "cmpl-0123456789abcdef",
            "object": "text_completion",
            "created": 1,
            "model": "/opt/ml/model",
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "length", "stop_reason": None}],
            "usage": {"prompt_tokens": 8, "total_tokens": 8 + tokens, "completion_tokens": tokens},
        },
        ensure_ascii=False,
    )


class _Body:
    """The raw stream botocore reads an error response's bytes from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


class InvocationTap:
    """Records a client's InvokeEndpoint requests, and answers scripted ones with AWS errors.

    Calls past the scripted errors go on to moto. Counts every attempt, retries included.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent_bodies: list[dict[str, Any]] = []
        self._errors: list[tuple[int, str, str]] = []
        client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", self._before_send)

    @property
    def calls(self) -> int:
        return len(self.sent_bodies)

    def script_errors(self, *errors: tuple[int, str, str]) -> None:
        """Answer the next calls with these (HTTP status, error code, message), in order."""
        self._errors.extend(errors)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        assert isinstance(request.body, bytes)
        self.sent_bodies.append(json.loads(request.body))
        if not self._errors:
            return None
        status, code, message = self._errors.pop(0)
        body = json.dumps({"message": message}).encode("utf-8")
        headers = HTTPHeaders.from_dict({"x-amzn-ErrorType": code, "Content-Type": "application/json"})
        return AWSResponse(request.url, status, headers, _Body(body))


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
