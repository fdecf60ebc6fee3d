"""The rules between keys, checked once every group is built; the rules a serving runtime adds
live with the runtime (`ServingRuntime.check`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inf2_llm.config.app_config import AppConfig
from inf2_llm.config_error import ConfigError
from inf2_llm.parsers import neuron_cores
from inf2_llm.runtimes import RUNTIMES

# How long one answer the smoke test's budgets let pass may stream, seconds. The smoke-test function
# has 10 minutes (inf2_llm/components/endpoint_smoke_test.py). In its longest run (the bound is
# worked out in lambda/smoke_test/invocation.py) each of the runtime's two APIs retries for up to
# 2 minutes, the first then streams an answer that passes, and the second one as long that stalls
# for the client's 70 s read timeout at its end: 2 x 120 + 140 + (140 + 70) = 590 s, which leaves
# 10 s for the function to start. A longer allowance would let the function time out without a verdict.
SMOKE_TEST_ANSWER_SECONDS = 140


def check(config: AppConfig, given: Mapping[str, Any]) -> None:
    """Raise `ConfigError` for the first rule `config` breaks; `given` holds the keys that were set."""
    _check_runtime(config, given)
    _check_serving_limits(config)
    _check_smoke_test(config, given)
    _check_scale_to_zero(config, given)
    _check_environment(config)


def _check_runtime(config: AppConfig, given: Mapping[str, Any]) -> None:
    """What the chosen runtime can serve: where its image is published, its own keys, and its
    precompiled copies, which hub and mirror serve and must match exactly."""
    runtime, profile, compilation = config.runtime, config.profile, config.compilation
    release = runtime.release
    if config.region and config.region not in release.registry_accounts:
        raise ConfigError(
            "region",
            config.region,
            f"runtime {runtime.name}'s image ({release.repository}) is not published there; "
            f"it is in: {', '.join(release.regions)}",
        )
    for other in RUNTIMES.values():
        for key in sorted((other.own_keys - runtime.own_keys) & given.keys()):
            raise ConfigError(key, given[key], f"is read by runtime {other.name} only, not by {runtime.name}")
    source = config.model_source
    if source in ("hub", "mirror"):
        precompiled = runtime.precompiled.get(profile.name)
        if precompiled is None:
            chosen = "chosen" if "model_source" in given else f"{config.stage}'s default"
            raise ConfigError(
                "model_source",
                source,
                f"({chosen}) serves a precompiled Hub copy, and runtime {runtime.name} has none of "
                f"{profile.name}; use model_source=compile",
            )
        for field in ("batch_size", "sequence_length", "auto_cast_type", "num_cores"):
            compiled = getattr(precompiled.compiled_with, field)
            if getattr(compilation, field) != compiled:
                raise ConfigError(
                    field,
                    getattr(compilation, field),
                    f"the precompiled {precompiled.hub_id} was compiled with {field}={compiled}; "
                    "use model_source=compile for other settings",
                )
    runtime.check(compilation)


def _check_serving_limits(config: AppConfig) -> None:
    """The hardware's limits and the rules between keys that hold for every runtime."""
    compilation, endpoint, notebook = config.compilation, config.endpoint, config.notebook
    cores = neuron_cores(endpoint.instance_type)
    if compilation.num_cores > cores:
        raise ConfigError("num_cores", compilation.num_cores, f"{endpoint.instance_type} has {cores} Neuron cores")
    if compilation.sequence_length > config.profile.max_position_embeddings:
        raise ConfigError(
            "sequence_length",
            compilation.sequence_length,
            f"{config.profile.model_id} handles at most {config.profile.max_position_embeddings} tokens",
        )
    if endpoint.autoscaling_min_instances > endpoint.autoscaling_max_instances:
        raise ConfigError(
            "autoscaling_min_instances",
            endpoint.autoscaling_min_instances,
            f"must not exceed autoscaling_max_instances ({endpoint.autoscaling_max_instances})",
        )
    if notebook.publish_repo and config.model_source != "compile":
        raise ConfigError(
            "publish_repo",
            notebook.publish_repo,
            f"only a model compiled on the notebook is published (model_source={config.model_source})",
        )
    if notebook.publish_repo and not notebook.hf_token_secret_name:
        raise ConfigError(
            "publish_repo", notebook.publish_repo, "publishing needs hf_token_secret_name (a write token)"
        )
    if bool(notebook.subnet_id) != bool(notebook.security_group_id):
        raise ConfigError(
            "notebook_security_group_id",
            notebook.security_group_id,
            "notebook_subnet_id and notebook_security_group_id go together",
        )


