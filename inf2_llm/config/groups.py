"""The settings groups of the notebook, the endpoint, the smoke test and the pipeline: each
declares the keys it owns, their validation, defaults and descriptions once, in its fields."""

from __future__ import annotations

from dataclasses import dataclass

from inf2_llm.parsers import boolean, hour_window, inf2_instance_type, matching, positive_number, whole_number
from inf2_llm.settings import setting

# InvokeEndpoint's limit on the model's processing time, seconds.
MAX_MODEL_SECONDS = 60


@dataclass(frozen=True, kw_only=True)
class NotebookSettings:
    instance_type: str = setting(
        "notebook_instance_type",
        inf2_instance_type,
        "Notebook instance type (Inferentia2 family).",
        default="ml.inf2.xlarge",
    )
    volume_size_gb: int = setting(
        "notebook_volume_size_gb",
        whole_number(64, 16384),
        "Notebook volume, GB; Docker's data root and the compiled model live here.",
        default=128,
    )
    platform_identifier: str = setting(
        "notebook_platform",
        matching(
            r"notebook-al2023-v\d+|notebook-al2-v\d+",
            "a SageMaker notebook platform identifier such as notebook-al2023-v1",
        ),
        "Notebook platform (Amazon Linux 2023).",
        default="notebook-al2023-v1",
    )
    idle_minutes: int = setting(
        "notebook_idle_minutes",
        whole_number(5, 10080),
        "The notebook stops itself after this many idle minutes once no artifact job runs.",
        default=60,
    )
    subnet_id: str | None = setting(
        "notebook_subnet_id",
        matching(r"subnet-[0-9a-f]{8,17}", "a subnet id (subnet-...)", optional=True),
        "Optional VPC subnet for the notebook; with it, direct internet access is off.",
    )
    security_group_id: str | None = setting(
        "notebook_security_group_id",
        matching(r"sg-[0-9a-f]{8,17}", "a security group id (sg-...)", optional=True),
        "Security group for the notebook in `notebook_subnet_id` (required with it).",
    )
    compile_timeout_minutes: int = setting(
        "compile_timeout_minutes",
        whole_number(30, 720),
        "How long the deploy waits for the notebook's artifact job (compile or mirror) to signal.",
        default=180,
    )
    hf_token_secret_name: str | None = setting(
        "hf_token_secret_name",
        matching(r"[A-Za-z0-9/_+=.@-]{1,512}", "a Secrets Manager secret name", optional=True),
        "Secrets Manager secret holding a Hugging Face token (gated models, publishing); read at run time only.",
    )
    publish_repo: str | None = setting(
        "publish_repo",
        matching(
            r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*",
            "a Hugging Face repository id (owner/name)",
            optional=True,
        ),
        "Hugging Face repository the compiled model is pushed to; publishing is off when empty.",
    )


