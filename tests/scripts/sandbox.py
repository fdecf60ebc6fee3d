"""A stand-in SageMaker notebook instance in which the rendered lifecycle hooks run for real.

Each boot is a private mount and pid namespace (`unshare`, so root only) in which
- /etc and /var are overlays whose changes land in the boot's directory, never on the host;
- /run is an empty tmpfs, so no host daemon (systemd, Docker) can be reached even by mistake;
- /home and /opt are empty tmpfs, with the instance's volume bound at /home/ec2-user/SageMaker
  and SageMaker's metadata file in /opt/ml/metadata;
- /proc/meminfo reports an ml.inf2.xlarge's 16 GiB;
- /usr holds the stand-ins of standins.py where AL2023 installs the commands they replace, and
  /usr/local/bin and /usr/local/sbin are empty, so no tool of the test machine stands in for one;
- the rest of / is read-only, except the instance's own directory and its fake S3.
Hooks start with SageMaker's PATH and nothing more, so a command the instance could not find fails
here too. The volume and the fake S3 outlive a boot, as on SageMaker; ending a boot kills every
process in it, detached ones included.

Only the standard library: the namespace's init runs this module on the bare interpreter.
"""

from __future__ import annotations

import ast
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.scripts.standins import COMMANDS, DEFAULT_DOCKER_ROOT

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).with_name("standins.py")
# The interpreter itself, not a venv or pyenv shim, and run with -S: the stand-ins and the scripts'
# snippets need only the standard library, and the scripts start python3 often.
PYTHON = os.path.realpath(sys.executable)
# CreateNotebookInstanceLifecycleConfig: "The value of the $PATH environment variable that is available
# to both scripts is /sbin:bin:/usr/sbin:/usr/bin" (its "bin" is relative, as documented).
SAGEMAKER_HOOK_PATH = "/sbin:bin:/usr/sbin:/usr/bin"
# systemd.exec(5), $PATH: "systemd uses a fixed value of /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
# in the system manager"; the auto-stop unit sets no other.
SYSTEMD_UNIT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
# For the tests' own commands in a boot, as from a root shell.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Looked up on the test machine's PATH: a hook's PATH only governs what runs inside the boot.
NSENTER = shutil.which("nsenter", path=SYSTEM_PATH)
# Where AL2023's packages put the commands the stand-ins replace, under /usr: awscli-2, docker, curl,
# systemd, sudo, util-linux's fallocate and python3 in bin, util-linux's swap tools in sbin.
STANDIN_DIRS = {
    "aws": "bin",
    "curl": "bin",
    "docker": "bin",
    "fallocate": "bin",
    "mkswap": "sbin",
    "python3": "bin",
    "sudo": "bin",
    "swapon": "sbin",
    "systemctl": "bin",
}
# Software not owned by the OS; the instance's, if any, is no tool the scripts call, and the test
# machine's (its own docker, say) must not answer for a stand-in.
EMPTY_DIRS = ("/usr/local/bin", "/usr/local/sbin")
VOLUME_MOUNT = "/home/ec2-user/SageMaker"
NOTEBOOK_NAME = "inf2-llm-workbench-notebook"
INF2_XLARGE_MEMORY_KIB = 16_000_000
START_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class HookRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class NotebookInstance:
    """What survives a stop: the volume, the fake S3 (`s3`, which another instance may share, as
    a replaced notebook shares the bucket), and the stand-ins, laid over /usr in every boot."""

    def __init__(self, root: Path, *, memory_kib: int = INF2_XLARGE_MEMORY_KIB, s3: Path | None = None) -> None:
        if os.geteuid() != 0:
            # An error, not a skip: the hooks run as root on the instance, and CI runs this as root.
            raise PermissionError("the notebook sandbox needs root for its mount and pid namespaces")
        self.root = root
        self.memory_kib = memory_kib
        self.volume = root / "volume"
        self.s3 = s3 or root / "s3"
        self.usr = root / "usr"
        for directory in (self.volume, self.s3, *(self.usr / path.removeprefix("/usr/") for path in EMPTY_DIRS)):
            directory.mkdir(parents=True, exist_ok=True)
        # Wrappers rather than links: nothing depends on standins.py's mode bits, and a stand-in
        # that cannot run must not let the shell fall through to the real command.
        wrappers = {name: f"{STANDINS} {name}" for name in COMMANDS} | {"python3": ""}
        for name, arguments in wrappers.items():
            wrapper = self.usr / STANDIN_DIRS[name] / name
            wrapper.parent.mkdir(exist_ok=True)
            wrapper.write_text(f'#!/bin/sh\nexec {PYTHON} -S {arguments} "$@"\n')
            wrapper.chmod(0o755)
        self.boots = 0

    @property
    def state_dir(self) -> Path:
        return self.volume / ".inf2-llm"

    def status(self) -> str:
        """The artifact job's status line."""
        return (self.state_dir / "status").read_text().strip()

    def job_log(self) -> str:
        log = self.state_dir / "artifact-job.log"
        return log.read_text() if log.exists() else "(none)"

    def boot(self, **env: str) -> Boot:
        """A new boot; `env` reaches every command run in it (the stand-ins' switches)."""
        self.boots += 1
        return Boot(self, self.root / f"boot-{self.boots}", env)

    def run_boot(self, hook: str, **env: str) -> tuple[Boot, HookRun]:
        """One boot: runs the hook, waits for what it launched, stops. The boot's records stay readable."""
        with self.boot(**env) as boot:
            run = boot.run_hook(hook)
            assert run.returncode == 0, run.stderr
            boot.wait_until_quiet()
        return boot, run