def _check_smoke_test(config: AppConfig, given: Mapping[str, Any]) -> None:
    """The longest answer the smoke test's budgets pass: the first token at its budget, then each
    further token at the decode budget; it must fit the function's time (SMOKE_TEST_ANSWER_SECONDS)."""
    smoke_test = config.smoke_test
    answer_s = (smoke_test.max_first_token_ms + smoke_test.max_ms_per_token * (smoke_test.max_new_tokens - 1)) / 1000
    if answer_s <= SMOKE_TEST_ANSWER_SECONDS:
        return
    budgets = {
        "smoke_test_max_new_tokens": smoke_test.max_new_tokens,
        "smoke_test_max_ms_per_token": smoke_test.max_ms_per_token,
        "smoke_test_max_first_token_ms": smoke_test.max_first_token_ms,
    }
    # The error names the key that was set, the one to lower; with none set the defaults cannot break the rule.
    key = next((key for key in budgets if key in given), "smoke_test_max_new_tokens")
    others = " and ".join(f"{other}={value:g}" for other, value in budgets.items() if other != key)
    raise ConfigError(
        key,
        given.get(key, budgets[key]),
        f"with {others} an answer within the budgets may stream for {answer_s:.0f} s, over the "
        f"{SMOKE_TEST_ANSWER_SECONDS} s each answer has in the smoke-test function's 10 minutes "
        "(two APIs, their retries and a stall): lower the tokens or a budget",
    )


def _check_scale_to_zero(config: AppConfig, given: Mapping[str, Any]) -> None:
    """What scaling to zero decides itself: the component's scaling is on, its floor is zero, and
    instances follow its copies; the warm hours belong to it."""
    endpoint = config.endpoint
    if not endpoint.scale_to_zero:
        if endpoint.warm_hours:
            start, end = endpoint.warm_hours
            raise ConfigError(
                "warm_hours",
                f"{start:02d}-{end:02d}",
                "keeps a copy of a scale-to-zero endpoint: set scale_to_zero=true",
            )
        return
    if not endpoint.autoscaling and "autoscaling" in given:
        raise ConfigError(
            "autoscaling",
            "false",
            "scale_to_zero=true scales the copies to zero and back with scaling policies; leave autoscaling unset",
        )
    if "autoscaling_min_instances" in given:
        raise ConfigError(
            "autoscaling_min_instances",
            endpoint.autoscaling_min_instances,
            "with scale_to_zero=true the floor is zero copies; warm_hours keeps one during working hours",
        )
    if endpoint.instance_count != 1:
        raise ConfigError(
            "endpoint_instance_count",
            endpoint.instance_count,
            "with scale_to_zero=true the instances follow the copies (one per instance), starting from one; "
            "autoscaling_max_instances bounds both",
        )


def _check_environment(config: AppConfig) -> None:
    pipeline = config.pipeline
    needs_environment = "prod stages" if config.is_production else "the pipeline" if pipeline else None
    if needs_environment:
        for key, value in (("account", config.account), ("region", config.region)):
            if value is None:
                raise ConfigError(key, None, f"required for {needs_environment}: pass -c {key}=...")
    if pipeline:
        for key, value in (("connection_arn", pipeline.connection_arn), ("repository", pipeline.repository)):
            if value is None:
                raise ConfigError(key, None, f"required with pipeline=true: pass -c {key}=...")
