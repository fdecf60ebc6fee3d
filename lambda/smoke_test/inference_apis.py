"""The request styles the endpoint answers: each API's streamed payload, for the guide's prompt or
another, and how a streamed answer reads, one server-sent event at a time.

TGI 3.0.0 (router/src/sagemaker.rs) takes generate and messages on SageMaker's /invocations route,
vLLM 0.11 (entrypoints/openai/api_server.py) chat completions, here "messages", and completions;
both tell them apart by the payload's shape, and answer a request with "stream": true on the same
route with server-sent events (streaming.py reads them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from failures import ERROR_DETAIL_CHARS, Check, SmokeTestFailure

PROMPT = "딥러닝이 뭐야?"  # "What is deep learning?", the guide's own question
SYSTEM_MESSAGE = "You are an AI expert."

PREVIEW_CHARS = 80  # enough to recognise the answer, little enough to keep model output out of logs


@dataclass(frozen=True)
class Completion:
    """The part of an answer the checks judge."""

    text: str
    generated_tokens: int


@dataclass(frozen=True)
class StreamEvent:
    """What one server-sent event of a streamed answer says."""

    token: bool = False  # it carries one generated token
    text: str = ""  # the text that token adds: empty for a special token or half a character
    finished: bool = False  # the server says why the answer ended
    reported_tokens: int | None = None  # the server's own count of the answer's tokens
    names_role: bool = False  # a chat chunk whose delta names the role
    prompt_tokens: int | None = None  # the server's count of the prompt's tokens


class PayloadBuilder(Protocol):
    """Builds an API's streamed request body for `prompt` (the guide's question unless given)."""

    def __call__(
        self, max_new_tokens: int, stop_sequences: Sequence[str], *, prompt: str = PROMPT
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class InferenceApi:
    """One request style: how to ask for an answer, and how to read it event by event."""

    name: str
    build_payload: PayloadBuilder
    parse_stream_event: Callable[[Any], StreamEvent]


def _generate_payload(max_new_tokens: int, stop_sequences: Sequence[str], *, prompt: str = PROMPT) -> dict[str, Any]:
    # details=true makes TGI count the generated tokens, on the stream's last event.
    parameters: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "return_full_text": False,
        "details": True,
    }
    if stop_sequences:
        parameters["stop"] = list(stop_sequences)
    # TGI v3.0.0 router/src/lib.rs, CompatGenerateRequest.stream: server.rs compat_generate then
    # answers as /generate_stream does.
    return {"inputs": prompt, "parameters": parameters, "stream": True}


def _openai_streamed(payload: dict[str, Any]) -> dict[str, Any]:
    # Both servers put the usage in a stream only when asked (vLLM v0.11.0 serving_chat.py and
    # serving_completion.py, include_usage; TGI v3.0.0 server.rs, create_event_from_stream_token);
    # vLLM refuses stream_options without stream (protocol.py, validate_stream_options).
    return {**payload, "stream": True, "stream_options": {"include_usage": True}}


def _messages_payload(max_new_tokens: int, stop_sequences: Sequence[str], *, prompt: str = PROMPT) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": SYSTEM_MESSAGE},
            {"role": "user", "content": prompt},
        ],
        "max_tokens": max_new_tokens,
    }
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    return _openai_streamed(payload)


def _completions_payload(max_new_tokens: int, stop_sequences: Sequence[str], *, prompt: str = PROMPT) -> dict[str, Any]:
    # No "model": vLLM answers 404 to any name but the one it serves, and takes none as that one.
    payload: dict[str, Any] = {"prompt": prompt, "max_tokens": max_new_tokens}
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    return _openai_streamed(payload)


def _field(document: Any, path: Sequence[str | int], kind: type, api: str, *, required: bool = True) -> Any:
    """The value at ``path`` if it has type ``kind``; otherwise a shape failure naming the path.
    Not required, a path that is missing or null is None."""
    rendered = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)
    rendered = rendered.lstrip(".")
    value = document
    for step in path:
        present = (
            isinstance(value, list) and 0 <= step < len(value)
            if isinstance(step, int)
            else isinstance(value, dict) and step in value
        )
        if not present:
            if not required:
                return None
            raise SmokeTestFailure(
                Check.SHAPE,
                api,
                f"no {rendered} in the body {preview(json.dumps(document, ensure_ascii=False))!r}",
            )
        value = value[step]
    if value is None and not required:
        return None
    # bool is a subclass of int, and JSON true is no token count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SmokeTestFailure(Check.SHAPE, api, f"{rendered} is {type(value).__name__}, expected {kind.__name__}")
    return value


def checked_completion(api: str, text: str, generated_tokens: int) -> Completion:
    """The completion, if it has text and a token count to go with it."""
    if not text.strip():
        raise SmokeTestFailure(Check.NON_EMPTY_TEXT, api, f"the model returned no text ({generated_tokens} tokens)")
    if generated_tokens < 1:
        raise SmokeTestFailure(Check.SHAPE, api, f"{generated_tokens} generated tokens reported for non-empty text")
    return Completion(text=text, generated_tokens=generated_tokens)


def _parse_generate_event(document: Any) -> StreamEvent:
    """One event of TGI's generate stream: one per token (v3.0.0 router/src/server.rs,
    generate_stream_internal; lib.rs StreamResponse), with generated_text on the last and, asked
    for with details=true, details.generated_tokens and details.input_length, the prompt's tokens
    (lib.rs StreamDetails). A special token's text (the end-of-sequence token) is not part of the
    answer, as TGI leaves it out of generated_text too."""
    api = GENERATE.name
    special = _field(document, ("token", "special"), bool, api)
    text = _field(document, ("token", "text"), str, api)
    details = _field(document, ("details",), dict, api, required=False)
    return StreamEvent(
        token=True,
        text="" if special else text,
        finished=_field(document, ("generated_text",), str, api, required=False) is not None,
        reported_tokens=None if details is None else _field(document, ("details", "generated_tokens"), int, api),
        prompt_tokens=_field(document, ("details", "input_length"), int, api, required=False),
    )


def _object_is(document: Any, kind: str, api: str) -> None:
    answered = _field(document, ("object",), str, api)
    if answered != kind:
        raise SmokeTestFailure(Check.SHAPE, api, f"object is {answered!r}, expected {kind!r}")


def _openai_stream_parser(
    api: str, kind: str, text: Sequence[str | int], role: Sequence[str | int] | None
) -> Callable[[Any], StreamEvent]:
    """A parser of one chunk of an OpenAI-shaped stream: its `object` is `kind`, the text its first
    choice adds at `text`, the role it names (chat only) at `role`. Each chunk with a choice is one
    token: TGI v3.0.0 makes one per token (server.rs, chat_completions), vLLM v0.11.0 one per
    engine step (serving_chat.py, serving_completion.py), which is one token without speculative
    decoding. The usage, with the answer's and the prompt's token counts, arrives on the last
    token's chunk from TGI, in a chunk without choices of its own from vLLM."""

    def parse(document: Any) -> StreamEvent:
        _object_is(document, kind, api)
        usage = _field(document, ("usage",), dict, api, required=False)
        reported = None if usage is None else _field(document, ("usage", "completion_tokens"), int, api)
        prompt_tokens = _field(document, ("usage", "prompt_tokens"), int, api, required=False)
        if not _field(document, ("choices",), list, api):
            return StreamEvent(reported_tokens=reported, prompt_tokens=prompt_tokens)
        return StreamEvent(
            token=True,
            text=_field(document, text, str, api, required=False) or "",
            finished=_field(document, ("choices", 0, "finish_reason"), str, api, required=False) is not None,
            reported_tokens=reported,
            names_role=role is not None and _field(document, role, str, api, required=False) is not None,
            prompt_tokens=prompt_tokens,
        )

    return parse


