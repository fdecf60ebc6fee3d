"""The on-start hook: Docker on the persistent volume, the auto-stop timer, launching the job."""

from __future__ import annotations

import json
import os

import pytest

from inf2_llm.lifecycle import INSTALL_DIR, render_on_start
from tests.scripts.examples import hook_settings
from tests.scripts.sandbox import VOLUME_MOUNT, Boot, HookRun, NotebookInstance, StartInstance

DOCKER_DATA_ROOT = f"{VOLUME_MOUNT}/docker-data"


def docker_root_dirs(boot: Boot) -> list[str]:
    return [
        line.split(": ", 1)[1] for line in boot.run(["docker", "info"]).stdout.splitlines() if "Docker Root Dir" in line
    ]


def test_docker_moves_to_the_volume_in_order(instance: NotebookInstance) -> None:
    """Docker must be stopped before daemon.json changes and started after, or it keeps the small root volume."""
    with instance.boot() as boot:
        hook = boot.run_hook(render_on_start(hook_settings(None)))
        assert hook.returncode == 0, hook.stderr
        assert docker_root_dirs(boot) == [DOCKER_DATA_ROOT]
    docker_calls = [(call["argv"], call["daemon_json"]) for call in boot.calls("systemctl") if "docker" in call["argv"]]
    assert [argv for argv, _ in docker_calls] == [
        ["stop", "docker", "docker.socket"],
        ["enable", "docker"],
        ["start", "docker"],
    ]
    daemon_json_at = [json.loads(content)["data-root"] if content else None for _, content in docker_calls]
    assert daemon_json_at == [None, DOCKER_DATA_ROOT, DOCKER_DATA_ROOT]
    assert json.loads(boot.etc("docker/daemon.json").read_text()) == {"data-root": DOCKER_DATA_ROOT}


def test_existing_daemon_json_settings_are_kept(instance: NotebookInstance) -> None:
    """The platform's own Docker settings (log driver, runtimes) must survive the move of the data root."""
    boot = instance.boot()
    boot.etc("docker").mkdir(parents=True)
    boot.etc("docker/daemon.json").write_text('{"log-driver": "journald", "data-root": "/var/lib/docker"}')
    with boot:
        assert boot.run_hook(render_on_start(hook_settings(None))).returncode == 0
    assert json.loads(boot.etc("docker/daemon.json").read_text()) == {
        "log-driver": "journald",
        "data-root": DOCKER_DATA_ROOT,
    }


def test_rerun_leaves_a_relocated_docker_running(instance: NotebookInstance) -> None:
    """Restarting Docker on a re-run of the hook would kill running containers, a compile among them."""
    hook = render_on_start(hook_settings(None))
    with instance.boot() as boot:
        assert boot.run_hook(hook).returncode == 0
        calls_before = len(boot.calls("systemctl"))
        rerun = boot.run_hook(hook)
    assert rerun.returncode == 0, rerun.stderr
    assert [call["argv"] for call in boot.calls("systemctl")[calls_before:] if "docker" in call["argv"]] == []


def test_auto_stop_timer_is_installed(instance: NotebookInstance) -> None:
    """AL2023 notebooks have no cron: without the systemd timer an idle instance bills around the clock."""
    with instance.boot() as boot:
        assert boot.run_hook(render_on_start(hook_settings(None, idle_minutes=45))).returncode == 0
    service = boot.etc("systemd/system/inf2-llm-auto-stop.service").read_text()
    timer = boot.etc("systemd/system/inf2-llm-auto-stop.timer").read_text()
    assert f"ExecStart={INSTALL_DIR}/auto-stop.sh\n" in service
    assert "after 45 idle minutes" in service
    assert "OnUnitActiveSec=5min\n" in timer and "WantedBy=timers.target\n" in timer
    assert [call["argv"] for call in boot.calls("systemctl")][-2:] == [
        ["daemon-reload"],
        ["enable", "--now", "inf2-llm-auto-stop.timer"],
    ]


def test_sandbox_leaves_the_host_alone(instance: NotebookInstance) -> None:
    """The hooks rewrite Docker's and systemd's configuration; run on the test machine itself they would break it."""
    touched = ["/etc/docker/daemon.json", "/etc/systemd/system/inf2-llm-auto-stop.timer", INSTALL_DIR, VOLUME_MOUNT]

    def state() -> list[tuple[bool, float]]:
        return [(os.path.exists(path), os.path.getmtime(path) if os.path.exists(path) else 0.0) for path in touched]

    before = state()
    with instance.boot() as boot:
        assert boot.run_hook(render_on_start(hook_settings(None))).returncode == 0
    assert state() == before


def test_hub_mode_launches_no_job(start_instance: StartInstance, instance: NotebookInstance) -> None:
    """Serving the Hub's precompiled model must not pull, compile, upload or signal anything."""
    boot, hook = start_instance(hook_settings(None))
    assert "No artifact job configured" in hook.stdout
    assert [call["argv"][0] for call in boot.calls("docker")] == ["info", "info"]
    assert boot.calls("aws") == [] and boot.calls("curl") == []
    assert not (instance.state_dir / "artifact-job.log").exists()


def test_hooks_start_with_sagemakers_path(instance: NotebookInstance) -> None:
    """SageMaker gives the hooks "/sbin:bin:/usr/sbin:/usr/bin" and nothing more; a sandbox that gave
    them more would pass a hook that cannot find its commands on the instance."""
    with instance.boot() as boot:
        hook = boot.run_hook('#!/bin/bash\nprintf %s "$PATH"\n')
    assert (hook.returncode, hook.stdout) == (0, "/sbin:bin:/usr/sbin:/usr/bin")


def probe(boot: Boot, *, sourcing_common: bool) -> HookRun:
    """A hook that runs `probe-tool`, with or without the scripts' common.sh (installed by on-start.sh)."""
    setup = f"source {INSTALL_DIR}/common.sh\n" if sourcing_common else ""
    return boot.run_hook(f"#!/bin/bash\nset -euo pipefail\n{setup}probe-tool\n")


@pytest.mark.parametrize(
    ("directory", "found_alone", "found_with_common"),
    [
        # Software not owned by the OS, such as an AWS CLI put there by its own installer.
        ("/usr/local/bin", False, True),
        # The kernels' conda environment, first on a notebook terminal's PATH, writable by the notebook's user.
        ("/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin", False, False),
    ],
    ids=["usr-local-bin", "conda-env"],
)
def test_a_command_is_found_only_on_the_path_common_sh_sets(
    instance: NotebookInstance, directory: str, found_alone: bool, found_with_common: bool
) -> None:
    """The hooks, the job and the timer find a command only where common.sh's PATH looks: one in
    /usr/local/bin once common.sh has set it, one in a conda environment never. The sandbox must find
    and miss them as the instance does, or it would pass a script that fails there."""
    with instance.boot() as boot:
        assert boot.run_hook(render_on_start(hook_settings(None))).returncode == 0
        tool = f"{directory}/probe-tool"
        installed = boot.run(
            ["sh", "-c", f'mkdir -p {directory} && printf "#!/bin/sh\\necho found\\n" >{tool} && chmod 755 {tool}']
        )
        assert installed.returncode == 0, installed.stderr
        alone, with_common = probe(boot, sourcing_common=False), probe(boot, sourcing_common=True)
    for run, found in ((alone, found_alone), (with_common, found_with_common)):
        assert (run.returncode, run.stdout) == ((0, "found\n") if found else (127, "")), run.stderr
        assert found or "probe-tool: command not found" in run.stderr
