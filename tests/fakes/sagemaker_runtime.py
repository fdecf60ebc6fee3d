"""A local SageMaker Runtime that answers InvokeEndpointWithResponseStream and InvokeEndpoint as
the service does on the wire, so a real boto3 client, and botocore's own event-stream parser,
read its answers.

    with FakeSageMakerRuntime() as runtime:
        runtime.answer(Streamed(timed(tgi_generate(["딥", "러닝"]), first_token_s=0.3, per_token_s=0.05)))
        client = boto3.client("sagemaker-runtime", endpoint_url=runtime.url, ...)

POST /endpoints/{name}/invocations-response-stream answers 200 with a chunked body of event-stream
messages (event_stream.py), one HTTP chunk per message, each sent at its scheduled time;
POST /endpoints/{name}/invocations answers with the whole body. Answers are played in the order
given, one per request, then `then` for every further request. Errors come as SageMaker sends
them: an HTTP status with the error code in x-amzn-ErrorType, which botocore's rest-json parser
reads, or, once a stream has begun, an exception event.

With `streams_at_once`, it streams at most that many answers at a time, as a server compiled for a
batch of that size decodes that many requests together (the guide's batch of 4): a further stream
waits in line, first come first served as in TGI's queue, sending nothing until one ends, and its
schedule starts when it gets its turn.

The server listens on 127.0.0.1 only, serves at most `max_connections` connections at once, reads
request bodies of at most MAX_REQUEST_BYTES, and shuts itself down after `lifetime_s` even if a
test forgets to stop it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.event_stream import payload_part, stream_exception
from tests.fakes.model_streams import SseEvent

MAX_REQUEST_BYTES = 1 << 20
# The header botocore sends InferenceComponentName in, for both calls (its sagemaker-runtime model:
# InvokeEndpointInput and InvokeEndpointWithResponseStreamInput, locationName).
COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"
ROUTE = re.compile(r"^/endpoints/(?P<endpoint>[^/]+)/(?P<route>invocations|invocations-response-stream)$")
STREAM_ROUTE = "invocations-response-stream"


@dataclass(frozen=True)
class Part:
    """A PayloadPart's bytes, sent `at_s` seconds after the request was read (or, had it to wait
    for a turn, after it got one)."""

    at_s: float
    data: bytes


@dataclass(frozen=True)
class StreamError:
    """A ModelStreamError or InternalStreamFailure event, sent `at_s` seconds after the request."""

    at_s: float
    exception_type: str
    message: str
    error_code: str | None = None


@dataclass(frozen=True)
class Streamed:
    """An answer to InvokeEndpointWithResponseStream: its parts, then an error event or, with
    `drop_connection`, the connection closed before the body's end; otherwise the body's end."""

    parts: Sequence[Part]
    error: StreamError | None = None
    drop_connection: bool = False


@dataclass(frozen=True)
class Whole:
    """An answer to InvokeEndpoint: the container's body at once."""

    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class HttpError:
    """SageMaker refusing the request before any answer: status, error code and message."""

    status: int
    code: str
    message: str


Answer = Streamed | Whole | HttpError


@dataclass(frozen=True)
class Invocation:
    """A request the fake received."""

    endpoint_name: str
    streamed: bool
    headers: dict[str, str]
    body: Any  # the JSON document sent

    @property
    def inference_component(self) -> str | None:
        """The inference component the request named, if any (HTTP header names ignore case)."""
        named = {name.lower(): value for name, value in self.headers.items()}
        return named.get(COMPONENT_HEADER.lower())


def timed(events: Sequence[SseEvent], *, first_token_s: float = 0.0, per_token_s: float = 0.0) -> list[Part]:
    """One part per event: the first token `first_token_s` after the request, each further token
    `per_token_s` after the one before; an event that carries no token goes with the token before
    it (or with the first, if it comes before any)."""
    parts = []
    tokens_sent = 0
    for event in events:
        if event.token:
            tokens_sent += 1
        at_s = first_token_s + max(tokens_sent - 1, 0) * per_token_s
        parts.append(Part(at_s, event.data))
    return parts


def split_parts(parts: Sequence[Part], size: int) -> list[Part]:
    """Each part cut into pieces of `size` bytes, sent at the part's time: events, lines and
    multi-byte characters end up across parts."""
    return [
        Part(part.at_s, part.data[start : start + size]) for part in parts for start in range(0, len(part.data), size)
    ]