GENERATE = InferenceApi("generate", _generate_payload, _parse_generate_event)
MESSAGES = InferenceApi(
    "messages",
    _messages_payload,
    _openai_stream_parser(
        "messages", "chat.completion.chunk", ("choices", 0, "delta", "content"), ("choices", 0, "delta", "role")
    ),
)
COMPLETIONS = InferenceApi(
    "completions",
    _completions_payload,
    _openai_stream_parser("completions", "text_completion", ("choices", 0, "text"), None),
)
INFERENCE_APIS = {api.name: api for api in (GENERATE, MESSAGES, COMPLETIONS)}


def parse_event(api: InferenceApi, data: str, number: int) -> StreamEvent:
    """What the data of one server-sent event of a streamed answer says, or the failure it is:
    not JSON, or the model's own error event."""
    try:
        document = json.loads(data)
    except ValueError as error:
        raise SmokeTestFailure(Check.JSON_BODY, api.name, f"event {number} is not JSON: {preview(data)!r}") from error
    if isinstance(document, dict) and "error" in document:
        # TGI's generate stream sends {"error": "...", "error_type": ...} (v3.0.0 server.rs,
        # From<InferError> for Event), its chat stream {"error": {"message": ...}} (infer/mod.rs,
        # into_openai_event), vLLM {"error": {"message": ..., "type": ..., "code": ...}} (v0.11.0
        # serving_engine.py, create_streaming_error_response).
        sent = document["error"]
        message = sent.get("message", sent) if isinstance(sent, dict) else sent
        detail = f"the model sent an error in event {number}: {message}"
        raise SmokeTestFailure(Check.STREAM, api.name, detail[:ERROR_DETAIL_CHARS])
    return api.parse_stream_event(document)


def preview(text: str) -> str:
    """The text on one line, cut to PREVIEW_CHARS."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
