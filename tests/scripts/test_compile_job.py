"""The compile job, launched by the on-start hook: the happy path for both profiles, then each fault."""

from __future__ import annotations

import hashlib
import json

from inf2_llm.lifecycle import COMPLETION_MARKER, render_on_start
from tests.scripts.examples import (
    BUCKET,
    HF_TOKEN_SECRET_ID,
    IMAGE_URI,
    PROFILES,
    PUBLISH_REPO,
    REGISTRY,
    WAIT_HANDLE_URL,
    hook_settings,
)
from tests.scripts.sandbox import VOLUME_MOUNT, Boot, NotebookInstance, StartInstance, wait_for
from tests.scripts.standins import MODEL_REVISION

HF_TOKEN = "hf_FakeTokenThatMustNeverBeSeen0123456789"


def s3_uri(profile: str) -> str:
    return f"s3://{BUCKET}/models/{profile}/"


def s3_writes(boot: Boot) -> list[str]:
    return [uri for call in boot.calls("aws") for uri in call.get("s3_written", [])]


def marker_uploaded(instance: NotebookInstance, profile: str) -> bool:
    return (instance.s3 / BUCKET / "models" / profile / COMPLETION_MARKER).exists()


def failure_signal(boot: Boot) -> str:
    """The one signal the boot sent, which must be a FAILURE; returns its reason."""
    [signal] = boot.signals()
    assert signal["Status"] == "FAILURE"
    return signal["Reason"]


def test_export_runs_with_the_profiles_settings(compiled: tuple[str, Boot]) -> None:
    """The endpoint's TGI container refuses a model compiled with other batch/sequence/cast/core settings."""
    profile, boot = compiled
    model_id, auto_cast_type = PROFILES[profile]
    [export] = boot.exports()
    assert export["image"] == IMAGE_URI and export["privileged"]
    assert export["volumes"] == {"/data": f"{VOLUME_MOUNT}/data/{profile}"}
    assert export["args"] == [
        "export", "neuron", "--model", "/data/checkpoint",
        "--batch_size", "4", "--sequence_length", "4096", "--auto_cast_type", auto_cast_type, "--num_cores", "2",
        "/data/neuron",
    ]  # fmt: skip
    [download] = [call for call in boot.calls("docker") if call.get("args", [""])[0] == "download"]
    assert download["args"] == ["download", model_id, "--revision", MODEL_REVISION, "--local-dir", "/data/checkpoint"]


def test_image_comes_from_ecr_onto_the_volume(compiled: tuple[str, Boot]) -> None:
    """The image is pulled after logging in to its own registry, into Docker's root on the large volume."""
    _, boot = compiled
    [login] = [call for call in boot.calls("docker") if call["argv"][0] == "login"]
    assert login["registry"] == REGISTRY and login["password_ok"]
    assert ["ecr", "get-login-password", "--region", "us-west-2"] in [call["argv"] for call in boot.calls("aws")]
    [pull] = [call for call in boot.calls("docker") if call["argv"][0] == "pull"]
    assert pull["pulled"] and pull["stored_in"] == f"{VOLUME_MOUNT}/docker-data"


def test_swap_is_added_below_32_gib(compiled: tuple[str, Boot]) -> None:
    """An 8B compile runs an inf2.xlarge's 16 GiB out of memory without swap on the volume."""
    _, boot = compiled
    swap = f"{VOLUME_MOUNT}/.inf2-llm/swapfile"
    assert [call["argv"] for call in boot.calls("fallocate")] == [["-l", "17G", f"{swap}.new"]]
    assert [call["argv"] for call in boot.calls("swapon")] == [[swap]]


def test_upload_follows_compile_and_marker_comes_last(compiled: tuple[str, Boot]) -> None:
    """Readers take the marker as 'complete': written before every file, it would hand out half a model."""
    profile, boot = compiled
    calls = boot.calls()
    export_finished = next(index for index, call in enumerate(calls) if call.get("phase") == "finished")
    first_upload = next(index for index, call in enumerate(calls) if call.get("s3_written"))
    assert export_finished < first_upload
    writes = s3_writes(boot)
    assert writes[-1] == s3_uri(profile) + COMPLETION_MARKER
    assert sorted(writes[:-1]) == [
        s3_uri(profile) + name
        for name in (
            "checkpoint/config.json",
            "checkpoint/model.safetensors",
            "compiled/model.neff",
            "config.json",
            "manifest.json",
        )
    ]


