"""Hook settings for the tests and the hook benchmark, made from the app's own configuration, with
deployed values as long as CloudFormation's."""

from __future__ import annotations

from dataclasses import replace

from inf2_llm.config import load_config
from inf2_llm.lifecycle import NotebookHookSettings
from inf2_llm.runtimes import RUNTIMES, TGI
from stacks.workbench_stack import artifact_job

PROFILES = ("bllossom-8b", "qwen2.5-7b-instruct")
REGION = "us-west-2"
REGISTRY = "763104351884.dkr.ecr.us-west-2.amazonaws.com"
IMAGE_URI = f"{REGISTRY}/huggingface-pytorch-tgi-inference:2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.2"


def image_uri(runtime: str) -> str:
    """The runtime's default image in the examples' region."""
    chosen = RUNTIMES[runtime]
    return f"{REGISTRY}/{chosen.release.repository}:{chosen.default_image_tag}"


BUCKET = "inf2-llm-dev-storage-artifactstorebucket1a2b3c4d-1a2b3c4d5e6f"
LOG_GROUP = "inf2-llm-dev-workbench-NotebookLogs1A2B3C4D-AbCdEfGhIjKl"
HF_TOKEN_SECRET_ID = "arn:aws:secretsmanager:us-west-2:123456789012:secret:inf2-llm/hf-token"
PUBLISH_REPO = "someone/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B"
# A presigned wait-condition URL is about 500 characters, with '&' and '%' a shell must not touch.
WAIT_HANDLE_URL = (
    "https://cloudformation-waitcondition-us-west-2.s3.us-west-2.amazonaws.com/"
    "arn%3Aaws%3Acloudformation%3Aus-west-2%3A123456789012%3Astack/inf2-llm-dev-workbench/"
    "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d/NotebookArtifactSignal1A2B3C4D"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20250526T000000Z&X-Amz-SignedHeaders=host"
    "&X-Amz-Expires=86399&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250526%2Fus-west-2%2Fs3%2Faws4_request"
    "&X-Amz-Signature=" + "0f" * 32
)


def hook_settings(
    profile: str | None,
    *,
    model_source: str = "compile",
    runtime: str = TGI.name,
    hub_revision: str | None = None,
    hf_token_secret_id: str = "",
    publish_repo: str = "",
    idle_minutes: int = 60,
) -> NotebookHookSettings:
    """Settings for the job that puts `profile` into S3, or for serving from the Hub when it is None."""
    job = None
    if profile:
        context = {"model": profile, "model_source": model_source, "runtime": runtime}
        if hub_revision:
            context["hub_revision"] = hub_revision
        job = replace(artifact_job(load_config(context)), publish_repo=publish_repo)
    return NotebookHookSettings(
        region=REGION,
        image_uri=image_uri(runtime),
        artifact_bucket=BUCKET,
        log_group_name=LOG_GROUP,
        hf_token_secret_id=hf_token_secret_id,
        idle_minutes=idle_minutes,
        artifact_job=job,
        wait_handle_url=WAIT_HANDLE_URL if job else None,
    )
