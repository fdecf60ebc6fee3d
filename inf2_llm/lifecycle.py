"""Renders the notebook instance's lifecycle hooks from the shell scripts in scripts/notebook/.

At synth time some settings are CDK token strings (``${Token[TOKEN.123]}``). They are only
shell-quoted and concatenated here, never parsed, so CDK can still substitute them; the values
they stand for (AWS names, ARNs, a presigned URL) contain no single quote, which would end the
quoting.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent.parent / "scripts" / "notebook"
# Root-only: the hooks run as root, and the notebook's user must not be able to change what root runs.
INSTALL_DIR = "/opt/inf2-llm"
# The object the compile job writes last under the artifact prefix; it holds the manifest.
COMPLETION_MARKER = "_SUCCESS"
_INSTALLED_SCRIPTS = ("common.sh", "on-start.sh", "auto-stop.sh")
_HEREDOC_END = "INF2_LLM_END"


@dataclass(frozen=True)
class CompileJob:
    """The model the notebook compiles at its first start, and where the result goes."""

    model_id: str
    profile: str
    batch_size: int
    sequence_length: int
    auto_cast_type: str
    num_cores: int
    # S3 key prefix for the compiled model in the artifact bucket.
    artifact_prefix: str
    # CloudFormation WaitConditionHandle URL the job signals SUCCESS or FAILURE to.
    wait_handle_url: str
    # Hugging Face Hub repository the compiled model is pushed to; "" turns publishing off.
    publish_repo: str


@dataclass(frozen=True)
class NotebookHookSettings:
    """Everything the hooks need from the stack; each field becomes an upper-case shell setting."""

    region: str
    image_uri: str
    artifact_bucket: str
    log_group_name: str
    # Secrets Manager secret (id or ARN) whose plain-text value is the Hugging Face token; "" for none.
    # The hooks read it when they run, so the token never appears in the template.
    hf_token_secret_id: str
    # Minutes without Jupyter use or compile progress after which the instance stops itself.
    idle_minutes: int
    # None: nothing is compiled (the endpoint serves a precompiled model from the Hub).
    compile_job: CompileJob | None


def render_on_create(settings: NotebookHookSettings) -> str:
    """The on-create hook. All set-up happens at every start instead, so `settings` is not needed."""
    return (SCRIPT_DIR / "on-create.sh").read_text()


def render_on_start(settings: NotebookHookSettings) -> str:
    """The on-start hook: installs the scripts with their settings into INSTALL_DIR and runs on-start.sh."""
    scripts = _INSTALLED_SCRIPTS + (("compile-job.sh",) if settings.compile_job else ())
    return "\n".join(
        [
            "#!/bin/bash",
            "# Rendered by inf2_llm/lifecycle.py from scripts/notebook/ (packed to fit SageMaker's size",
            "# limit); the settings below come from the CDK stack. The files are staged, then moved in:",
            "# a rename cannot change a script under a job that is running it, nor clash with a re-run.",
            "set -euo pipefail",
            f"install -d -m 700 {INSTALL_DIR}",
            f"staging=$(mktemp -d {INSTALL_DIR}/.staging.XXXXXX)",
            f"cat >\"$staging/settings.sh\" <<'{_HEREDOC_END}'",
            *_settings_lines(settings),
            _HEREDOC_END,
            f"base64 -d <<'{_HEREDOC_END}' | tar -xz -C \"$staging\"",
            _packed(scripts).rstrip("\n"),
            _HEREDOC_END,
            f'mv -f "$staging"/* {INSTALL_DIR}/',
            'rmdir "$staging"',
            f"exec {INSTALL_DIR}/on-start.sh",
            "",
        ]
    )


def _settings_lines(settings: NotebookHookSettings) -> list[str]:
    """One `readonly NAME='value'` line per field, named after the field in upper case."""
    values = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}
    compile_job = values.pop("compile_job")
    if compile_job:
        values.update({field.name: getattr(compile_job, field.name) for field in dataclasses.fields(compile_job)})
    values["completion_marker"] = COMPLETION_MARKER
    return [f"readonly {name.upper()}={shlex.quote(str(value))}" for name, value in values.items()]


def _packed(scripts: tuple[str, ...]) -> str:
    """The scripts as a base64 gzip tar; fixed times and owners keep synthesis deterministic."""
    archive = io.BytesIO()
    with gzip.GzipFile(fileobj=archive, mode="wb", mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name in scripts:
                content = (SCRIPT_DIR / name).read_bytes()
                entry = tarfile.TarInfo(name)
                entry.size = len(content)
                entry.mode = 0o700
                tar.addfile(entry, io.BytesIO(content))
    return base64.encodebytes(archive.getvalue()).decode()