@dataclass(frozen=True, kw_only=True)
class EndpointSettings:
    instance_type: str = setting(
        "endpoint_instance_type",
        inf2_instance_type,
        "Endpoint instance type (Inferentia2 family).",
        default="ml.inf2.xlarge",
    )
    instance_count: int = setting(
        "endpoint_instance_count", whole_number(1, 32), "Endpoint instances at deploy time.", default=1
    )
    volume_size_gb: int = setting(
        "endpoint_volume_size_gb",
        whole_number(1, 512),
        "Storage volume attached to each endpoint instance, GB.",
        default=64,
    )
    startup_timeout_seconds: int = setting(
        "startup_timeout_seconds",
        whole_number(900, 3600),
        "Container start-up health-check timeout; the guide's deploys took 14–17 minutes.",
        derived_default="the runtime's (`1800` for both)",
        derive=lambda basis: basis.runtime.startup_timeout_seconds,
    )
    download_timeout_seconds: int = setting(
        "download_timeout_seconds", whole_number(60, 3600), "Model data download timeout.", default=1800
    )
    latency_alarm_seconds: int = setting(
        "latency_alarm_seconds",
        # "The model itself can have a maximum processing time of 60 seconds before responding"
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html):
        # an average ModelLatency of 60 s or more never happens, so such an alarm could never fire.
        whole_number(
            1,
            MAX_MODEL_SECONDS - 1,
            why=f"InvokeEndpoint gives the model at most {MAX_MODEL_SECONDS} s, so an average model latency "
            "at or above that never happens and the alarm could never fire",
        ),
        "Alarm when the average model latency exceeds this, in seconds (below InvokeEndpoint's 60 s limit).",
        # The guide's 512-token answer took 25.1 s of TGI's time (49 ms per token); 30 s is the smoke
        # gate's 1.2 times margin over it, and still leaves room below the 60 s at which calls fail.
        default=30,
    )
    # The alarms go to the environment's topic, which the storage stack keeps across endpoint
    # replacements; this address is subscribed to it.
    alarm_email: str | None = setting(
        "alarm_email",
        matching(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address", optional=True),
        "Subscribes this address to the environment's alarm topic (SNS asks it to confirm).",
    )
    autoscaling: bool = setting(
        "autoscaling",
        boolean,
        "Target-tracking autoscaling on invocations per instance; `scale_to_zero` scales copies instead.",
        default=False,
    )
    autoscaling_min_instances: int = setting(
        "autoscaling_min_instances",
        whole_number(1, 32),
        "Autoscaling floor (with `scale_to_zero`, zero copies).",
        default=1,
    )
    autoscaling_max_instances: int = setting(
        "autoscaling_max_instances",
        whole_number(1, 32),
        "Autoscaling ceiling; with `scale_to_zero`, of instances and copies alike (one copy per instance).",
        default=2,
    )
    invocations_per_instance_target: int = setting(
        "invocations_per_instance_target",
        whole_number(1, 10000),
        "Autoscaling target: invocations per instance (with `scale_to_zero`, per copy) per minute.",
        default=20,
    )
    scale_to_zero: bool = setting(
        "scale_to_zero",
        boolean,
        "Serve the model as an inference component that scales to zero instances when idle and back "
        "on the next request (see Scale to zero); recommended for dev.",
        default=False,
    )
    warm_hours: tuple[int, int] | None = setting(
        "warm_hours",
        hour_window,
        "With `scale_to_zero`: keep one copy running from the first hour to the second on weekdays, e.g. `09-18`.",
    )
    warm_timezone: str = setting(
        "warm_timezone",
        # "Valid values are the canonical names of the IANA time zones supported by Joda-Time (such as
        # Etc/GMT+9 or Pacific/Tahiti)"
        # (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScheduledAction.html).
        matching(r"UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2}", "an IANA time zone name such as Asia/Seoul or UTC"),
        "Time zone of `warm_hours`.",
        default="UTC",
    )


@dataclass(frozen=True, kw_only=True)
class SmokeTestSettings:
    on_deploy: bool = setting(
        "smoke_test_on_deploy",
        boolean,
        "Run the smoke-test Lambda after the endpoint is in service; a failure fails the deploy.",
        default=True,
    )
    # The defaults are the handler's (lambda/smoke_test/smoke_settings.py, which gives the reasons);
    # a bare run of the function or of scripts/smoke_test.py judges as the deployed one does.
    max_ms_per_token: float = setting(
        "smoke_test_max_ms_per_token",
        positive_number(10000),
        "Smoke-test budget of decode time per token, ms, from a streamed answer: first token to last over the "
        "tokens after the first, the figure TGI reports (the guide's 49 ms); 60 is about 1.2 × 49, room for "
        "run-to-run and model differences and another request's prefill pausing the batch.",
        default=60.0,
    )
    max_first_token_ms: float = setting(
        "smoke_test_max_first_token_ms",
        # At most the 60 s InvokeEndpoint gives a whole answer: a first token later than that is
        # no budget worth allowing.
        positive_number(MAX_MODEL_SECONDS * 1000),
        "Smoke-test budget of time to first token, ms, from sending the request: routing, queueing and the "
        "prompt's prefill; 2000 is about 40 decode steps at 49 ms, room for a slow first connection.",
        default=2000.0,
    )
    max_new_tokens: int = setting(
        "smoke_test_max_new_tokens",
        whole_number(1, 4096),
        "Tokens generated per smoke-test call: the guide's 512, so that the time per token compares with its 49 ms.",
        default=512,
    )


@dataclass(frozen=True, kw_only=True)
class PipelineSettings:
    """The configuration keeps these only with pipeline=true (`AppConfig.pipeline`)."""

    enabled: bool = setting(
        "pipeline", boolean, "Synthesize the CDK pipeline that deploys dev, then prod after approval.", default=False
    )
    # Required with pipeline=true (checked when the configuration is loaded).
    connection_arn: str | None = setting(
        "connection_arn",
        matching(
            r"arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}",
            "a CodeConnections connection ARN",
            optional=True,
        ),
        "Pipeline source: the CodeStar/CodeConnections connection ARN.",
    )
    repository: str | None = setting(
        "repository",
        matching(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "owner/name", optional=True),
        "Pipeline source repository, `owner/name`.",
    )
    branch: str = setting(
        "branch", matching(r"[A-Za-z0-9._/-]{1,255}", "a branch name"), "Pipeline source branch.", default="main"
    )
