"""The renderer's output: size, CDK tokens, determinism, a shellcheck-clean wrapper, the files it
installs, and the settings contract between the stack and the scripts."""

from __future__ import annotations

import ast
import base64
import dataclasses
import io
import re
import shlex
import subprocess
import tarfile

import pytest

from inf2_llm.lifecycle import SCRIPT_DIR, render_on_create, render_on_start
from tests.scripts.examples import HF_TOKEN_SECRET_ID, PUBLISH_REPO, hook_settings

# SageMaker rejects a hook whose base64 content is longer.
HOOK_SIZE_LIMIT = 16384
TOKEN = "${{Token[TOKEN.{}]}}"
SETTING = re.compile(r"^readonly (?:-a )?([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# What a script reads: `$NAME`, `${NAME...}`, `[[ -v NAME ]]`.
SHELL_READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)|-v ([A-Z][A-Z0-9_]*)")
# What a script sets itself: `NAME=...` (after readonly, local or export too) and `read -r NAME...`.
SHELL_SET = re.compile(r"(?:^|[\s;(])([A-Z][A-Z0-9_]*)=|\bread -r ((?:[A-Z][A-Z0-9_]* ?)+)", re.MULTILINE)
# Read by the scripts, set by neither the stack nor them: bash's own, and the tests' retry back-off.
FROM_BASH_OR_ENVIRONMENT = {"BASH_SOURCE", "INF2_LLM_RETRY_DELAY_SECONDS"}


def bash_syntax_ok(script: str) -> bool:
    return subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def installed_files(hook: str) -> dict[str, str]:
    """The files the on-start hook unpacks beside settings.sh, by name."""
    packed = hook.split('| tar -xz -C "$staging"\n', 1)[1].split("\nINF2_LLM_END\n", 1)[0]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(packed)), mode="r:gz") as archive:
        return {member.name: archive.extractfile(member).read().decode() for member in archive}


def names(pattern: re.Pattern[str], text: str) -> set[str]:
    return {name for match in pattern.finditer(text) for group in match.groups() if group for name in group.split()}


@pytest.mark.parametrize(
    "profile", ["bllossom-8b", "qwen2.5-7b-instruct", None], ids=["bllossom-8b", "qwen2.5-7b-instruct", "hub"]
)
def test_hooks_fit_sagemakers_size_limit(profile: str | None) -> None:
    """SageMaker rejects a lifecycle hook over 16384 base64 characters, failing the whole deployment."""
    settings = hook_settings(
        profile, hf_token_secret_id=HF_TOKEN_SECRET_ID, publish_repo=PUBLISH_REPO if profile else ""
    )
    for hook in (render_on_start(settings), render_on_create(settings)):
        assert len(base64.b64encode(hook.encode())) <= HOOK_SIZE_LIMIT


def test_cdk_tokens_pass_through_verbatim() -> None:
    """At synth every string setting may be a CDK token; CDK can only substitute it if it is left intact."""
    settings = hook_settings("bllossom-8b")
    tokens = iter(range(100, 200))
    settings = dataclasses.replace(
        settings,
        **{
            field: TOKEN.format(next(tokens))
            for field in ("region", "image_uri", "artifact_bucket", "log_group_name", "hf_token_secret_id")
        },
        wait_handle_url=TOKEN.format(next(tokens)),
        artifact_job=dataclasses.replace(
            settings.artifact_job,
            **{
                field: TOKEN.format(next(tokens))
                for field in ("repository", "revision", "profile", "artifact_prefix", "publish_repo")
            },
            export_options=("--batch_size", TOKEN.format(next(tokens))),
        ),
    )
    hook = render_on_start(settings)
    for number in range(100, 111):
        assert f"={shlex.quote(TOKEN.format(number))}\n" in hook
    assert f"readonly -a EXPORT_OPTIONS=(--batch_size {shlex.quote(TOKEN.format(111))})\n" in hook
    assert bash_syntax_ok(hook)


def test_rendering_is_deterministic() -> None:
    """Synthesis must not change the template between runs, or every deploy would replace the lifecycle config."""
    settings = hook_settings("qwen2.5-7b-instruct")
    assert render_on_start(settings) == render_on_start(settings)


def test_on_create_is_a_valid_script() -> None:
    """SageMaker runs on-create as a script; a broken one fails the notebook's creation."""
    hook = render_on_create(hook_settings(None))
    assert hook.startswith("#!/bin/bash\n")
    assert bash_syntax_ok(hook)


@pytest.mark.parametrize("profile", ["bllossom-8b", "qwen2.5-7b-instruct"])
def test_rendered_hook_is_shellcheck_clean(tmp_path, profile: str) -> None:
    """The wrapper the renderer writes around the scripts (settings, unpacking) runs as root too;
    the scripts themselves are checked by the project-wide shellcheck gate."""
    hook = tmp_path / "on-start.sh"
    hook.write_text(render_on_start(hook_settings(profile)))
    result = subprocess.run(["shellcheck", str(hook)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("profile", ["bllossom-8b", None], ids=["artifact-job", "hub"])
def test_the_hook_installs_the_scripts_and_the_artifact_tool_only_with_a_job(profile: str | None) -> None:
    """artifact-job.sh runs artifact_tool.py from its own directory: one without the other fails the
    job at its first JSON step; neither is installed when there is no job to run."""
    job_files = {"artifact-job.sh", "artifact_tool.py"} if profile else set()
    files = installed_files(render_on_start(hook_settings(profile)))
    assert set(files) == {"common.sh", "on-start.sh", "auto-stop.sh"} | job_files


def test_the_installed_artifact_tool_is_the_source_without_its_comments() -> None:
    """The renderer drops whole-line comments to fit SageMaker's size limit; for Python that must
    leave the program itself untouched (a '#' line inside a string would not be)."""
    installed = installed_files(render_on_start(hook_settings("bllossom-8b")))["artifact_tool.py"]
    source = (SCRIPT_DIR / "artifact_tool.py").read_text()
    assert len(installed) < len(source)
    assert ast.dump(ast.parse(installed)) == ast.dump(ast.parse(source))


def test_the_scripts_read_exactly_the_settings_the_stack_writes() -> None:
    """settings.sh is the contract between the stack and the scripts: a name a script reads but
    nobody sets is empty on the instance (or stops the script under `set -u`), and a setting no
    script reads is dead weight under the size limit. Read from what the hook installs."""
    hook = render_on_start(hook_settings("bllossom-8b", hf_token_secret_id=HF_TOKEN_SECRET_ID))
    settings = SETTING.findall(hook)
    scripts = "\n".join(text for name, text in installed_files(hook).items() if name.endswith(".sh"))
    assert len(settings) == len(set(settings)) > 0
    unset = names(SHELL_READ, scripts) - names(SHELL_SET, scripts) - FROM_BASH_OR_ENVIRONMENT
    assert sorted(unset) == sorted(settings)
