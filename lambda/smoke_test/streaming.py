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

Standard library only: the Lambda runtime ships nothing else this needs.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# The event-stream member that carries the container's bytes (botocore's sagemaker-runtime
# model: ResponseStream.PayloadPart.Bytes, an event payload blob).
PAYLOAD_PART = "PayloadPart"

# A line ends in CRLF, LF or CR (WHATWG HTML, "Parsing an event stream"); str.splitlines would
# also split on characters such as U+2028 that JSON may carry unescaped inside a string.
_LINE_END = re.compile(r"\r\n|\r|\n")


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


def arrivals(event_stream: Iterable[dict[str, Any]], clock: Callable[[], float]) -> Iterator[tuple[float, list[str]]]:
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
