"""The artifact job, launched by the on-start hook: compile and mirror for both profiles, then each fault."""

from __future__ import annotations

import hashlib
import json

import pytest

from inf2_llm.lifecycle import COMPLETION_MARKER, ArtifactJob, render_on_start
from inf2_llm.profiles import PROFILES as MODEL_PROFILES
from inf2_llm.runtimes import TGI
from tests.scripts.examples import (
    BUCKET,
    HF_TOKEN_SECRET_ID,
    IMAGE_URI,
    PUBLISH_REPO,
    REGISTRY,
    WAIT_HANDLE_URL,
    hook_settings,
    image_uri,
)
from tests.scripts.sandbox import VOLUME_MOUNT, Boot, NotebookInstance, StartInstance, wait_for
from tests.scripts.standins import FAKE_HUB, revision_of
from workstation.watch_job_log import JobRun, LogEvent

HF_TOKEN = "hf_FakeTokenThatMustNeverBeSeen0123456789"
BLLOSSOM = "bllossom-8b"
PINNED = "89abcdef" * 5


VLLM = "vllm-0.4"


def job(profile: str, model_source: str = "compile", runtime: str = TGI.name) -> ArtifactJob:
    settings_job = hook_settings(profile, model_source=model_source, runtime=runtime).artifact_job
    assert settings_job is not None
    return settings_job


def s3_uri(profile: str, model_source: str = "compile", runtime: str = TGI.name) -> str:
    return f"s3://{BUCKET}/{job(profile, model_source, runtime).artifact_prefix}"


def s3_writes(boot: Boot) -> list[str]:
    return [uri for call in boot.calls("aws") for uri in call.get("s3_written", [])]


def hub_calls(boot: Boot, op: str) -> list[dict]:
    return [call["hub"] for call in boot.calls("docker") if call.get("hub", {}).get("op") == op]


def pulls(boot: Boot) -> list[dict]:
    return [call for call in boot.calls("docker") if call["argv"][0] == "pull"]


def marker_uploaded(instance: NotebookInstance, profile: str, model_source: str = "compile") -> bool:
    return (instance.s3 / BUCKET / job(profile, model_source).artifact_prefix / COMPLETION_MARKER).exists()


def assert_uploaded(boot: Boot, uri: str, names: tuple[str, ...]) -> None:
    """The job uploaded exactly these files under `uri`, and the completion marker after all of them."""
    writes = s3_writes(boot)
    assert writes[-1] == uri + COMPLETION_MARKER
    assert sorted(writes[:-1]) == [uri + name for name in sorted(names)]


def failure_signal(boot: Boot) -> str:
    """The one signal the boot sent, which must be a FAILURE; returns its reason."""
    [signal] = boot.signals()
    assert signal["Status"] == "FAILURE"
    return signal["Reason"]


def statuses(boot: Boot) -> list[str]:
    return [signal["Status"] for signal in boot.signals()]


# --- compile ---


def test_export_runs_with_the_profiles_settings(compiled: tuple[str, Boot]) -> None:
    """The model is compiled with the guide's settings from a pinned download of the model itself."""
    profile, boot = compiled
    model_id = MODEL_PROFILES[profile].model_id
    [export] = boot.exports()
    assert export["image"] == IMAGE_URI and export["privileged"]
    assert export["volumes"] == {"/data": f"{VOLUME_MOUNT}/data/{profile}"}
    assert export["args"] == [
        "export", "neuron", "--model", "/data/checkpoint",
        "--batch_size", "4", "--sequence_length", "4096",
        "--auto_cast_type", MODEL_PROFILES[profile].auto_cast_type, "--num_cores", "2",
        "/data/neuron",
    ]  # fmt: skip
    assert hub_calls(boot, "revision") == [{"op": "revision", "repository": model_id, "revision": ""}]
    assert hub_calls(boot, "download") == [
        {"op": "download", "repository": model_id, "revision": revision_of(model_id), "local_dir": "/data/checkpoint"}
    ]


