"""The server-sent-event reader the smoke test and the benchmark share (lambda/smoke_test/streaming.py),
fed the byte sequences SageMaker's payload parts can cut a stream into."""

from __future__ import annotations

import json

import pytest

from workstation.lambda_checks import streaming


def read(*chunks: bytes) -> list[str]:
    """The events of a stream that arrives in these chunks."""
    reader = streaming.ServerSentEvents()
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    return events + reader.close()


def every_split(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(data[:cut], data[cut:]) for cut in range(len(data) + 1)]


def test_an_event_is_whole_wherever_the_bytes_are_cut() -> None:
    """A part may end anywhere: inside "data:", inside the JSON, inside a three-byte syllable or
    between the two newlines that end the event; the event must come out the same each time."""
    stream = 'data:{"token":{"text":"딥러닝"}}\n\ndata: [DONE]\n\n'.encode()

    for head, tail in every_split(stream):
        assert read(head, tail) == ['{"token":{"text":"딥러닝"}}', "[DONE]"], (head, tail)


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_each_line_ending_of_the_standard_ends_lines(line_end: str) -> None:
    """The SSE standard allows CRLF, LF and CR; a server or proxy that uses another than TGI's and
    vLLM's LF must not merge events or lose them."""
    stream = f"data: one{line_end}{line_end}data: two{line_end}{line_end}".encode()

    assert read(stream) == ["one", "two"]
    assert read(*[bytes([byte]) for byte in stream]) == ["one", "two"]


def test_a_crlf_cut_between_its_two_bytes_ends_one_line_not_two() -> None:
    """A CR at the end of a part may be the first half of a CRLF: read alone it would end the line
    and the LF would end the event early, splitting one event's data lines into two events."""
    assert read(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_comments_and_other_fields_are_not_events() -> None:
    """TGI keeps a slow stream alive with ':' comments every 15 s; event, id and retry fields are
    used by neither server. None of them is data."""
    stream = b":\n\n: keep-alive\n\nevent: message\nid: 7\nretry: 100\ndata: token\n\n"

    assert read(stream) == ["token"]


def test_one_space_after_the_colon_is_dropped_and_no_more() -> None:
    """vLLM writes "data: {...}", TGI's axum "data:{...}"; a second space is part of the data."""
    assert read(b"data:{}\n\ndata: {}\n\ndata:  {}\n\n") == ["{}", "{}", " {}"]


def test_data_lines_of_one_event_join_with_newlines() -> None:
    """The standard's rule for an event of several data lines: a payload that spans lines stays one event."""
    assert read(b"data: {\ndata: }\n\n") == ["{\n}"]


def test_line_separators_inside_json_do_not_end_lines() -> None:
    """JSON may carry U+2028 and U+2029 unescaped inside a string; only CR and LF end an SSE line."""
    document = json.dumps({"text": "a\u2028b\u2029c"}, ensure_ascii=False)

    assert read(f"data:{document}\n\n".encode()) == [document]


def test_an_event_without_its_blank_line_is_dropped_at_the_end() -> None:
    """An event cut short at the end of a stream is not dispatched, as the standard says: the
    checks find what the answer lacks rather than read a half event."""
    assert read(b"data: whole\n\ndata: half") == ["whole"]


def test_a_stream_that_ends_inside_a_character_is_an_error() -> None:
    """A syllable's first byte with nothing after it is a broken stream, not text to replace."""
    reader = streaming.ServerSentEvents()
    reader.feed("data: 딥".encode()[:-1])

    with pytest.raises(UnicodeDecodeError):
        reader.close()


def test_token_times_follow_the_guides_definition() -> None:
    """TGI's time per token is generation time over tokens; from a stream the like figure is the
    time between the first token and the last over the tokens after the first."""
    times = streaming.TokenTimes(request_sent=10.0, tokens=(10.3, 10.35, 10.4, 10.45), stream_ended=10.5)

    assert times.first_token_s == pytest.approx(0.3)
    assert times.decode_s_per_token == pytest.approx(0.05)
    assert times.total_s == pytest.approx(0.5)
    assert streaming.TokenTimes(request_sent=0.0, tokens=(0.3,), stream_ended=0.3).decode_s_per_token is None
