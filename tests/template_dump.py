"""A pytest plugin that writes every template the suite synthesizes, with asset hashes masked, so
that a refactoring can show it changes no template:

    TEMPLATE_DUMP_DIR=.build/templates-before .venv/bin/python -m pytest tests/unit -p tests.template_dump -n 0
    (change the code)
    TEMPLATE_DUMP_DIR=.build/templates-after .venv/bin/python -m pytest tests/unit -p tests.template_dump -n 0
    diff -r .build/templates-before .build/templates-after

One folder per configuration (named by a hash of its context, which `context.json` in it holds),
one file per stack. Asset hashes (64 hex digits) and the logical ids CDK derives from them (a Lambda
version's) are masked: they change with any edit of an asset's files, the CloudFormation they
describe does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import app as cdk_app

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
VERSION_ID = re.compile(r"CurrentVersion[0-9A-Fa-f]{32,40}")
_built: list[Any] = []
_build = cdk_app.build


def _recording_build(app: Any) -> None:
    _build(app)
    _built.append(app)


def pytest_configure() -> None:
    if os.environ.get("TEMPLATE_DUMP_DIR"):
        cdk_app.build = _recording_build


def pytest_sessionfinish() -> None:
    target = os.environ.get("TEMPLATE_DUMP_DIR")
    for app in _built if target else ():
        context = {key: value for key, value in app.node.get_all_context().items() if not _is_cdk_context(key)}
        text = json.dumps(context, sort_keys=True, indent=1, default=str)
        folder = Path(str(target)) / hashlib.sha256(text.encode()).hexdigest()[:12]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "context.json").write_text(text)
        for path in Path(app.outdir).rglob("*.template.json"):
            rendered = json.dumps(json.loads(path.read_text()), sort_keys=True, indent=1)
            name = str(path.relative_to(app.outdir)).replace("/", "__")
            (folder / name).write_text(VERSION_ID.sub("CurrentVersion<hash>", ASSET_HASH.sub("<hash>", rendered)))


def _is_cdk_context(key: str) -> bool:
    return key.startswith("@") or ":" in key
