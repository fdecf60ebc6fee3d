"""Each part declares the keys it owns once, in its settings group, and the configuration is built
from those declarations alone: a setting added to a group is parsed, defaulted, refused when
unknown to the chosen runtime and documented without a second edit anywhere else."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest

from inf2_llm.config import GROUPS, SETTINGS, ConfigError, load_config, markdown_table
from inf2_llm.parsers import matching, whole_number
from inf2_llm.profiles import PROFILES
from inf2_llm.runtimes import TGI, VLLM, TgiSettings
from inf2_llm.settings import Basis, build, declared_settings, defaults, setting

ON_VLLM = {"runtime": "vllm-0.4", "model_source": "compile"}


@dataclass(frozen=True, kw_only=True)
class Lamp:
    watts: int = setting("lamp_watts", whole_number(1, 100), "Power, W.", default="40")
    colour: str | None = setting("lamp_colour", matching(r"[a-z]+", "a colour", optional=True), "Colour.")


def test_a_group_is_built_from_its_declarations() -> None:
    """The builder takes each field from the value of the key its own declaration names, and a
    default as the command line would write it, through the key's own parser."""
    assert build(Lamp, {"lamp_watts": 60, "lamp_colour": "red"}) == Lamp(watts=60, colour="red")
    assert defaults(Lamp) == Lamp(watts=40, colour=None)
    assert build(Lamp, {"lamp_watts": 60, "lamp_colour": None}, colour="blue").colour == "blue"


def test_loaded_defaults_are_the_declared_ones() -> None:
    """With no context, every group holds exactly the defaults its fields declare: no other place
    can set a default behind the declaration's back."""
    config = load_config({})
    groups = (config, config.notebook, config.endpoint, config.compilation, config.runtime.settings, config.smoke_test)
    checked = 0
    for group in groups:
        for name, declared in declared_settings(type(group)).items():
            if not declared.derive:
                assert getattr(group, name) == declared.default_value(), declared.key
                checked += 1
    assert checked >= 30


def test_derived_defaults_come_from_their_declarations() -> None:
    """A derived default follows what its declaration derives it from (the stage, the model, the
    runtime), so a runtime with other facts gets other defaults without an edit to the loader."""
    slow = replace(TGI, startup_timeout_seconds=2400, image_patch="-v9.9")
    basis = Basis(stage="prod", profile=PROFILES["bllossom-8b"], runtime=slow)
    assert SETTINGS["startup_timeout_seconds"].derive is not None
    assert SETTINGS["startup_timeout_seconds"].derive(basis) == 2400
    assert SETTINGS["image_tag"].derive is not None
    assert SETTINGS["image_tag"].derive(basis).endswith("-v9.9")
    assert SETTINGS["model_source"].derive is not None
    assert SETTINGS["model_source"].derive(basis) == "mirror"
    assert load_config(ON_VLLM).image_tag == VLLM.default_image_tag


def test_a_derived_default_must_say_how_it_is_chosen() -> None:
    """The README's table shows the rule in words; a derived default without them would be undocumented."""
    with pytest.raises(ValueError, match="lamp_size"):
        setting("lamp_size", whole_number(1, 9), "Size.", derive=lambda basis: 1)


def test_giving_a_default_explicitly_changes_nothing_else() -> None:
    """Every declared key is known to the loader, and its declared default is the value used when
    it is not given."""
    base = load_config({})
    for key, declared in SETTINGS.items():
        if declared.default is None or declared.derive:
            continue
        given = load_config({key: declared.default})
        assert replace(given, overrides=()) == base, key


def test_an_unknown_key_is_refused_naming_every_known_one() -> None:
    """A typo must stop the synth, and the message must show the keys that exist."""
    with pytest.raises(ConfigError) as raised:
        load_config({"notebook_volume_gb": "256"})
    assert raised.value.key == "notebook_volume_gb"
    assert all(key in str(raised.value) for key in SETTINGS)


def test_a_runtime_owns_the_keys_its_group_declares() -> None:
    """The keys a runtime alone reads are those of its settings group; another runtime refuses each."""
    assert TGI.own_keys == {declared.key for declared in declared_settings(TgiSettings).values()}
    assert TGI.own_keys == {"auto_cast_type", "max_input_length", "max_total_tokens"}
    assert VLLM.own_keys == frozenset()
    examples = {"auto_cast_type": "bf16", "max_input_length": "1024", "max_total_tokens": "4096"}
    for key in TGI.own_keys:
        with pytest.raises(ConfigError, match=f"{key}=.*read by runtime tgi-0.0.28 only, not by vllm-0.4"):
            load_config({**ON_VLLM, key: examples[key]})


def test_the_runtime_is_bound_to_its_settings() -> None:
    """The endpoint's container gets TGI's limits from the runtime the configuration holds, not
    from arguments every runtime would have to accept."""
    config = load_config({"model_source": "compile", "max_input_length": "1000", "max_total_tokens": "3000"})
    environment = config.runtime.container_environment(model="m", revision=None, compilation=config.compilation)
    assert (environment["MAX_INPUT_LENGTH"], environment["MAX_TOTAL_TOKENS"]) == ("1000", "3000")


def test_every_declared_key_is_in_the_table_once() -> None:
    """No two groups may claim one key (one would silently lose), and the README documents each."""
    keys = [declared.key for group in GROUPS for declared in declared_settings(group).values()]
    assert len(keys) == len(set(keys)) == len(SETTINGS)
    assert re.findall(r"^\| `([^`]+)` \|", markdown_table(), flags=re.MULTILINE) == keys
