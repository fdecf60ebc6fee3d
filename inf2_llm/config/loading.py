"""Loading the configuration from `cdk.json` context and `-c key=value` overrides.

Every key is parsed by the parser its group declares, defaults are taken (or derived) from the
same declarations, and each group is built from the values generically. Cross-checks follow
(`inf2_llm.config.checks`), all at synth, because a container only reports a bad setting after a
15-minute deploy and a rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inf2_llm.config.app_config import GROUPS, AppConfig
from inf2_llm.config.checks import check
from inf2_llm.config.groups import EndpointSettings, NotebookSettings, PipelineSettings, SmokeTestSettings
from inf2_llm.config_error import ConfigError
from inf2_llm.profiles import NeuronCompilation
from inf2_llm.settings import Basis, Setting, build, declared_settings

SETTINGS: dict[str, Setting] = {
    declared.key: declared for group in GROUPS for declared in declared_settings(group).values()
}


def load_config(context: Mapping[str, Any]) -> AppConfig:
    """Parse and cross-check every key; the first problem found raises `ConfigError`."""
    given = _parse_given(context)
    values = _with_defaults(given)
    runtime = values["runtime"].with_settings(values)
    pipeline = build(PipelineSettings, values)
    config = build(
        AppConfig,
        values,
        runtime=runtime,
        notebook=build(NotebookSettings, values),
        endpoint=build(EndpointSettings, values),
        compilation=build(NeuronCompilation, values, auto_cast_type=runtime.precision(values["model"])),
        smoke_test=build(SmokeTestSettings, values),
        pipeline=pipeline if pipeline.enabled else None,
        overrides=tuple((key, as_cli_value(context[key])) for key in given),
    )
    check(config, given)
    return config


def config_for_stage(config: AppConfig, stage: str) -> AppConfig:
    """The configuration with another stage, its stage-dependent defaults chosen anew."""
    return load_config({**dict(config.overrides), "stage": stage})


def _is_cdk_context(name: str) -> bool:
    """Feature flags, CLI settings and lookup caches share the context with our keys."""
    return name.startswith("@") or ":" in name or name.startswith("aws-cdk")


def _parse_given(context: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that were set (a null value is not), parsed, in the table's order."""
    unknown = sorted(name for name in context if name not in SETTINGS and not _is_cdk_context(name))
    if unknown:
        raise ConfigError(unknown[0], context[unknown[0]], f"unknown key; known keys: {', '.join(SETTINGS)}")
    return {
        key: declared.parse(key, context[key]) for key, declared in SETTINGS.items() if context.get(key) is not None
    }


def _with_defaults(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every key's value: given, or its default; derived defaults follow the stage, model and runtime."""
    values = {key: given[key] if key in given else declared.default_value() for key, declared in SETTINGS.items()}
    basis = Basis(stage=values["stage"], profile=values["model"], runtime=values["runtime"])
    for key, declared in SETTINGS.items():
        if declared.derive and key not in given:
            values[key] = declared.derive(basis)
    return values


def as_cli_value(raw: Any) -> str:
    """A value as `-c key=value` writes it."""
    return str(raw).lower() if isinstance(raw, bool) else str(raw)