class Boot:
    """One start of the instance, from boot to stop; use as a context manager."""

    def __init__(self, instance: NotebookInstance, directory: Path, env: dict[str, str]) -> None:
        self.instance = instance
        self.directory = directory
        self.env = env
        self.log = directory / "calls.log"
        self._hooks = 0
        self._unshare: subprocess.Popen[str] | None = None
        self._init_pid = 0

    def __enter__(self) -> Boot:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        state = self.directory / "state"
        for directory in ("etc-upper", "etc-work", "var-upper", "var-work", "tmp", "state"):
            (self.directory / directory).mkdir(parents=True, exist_ok=True)
        # Docker runs at boot, with its default data root.
        (state / "docker-root").write_text(DEFAULT_DOCKER_ROOT)
        (self.directory / "meminfo").write_text(f"MemTotal:       {self.instance.memory_kib} kB\n")
        self.log.touch()
        config = {
            "boot": str(self.directory),
            "instance": str(self.instance.root),
            "usr": str(self.instance.usr),
            "volume": str(self.instance.volume),
            "s3": str(self.instance.s3),
        }
        self._unshare = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--",
                PYTHON,
                "-S",
                "-m",
                "tests.scripts.sandbox",
                json.dumps(config),
            ],
            cwd=REPO_ROOT,
            env={"PATH": SYSTEM_PATH, "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.PIPE,
            stderr=(self.directory / "init.log").open("w"),
            text=True,
        )
        ready, _, _ = select.select([self._unshare.stdout], [], [], START_TIMEOUT_SECONDS)
        if not ready or self._unshare.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"sandbox did not start: {(self.directory / 'init.log').read_text()}")
        pid = self._unshare.pid
        self._init_pid = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])

    def shut_down(self) -> None:
        """What a stop of the instance does first: SIGTERM to every process, then a wait for them to end."""
        # bash's kill: util-linux kill mishandles pid -1.
        result = self.run(["bash", "-c", "kill -TERM -1"])
        assert result.returncode == 0, result.stderr
        self.wait_until_quiet()

    def stop(self) -> None:
        """Power off: every process still in the boot dies at once."""
        if self._unshare is None:
            return
        if self._init_pid:
            os.kill(self._init_pid, signal.SIGKILL)
        self._unshare.kill()
        self._unshare.wait(timeout=START_TIMEOUT_SECONDS)
        self._unshare.stdout.close()
        self._unshare = None

    def command_env(self, path: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": path,
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.directory / "tmp"),
            "FAKE_LOG": str(self.log),
            "FAKE_STATE": str(self.directory / "state"),
            "FAKE_S3": str(self.instance.s3),
            # Retry back-off the scripts honour: none in tests.
            "INF2_LLM_RETRY_DELAY_SECONDS": "0",
            **self.env,
            **(extra or {}),
        }

    def popen(
        self, command: list[str], env: dict[str, str] | None = None, path: str = SYSTEM_PATH
    ) -> subprocess.Popen[str]:
        """Runs `command` in the boot, finding it and what it runs on `path`."""
        return subprocess.Popen(
            [NSENTER, "-t", str(self._init_pid), "-m", "-p", "--", *command],
            env=self.command_env(path, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, command: list[str], env: dict[str, str] | None = None, timeout: float = 20, path: str = SYSTEM_PATH
    ) -> subprocess.CompletedProcess[str]:
        process = self.popen(command, env, path)
        stdout, stderr = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def start_hook(self, script: str, env: dict[str, str] | None = None) -> PendingHook:
        """Runs a rendered hook as SageMaker does: an executable file, run as root with SageMaker's PATH."""
        self._hooks += 1
        path = self.directory / f"hook-{self._hooks}.sh"
        path.write_text(script)
        path.chmod(0o755)
        return PendingHook(self.popen([str(path)], env, SAGEMAKER_HOOK_PATH), time.monotonic())

    def run_hook(self, script: str, env: dict[str, str] | None = None, timeout: float = 30) -> HookRun:
        return self.start_hook(script, env).result(timeout)

    def busy(self) -> bool:
        """Whether anything still runs: whatever the hooks left behind belongs to the boot's init."""
        return bool(Path(f"/proc/{self._init_pid}/task/{self._init_pid}/children").read_text().strip())

    def wait_until_quiet(self, timeout: float = 20) -> None:
        wait_for(lambda: not self.busy(), "the boot's processes to end", timeout, self.instance.job_log)

    def calls(self, cmd: str | None = None) -> list[dict]:
        """The stand-ins' records, in call order."""
        records = [ast.literal_eval(line) for line in self.log.read_text().splitlines()]
        return [record for record in records if cmd in (None, record["cmd"])]

    def exports(self) -> list[dict]:
        """The optimum-cli exports started."""
        return [
            call
            for call in self.calls("docker")
            if call.get("entrypoint") == "optimum-cli" and call.get("phase") == "started"
        ]

    def signals(self) -> list[dict]:
        """The bodies PUT to the CloudFormation wait-condition handle."""
        return [json.loads(call["body"]) for call in self.calls("curl") if call.get("method") == "PUT"]

    def cloudwatch_messages(self) -> list[str]:
        return [
            event["message"]
            for call in self.calls("aws")
            if call["argv"][:2] == ["logs", "put-log-events"]
            for event in json.loads(call["argv"][call["argv"].index("--log-events") + 1])
        ]

    def etc(self, path: str) -> Path:
        """Where a file under the boot's /etc lives on the host (written before start, it is there at boot)."""
        return self.directory / "etc-upper" / path


def wait_for(condition: Callable[[], object], what: str, timeout: float = 10, context: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}; {context()}")
        time.sleep(0.02)


# The start_instance fixture: (settings, **stand-in switches) -> (ended boot, hook run).
StartInstance = Callable[..., tuple[Boot, HookRun]]


@dataclass
class PendingHook:
    process: subprocess.Popen[str]
    started: float

    def result(self, timeout: float = 30) -> HookRun:
        stdout, stderr = self.process.communicate(timeout=timeout)
        return HookRun(self.process.returncode, stdout, stderr, time.monotonic() - self.started)


def _init_namespace(boot: str, instance: str, usr: str, volume: str, s3: str) -> None:
    """Pid 1 of a boot: set up the file system view, then reap orphans until killed."""

    def mount(*args: str) -> None:
        subprocess.run(["mount", *args], check=True)

    mount("--make-rprivate", "/")
    for path in ("/etc", "/var"):
        name = path.strip("/")
        mount(
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={path},upperdir={boot}/{name}-upper,workdir={boot}/{name}-work",
            path,
        )
    # The stand-ins over the OS's /usr, read-only as AL2023 lets it be.
    mount("-t", "overlay", "overlay", "-o", f"lowerdir={usr}:/usr", "/usr")
    # The interpreter the stand-ins run on may live in one of the emptied directories (a Python
    # image's /usr/local/bin): held open across the emptying, then bound back at its own path.
    interpreter = os.open(PYTHON, os.O_PATH)
    for directory in EMPTY_DIRS:
        mount("-t", "tmpfs", "empty", directory)
    if not os.path.exists(PYTHON):
        Path(PYTHON).touch()
        # Not canonicalized: mount would resolve the descriptor's path to the emptied directory.
        mount("--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{interpreter}", PYTHON)
    mount("-t", "tmpfs", "run", "/run")
    mount("-t", "tmpfs", "home", "/home")
    os.makedirs(VOLUME_MOUNT)
    mount("--bind", volume, VOLUME_MOUNT)
    mount("-t", "tmpfs", "opt", "/opt")
    os.makedirs("/opt/ml/metadata")
    Path("/opt/ml/metadata/resource-metadata.json").write_text(
        json.dumps(
            {
                "ResourceName": NOTEBOOK_NAME,
                "ResourceArn": f"arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{NOTEBOOK_NAME}",
            }
        )
    )
    mount("--bind", f"{boot}/meminfo", "/proc/meminfo")
    mount("--bind", instance, instance)
    mount("--bind", s3, s3)
    mount("-o", "remount,bind,ro", "/")
    print("ready", flush=True)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(0.01)


if __name__ == "__main__":
    _init_namespace(**json.loads(sys.argv[1]))
