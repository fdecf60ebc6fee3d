"""The server-sent events TGI 3.0.0 and vLLM 0.11.0 stream for each API, as bytes on the wire.

Read at the source:
- TGI v3.0.0, router/src/server.rs (generate_stream_internal: one StreamResponse per token, the
  last with generated_text and details; chat_completions: one ChatCompletionChunk per token, then
  "[DONE]"; create_event_from_stream_token: usage on the last token's chunk when
  stream_options.include_usage) and router/src/lib.rs (StreamResponse, Token, StreamDetails,
  ChatCompletionChunk, whose "object" is a serde tag and whose delta always names the role).
  axum 0.7's Event::json_data writes "data:" and the JSON without a space (response/sse.rs).
- vLLM v0.11.0, vllm/entrypoints/openai/serving_chat.py (chat_completion_stream_generator: a
  chunk naming the role first, one chunk per engine step, a usage chunk without choices when
  include_usage, "data: [DONE]"), serving_completion.py (completion_stream_generator) and
  protocol.py (ChatCompletionStreamResponse, CompletionStreamResponse, dumped with
  exclude_unset for chat and in full for completions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TGI_MODEL = "/opt/ml/model"
VLLM_MODEL = "/opt/ml/model"
PROMPT_TOKENS = 20
EOS_TEXT = "<|eot_id|>"  # Llama 3's end of turn: special, so never part of the answer


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event's bytes, and whether it carries a generated token."""

    data: bytes
    token: bool


def tgi_event(document: Any) -> bytes:
    return b"data:" + json.dumps(document, ensure_ascii=False).encode() + b"\n\n"


def vllm_event(document: Any) -> bytes:
    return b"data: " + json.dumps(document, ensure_ascii=False).encode() + b"\n\n"


def _texts_with_end(texts: Sequence[str], end_of_sequence: bool) -> list[tuple[str, bool]]:
    """Each token's text and whether it is special."""
    return [(text, False) for text in texts] + ([(EOS_TEXT, True)] if end_of_sequence else [])


def _usage(completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": PROMPT_TOKENS + completion_tokens,
    }


def tgi_generate(
    texts: Sequence[str], *, end_of_sequence: bool = False, details: bool = True, counted: int | None = None
) -> list[SseEvent]:
    """TGI's generate stream: one event per token, the last with the whole text and, asked for
    with details=true, the token count (`counted` overrides it)."""
    tokens = _texts_with_end(texts, end_of_sequence)
    events = []
    for index, (text, special) in enumerate(tokens, start=1):
        last = index == len(tokens)
        document = {
            "index": index,
            "token": {"id": 1000 + index, "text": text, "logprob": -0.25, "special": special},
            "generated_text": "".join(texts) if last else None,
            "details": {
                "finish_reason": "eos_token" if end_of_sequence else "length",
                "generated_tokens": len(tokens) if counted is None else counted,
                "seed": None,
                "input_length": PROMPT_TOKENS,
            }
            if last and details
            else None,
        }
        events.append(SseEvent(tgi_event(document), token=True))
    return events


def tgi_chat(
    texts: Sequence[str], *, end_of_sequence: bool = False, usage: bool = True, counted: int | None = None
) -> list[SseEvent]:
    """TGI's chat-completion stream: one chunk per token, the role in every delta, a special
    token's content empty, the usage on the last token's chunk, then [DONE]."""
    tokens = _texts_with_end(texts, end_of_sequence)
    events = []
    for index, (text, special) in enumerate(tokens, start=1):
        last = index == len(tokens)
        document = {
            "object": "chat.completion.chunk",
            "id": "",
            "created": 1735689600,
            "model": TGI_MODEL,
            "system_fingerprint": "3.0.0-native",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "" if special else text},
                    "logprobs": None,
                    "finish_reason": ("stop" if end_of_sequence else "length") if last else None,
                }
            ],
            "usage": _usage(len(tokens) if counted is None else counted) if last and usage else None,
        }
        events.append(SseEvent(tgi_event(document), token=True))
    return [*events, SseEvent(b"data:[DONE]\n\n", token=False)]


