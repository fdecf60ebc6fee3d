"""How a part of the app declares the configuration keys it owns, and how it is built from them.

A settings group is a frozen dataclass whose fields carry `setting(...)`: the key, its parser, its
description and its default, written once beside the field the value lands in. The configuration
is loaded generically from these declarations (`inf2_llm.config`), and the README's table is
generated from them, so adding a setting is adding a field. Groups are keyword-only
(`kw_only=True`): a setting's field has no dataclass default, which type checkers cannot tell from
the call, and fields that are not settings may stand anywhere beside them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from inf2_llm.parsers import Parser

if TYPE_CHECKING:
    from inf2_llm.profiles import ModelProfile
    from inf2_llm.runtimes import ServingRuntime

Group = TypeVar("Group")
_METADATA_KEY = "inf2_llm.setting"


@dataclass(frozen=True)
class Basis:
    """What a derived default may depend on: keys whose own defaults are plain values."""

    stage: str
    profile: ModelProfile
    runtime: ServingRuntime


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Parser
    describe: str
    # As `-c key=value` or cdk.json would give it, parsed like a given value; None leaves it unset.
    default: Any
    # How the default is chosen when it depends on other keys, for the README's table.
    derived_default: str
    # Chooses that default when the configuration is loaded. Without it the value stays None
    # and the part that owns it chooses (TGI's precision follows the model profile).
    derive: Callable[[Basis], Any] | None

    def default_value(self) -> Any:
        return None if self.default is None else self.parse(self.key, self.default)


def setting(
    key: str,
    parse: Parser,
    describe: str,
    *,
    default: Any = None,
    derived_default: str = "",
    derive: Callable[[Basis], Any] | None = None,
) -> Any:
    """A dataclass field that the configuration key `key` sets."""
    if derive and not derived_default:
        raise ValueError(f"{key}: a derived default needs its description for the README")
    declared = Setting(key, parse, describe, default, derived_default, derive)
    return dataclasses.field(metadata={_METADATA_KEY: declared})


def declared_settings(group: type) -> dict[str, Setting]:
    """The group's settings by field name, in the order the group declares them."""
    return {
        field.name: field.metadata[_METADATA_KEY]
        for field in dataclasses.fields(group)
        if _METADATA_KEY in field.metadata
    }


def build(group: type[Group], values: Mapping[str, Any], **computed: Any) -> Group:
    """The group with each setting's field taken from `values` by its key; `computed` gives the
    fields that are not settings, or that the loader refines (the runtime bound to its settings)."""
    taken = {name: values[declared.key] for name, declared in declared_settings(group).items() if name not in computed}
    return group(**taken, **computed)


def defaults(group: type[Group]) -> Group:
    """The group with every setting at its default (for a group whose defaults derive from nothing)."""
    return build(group, {declared.key: declared.default_value() for declared in declared_settings(group).values()})