def test_image_comes_from_ecr_onto_the_volume(compiled: tuple[str, Boot]) -> None:
    """The image is pulled after logging in to its own registry, into Docker's root on the large volume."""
    _, boot = compiled
    [login] = [call for call in boot.calls("docker") if call["argv"][0] == "login"]
    assert login["registry"] == REGISTRY and login["password_ok"]
    assert ["ecr", "get-login-password", "--region", "us-west-2"] in [call["argv"] for call in boot.calls("aws")]
    [pull] = pulls(boot)
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
    assert_uploaded(
        boot,
        s3_uri(profile),
        (
            "checkpoint/config.json",
            "checkpoint/model.safetensors",
            "compiled/model.neff",
            "config.json",
            "manifest.json",
        ),
    )


def test_manifest_lists_what_was_uploaded(compiled: tuple[str, Boot]) -> None:
    """The manifest records which model revision and settings the artifact holds, and its checksums."""
    profile, boot = compiled
    model_id = MODEL_PROFILES[profile].model_id
    prefix = boot.instance.s3 / BUCKET / job(profile).artifact_prefix
    manifest = json.loads((prefix / COMPLETION_MARKER).read_text())
    assert manifest["model_source"] == "compile" and manifest["image"] == IMAGE_URI
    assert (manifest["model_id"], manifest["revision"]) == (model_id, revision_of(model_id))
    assert manifest["checkpoint"] == {"model_id": model_id, "revision": revision_of(model_id)}
    assert manifest["settings"] == {
        "batch_size": 4,
        "sequence_length": 4096,
        "auto_cast_type": MODEL_PROFILES[profile].auto_cast_type,
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
        "Reason": f"model complete in {s3_uri(profile)}",
        "UniqueId": "artifact",
        "Data": s3_uri(profile),
    }


def test_progress_is_visible(compiled: tuple[str, Boot]) -> None:
    """Whoever waits on an hour's compile needs to see where it is, on the volume and in CloudWatch,
    in phases scripts/watch.py can follow."""
    profile, boot = compiled
    model_id = MODEL_PROFILES[profile].model_id
    assert boot.instance.status() == f"SUCCESS model complete in {s3_uri(profile)}"
    assert boot.cloudwatch_messages() == [
        f"phase: pulling {IMAGE_URI}",
        "phase: adding swap space for the compiler",
        f"phase: downloading {model_id} at {revision_of(model_id)}",
        f"phase: compiling {model_id} at {revision_of(model_id)}",
        "phase: checking the model against the endpoint's settings",
        "phase: writing the manifest",
        f"phase: uploading to {s3_uri(profile)}",
        f"SUCCESS: model complete in {s3_uri(profile)}",
    ]
    [stream] = {
        call["argv"][call["argv"].index("--log-stream-name") + 1]
        for call in boot.calls("aws")
        if call["argv"][0] == "logs"
    }
    assert stream == "inf2-llm-workbench-notebook/artifact-job"


def test_hook_returns_while_the_compile_continues(instance: NotebookInstance) -> None:
    """SageMaker fails an instance whose hook runs over 5 minutes; the compile takes far longer."""
    gate = instance.root / "compile-may-finish"
    with instance.boot(FAKE_OPTIMUM_GATE=str(gate)) as boot:
        hook = boot.run_hook(render_on_start(hook_settings(BLLOSSOM)))
        assert hook.returncode == 0 and hook.seconds < 5
        wait_for(boot.exports, "the export to start")
        assert boot.busy() and instance.status().startswith("RUNNING compiling")
        gate.touch()
        boot.wait_until_quiet()
    assert statuses(boot) == ["SUCCESS"]


def test_pull_failing_every_time_fails_without_compiling(
    start_instance: StartInstance, instance: NotebookInstance
) -> None:
    """A registry outage must end in a prompt FAILURE with its reason, not a stack waiting for hours."""
    boot, _ = start_instance(hook_settings(BLLOSSOM), FAKE_DOCKER_PULL_FAIL="always")
    assert failure_signal(boot) == f"docker pull of {IMAGE_URI} failed 3 times"
    assert len(pulls(boot)) == 3
    assert boot.exports() == [] and s3_writes(boot) == []
    assert instance.status() == f"FAILURE docker pull of {IMAGE_URI} failed 3 times"