def split_inside(parts: Sequence[Part], text: str) -> list[Part]:
    """The first part that holds `text` cut after the first byte of its first character, so that
    character's bytes arrive in two parts."""
    needle = text.encode()
    for index, part in enumerate(parts):
        position = part.data.find(needle)
        if position >= 0 and len(text[0].encode()) > 1:
            cut = position + 1
            return [
                *parts[:index],
                Part(part.at_s, part.data[:cut]),
                Part(part.at_s, part.data[cut:]),
                *parts[index + 1 :],
            ]
    raise ValueError(f"no part holds {text!r} starting with a multi-byte character")


class _Turns:
    """At most `size` holders at once; the others wait in line and get their turn in arrival order."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._line: deque[object] = deque()
        self._changed = threading.Condition()

    def __enter__(self) -> None:
        ticket = object()
        with self._changed:
            self._line.append(ticket)
            self._changed.wait_for(lambda: self._free > 0 and self._line[0] is ticket)
            self._line.popleft()
            self._free -= 1
            self._changed.notify_all()

    def __exit__(self, *_: object) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()


@dataclass
class _Script:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[Answer] = field(default_factory=list)
    then: Answer | None = None
    invocations: list[Invocation] = field(default_factory=list)

    def next_answer(self, invocation: Invocation) -> Answer | None:
        with self.lock:
            self.invocations.append(invocation)
            return self.answers.pop(0) if self.answers else self.then


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: _Script, max_connections: int, streams_at_once: int | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self._slots = threading.BoundedSemaphore(max_connections)
        self.stream_turns: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if streams_at_once is None else _Turns(streams_at_once)
        )

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the bound: refused, the client sees a reset
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops reading a stream early (a check that has failed) drops the
        # connection: expected, and not worth the traceback socketserver would print.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, as botocore's pool expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass  # a line per request would bury a failing test's output

    def do_POST(self) -> None:
        match = ROUTE.match(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        if match is None or length > MAX_REQUEST_BYTES:
            self._error(HttpError(404 if match is None else 413, "ValidationError", f"fake: cannot serve {self.path}"))
            return
        body = self.rfile.read(length)
        streamed = match["route"] == STREAM_ROUTE
        invocation = Invocation(match["endpoint"], streamed, dict(self.headers.items()), json.loads(body or b"null"))
        answer = self.server.script.next_answer(invocation)
        if isinstance(answer, HttpError):
            self._error(answer)
        elif isinstance(answer, Streamed) and streamed:
            with self.server.stream_turns:  # its schedule starts when it gets its turn
                self._stream(answer, time.monotonic())
        elif isinstance(answer, Whole) and not streamed:
            self._whole(answer)
        else:
            # A non-retryable code, so a test that scripted too few answers fails at once, saying so.
            self._error(HttpError(400, "ValidationError", f"fake: no answer scripted for {match['route']}"))

    def _error(self, error: HttpError) -> None:
        body = json.dumps({"message": error.message}).encode()
        self.send_response(error.status)
        self.send_header("x-amzn-ErrorType", error.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _whole(self, answer: Whole) -> None:
        self.send_response(200)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _stream(self, answer: Streamed, started: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", "text/event-stream")
        self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in answer.parts:
            self._send_chunk(payload_part(part.data), started + part.at_s)
        if answer.error is not None:
            error = answer.error
            message = stream_exception(error.exception_type, error.message, error.error_code)
            self._send_chunk(message, started + error.at_s)
        if answer.drop_connection:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")

    def _send_chunk(self, data: bytes, due: float) -> None:
        # Due times are absolute, so a late part does not delay the ones after it.
        time.sleep(max(0.0, due - time.monotonic()))
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class FakeSageMakerRuntime:
    """The server, started and stopped around a test."""

    def __init__(
        self, *, lifetime_s: float = 300.0, max_connections: int = 64, streams_at_once: int | None = None
    ) -> None:
        self._script = _Script()
        self._server = _Server(self._script, max_connections, streams_at_once)
        # A short poll, so stopping takes milliseconds rather than serve_forever's default 0.5 s.
        self._serving = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="fake-sagemaker-runtime", daemon=True
        )
        self._deadline = threading.Timer(lifetime_s, self.stop)
        self._deadline.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def invocations(self) -> list[Invocation]:
        with self._script.lock:
            return list(self._script.invocations)

    def answer(self, *answers: Answer, then: Answer | None = None) -> None:
        """Answer the next requests with these, in order, and every request after them with `then`."""
        with self._script.lock:
            self._script.answers.extend(answers)
            self._script.then = then

    def start(self) -> FakeSageMakerRuntime:
        self._serving.start()
        self._deadline.start()
        return self

    def stop(self) -> None:
        """Stop serving; streams in flight end when their client stops reading. Idempotent."""
        self._deadline.cancel()
        if self._serving.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSageMakerRuntime:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
