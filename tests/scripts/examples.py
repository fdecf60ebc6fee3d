"""Hook settings for the tests and the hook benchmark, with values as long as deployed ones."""

from __future__ import annotations

from inf2_llm.lifecycle import CompileJob, NotebookHookSettings

# profile: (model id, auto-cast type); both compile with batch 4, sequence 4096 on 2 cores.
PROFILES = {
    "bllossom-8b": ("MLP-KTLim/llama-3-Korean-Bllossom-8B", "fp16"),
    "qwen2.5-7b-instruct": ("Qwen/Qwen2.5-7B-Instruct", "bf16"),
}
REGION = "us-west-2"
REGISTRY = "763104351884.dkr.ecr.us-west-2.amazonaws.com"
IMAGE_URI = f"{REGISTRY}/huggingface-pytorch-tgi-inference:2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.2"
BUCKET = "inf2-llm-dev-storage-artifactstorebucket1a2b3c4d-1a2b3c4d5e6f"
LOG_GROUP = "inf2-llm-dev-workbench-NotebookLogs1A2B3C4D-AbCdEfGhIjKl"
HF_TOKEN_SECRET_ID = "arn:aws:secretsmanager:us-west-2:123456789012:secret:inf2-llm/hf-token"
PUBLISH_REPO = "someone/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B"
# A presigned wait-condition URL is about 500 characters, with '&' and '%' a shell must not touch.
WAIT_HANDLE_URL = (
    "https://cloudformation-waitcondition-us-west-2.s3.us-west-2.amazonaws.com/"
    "arn%3Aaws%3Acloudformation%3Aus-west-2%3A123456789012%3Astack/inf2-llm-dev-workbench/"
    "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d/NotebookCompileSignal1A2B3C4D"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20250526T000000Z&X-Amz-SignedHeaders=host"
    "&X-Amz-Expires=86399&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250526%2Fus-west-2%2Fs3%2Faws4_request"
    "&X-Amz-Signature=" + "0f" * 32
)


def hook_settings(
    profile: str | None,
    *,
    hf_token_secret_id: str = "",
    publish_repo: str = "",
    idle_minutes: int = 60,
) -> NotebookHookSettings:
    """Settings for a compile of `profile`, or for serving from the Hub when it is None."""
    compile_job = None
    if profile:
        model_id, auto_cast_type = PROFILES[profile]
        compile_job = CompileJob(
            model_id=model_id,
            profile=profile,
            batch_size=4,
            sequence_length=4096,
            auto_cast_type=auto_cast_type,
            num_cores=2,
            artifact_prefix=f"models/{profile}/",
            wait_handle_url=WAIT_HANDLE_URL,
            publish_repo=publish_repo,
        )
    return NotebookHookSettings(
        region=REGION,
        image_uri=IMAGE_URI,
        artifact_bucket=BUCKET,
        log_group_name=LOG_GROUP,
        hf_token_secret_id=hf_token_secret_id,
        idle_minutes=idle_minutes,
        compile_job=compile_job,
    )
