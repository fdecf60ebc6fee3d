"""The rehearsal's machinery: a patched moto server in its own process group, and the real
CDK CLI pointed at it with dummy credentials. Module-scoped: the server lives only as long as
the rehearsal's module runs.

Nothing here can reach a real AWS account: every SDK call of the CLI and of boto3 goes to
`AWS_ENDPOINT_URL`, credentials are dummies, and the developer's AWS profiles and config
files are hidden from the CLI.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-west-2"  # the guide's region, where the TGI Neuron image is published
SERVER_START_SECONDS = 30
# The server exits by itself after this long, even if this process is killed before teardown.
SERVER_MAX_SECONDS = 600
STOP_GRACE_SECONDS = 10
BOOTSTRAP_TIMEOUT = 150
TIMES_FILE = PROJECT_ROOT / ".build" / "rehearsal-times.json"

_times: dict[str, Any] = {}


def record_times(**entries: Any) -> None:
    """Add `entries` to the rehearsal's measurements in .build/rehearsal-times.json."""
    _times.update(entries)
    TIMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    versions = {
        "moto": importlib.metadata.version("moto"),
        "cdk_cli": json.loads((PROJECT_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"],
    }
    TIMES_FILE.write_text(json.dumps({"region": REGION, **versions, **_times}, indent=2, sort_keys=True) + "\n")


def _free_localhost_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


def _stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM to the process group the child leads, then SIGKILL if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE_SECONDS)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`http://localhost:PORT` of a patched moto server (tests/integration/moto_launcher.py)."""
    port = _free_localhost_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.moto_launcher",
                "--port",
                str(port),
                "--max-seconds",
                str(SERVER_MAX_SECONDS),
            ],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"moto server exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"moto server not ready after {SERVER_START_SECONDS} s:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.2)
        yield endpoint
    finally:
        _stop_group(server)


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> Callable[[str], Any]:
    """boto3 clients for the moto server, with the same dummy credentials as the CLI."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=REGION
    )
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=moto_endpoint, config=config)  # type: ignore[call-overload]

    return client


@dataclass(frozen=True)
class CliRun:
    args: list[str]
    returncode: int
    output: str
    seconds: float


@pytest.fixture(scope="module")
def cdk_cli(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CliRun]:
    """Runs `npx --no-install cdk ARGS` against the moto server; fails the test on a non-zero exit
    or when the run exceeds its timeout (the whole process group is killed then)."""
    home = tmp_path_factory.mktemp("cli-home")
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CDK_"))}
    environment.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": moto_endpoint,
            # No profile, SSO cache or instance metadata can lend the CLI real credentials.
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            # As scripts/dev.sh sets them.
            "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(PROJECT_ROOT / ".build" / "jsii-cache"),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
        }
    )

    def run(*args: str, timeout: float) -> CliRun:
        command = ["npx", "--no-install", "cdk", *args]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"`{' '.join(command)}` did not finish within {timeout:g} s:\n{output[-5000:]}")
        finally:
            _stop_group(process)
        seconds = time.monotonic() - started
        if process.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` exited with {process.returncode}:\n{output[-5000:]}")
        return CliRun(args=list(args), returncode=process.returncode, output=output, seconds=seconds)

    return run


@pytest.fixture(scope="module")
def bootstrapped(cdk_cli: Callable[..., CliRun], tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """`cdk bootstrap` of moto's account, once per module (each module has its own server). The CLI
    synthesizes the app first: into a directory of its own, as two modules' CLIs may run at once and
    each locks the directory it writes."""
    assembly = tmp_path_factory.mktemp("cdk-out-bootstrap")
    run = cdk_cli("bootstrap", f"aws://{ACCOUNT}/{REGION}", "--output", str(assembly), timeout=BOOTSTRAP_TIMEOUT)
    print(f"\nrehearsal: cdk bootstrap {run.seconds:.1f} s")
    record_times(bootstrap_seconds=round(run.seconds, 1))
    return run