def test_manifest_lists_what_was_uploaded(compiled: tuple[str, Boot]) -> None:
    """The manifest is the record of which model revision and settings the artifact holds, and its checksums."""
    profile, boot = compiled
    model_id, auto_cast_type = PROFILES[profile]
    prefix = boot.instance.s3 / BUCKET / "models" / profile
    manifest = json.loads((prefix / COMPLETION_MARKER).read_text())
    assert (
        manifest["model_id"] == model_id and manifest["revision"] == MODEL_REVISION and manifest["image"] == IMAGE_URI
    )
    assert manifest["settings"] == {
        "batch_size": 4,
        "sequence_length": 4096,
        "auto_cast_type": auto_cast_type,
        "num_cores": 2,
    }
    assert {entry["path"] for entry in manifest["files"]} == {
        "checkpoint/config.json",
        "checkpoint/model.safetensors",
        "compiled/model.neff",
        "config.json",
    }
    for entry in manifest["files"]:
        content = (prefix / entry["path"]).read_bytes()
        assert (entry["size"], entry["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    assert (prefix / "manifest.json").read_text() == (prefix / COMPLETION_MARKER).read_text()


def test_success_is_signalled_to_cloudformation(compiled: tuple[str, Boot]) -> None:
    """CloudFormation waits on this signal to create the endpoint from the artifact."""
    profile, boot = compiled
    [put] = [call for call in boot.calls("curl") if call.get("method") == "PUT"]
    assert put["url"] == WAIT_HANDLE_URL
    assert "Content-Type:" in put["headers"]
    assert json.loads(put["body"]) == {
        "Status": "SUCCESS",
        "Reason": f"compiled model in {s3_uri(profile)}",
        "UniqueId": "compile",
        "Data": s3_uri(profile),
    }


def test_progress_is_visible(compiled: tuple[str, Boot]) -> None:
    """Whoever waits on a 40-minute compile needs to see where it is, on the volume and in CloudWatch."""
    profile, boot = compiled
    assert boot.instance.status() == f"SUCCESS compiled model in {s3_uri(profile)}"
    messages = boot.cloudwatch_messages()
    assert messages[0] == "adding swap space for the compiler"
    assert messages[-1] == f"SUCCESS: compiled model in {s3_uri(profile)}"
    [stream] = {
        call["argv"][call["argv"].index("--log-stream-name") + 1]
        for call in boot.calls("aws")
        if call["argv"][0] == "logs"
    }
    assert stream == "inf2-llm-workbench-notebook/compile"


def test_hook_returns_while_the_compile_continues(instance: NotebookInstance) -> None:
    """SageMaker fails an instance whose hook runs over 5 minutes; the compile takes far longer."""
    gate = instance.root / "compile-may-finish"
    with instance.boot(FAKE_OPTIMUM_GATE=str(gate)) as boot:
        hook = boot.run_hook(render_on_start(hook_settings("bllossom-8b")))
        assert hook.returncode == 0 and hook.seconds < 5
        wait_for(boot.exports, "the export to start")
        assert boot.busy() and instance.status().startswith("RUNNING compiling")
        gate.touch()
        boot.wait_until_quiet()
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]


def test_pull_failing_every_time_fails_without_compiling(
    start_instance: StartInstance, instance: NotebookInstance
) -> None:
    """A registry outage must end in a prompt FAILURE with its reason, not a stack waiting for hours."""
    boot, _ = start_instance(hook_settings("bllossom-8b"), FAKE_DOCKER_PULL_FAIL="always")
    assert failure_signal(boot) == f"docker pull of {IMAGE_URI} failed 3 times"
    assert len([call for call in boot.calls("docker") if call["argv"][0] == "pull"]) == 3
    assert boot.exports() == [] and s3_writes(boot) == []
    assert instance.status() == f"FAILURE docker pull of {IMAGE_URI} failed 3 times"


def test_pull_is_retried(start_instance: StartInstance) -> None:
    """Right after boot the network or registry often fails once; one failure must not fail the stack."""
    boot, _ = start_instance(hook_settings("bllossom-8b"), FAKE_DOCKER_PULL_FAIL="once")
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]
    assert len([call for call in boot.calls("docker") if call["argv"][0] == "pull"]) == 2


