"""Parsers of configuration values: each takes (key, raw value) and returns the typed value or
raises `ConfigError` naming the key, the value given and what is allowed.

The CLI passes every `-c key=value` override as a string, while `cdk.json` holds JSON values, so
each parser accepts both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from inf2_llm.config_error import ConfigError

Parser = Callable[[str, Any], Any]

# One Inferentia2 chip (device) has two Neuron cores.
NEURON_CORES_PER_DEVICE = 2
# Neuron cores per instance size.
INF2_NEURON_CORES = {"xlarge": 2, "8xlarge": 2, "24xlarge": 12, "48xlarge": 24}


def whole_number(minimum: int, maximum: int, *, why: str = "") -> Parser:
    """`why` says, after the range, the rule of the service that sets the bound."""
    allowed = f"must be a whole number from {minimum} to {maximum}" + (f": {why}" if why else "")

    def parse(key: str, raw: Any) -> int:
        text = str(raw).strip()
        if isinstance(raw, bool) or not re.fullmatch(r"[+-]?\d+", text):
            raise ConfigError(key, raw, allowed)
        value = int(text)
        if not minimum <= value <= maximum:
            raise ConfigError(key, raw, allowed)
        return value

    return parse


def positive_number(maximum: float) -> Parser:
    def parse(key: str, raw: Any) -> float:
        try:
            value = float(raw) if not isinstance(raw, bool) else float("nan")
        except (TypeError, ValueError):
            value = float("nan")
        if not 0 < value <= maximum:
            raise ConfigError(key, raw, f"must be a number above 0 and at most {maximum:g}")
        return value

    return parse


def choice(*allowed: str) -> Parser:
    def parse(key: str, raw: Any) -> str:
        if raw not in allowed:
            raise ConfigError(key, raw, f"must be one of {', '.join(allowed)}")
        return str(raw)

    return parse


def named(table: Mapping[str, Any]) -> Parser:
    """One of `table`'s values, chosen by its name."""
    by_name = choice(*table)

    def parse(key: str, raw: Any) -> Any:
        return table[by_name(key, raw)]

    return parse


def boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise ConfigError(key, raw, "must be true or false")


def matching(pattern: str, description: str, *, optional: bool = False) -> Parser:
    def parse(key: str, raw: Any) -> str | None:
        if optional and raw in (None, ""):
            return None
        if not isinstance(raw, str) or not re.fullmatch(pattern, raw):
            raise ConfigError(key, raw, f"must be {description}")
        return raw

    return parse


def hour_window(key: str, raw: Any) -> tuple[int, int] | None:
    """Whole hours `HH-HH` of a 24-hour clock, the first before the second, as (start, end); empty is None."""
    if raw in (None, ""):
        return None
    found = re.fullmatch(r"([01]\d|2[0-3])-([01]\d|2[0-3])", str(raw))
    if not found or int(found[1]) >= int(found[2]):
        raise ConfigError(key, raw, "must be hours HH-HH of a 24-hour clock, the first before the second, e.g. 09-18")
    return int(found[1]), int(found[2])


def inf2_instance_type(key: str, raw: Any) -> str:
    sizes = ", ".join(f"ml.inf2.{size}" for size in INF2_NEURON_CORES)
    if not isinstance(raw, str) or not re.fullmatch(r"ml\.inf2\.[0-9a-z]+", raw):
        raise ConfigError(key, raw, f"must be an Inferentia2 instance type: {sizes}")
    if raw.removeprefix("ml.inf2.") not in INF2_NEURON_CORES:
        raise ConfigError(key, raw, f"is not an Inferentia2 size; known sizes: {sizes}")
    return raw


def neuron_cores(instance_type: str) -> int:
    """The Neuron cores of an instance type that `inf2_instance_type` accepted."""
    return INF2_NEURON_CORES[instance_type.removeprefix("ml.inf2.")]


def inferentia2_devices(cores: int) -> int:
    """The Inferentia2 devices whose Neuron cores a model sharded on `cores` occupies."""
    return math.ceil(cores / NEURON_CORES_PER_DEVICE)
