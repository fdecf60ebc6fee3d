"""The artifact job's steps that read and write JSON; artifact-job.sh runs one subcommand at a time."""

# It runs on the notebook's python3, AL2023's /usr/bin/python3 (https://docs.aws.amazon.com/linux/al2023/ug/python.html:
# "AL2023 makes Python 3 available as /usr/bin/python3 ... this will remain as Python 3.9 for the life
# of AL2023"). Hence the standard library only, and nothing newer than 3.9: no match statement, no
# `X | Y` outside annotations (tests/scripts/test_artifact_tool.py checks the module against 3.9).
# lifecycle.py packs it beside the scripts without its whole-line comments, as it does theirs.

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any


class Refusal(Exception):
    """What the job reports as the reason the model cannot be used."""


def neuron_config(model_dir: str, file: str, section: str) -> dict[str, Any]:
    """The model's neuron configuration: a section of one of its JSON files ("" for the whole file)."""
    try:
        with open(os.path.join(model_dir, file)) as content:
            document = json.load(content)
    except (OSError, ValueError) as error:
        raise Refusal(f"{file} cannot be read: {error}") from error
    found: dict[str, Any] = document.get(section, {}) if section else document
    return found


def compiled_from(neuron: dict[str, Any]) -> tuple[str, str] | None:
    """The Hub id and commit a precompiled copy was exported from, if its configuration records both."""
    checkpoint_id, checkpoint_revision = neuron.get("checkpoint_id"), neuron.get("checkpoint_revision")
    if not (checkpoint_id and checkpoint_revision):
        return None
    return str(checkpoint_id), str(checkpoint_revision)


def mismatches(recorded: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Each expected setting the model records otherwise, as `key=recorded (expected value)`."""
    return [
        f"{key}={recorded.get(key)!r} (expected {value!r})"
        for key, value in expected.items()
        if recorded.get(key) != value
    ]


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as content:
        for block in iter(lambda: content.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Where the model came from, as the manifest records it; each is an option of the manifest subcommand.
PROVENANCE = ("model_source", "model_id", "revision", "checkpoint_id", "checkpoint_revision", "image")


def manifest(model_dir: str, provenance: dict[str, str], settings: dict[str, Any]) -> dict[str, Any]:
    """What the artifact holds: where the model came from, how it was made, and every file's checksum."""
    paths = sorted(
        os.path.relpath(os.path.join(folder, name), model_dir)
        for folder, _, names in os.walk(model_dir)
        for name in names
    )
    return {
        "model_source": provenance["model_source"],
        "model_id": provenance["model_id"],
        "revision": provenance["revision"],
        "checkpoint": {"model_id": provenance["checkpoint_id"], "revision": provenance["checkpoint_revision"]},
        "image": provenance["image"],
        "settings": settings,
        "files": [
            {
                "path": path,
                "size": os.path.getsize(os.path.join(model_dir, path)),
                "sha256": sha256(os.path.join(model_dir, path)),
            }
            for path in paths
        ],
    }


def _print_compiled_from(arguments: argparse.Namespace) -> None:
    checkpoint = compiled_from(neuron_config(arguments.model_dir, arguments.file, arguments.section))
    if checkpoint is None:
        raise Refusal(f"{arguments.file} records no checkpoint_id and checkpoint_revision")
    print(*checkpoint)


def _check(arguments: argparse.Namespace) -> None:
    recorded = neuron_config(arguments.model_dir, arguments.file, arguments.section)
    wrong = mismatches(recorded, json.loads(arguments.expected))
    if wrong:
        raise Refusal(f"{arguments.file} records " + ", ".join(wrong))


def _print_manifest(arguments: argparse.Namespace) -> None:
    provenance = {name: getattr(arguments, name) for name in PROVENANCE}
    json.dump(manifest(arguments.model_dir, provenance, json.loads(arguments.settings)), sys.stdout, indent=2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="artifact_tool.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    # The model folder, and where in it the neuron configuration is: a JSON file, and its key that
    # holds the configuration (none: the whole file).
    located = argparse.ArgumentParser(add_help=False)
    located.add_argument("model_dir")
    located.add_argument("--file", required=True)
    located.add_argument("--section", default="")
    # Prints the checkpoint id and commit a precompiled copy records.
    commands.add_parser("compiled-from", parents=[located]).set_defaults(run=_print_compiled_from)
    # Refuses a model that records other settings than --expected, a JSON object.
    check = commands.add_parser("check", parents=[located])
    check.add_argument("--expected", required=True)
    check.set_defaults(run=_check)
    # Prints the manifest of the model folder; --settings is a JSON object of the compile settings.
    write = commands.add_parser("manifest")
    write.add_argument("model_dir")
    for name in PROVENANCE:
        write.add_argument("--" + name.replace("_", "-"), required=True)
    write.add_argument("--settings", required=True)
    write.set_defaults(run=_print_manifest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand; a refusal is one line on stderr and exit status 1."""
    arguments = _parser().parse_args(argv)
    try:
        arguments.run(arguments)
    except Refusal as refusal:
        print(refusal, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
