"""Reading a streamed answer: server-sent events carried in SageMaker's PayloadParts.

InvokeEndpointWithResponseStream hands on the container's response body in PayloadPart events
whose boundaries are SageMaker's, not the container's. AWS says so in the post that introduced
the API (https://aws.amazon.com/blogs/machine-learning/elevating-the-generative-ai-experience-introducing-streaming-support-in-amazon-sagemaker-hosting/,
its LineIterator): "While usually each PayloadPart event from the event stream will contain a
byte array with a full json, this is not guaranteed and some of the json objects may be split
across PayloadPart events." Both runtimes answer a streamed request with server-sent events
(TGI v3.0.0 router/src/server.rs, axum's Sse; vLLM v0.11.0 vllm/entrypoints/openai/
serving_chat.py and serving_completion.py, "data: ...\\n\\n"), and Korean text is three bytes a
character in UTF-8: a part may end inside an event, a line or a character. So the bytes of all
parts are decoded as one UTF-8 text, incrementally, and split into events on blank lines.

read_answer then turns the events into the answer (inference_apis.py reads each API's events) and
the times its tokens arrived; only the standard library and botocore, which the Lambda runtime
ships, are needed.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.eventstream import ParserError
from botocore.exceptions import EventStreamError
from failures import ERROR_DETAIL_CHARS, Check, SmokeTestFailure, error_code_and_message
from inference_apis import Completion, InferenceApi, StreamEvent, checked_completion, parse_event

# botocore's HTTP layer, shipped with it: a stream is read from urllib3 directly, so a connection
# cut or a read timeout in the middle of an answer raises urllib3's errors, not botocore's.
from urllib3.exceptions import HTTPError as TransportError  # type: ignore[import-untyped]

# The event-stream member that carries the container's bytes (botocore's sagemaker-runtime
# model: ResponseStream.PayloadPart.Bytes, an event payload blob).
PAYLOAD_PART = "PayloadPart"

# A line ends in CRLF, LF or CR (WHATWG HTML, "Parsing an event stream"); str.splitlines would
# also split on characters such as U+2028 that JSON may carry unescaped inside a string.
_LINE_END = re.compile(r"\r\n|\r|\n")

# The OpenAI-style streams end with this event (TGI v3.0.0 router/src/server.rs, chat_completions;
# vLLM v0.11.0 serving_chat.py and serving_completion.py); TGI's generate stream has none. It
# carries nothing: an answer is complete when an event says why it ended.
END_OF_STREAM = "[DONE]"

Clock = Callable[[], float]  # read as a request is sent and as each part of its answer arrives


class ServerSentEvents:
    """An incremental parser of an event stream's bytes into the data of each event.

    It follows the "event stream interpretation" of the WHATWG HTML standard: a line that starts
    with a colon is a comment (TGI's keep-alive, ":\\n\\n" every 15 s while generation is slow);
    one space after a field's colon is dropped (vLLM writes "data: {...}", TGI's axum 0.7
    "data:{...}"); the data lines of one event are joined with newlines; a blank line dispatches
    the event; fields other than data (event, id, retry) are used by neither server and ignored.
    """

    def __init__(self) -> None:
        # Strict: bytes that are not UTF-8 raise UnicodeDecodeError rather than turn into U+FFFD.
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._unparsed = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        """The data of each event that these bytes complete, in order."""
        self._unparsed += self._decoder.decode(chunk)
        return self._complete_lines(final=False)

    def close(self) -> list[str]:
        """The events completed at the end of the stream; raises UnicodeDecodeError if the stream
        ended inside a character. An event without its closing blank line is dropped, as the
        standard says: an answer cut short is found by what it lacks, not guessed at."""
        self._unparsed += self._decoder.decode(b"", final=True)
        return self._complete_lines(final=True)

    def _complete_lines(self, *, final: bool) -> list[str]:
        events = []
        while match := _LINE_END.search(self._unparsed):
            # A CR at the end of the bytes so far may be the first half of a CRLF.
            if match.group() == "\r" and match.end() == len(self._unparsed) and not final:
                break
            line, self._unparsed = self._unparsed[: match.start()], self._unparsed[match.end() :]
            if (event := self._line(line)) is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> str | None:
        if not line:
            data, self._data = "\n".join(self._data), []
            return data or None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None


def arrivals(event_stream: Iterable[dict[str, Any]], clock: Clock) -> Iterator[tuple[float, list[str]]]:
    """For each PayloadPart of a botocore event stream: the clock when it arrived and the data of
    the server-sent events it completed (often one, possibly none or several). The end of the
    stream yields once more, at its own time, with the events only the end completes.

    botocore raises the stream's ModelStreamError and InternalStreamFailure events as
    EventStreamError while iterating; they pass through to the caller.
    """
    events = ServerSentEvents()
    for event in event_stream:
        if PAYLOAD_PART in event:
            yield clock(), events.feed(event[PAYLOAD_PART]["Bytes"])
    yield clock(), events.close()


@dataclass(frozen=True)
class TokenTimes:
    """When one answer's tokens arrived, read on the clock that timed the request.

    TGI's "time_per_token", the guide's 49 ms, is its inference time divided by the generated
    tokens (v3.0.0 router/src/server.rs, generate_stream_internal), and for a short prompt that
    is almost all decoding: the figure to compare is the time between the first token and the
    last, over the tokens after the first. The time to the first token (routing, queueing and the
    prompt's prefill) and the wall time are reported beside it.
    """

    request_sent: float
    tokens: tuple[float, ...]  # the arrival of each token, in order
    stream_ended: float

    @property
    def first_token_s(self) -> float:
        return self.tokens[0] - self.request_sent

    @property
    def decode_s_per_token(self) -> float | None:
        """None below two tokens: one token has no time between tokens."""
        if len(self.tokens) < 2:
            return None
        return (self.tokens[-1] - self.tokens[0]) / (len(self.tokens) - 1)

    @property
    def total_s(self) -> float:
        return self.stream_ended - self.request_sent


@dataclass(frozen=True)
class StreamedAnswer:
    """A streamed answer, when its tokens arrived, and the prompt's tokens as the server counted
    them (None when it did not say)."""

    completion: Completion
    times: TokenTimes
    prompt_tokens: int | None = None


def read_answer(
    api: InferenceApi,
    event_stream: Any,
    request_sent: float,
    clock: Clock,
    watch: Callable[[TokenTimes], None] | None,
) -> StreamedAnswer:
    """The answer in a response's event stream and when its tokens arrived (invocation.invoke_stream
    says how `clock` and `watch` are used), or the failure of the stream or of the first check the
    answer does not pass. An exception event before any part is raised as botocore raised it: the
    retry policy decides on it."""
    tokens: list[tuple[float, StreamEvent]] = []
    reported_tokens: int | None = None
    prompt_tokens: int | None = None
    finished = False
    parts = 0
    events = 0
    stream_ended = request_sent
    try:
        for stream_ended, completed in arrivals(event_stream, clock):
            parts += 1
            for data in completed:
                events += 1
                if data == END_OF_STREAM:
                    continue
                event = parse_event(api, data, events)
                if event.token:
                    tokens.append((stream_ended, event))
                finished = finished or event.finished
                if event.reported_tokens is not None:
                    reported_tokens = event.reported_tokens
                if event.prompt_tokens is not None:
                    prompt_tokens = event.prompt_tokens
            if watch is not None:
                watch(TokenTimes(request_sent, tuple(at for at, _ in tokens), stream_ended))
    except EventStreamError as error:
        if not parts:
            raise  # nothing of the answer has arrived: the retry policy decides
        code, message = error_code_and_message(error)
        detail = f"{code} after {parts} payload parts: {message}"
        raise SmokeTestFailure(Check.STREAM, api.name, detail[:ERROR_DETAIL_CHARS]) from error
    except (TransportError, ParserError) as error:  # a cut connection, a timeout, a damaged message
        detail = f"the stream broke after {parts} payload parts: {type(error).__name__}: {error}"
        raise SmokeTestFailure(Check.STREAM, api.name, detail[:ERROR_DETAIL_CHARS]) from error
    except UnicodeDecodeError as error:
        raise SmokeTestFailure(Check.STREAM, api.name, f"the stream is not UTF-8 text: {error}") from error
    if not finished:
        raise SmokeTestFailure(
            Check.STREAM, api.name, f"the stream ended before the answer did ({len(tokens)} tokens, no end reason)"
        )
    tokens = _without_role_announcement(tokens)
    completion = checked_completion(api.name, "".join(event.text for _, event in tokens), len(tokens))
    if reported_tokens is not None and reported_tokens != completion.generated_tokens:
        raise SmokeTestFailure(
            Check.TOKEN_COUNT,
            api.name,
            f"the stream carried {completion.generated_tokens} tokens, the server counted {reported_tokens}",
        )
    times = TokenTimes(request_sent, tuple(at for at, _ in tokens), stream_ended)
    return StreamedAnswer(completion, times, prompt_tokens)


def _without_role_announcement(tokens: list[tuple[float, StreamEvent]]) -> list[tuple[float, StreamEvent]]:
    """The token chunks without vLLM's opening chunk, which only names the role: vLLM sends it
    before the first token and names no role in its token chunks (v0.11.0 serving_chat.py,
    first_iteration), while TGI names the role in every chunk, so its first token may look alike
    (v3.0.0 router/src/lib.rs, ChatCompletionChunk::new)."""
    if len(tokens) >= 2:
        (_, first), (_, second) = tokens[:2]
        if first.names_role and not first.text and not first.finished and not second.names_role:
            return tokens[1:]
    return tokens