def _vllm_usage_chunk(kind: str, identifier: str, completion_tokens: int) -> SseEvent:
    document = {
        "id": identifier,
        "object": kind,
        "created": 1735689600,
        "model": VLLM_MODEL,
        "choices": [],
        "usage": _usage(completion_tokens),
    }
    return SseEvent(vllm_event(document), token=False)


def vllm_chat(
    texts: Sequence[str], *, end_of_sequence: bool = False, usage: bool = True, counted: int | None = None
) -> list[SseEvent]:
    """vLLM's chat-completion stream: a chunk naming the role, one chunk per token (the last with
    its finish_reason; the end-of-sequence token adds no text), a usage chunk, then [DONE]."""
    identifier = "chatcmpl-0123456789abcdef"

    def chunk(choice: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "id": identifier,
            "object": "chat.completion.chunk",
            "created": 1735689600,
            "model": VLLM_MODEL,
            "choices": [choice],
            **extra,
        }

    role = chunk(
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None},
        prompt_token_ids=None,
    )
    tokens = _texts_with_end(texts, end_of_sequence)
    events = [SseEvent(vllm_event(role), token=False)]
    for index, (text, special) in enumerate(tokens, start=1):
        choice: dict[str, Any] = {
            "index": 0,
            "delta": {"content": "" if special else text},
            "logprobs": None,
            "finish_reason": None,
            "token_ids": None,
        }
        if index == len(tokens):
            choice |= {"finish_reason": "stop" if end_of_sequence else "length", "stop_reason": None}
        events.append(SseEvent(vllm_event(chunk(choice)), token=True))
    if usage:
        events.append(
            _vllm_usage_chunk("chat.completion.chunk", identifier, len(tokens) if counted is None else counted)
        )
    return [*events, SseEvent(b"data: [DONE]\n\n", token=False)]


def vllm_completion(
    texts: Sequence[str], *, end_of_sequence: bool = False, usage: bool = True, counted: int | None = None
) -> list[SseEvent]:
    """vLLM's completions stream: one chunk per token, every field present, the prompt's token ids
    on the first; a usage chunk, then [DONE]."""
    identifier = "cmpl-0123456789abcdef"
    tokens = _texts_with_end(texts, end_of_sequence)
    events = []
    for index, (text, special) in enumerate(tokens, start=1):
        last = index == len(tokens)
        document = {
            "id": identifier,
            "object": "text_completion",
            "created": 1735689600,
            "model": VLLM_MODEL,
            "choices": [
                {
                    "index": 0,
                    "text": "" if special else text,
                    "logprobs": None,
                    "finish_reason": ("stop" if end_of_sequence else "length") if last else None,
                    "stop_reason": None,
                    "prompt_token_ids": list(range(PROMPT_TOKENS)) if index == 1 else None,
                    "token_ids": None,
                }
            ],
            "usage": None,
        }
        events.append(SseEvent(vllm_event(document), token=True))
    if usage:
        events.append(_vllm_usage_chunk("text_completion", identifier, len(tokens) if counted is None else counted))
    return [*events, SseEvent(b"data: [DONE]\n\n", token=False)]


def tgi_generate_error(message: str) -> SseEvent:
    """What TGI's generate stream sends when generation fails (server.rs, From<InferError> for Event)."""
    document = {"error": f"Request failed during generation: {message}", "error_type": "generation"}
    return SseEvent(tgi_event(document), token=False)


def tgi_chat_error(message: str) -> SseEvent:
    """What TGI's chat stream sends instead (infer/mod.rs, into_openai_event)."""
    document = {"error": {"message": f"Request failed during generation: {message}", "http_status_code": 422}}
    return SseEvent(tgi_event(document), token=False)


def vllm_error(message: str) -> SseEvent:
    """What vLLM's streams send (serving_engine.py, create_streaming_error_response)."""
    document = {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}}
    return SseEvent(vllm_event(document), token=False)
