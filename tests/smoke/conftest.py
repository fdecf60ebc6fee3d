"""Fixtures: one moto server for the session, and an AWS environment pointing at it per test."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from types import ModuleType

import pytest
from moto.server import ThreadedMotoServer

from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime
from tests.smoke.moto_fakes import REGION, post_json
from workstation.lambda_checks import LAMBDA_SOURCE


@pytest.fixture(scope="session")
def handler_module() -> ModuleType:
    """handler.py under a unique module name, so another Lambda's handler.py cannot shadow it; the
    modules it imports are the ones workstation.lambda_checks put on the path and imported."""
    spec = importlib.util.spec_from_file_location("smoke_test_lambda_handler", LAMBDA_SOURCE / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    # werkzeug logs every request; at benchmark rates that buries a failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_environment(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 client, in process and in subprocesses, at a freshly reset moto."""
    # A developer's own AWS settings (profile, endpoints, region) must not reach the tests.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    post_json(f"{moto_url}/moto-api/reset", {})
    return moto_url


@pytest.fixture
def sagemaker_runtime(aws_environment: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSageMakerRuntime]:
    """A fake SageMaker Runtime for this test, called by every sagemaker-runtime client in process
    and in the scripts the test runs, while other services stay on moto (which has no
    InvokeEndpointWithResponseStream). The SDKs take a service's own endpoint from
    AWS_ENDPOINT_URL_<SERVICE>; of AWS_ENDPOINT_URL, moto's, the SDK reference says "This endpoint
    is overridden by any configured service-specific endpoint"
    (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html)."""
    with FakeSageMakerRuntime() as runtime:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime.url)
        yield runtime
