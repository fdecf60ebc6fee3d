"""The auto-stop timer's script, run as its systemd unit would run it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from inf2_llm.lifecycle import INSTALL_DIR, render_on_start
from tests.scripts.examples import hook_settings
from tests.scripts.sandbox import NOTEBOOK_NAME, SYSTEMD_UNIT_PATH, Boot, NotebookInstance, wait_for

IDLE_MINUTES = 60


def jupyter_time(minutes_ago: float) -> str:
    """A timestamp as Jupyter writes `last_activity`."""
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def sessions(state: str, minutes_ago: float) -> str:
    kernel = {
        "id": "k1",
        "name": "python3",
        "execution_state": state,
        "last_activity": jupyter_time(minutes_ago),
        "connections": 1,
    }
    return json.dumps([{"id": "s1", "path": "01-deploy.ipynb", "type": "notebook", "kernel": kernel}])


def run_timer(
    boot: Boot, *, started_minutes_ago: int = 2 * IDLE_MINUTES, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the timer's service once, with the PATH systemd gives it, the instance having started
    `started_minutes_ago`; returns the stops it asked for."""
    boot.run(["touch", "-d", f"{started_minutes_ago} minutes ago", f"{INSTALL_DIR}/settings.sh"])
    service = boot.etc("systemd/system/inf2-llm-auto-stop.service").read_text()
    [exec_start] = [line.removeprefix("ExecStart=") for line in service.splitlines() if line.startswith("ExecStart=")]
    calls_before = len(boot.calls("aws"))
    result = boot.run([exec_start], env=env, path=SYSTEMD_UNIT_PATH)
    assert result.returncode == 0, result.stderr
    return result, [call["stopped"] for call in boot.calls("aws")[calls_before:] if "stopped" in call]


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boot]:
    """A running notebook that serves from the Hub, so no compile is involved."""
    instance = NotebookInstance(tmp_path_factory.mktemp("auto-stop"))
    with instance.boot() as boot:
        assert boot.run_hook(render_on_start(hook_settings(None, idle_minutes=IDLE_MINUTES))).returncode == 0
        yield boot


def test_stops_an_idle_notebook(notebook: Boot) -> None:
    """An ml.inf2.xlarge left idle bills by the hour; stopping it is the timer's whole point."""
    _, stops = run_timer(notebook, FAKE_JUPYTER_SESSIONS=sessions("idle", 2 * IDLE_MINUTES))
    assert stops == [NOTEBOOK_NAME]
    [stop] = [call for call in notebook.calls("aws") if "stopped" in call]
    assert stop["argv"][stop["argv"].index("--region") + 1] == "us-west-2"


@pytest.mark.parametrize(
    ("started_minutes_ago", "env", "says"),
    [
        (2 * IDLE_MINUTES, {"FAKE_JUPYTER_SESSIONS": sessions("busy", 2 * IDLE_MINUTES)}, "Idle for 0s"),
        (2 * IDLE_MINUTES, {"FAKE_JUPYTER_SESSIONS": sessions("idle", IDLE_MINUTES // 2)}, "not stopping"),
        (
            2 * IDLE_MINUTES,
            {"FAKE_JUPYTER_TERMINALS": json.dumps([{"name": "1", "last_activity": jupyter_time(IDLE_MINUTES // 2)}])},
            "not stopping",
        ),
        (IDLE_MINUTES // 2, {}, "not stopping"),
        (2 * IDLE_MINUTES, {"FAKE_JUPYTER_DOWN": "1"}, "Jupyter did not answer"),
    ],
    ids=["busy-kernel", "recent-kernel-activity", "recent-terminal-activity", "recent-start", "jupyter-unreachable"],
)
def test_keeps_a_notebook_in_use(notebook: Boot, started_minutes_ago: int, env: dict[str, str], says: str) -> None:
    """Stopping under someone's running cell or terminal session loses their work."""
    result, stops = run_timer(notebook, started_minutes_ago=started_minutes_ago, **env)
    assert stops == [] and says in result.stdout


def test_never_stops_during_a_compile(tmp_path) -> None:
    """A stop kills the compile, and CloudFormation would wait for a signal that never comes."""
    instance = NotebookInstance(tmp_path / "instance")
    gate = instance.root / "compile-may-finish"
    with instance.boot(FAKE_OPTIMUM_GATE=str(gate)) as boot:
        assert boot.run_hook(render_on_start(hook_settings("bllossom-8b", idle_minutes=IDLE_MINUTES))).returncode == 0
        wait_for(boot.exports, "the export to start")
        long_ago = time.time() - 2 * IDLE_MINUTES * 60
        os.utime(instance.state_dir / "status", (long_ago, long_ago))
        result, stops = run_timer(boot)
        assert stops == [] and "The artifact job is running" in result.stdout
        gate.touch()
        boot.wait_until_quiet()
