"""The one error a bad configuration raises: it names the key, the value and what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"invalid configuration: {key}={value!r}: {allowed}")
        self.key = key