def test_compile_failure_fails_without_marker(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """A failed compile must neither look complete in S3 nor be remembered as done."""
    boot, _ = start_instance(hook_settings("bllossom-8b"), FAKE_OPTIMUM_EXIT="1")
    assert failure_signal(boot) == "optimum-cli export exited with status 1"
    assert s3_writes(boot) == [] and not marker_uploaded(instance, "bllossom-8b")
    assert not (instance.state_dir / "compile.done").exists()


def test_full_disk_during_upload_fails_without_marker(
    start_instance: StartInstance, instance: NotebookInstance
) -> None:
    """Half an upload must not be served: no marker, and the stack hears FAILURE."""
    boot, _ = start_instance(hook_settings("bllossom-8b"), FAKE_S3_DISK_FULL="1")
    assert failure_signal(boot) == f"upload to {s3_uri('bllossom-8b')} failed"
    assert len(s3_writes(boot)) == 1 and not marker_uploaded(instance, "bllossom-8b")


def test_restart_after_success_does_not_compile_again(
    start_instance: StartInstance, instance: NotebookInstance
) -> None:
    """Every start runs the hook; recompiling each time would cost 40 minutes of an inf2 per start."""
    settings = hook_settings("bllossom-8b")
    start_instance(settings)
    restart, _ = start_instance(settings)
    assert restart.exports() == []
    assert not [call for call in restart.calls("docker") if call["argv"][0] in ("pull", "run")]
    # Sent again in case the first start stopped before its signal got through.
    assert [signal["Status"] for signal in restart.signals()] == ["SUCCESS"]
    assert (instance.volume / "docker-data" / "image").iterdir(), "the pulled image is still on the volume"
    assert json.loads(restart.etc("docker/daemon.json").read_text())["data-root"] == f"{VOLUME_MOUNT}/docker-data"


def test_restart_mid_compile_starts_cleanly(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """A stop during the compile must not fail the stack, nor leave a half-written model for the next start."""
    with instance.boot(FAKE_OPTIMUM_GATE=str(instance.root / "never")) as stopped:
        assert stopped.run_hook(render_on_start(hook_settings("bllossom-8b"))).returncode == 0
        wait_for(stopped.exports, "the export to start")
        stopped.shut_down()
    assert stopped.signals() == [], "a stop is no failure: the next start compiles again"
    restart, _ = start_instance(hook_settings("bllossom-8b"))
    [export] = restart.exports()
    assert export["output_leftovers"] == []
    assert [signal["Status"] for signal in restart.signals()] == ["SUCCESS"]
    assert "in-progress.neff" not in json.dumps(s3_writes(restart))


def test_two_starts_at_once_compile_once(instance: NotebookInstance) -> None:
    """Two compiles at once would fight over the one Inferentia2 chip and the same output folder."""
    gate = instance.root / "compile-may-finish"
    hook = render_on_start(hook_settings("bllossom-8b"))
    with instance.boot(FAKE_OPTIMUM_GATE=str(gate)) as boot:
        pending = [boot.start_hook(hook), boot.start_hook(hook)]
        assert [run.result().returncode for run in pending] == [0, 0]
        wait_for(lambda: "Another compile job holds" in instance.compile_log(), "the second job to give way")
        gate.touch()
        boot.wait_until_quiet()
    assert len(boot.exports()) == 1
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]


def test_hf_token_is_used_but_never_shown(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """A Hub write token on a command line or in a log can be read by anyone with access to either."""
    boot, hook = start_instance(
        hook_settings("bllossom-8b", hf_token_secret_id=HF_TOKEN_SECRET_ID), FAKE_HF_TOKEN=HF_TOKEN
    )
    hub_calls = [
        call for call in boot.calls("docker") if call["argv"][0] == "run" and call["entrypoint"] != "optimum-cli"
    ]
    assert hub_calls and all(call["hf_token_passed"] for call in hub_calls)
    [secret_read] = [call for call in boot.calls("aws") if call["argv"][0] == "secretsmanager"]
    assert secret_read["argv"][secret_read["argv"].index("--secret-id") + 1] == HF_TOKEN_SECRET_ID
    for text in (boot.log.read_text(), instance.compile_log(), instance.status(), hook.stdout, hook.stderr):
        assert HF_TOKEN not in text


def test_unreadable_token_secret_fails(start_instance: StartInstance) -> None:
    """Without the token a gated model fails much later, in the download; better to say why at once."""
    boot, _ = start_instance(hook_settings("bllossom-8b", hf_token_secret_id=HF_TOKEN_SECRET_ID))
    assert failure_signal(boot) == f"could not read the Hugging Face token from {HF_TOKEN_SECRET_ID}"


def test_publishes_to_the_hub_after_success(start_instance: StartInstance) -> None:
    """Publishing shares the compiled model as the guide does, without holding up the stack."""
    settings = hook_settings("bllossom-8b", hf_token_secret_id=HF_TOKEN_SECRET_ID, publish_repo=PUBLISH_REPO)
    boot, _ = start_instance(settings, FAKE_HF_TOKEN=HF_TOKEN)
    calls = boot.calls()
    signalled = next(index for index, call in enumerate(calls) if call.get("method") == "PUT")
    [upload] = [index for index, call in enumerate(calls) if call.get("args", [""])[0] == "upload"]
    assert signalled < upload
    assert calls[upload]["args"] == ["upload", PUBLISH_REPO, "/data/neuron"] and calls[upload]["hf_token_passed"]


def test_failed_publishing_keeps_the_success(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """The endpoint serves from S3; a Hub outage must not turn a good compile into a failed deployment."""
    settings = hook_settings("bllossom-8b", hf_token_secret_id=HF_TOKEN_SECRET_ID, publish_repo=PUBLISH_REPO)
    boot, _ = start_instance(settings, FAKE_HF_TOKEN=HF_TOKEN, FAKE_HF_UPLOAD_EXIT="1")
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]
    assert instance.status().startswith("SUCCESS")
    assert (
        f"publishing to {PUBLISH_REPO} failed (exit status 1); the S3 artifact is unaffected"
        in boot.cloudwatch_messages()
    )


def test_publishing_without_token_is_skipped(start_instance: StartInstance) -> None:
    """The Hub refuses uploads without a write token; the job says so instead of failing."""
    boot, _ = start_instance(hook_settings("bllossom-8b", publish_repo=PUBLISH_REPO))
    assert not [call for call in boot.calls("docker") if call.get("args", [""])[0] == "upload"]
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]
    assert (
        f"not publishing to {PUBLISH_REPO}: publishing needs the Hugging Face token secret"
        in boot.cloudwatch_messages()
    )


def test_cloudwatch_outage_does_not_fail_the_compile(start_instance: StartInstance) -> None:
    """Logging is a side channel: losing it must not cost the compile."""
    boot, _ = start_instance(hook_settings("bllossom-8b"), FAKE_LOGS_FAIL="1")
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]


def test_no_swap_with_enough_memory(tmp_path) -> None:
    """Swap is a stopgap for small instances; where memory suffices it only takes volume space."""
    instance = NotebookInstance(tmp_path / "instance", memory_kib=64 * 1024 * 1024)
    boot, _ = instance.run_boot(render_on_start(hook_settings("bllossom-8b")))
    assert boot.calls("fallocate") == [] and boot.calls("swapon") == []
    assert [signal["Status"] for signal in boot.signals()] == ["SUCCESS"]
