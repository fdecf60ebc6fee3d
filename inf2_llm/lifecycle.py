"""Renders the notebook instance's lifecycle hooks from the shell scripts in scripts/notebook/.

At synth time some settings are CDK token strings (``${Token[TOKEN.123]}``). They are only
shell-quoted and concatenated here, never parsed, so CDK can still substitute them; the values
they stand for (AWS names, ARNs, a presigned URL) contain no single quote, which would end the
quoting. A tuple becomes a bash array, a dict a JSON string.

The scripts read their settings by the shell names in the `shell_settings` methods below: a shell
variable's Python source is the one line that names it there.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT_DIR = Path(__file__).resolve().parent.parent / "scripts" / "notebook"
# Root-only: the hooks run as root, and the notebook's user must not be able to change what root runs.
INSTALL_DIR = "/opt/inf2-llm"
# The object the artifact job writes last under the artifact prefix; it holds the manifest.
COMPLETION_MARKER = "_SUCCESS"
_INSTALLED_SCRIPTS = ("common.sh", "on-start.sh", "auto-stop.sh")
# artifact-job.sh runs artifact_tool.py for its steps that read and write JSON.
_ARTIFACT_JOB_SCRIPTS = ("artifact-job.sh", "artifact_tool.py")
_HEREDOC_END = "INF2_LLM_END"
# A setting's value: a string or number, a tuple (a bash array) or a dict (a JSON string).
ShellValue = str | int | tuple[str, ...] | dict[str, Any]


@dataclass(frozen=True)
class ArtifactJob:
    """The model the notebook's job puts into S3 for the endpoint, and how it obtains it."""

    # "compile": download the model and compile it; "mirror": download a precompiled copy and
    # the weights it was compiled from.
    model_source: str
    # The Hub repository downloaded (the model, or the precompiled copy) and its commit; ""
    # resolves the newest commit, which the manifest records.
    repository: str
    revision: str
    profile: str
    # `optimum-cli export neuron` options (compile).
    export_options: tuple[str, ...]
    # What the exported model's neuron configuration must record to be served as configured, and
    # where it is: a JSON file of the model and a section of it ("" for the whole file).
    neuron_config: dict[str, Any]
    neuron_config_file: str
    neuron_config_section: str
    # The compile settings, as the manifest records them.
    compilation: dict[str, Any]
    # S3 key prefix for the artifact in the artifact bucket.
    artifact_prefix: str
    # Hugging Face Hub repository the compiled model is pushed to; "" turns publishing off.
    publish_repo: str

    def shell_settings(self) -> dict[str, ShellValue]:
        """The settings artifact-job.sh reads, by their names there."""
        return {
            "MODEL_SOURCE": self.model_source,
            "REPOSITORY": self.repository,
            "REVISION": self.revision,
            "PROFILE": self.profile,
            "EXPORT_OPTIONS": self.export_options,
            "NEURON_CONFIG": self.neuron_config,
            "NEURON_CONFIG_FILE": self.neuron_config_file,
            "NEURON_CONFIG_SECTION": self.neuron_config_section,
            "COMPILATION": self.compilation,
            "ARTIFACT_PREFIX": self.artifact_prefix,
            "PUBLISH_REPO": self.publish_repo,
        }


@dataclass(frozen=True)
class NotebookHookSettings:
    """Everything the hooks need from the stack, which `shell_settings` names for the scripts."""

    region: str
    image_uri: str
    artifact_bucket: str
    log_group_name: str
    # Secrets Manager secret (id or ARN) whose plain-text value is the Hugging Face token; "" for none.
    # The hooks read it when they run, so the token never appears in the template.
    hf_token_secret_id: str
    # Minutes without Jupyter use or job progress after which the instance stops itself.
    idle_minutes: int
    # None: no job (the endpoint serves a precompiled model from the Hub).
    artifact_job: ArtifactJob | None
    # CloudFormation WaitConditionHandle URL the job signals SUCCESS or FAILURE to (with a job).
    wait_handle_url: str | None = None

    def shell_settings(self) -> dict[str, ShellValue]:
        """The settings the scripts read, by their names there; settings.sh lists them in this order.
        on-start.sh launches the artifact job only when MODEL_SOURCE is set."""
        settings: dict[str, ShellValue] = {
            "REGION": self.region,
            "IMAGE_URI": self.image_uri,
            "ARTIFACT_BUCKET": self.artifact_bucket,
            "LOG_GROUP_NAME": self.log_group_name,
            "HF_TOKEN_SECRET_ID": self.hf_token_secret_id,
            "IDLE_MINUTES": self.idle_minutes,
        }
        if self.wait_handle_url is not None:
            settings["WAIT_HANDLE_URL"] = self.wait_handle_url
        if self.artifact_job:
            settings.update(self.artifact_job.shell_settings())
        settings["COMPLETION_MARKER"] = COMPLETION_MARKER
        return settings


def render_on_create(settings: NotebookHookSettings) -> str:
    """The on-create hook. All set-up happens at every start instead, so `settings` is not needed."""
    return (SCRIPT_DIR / "on-create.sh").read_text()


def render_on_start(settings: NotebookHookSettings) -> str:
    """The on-start hook: installs the scripts with their settings into INSTALL_DIR and runs on-start.sh."""
    scripts = _INSTALLED_SCRIPTS + (_ARTIFACT_JOB_SCRIPTS if settings.artifact_job else ())
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
            *(_setting_line(name, value) for name, value in settings.shell_settings().items()),
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


def _setting_line(name: str, value: ShellValue) -> str:
    if isinstance(value, tuple):
        return f"readonly -a {name}=({' '.join(shlex.quote(str(item)) for item in value)})"
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    return f"readonly {name}={shlex.quote(str(value))}"


def _packed(scripts: tuple[str, ...]) -> str:
    """The files as a base64 gzip tar; fixed times and owners keep synthesis deterministic."""
    archive = io.BytesIO()
    with gzip.GzipFile(fileobj=archive, mode="wb", mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name in scripts:
                content = _without_comment_lines((SCRIPT_DIR / name).read_text()).encode()
                entry = tarfile.TarInfo(name)
                entry.size = len(content)
                entry.mode = 0o700
                tar.addfile(entry, io.BytesIO(content))
    return base64.encodebytes(archive.getvalue()).decode()


def _without_comment_lines(script: str) -> str:
    """The script (shell or Python) without its whole-line comments, which explain the source in
    scripts/notebook/ to its readers and would only take room under SageMaker's size limit; the
    first line stays, a shebang or a module's docstring."""
    lines = script.splitlines(keepends=True)
    return lines[0] + "".join(line for line in lines[1:] if not line.lstrip().startswith("#"))