def test_pull_is_retried(start_instance: StartInstance) -> None:
    """Right after boot the network or registry often fails once; one failure must not fail the stack."""
    boot, _ = start_instance(hook_settings(BLLOSSOM), FAKE_DOCKER_PULL_FAIL="once")
    assert statuses(boot) == ["SUCCESS"]
    assert len(pulls(boot)) == 2


def test_compile_failure_fails_without_marker(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """A failed compile must not look complete in S3."""
    boot, _ = start_instance(hook_settings(BLLOSSOM), FAKE_OPTIMUM_EXIT="1")
    assert failure_signal(boot) == "optimum-cli export exited with status 1"
    assert s3_writes(boot) == [] and not marker_uploaded(instance, BLLOSSOM)


@pytest.mark.parametrize("model_source", ["compile", "mirror"])
def test_a_model_made_with_other_settings_is_refused(start_instance: StartInstance, model_source: str) -> None:
    """A compile that ignored a flag, or a precompiled copy made otherwise, would only fail (or
    misbehave) after a 20-minute endpoint deploy: the job checks the model's neuron config first."""
    settings = hook_settings(BLLOSSOM, model_source=model_source)
    boot, _ = start_instance(settings, FAKE_NEURON_CONFIG='{"batch_size": 8}')
    repository = job(BLLOSSOM, model_source).repository
    assert failure_signal(boot) == (
        f"{repository} cannot be served as configured: config.json records batch_size=8 (expected 4)"
    )
    assert s3_writes(boot) == []


def test_full_disk_during_upload_fails_without_marker(
    start_instance: StartInstance, instance: NotebookInstance
) -> None:
    """Half an upload must not be served: no marker, and the stack hears FAILURE."""
    boot, _ = start_instance(hook_settings(BLLOSSOM), FAKE_S3_DISK_FULL="1")
    assert failure_signal(boot) == f"upload to {s3_uri(BLLOSSOM)} failed"
    assert len(s3_writes(boot)) == 1 and not marker_uploaded(instance, BLLOSSOM)


def test_restart_after_success_does_nothing_again(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """Every start runs the hook; compiling again would cost an hour of an inf2 per start."""
    settings = hook_settings(BLLOSSOM)
    start_instance(settings)
    restart, _ = start_instance(settings)
    assert restart.exports() == [] and pulls(restart) == [] and hub_calls(restart, "download") == []
    # Sent again in case the first start stopped before its signal got through.
    assert statuses(restart) == ["SUCCESS"]
    assert (instance.volume / "docker-data" / "image").iterdir(), "the pulled image is still on the volume"
    assert json.loads(restart.etc("docker/daemon.json").read_text())["data-root"] == f"{VOLUME_MOUNT}/docker-data"


@pytest.mark.parametrize("model_source", ["compile", "mirror"])
def test_a_new_volume_finds_the_artifact_in_s3(tmp_path, model_source: str) -> None:
    """A replaced notebook (a new volume after a volume-size or instance-type change) must not spend
    an hour preparing what S3 already holds: SUCCESS at once, before any pull, download or compile."""
    settings = hook_settings(BLLOSSOM, model_source=model_source)
    NotebookInstance(tmp_path / "first", s3=tmp_path / "s3").run_boot(render_on_start(settings))
    replacement = NotebookInstance(tmp_path / "replacement", s3=tmp_path / "s3")
    boot, _ = replacement.run_boot(render_on_start(settings))
    assert pulls(boot) == [] and boot.exports() == [] and hub_calls(boot, "download") == []
    assert boot.signals() == [
        {
            "Status": "SUCCESS",
            "Reason": f"model already complete in {s3_uri(BLLOSSOM, model_source)}",
            "UniqueId": "artifact",
            "Data": s3_uri(BLLOSSOM, model_source),
        }
    ]
    assert replacement.status() == f"SUCCESS model already complete in {s3_uri(BLLOSSOM, model_source)}"


def test_s3_unreachable_fails_before_any_work(start_instance: StartInstance) -> None:
    """Whether the artifact exists must be known before an hour is spent; an S3 that cannot be asked
    is a FAILURE with its reason, after retries."""
    boot, _ = start_instance(hook_settings(BLLOSSOM), FAKE_S3_DOWN="1")
    assert failure_signal(boot) == f"could not look for a finished artifact in {s3_uri(BLLOSSOM)}"
    assert len([call for call in boot.calls("aws") if call["argv"][0] == "s3api"]) == 3
    assert pulls(boot) == []


def test_restart_mid_compile_starts_cleanly(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """A stop during the compile must not fail the stack, nor leave a half-written model for the next start."""
    with instance.boot(FAKE_OPTIMUM_GATE=str(instance.root / "never")) as stopped:
        assert stopped.run_hook(render_on_start(hook_settings(BLLOSSOM))).returncode == 0
        wait_for(stopped.exports, "the export to start")
        stopped.shut_down()
    assert stopped.signals() == [], "a stop is no failure: the next start compiles again"
    restart, _ = start_instance(hook_settings(BLLOSSOM))
    [export] = restart.exports()
    assert export["output_leftovers"] == []
    assert statuses(restart) == ["SUCCESS"]
    assert "in-progress.neff" not in json.dumps(s3_writes(restart))


def test_two_starts_at_once_compile_once(instance: NotebookInstance) -> None:
    """Two compiles at once would fight over the one Inferentia2 chip and the same output folder."""
    gate = instance.root / "compile-may-finish"
    hook = render_on_start(hook_settings(BLLOSSOM))
    with instance.boot(FAKE_OPTIMUM_GATE=str(gate)) as boot:
        pending = [boot.start_hook(hook), boot.start_hook(hook)]
        assert [run.result().returncode for run in pending] == [0, 0]
        wait_for(lambda: "Another artifact job holds" in instance.job_log(), "the second job to give way")
        gate.touch()
        boot.wait_until_quiet()
    assert len(boot.exports()) == 1
    assert statuses(boot) == ["SUCCESS"]


def test_pinned_revision_is_the_one_downloaded(start_instance: StartInstance) -> None:
    """hub_revision pins the repository the source reads, and the manifest records that commit."""
    boot, _ = start_instance(hook_settings(BLLOSSOM, hub_revision=PINNED))
    model_id = MODEL_PROFILES[BLLOSSOM].model_id
    assert hub_calls(boot, "revision") == [{"op": "revision", "repository": model_id, "revision": PINNED}]
    [download] = hub_calls(boot, "download")
    assert download["revision"] == PINNED
    assert statuses(boot) == ["SUCCESS"]


def test_hf_token_is_used_but_never_shown(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """A Hub write token on a command line or in a log can be read by anyone with access to either."""
    boot, hook = start_instance(hook_settings(BLLOSSOM, hf_token_secret_id=HF_TOKEN_SECRET_ID), FAKE_HF_TOKEN=HF_TOKEN)
    hub = [call for call in boot.calls("docker") if call.get("hub")]
    assert hub and all(call["hf_token_passed"] for call in hub)
    [secret_read] = [call for call in boot.calls("aws") if call["argv"][0] == "secretsmanager"]
    assert secret_read["argv"][secret_read["argv"].index("--secret-id") + 1] == HF_TOKEN_SECRET_ID
    for text in (boot.log.read_text(), instance.job_log(), instance.status(), hook.stdout, hook.stderr):
        assert HF_TOKEN not in text


def test_unreadable_token_secret_fails(start_instance: StartInstance) -> None:
    """Without the token a gated model fails much later, in the download; better to say why at once."""
    boot, _ = start_instance(hook_settings(BLLOSSOM, hf_token_secret_id=HF_TOKEN_SECRET_ID))
    assert failure_signal(boot) == f"could not read the Hugging Face token from {HF_TOKEN_SECRET_ID}"


def test_publishes_to_the_hub_after_success(start_instance: StartInstance) -> None:
    """Publishing shares the compiled model as the guide does, without holding up the stack."""
    settings = hook_settings(BLLOSSOM, hf_token_secret_id=HF_TOKEN_SECRET_ID, publish_repo=PUBLISH_REPO)
    boot, _ = start_instance(settings, FAKE_HF_TOKEN=HF_TOKEN)
    calls = boot.calls()
    signalled = next(index for index, call in enumerate(calls) if call.get("method") == "PUT")
    [upload] = [index for index, call in enumerate(calls) if call.get("hub", {}).get("op") == "upload"]
    assert signalled < upload
    assert calls[upload]["hub"] == {"op": "upload", "repository": PUBLISH_REPO, "folder": "/data/neuron"}
    assert calls[upload]["hf_token_passed"]


def test_failed_publishing_keeps_the_success(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """The endpoint serves from S3; a Hub outage must not turn a good compile into a failed deployment."""
    settings = hook_settings(BLLOSSOM, hf_token_secret_id=HF_TOKEN_SECRET_ID, publish_repo=PUBLISH_REPO)
    boot, _ = start_instance(settings, FAKE_HF_TOKEN=HF_TOKEN, FAKE_HF_UPLOAD_EXIT="1")
    assert statuses(boot) == ["SUCCESS"]
    assert instance.status().startswith("SUCCESS")
    assert (
        f"publishing to {PUBLISH_REPO} failed (exit status 1); the S3 artifact is unaffected"
        in boot.cloudwatch_messages()
    )


def test_publishing_without_token_is_skipped(start_instance: StartInstance) -> None:
    """The Hub refuses uploads without a write token; the job says so instead of failing."""
    boot, _ = start_instance(hook_settings(BLLOSSOM, publish_repo=PUBLISH_REPO))
    assert hub_calls(boot, "upload") == []
    assert statuses(boot) == ["SUCCESS"]
    assert (
        f"not publishing to {PUBLISH_REPO}: publishing needs the Hugging Face token secret"
        in boot.cloudwatch_messages()
    )


def test_cloudwatch_outage_does_not_fail_the_job(start_instance: StartInstance) -> None:
    """Logging is a side channel: losing it must not cost the compile."""
    boot, _ = start_instance(hook_settings(BLLOSSOM), FAKE_LOGS_FAIL="1")
    assert statuses(boot) == ["SUCCESS"]


def test_no_swap_with_enough_memory(tmp_path) -> None:
    """Swap is a stopgap for small instances; where memory suffices it only takes volume space."""
    instance = NotebookInstance(tmp_path / "instance", memory_kib=64 * 1024 * 1024)
    boot, _ = instance.run_boot(render_on_start(hook_settings(BLLOSSOM)))
    assert boot.calls("fallocate") == [] and boot.calls("swapon") == []
    assert statuses(boot) == ["SUCCESS"]


# --- mirror ---


def test_mirror_downloads_the_copy_and_the_weights_it_was_compiled_from(mirrored: tuple[str, Boot]) -> None:
    """The guide's copies were published without checkpoint/, so the endpoint would fetch the
    weights from the Hub at every start, which network isolation forbids (optimum-neuron v0.0.28,
    optimum/neuron/modeling_decoder.py: without checkpoint/, the neuron config's checkpoint_id and
    checkpoint_revision are downloaded): the job fetches them into checkpoint/, at the commit the
    copy records, and compiles nothing."""
    profile, boot = mirrored
    precompiled = TGI.precompiled[profile].hub_id
    model_id = MODEL_PROFILES[profile].model_id
    assert hub_calls(boot, "revision") == [{"op": "revision", "repository": precompiled, "revision": ""}]
    assert hub_calls(boot, "download") == [
        {
            "op": "download",
            "repository": precompiled,
            "revision": revision_of(precompiled),
            "local_dir": "/data/neuron",
        },
        {
            "op": "download",
            "repository": model_id,
            "revision": revision_of(model_id),
            "local_dir": "/data/neuron/checkpoint",
        },
    ]
    assert boot.exports() == [] and boot.calls("fallocate") == []
    assert statuses(boot) == ["SUCCESS"]


def test_mirror_uploads_a_self_contained_artifact(mirrored: tuple[str, Boot]) -> None:
    """Everything the endpoint loads is in S3 (the copy, its weights, the manifest, marker last),
    and nothing of the download tool's own bookkeeping."""
    profile, boot = mirrored
    assert_uploaded(
        boot,
        s3_uri(profile, "mirror"),
        (
            "checkpoint/config.json",
            "checkpoint/model.safetensors",
            "compiled/model.neff",
            "config.json",
            "manifest.json",
            "tokenizer.json",
        ),
    )


def test_mirror_manifest_records_both_revisions(mirrored: tuple[str, Boot]) -> None:
    """The manifest is where a user reads the revision to pin with hub_revision: it names the copy
    at its commit and the weights at theirs, with the guide's settings."""
    profile, boot = mirrored
    precompiled = TGI.precompiled[profile].hub_id
    model_id = MODEL_PROFILES[profile].model_id
    prefix = boot.instance.s3 / BUCKET / job(profile, "mirror").artifact_prefix
    manifest = json.loads((prefix / COMPLETION_MARKER).read_text())
    assert manifest["model_source"] == "mirror"
    assert (manifest["model_id"], manifest["revision"]) == (precompiled, revision_of(precompiled))
    assert manifest["checkpoint"] == {"model_id": model_id, "revision": revision_of(model_id)}
    assert manifest["settings"]["batch_size"] == 4 and manifest["settings"]["num_cores"] == 2
    for entry in manifest["files"]:
        assert (prefix / entry["path"]).read_bytes().__len__() == entry["size"]
    assert set(FAKE_HUB[precompiled]) <= {entry["path"] for entry in manifest["files"]}


@pytest.mark.parametrize("which", ["copy", "weights"])
def test_mirror_download_failure_fails_with_the_reason(start_instance: StartInstance, which: str) -> None:
    """A Hub outage during the mirror must end in a FAILURE naming what could not be fetched."""
    precompiled = TGI.precompiled[BLLOSSOM].hub_id
    model_id = MODEL_PROFILES[BLLOSSOM].model_id
    failing = precompiled if which == "copy" else model_id
    boot, _ = start_instance(hook_settings(BLLOSSOM, model_source="mirror"), FAKE_HF_DOWNLOAD_FAIL=failing)
    assert failure_signal(boot) == f"download of {failing} at {revision_of(failing)} failed"
    assert len([call for call in hub_calls(boot, "download") if call["repository"] == failing]) == 3
    assert s3_writes(boot) == []


def test_mirror_pull_failure_fails(start_instance: StartInstance) -> None:
    """The download runs in the serving image; without it the mirror cannot start."""
    boot, _ = start_instance(hook_settings(BLLOSSOM, model_source="mirror"), FAKE_DOCKER_PULL_FAIL="always")
    assert failure_signal(boot) == f"docker pull of {IMAGE_URI} failed 3 times"
    assert hub_calls(boot, "download") == []


def test_mirror_restart_downloads_nothing_again(start_instance: StartInstance) -> None:
    """A restart after a mirror must not fetch 30 GB from the Hub again."""
    settings = hook_settings(BLLOSSOM, model_source="mirror")
    start_instance(settings)
    restart, _ = start_instance(settings)
    assert hub_calls(restart, "download") == [] and pulls(restart) == []
    assert statuses(restart) == ["SUCCESS"]


# --- compile for vLLM ---


def test_vllm_export_runs_in_the_vllm_image_with_its_own_flags(compiled_for_vllm: tuple[str, Boot]) -> None:
    """vLLM's serve refuses a model exported by another optimum-neuron or compiler version, so the
    model is compiled with the serving image itself, with optimum-neuron 0.4.x's flags: tensor
    parallelism, not --num_cores; no dtype flag, which 0.4.x ignores for decoder models; the inf2
    target whatever the compiling machine, which serve compares with the endpoint's. Read at
    optimum-neuron v0.4.4, optimum/commands/export/neuronx.py and optimum/commands/neuron/serve.py."""
    profile, boot = compiled_for_vllm
    [export] = boot.exports()
    assert export["image"] == image_uri(VLLM) and export["privileged"]
    assert export["args"] == [
        "export", "neuron", "--model", "/data/checkpoint",
        "--batch_size", "4", "--sequence_length", "4096", "--tensor_parallel_size", "2", "--instance_type", "inf2",
        "/data/neuron",
    ]  # fmt: skip
    assert [pull["image"] for pull in pulls(boot)] == [image_uri(VLLM)]
    assert statuses(boot) == ["SUCCESS"]


def test_vllm_artifact_carries_its_neuron_config_and_sharded_weights(compiled_for_vllm: tuple[str, Boot]) -> None:
    """Served offline, vLLM loads the weights from checkpoint/weights/ and its settings from
    neuron_config.json; the manifest records that the precision was the checkpoint's own."""
    profile, boot = compiled_for_vllm
    assert_uploaded(
        boot,
        s3_uri(profile, runtime=VLLM),
        (
            "checkpoint/weights/tp0_sharded_checkpoint.safetensors",
            "checkpoint/weights/tp1_sharded_checkpoint.safetensors",
            "config.json",
            "manifest.json",
            "model.pt",
            "neuron_config.json",
        ),
    )
    manifest = json.loads(
        (boot.instance.s3 / BUCKET / job(profile, runtime=VLLM).artifact_prefix / COMPLETION_MARKER).read_text()
    )
    assert manifest["image"] == image_uri(VLLM)
    assert manifest["settings"] == {"batch_size": 4, "sequence_length": 4096, "auto_cast_type": None, "num_cores": 2}


def test_vllm_model_compiled_otherwise_is_refused(start_instance: StartInstance) -> None:
    """The check reads the runtime's own record of the settings, neuron_config.json, by the keys
    serve compares (optimum-neuron v0.4.4, optimum/commands/neuron/serve.py: tp_degree among them)."""
    boot, _ = start_instance(hook_settings(BLLOSSOM, runtime=VLLM), FAKE_NEURON_CONFIG='{"tp_degree": 1}')
    assert failure_signal(boot) == (
        f"{MODEL_PROFILES[BLLOSSOM].model_id} cannot be served as configured: "
        "neuron_config.json records tp_degree=1 (expected 2)"
    )


# --- what scripts/watch.py reads ---


def _watched(boot: Boot) -> tuple[list[str], list[str], JobRun]:
    """(phases the job logged, lines scripts/watch.py makes of its messages, watch's view of the run)."""
    run = JobRun()
    messages = boot.cloudwatch_messages()
    lines = [line for second, message in enumerate(messages) for line in run.feed(LogEvent(second * 1000, message))]
    return [message.removeprefix("phase: ") for message in messages[:-1]], lines, run


def test_watch_follows_the_phases_a_compile_writes(compiled: tuple[str, Boot]) -> None:
    """scripts/watch.py shows a waiting user the job's phases from these CloudWatch messages; a
    change of their form on either side must fail here, not during someone's hour-long deploy."""
    _assert_watch_follows(compiled[1])


def test_watch_follows_the_phases_a_mirror_writes(mirrored: tuple[str, Boot]) -> None:
    """As for a compile: the mirror's phases are its own, their form is the same."""
    _assert_watch_follows(mirrored[1])


def _assert_watch_follows(boot: Boot) -> None:
    phases, lines, run = _watched(boot)
    assert len(phases) >= 5 and lines[:-1] == [f"artifact job: {phase} (1s)" for phase in phases]
    assert run.outcome == "SUCCESS" and lines[-1].startswith("artifact job: SUCCESS after ")
