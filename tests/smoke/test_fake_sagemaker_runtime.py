"""The fake SageMaker Runtime (tests/fakes) itself: what the smoke-test and benchmark tests rely on
beyond the streams the handler tests already read through it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.fakes.model_streams import tgi_generate
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime, HttpError, Streamed, Whole, timed
from tests.smoke.moto_fakes import THROTTLED, generate_body
from workstation.lambda_checks import failures, inference_apis, invocation


@pytest.fixture
def client(sagemaker_runtime: FakeSageMakerRuntime) -> Any:
    return invocation.runtime_client()


def test_blocking_invocations_get_the_whole_body(sagemaker_runtime: FakeSageMakerRuntime, client: Any) -> None:
    """InvokeEndpoint, the call the README's blocking example makes, must get its answer from the
    same fake as the streams, so one fake serves a test that mixes both."""
    sagemaker_runtime.answer(Whole(generate_body(tokens=7).encode()))

    response = client.invoke_endpoint(
        EndpointName="endpoint",
        # The README's blocking request: the guide's question, no "stream".
        Body=json.dumps({"inputs": inference_apis.PROMPT, "parameters": {"max_new_tokens": 7}}),
        ContentType="application/json",
    )

    assert json.loads(response["Body"].read())[0]["details"]["generated_tokens"] == 7
    (request,) = sagemaker_runtime.invocations
    assert (request.endpoint_name, request.streamed) == ("endpoint", False)
    assert "stream" not in request.body


def test_one_answer_can_serve_every_request(sagemaker_runtime: FakeSageMakerRuntime, client: Any) -> None:
    """A benchmark sends requests for as long as it runs; the fake must answer each alike."""
    sagemaker_runtime.answer(then=Streamed(timed(tgi_generate(["딥", "러닝"]))))
    payload = inference_apis.GENERATE.build_payload(2, ())

    answers = [invocation.invoke_stream(client, "endpoint", inference_apis.GENERATE, payload) for _ in range(3)]

    assert [answer.completion.text for answer in answers] == ["딥러닝"] * 3


def test_an_error_answers_either_route(sagemaker_runtime: FakeSageMakerRuntime, client: Any) -> None:
    """SageMaker refuses a request before answering it the same way on both routes: an HTTP error
    whose code botocore reads from x-amzn-ErrorType."""
    sagemaker_runtime.answer(HttpError(*THROTTLED), HttpError(*THROTTLED))

    for call in (client.invoke_endpoint, client.invoke_endpoint_with_response_stream):
        with pytest.raises(ClientError) as raised:
            call(EndpointName="endpoint", Body=b"{}", ContentType="application/json")
        assert raised.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert [request.streamed for request in sagemaker_runtime.invocations] == [False, True]


def test_a_request_nothing_was_scripted_for_fails_saying_so(
    sagemaker_runtime: FakeSageMakerRuntime, client: Any
) -> None:
    """A test that scripts too few answers, or a stream for a blocking call, must fail at once with
    the reason, not with a retry or a hang."""
    sagemaker_runtime.answer(Whole(b"{}"))

    with pytest.raises(failures.SmokeTestFailure) as raised:
        invocation.invoke_stream(client, "endpoint", inference_apis.GENERATE, {})

    assert raised.value.check is failures.Check.INVOCATION
    assert "ValidationError after 1 attempt: fake: no answer scripted for invocations-response-stream" in str(
        raised.value
    )


def test_the_fake_stops_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that forgets to stop the fake, or dies before it can, must not leave a server
    behind: past its lifetime it refuses connections."""
    runtime = FakeSageMakerRuntime(lifetime_s=0.2).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime.url)
    time.sleep(0.5)

    with pytest.raises(EndpointConnectionError):
        invocation.runtime_client().invoke_endpoint(EndpointName="endpoint", Body=b"{}", ContentType="application/json")


def test_streams_beyond_the_batch_wait_their_turn_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's tests stand in for an endpoint compiled for a fixed batch: a stream past it must
    start only when one ends, first come first served, so the wait shows in its time to first token."""
    with FakeSageMakerRuntime(streams_at_once=1) as runtime:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime.url)
        runtime.answer(then=Streamed(timed(tgi_generate(["딥", "러닝"]), first_token_s=0.1, per_token_s=0.1)))
        client = invocation.runtime_client()
        payload = inference_apis.GENERATE.build_payload(2, ())
        answers: list[Any] = []

        def call() -> None:
            answers.append(invocation.invoke_stream(client, "endpoint", inference_apis.GENERATE, payload).times)

        callers = [threading.Thread(target=call) for _ in range(3)]
        for caller in callers:
            caller.start()
            time.sleep(0.02)  # in this order
        for caller in callers:
            caller.join()

    first, second, third = served = sorted(answers, key=lambda times: times.tokens[0])
    assert served == sorted(answers, key=lambda times: times.request_sent)  # first come, first served
    assert second.tokens[0] - first.stream_ended == pytest.approx(0.1, abs=0.03)  # its own 0.1 s, after
    assert third.tokens[0] - second.stream_ended == pytest.approx(0.1, abs=0.03)
