"""The renderer's output: size, CDK tokens, determinism, and a shellcheck-clean wrapper."""

from __future__ import annotations

import base64
import dataclasses
import shlex
import subprocess

import pytest

from inf2_llm.lifecycle import render_on_create, render_on_start
from tests.scripts.examples import HF_TOKEN_SECRET_ID, PUBLISH_REPO, hook_settings

# SageMaker rejects a hook whose base64 content is longer.
HOOK_SIZE_LIMIT = 16384
TOKEN = "${{Token[TOKEN.{}]}}"


def bash_syntax_ok(script: str) -> bool:
    return subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


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
