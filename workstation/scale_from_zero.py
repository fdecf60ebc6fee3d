"""How long a scale from zero may take, for the callers that wait for one outside Lambda: the
workstation's smoke test and the pipeline's smoke step, which builds its command at synth (so only
the standard library here)."""

from __future__ import annotations

# A request that finds no copy trips the alarm on NoCapacityInvocationFailures (one-minute periods),
# whose step policy asks for a copy; SageMaker then starts an instance: "the provisioning process
# takes several minutes. During that time, any attempts to invoke the endpoint will produce an error"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html).
SCALE_OUT_MINUTES = 10


def capacity_wait_minutes(startup_timeout_seconds: float) -> float:
    """How long a caller waits for a copy: the scale-out, then the model's start on the new instance
    within the component's start-up timeout (StartupParameters'
    ContainerStartupHealthCheckTimeoutInSeconds). A model's download from S3 before its start, bounded
    by a timeout of its own, is not counted."""
    return SCALE_OUT_MINUTES + startup_timeout_seconds / 60
