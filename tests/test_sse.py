"""The SSE decoder at every chunk boundary, and streamed answers through ChatClient."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from pipeline.client import (
    APITimeoutError,
    BadRequestError,
    ChatClient,
    Endpoint,
    ProtocolError,
    RateLimitError,
    RetryEvent,
    RetryPolicy,
    ServerError,
)
from pipeline.client.sse import ServerSentEvent, SSEDecoder

KEY = "inf-SECRET-stream-0123456789"
BODY = {
    "model": "claude-4-5-haiku",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
}


def chunk(delta: dict | None = None, finish: str | None = None, **extra: object) -> bytes:
    choice: dict = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    payload = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "m", **extra}
    payload.setdefault("choices", [choice])
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def call(index: int, args: str, id_: str | None = None, name: str | None = None) -> dict:
    fragment: dict = {"index": index, "function": {"arguments": args}}
    if id_:
        fragment |= {"id": id_, "type": "function"}
        fragment["function"]["name"] = name
    return fragment


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12, "cached_tokens": 1}

# A recorded stream: comments, CRLF and LF endings, a named event, multi-line data, a non-ASCII
# character (split across bytes when fed 1 byte at a time), reasoning in both shapes,
# interleaved tool-call fragments, finish_reason, a usage chunk with empty choices, [DONE].
RECORDED = b"".join(
    [
        b": keep-alive\r\n\r\n",
        chunk({"role": "assistant", "content": ""}).replace(b"\n", b"\r\n"),
        chunk({"reasoning": {"thinking": "Let me "}}),
        chunk({"reasoning": "think."}),
        chunk({"content": "Héllo"}),
        b"event: message\n" + chunk({"content": ", "}),
        b'data: {"id": "chatcmpl-s", "choices": [{"index": 0,\n'
        b'data:  "delta": {"content": "world"}}]}\n\n',
        chunk({"tool_calls": [call(0, '{"ci', "toolu_a", "get_weather")]}),
        chunk({"tool_calls": [call(1, "", "toolu_b", "get_time")]}),
        chunk({"tool_calls": [call(0, 'ty": "Paris"}')]}),
        chunk({"tool_calls": [call(1, '{"tz": "CET"}')]}),
        chunk({}, finish="tool_calls"),
        chunk(choices=[], usage=USAGE),
        b"data: [DONE]\n\n",
    ]
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the decoder ----------------------------------------------------------------------------


def decode(pieces: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    return events + decoder.flush()


def test_recorded_stream_events() -> None:
    events = decode([RECORDED])
    assert len(events) == 13
    assert events[-1] == ServerSentEvent(data="[DONE]")
    assert all(e.event == "message" for e in events)
    assert json.loads(events[5].data)["choices"][0]["delta"]["content"] == "world"
    assert "\n" in events[5].data  # two data: lines joined by a newline


def test_every_split_position_gives_the_same_events() -> None:
    whole = decode([RECORDED])
    for cut in range(1, len(RECORDED)):
        assert decode([RECORDED[:cut], RECORDED[cut:]]) == whole, cut


def test_one_byte_pieces_give_the_same_events() -> None:
    assert decode([RECORDED[i : i + 1] for i in range(len(RECORDED))]) == decode([RECORDED])


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_line_endings(ending: bytes) -> None:
    text = b"event: error\ndata: a\ndata: b\nid: 7\nretry: 300\n\n: comment\ndata:c\n\n"
    raw = text.replace(b"\n", ending)
    expected = [
        ServerSentEvent(event="error", data="a\nb", id="7", retry=300),
        ServerSentEvent(data="c", id="7", retry=300),
    ]
    assert decode([raw]) == expected
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == expected


def test_a_line_ended_by_cr_at_a_chunk_end_is_complete_at_once() -> None:
    decoder = SSEDecoder()
    # CRLF endings split between the last "\r" and "\n": [DONE] is due now, not at the next
    # chunk (a server may hold the connection open after it).
    assert decoder.feed(b"data: [DONE]\r\n\r") == [ServerSentEvent(data="[DONE]")]
    assert decoder.feed(b"\ndata: next\r") == []  # the "\n" ended the line already
    assert decoder.feed(b"\n\r\n") == [ServerSentEvent(data="next")]
    assert decoder.flush() == []


def test_field_details() -> None:
    events = decode([b"data\n\ndata:  two spaces\nfoo: ignored\n\nevent: ping\n\n"])
    assert events == [
        ServerSentEvent(data=""),
        ServerSentEvent(data=" two spaces"),
        ServerSentEvent(event="ping", data=""),
    ]


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_a_leading_bom_is_dropped(size: int) -> None:
    raw = b"\xef\xbb\xbfdata: first\n\ndata: \xef\xbb\xbfsecond\n\n"
    events = decode([raw[i : i + size] for i in range(0, len(raw), size)])
    assert events == [ServerSentEvent(data="first"), ServerSentEvent(data="\ufeffsecond")]
    assert decode([b"\xef\xbb\xbfdata: only"]) == [ServerSentEvent(data="only")]


def test_flush_dispatches_an_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.flush() == [ServerSentEvent(data="[DONE]")]
    assert decoder.flush() == []


# --- streamed answers through the client ----------------------------------------------------


class Chunks(httpx.AsyncByteStream):
    """A response body delivered in the given pieces, optionally stalling after them."""

    def __init__(self, pieces: list[bytes], stall_s: float = 0.0) -> None:
        self.pieces = pieces
        self.stall_s = stall_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.stall_s:
            await anyio.sleep(self.stall_s)


def sse(pieces: list[bytes], stall_s: float = 0.0) -> Callable[[], httpx.Response]:
    """A factory of fresh streamed responses (a streamed body can be read only once)."""
    headers = {"content-type": "text/event-stream", "x-request-id": "req-s"}
    return lambda: httpx.Response(200, headers=headers, stream=Chunks(pieces, stall_s))


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.events: list[RetryEvent] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def client_for(*responses: object, rec: Recorder | None = None, **policy) -> ChatClient:
    """A client whose transport answers with each response (or factory) in turn, then the last."""
    items = list(responses)
    rec = rec or Recorder()

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        item = items.pop(0) if len(items) > 1 else items[0]
        return item() if callable(item) else item

    return ChatClient(
        retry=RetryPolicy(**policy),
        transport=httpx.MockTransport(handler),
        sleep=rec.sleep,
        on_retry=rec.events.append,
    )


ENDPOINT = Endpoint("https://x.example/v1", KEY)


@pytest.mark.anyio
@pytest.mark.parametrize("piece_size", [1, 7, 64, 100_000])
async def test_streamed_answer_is_joined(piece_size: int) -> None:
    pieces = [RECORDED[i : i + piece_size] for i in range(0, len(RECORDED), piece_size)]
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.text == "Héllo, world"
    assert result.reasoning == "Let me think."
    assert result.tool_calls == [
        {
            "id": "toolu_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "toolu_b",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
        },
    ]
    assert result.finish_reason == "tool_calls"
    assert result.usage == USAGE
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (5, 7, 12)
    assert result.response_id == "chatcmpl-s" and result.model == "m"
    assert result.request_id == "req-s" and result.http_status == 200 and result.attempts == 1
    assert result.ttft_s is not None and 0 <= result.ttft_s <= result.latency_s


@pytest.mark.anyio
async def test_plain_text_stream_without_usage() -> None:
    # include_usage off: OpenAI sends "usage": null in chunks, or no usage at all.
    pieces = [
        chunk({"content": "a"}, usage=None),
        chunk({"content": "b"}, finish="stop"),
        b"data: [DONE]\n\n",
    ]
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert (result.text, result.finish_reason, result.usage) == ("ab", "stop", None)
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (
        None,
        None,
        None,
    )
    assert not result.usage_known
    assert result.tool_calls == [] and result.reasoning is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("usages", "counts", "known"),
    [
        ([{"input_tokens": 5, "output_tokens": 7}], (5, 7, 12), True),
        ([{"prompt_tokens": 5}], (5, None, None), False),
        ([{}], (None, None, None), False),
        # a later chunk's nulls do not hide counts sent earlier
        ([{"prompt_tokens": 5, "completion_tokens": 7},
          {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}],
         (5, 7, 12), True),
    ],
)  # fmt: skip
async def test_streamed_usage_counts(usages: list[dict], counts: tuple, known: bool) -> None:
    pieces = [chunk({"content": "a"}, finish="stop")]
    pieces += [chunk(choices=[], usage=u) for u in usages]
    pieces.append(b"data: [DONE]\n\n")
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == counts
    assert result.usage_known is known and result.usage is not None


@pytest.mark.anyio
async def test_named_events_that_are_not_chunks_are_skipped() -> None:
    pieces = [
        b"event: ping\ndata: ping\n\n",
        b'event: ping\ndata: ["x"]\n\n',
        b"event: delta\n" + chunk({"content": "a"}),
        chunk({"content": "b"}, finish="stop"),
        b"data: [DONE]\n\n",
    ]
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.text == "ab" and result.finish_reason == "stop"


@pytest.mark.anyio
async def test_usage_split_over_chunks_is_merged() -> None:
    pieces = [
        chunk({"content": "a"}, usage={"prompt_tokens": 5, "cached_tokens": 2}),
        chunk({"content": "b"}, finish="stop", usage=None),
        chunk(choices=[], usage={"completion_tokens": 7, "total_tokens": 12}),
        b"data: [DONE]\n\n",
    ]
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.usage == {"prompt_tokens": 5, "cached_tokens": 2, "completion_tokens": 7,
                            "total_tokens": 12}  # fmt: skip
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (5, 7, 12)


def indexed(index: int, delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return chunk(choices=[choice])


@pytest.mark.anyio
async def test_only_the_first_of_n_choices_is_kept() -> None:
    pieces = [
        indexed(0, {"content": "Hel"}),
        indexed(1, {"content": "Other"}),
        indexed(1, {"tool_calls": [call(0, "{}", "toolu_x", "f")]}, finish="tool_calls"),
        chunk(choices=[{"index": 1, "delta": {"content": "!"}},
                       {"index": 0, "delta": {"content": "lo"}}]),
        indexed(0, {}, finish="stop"),
        b"data: [DONE]\n\n",
    ]  # fmt: skip
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert (result.text, result.finish_reason, result.tool_calls) == ("Hello", "stop", [])


@pytest.mark.anyio
async def test_choices_without_an_index_are_the_first() -> None:
    pieces = [
        chunk(choices=[{"delta": {"content": "a"}}]),
        chunk(choices=[{"index": None, "delta": {"content": "b"}, "finish_reason": "stop"}]),
        b"data: [DONE]\n\n",
    ]
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert (result.text, result.finish_reason) == ("ab", "stop")


@pytest.mark.anyio
async def test_tool_call_fragment_with_a_non_object_function_is_tolerated() -> None:
    pieces = [
        chunk({"tool_calls": [{"index": 0, "id": "toolu_a", "function": "get_weather"}]}),
        chunk({"tool_calls": [call(0, "{}")]}, finish="tool_calls"),
        b"data: [DONE]\n\n",
    ]
    async with client_for(sse(pieces)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.tool_calls == [
        {"id": "toolu_a", "type": "function", "function": {"name": None, "arguments": "{}"}}
    ]


@pytest.mark.anyio
async def test_stream_request_answered_with_json_is_accepted() -> None:
    body = {
        "id": "c",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "whole"}}],
    }
    async with client_for(httpx.Response(200, json=body)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.text == "whole" and result.ttft_s is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    "pieces",
    [
        [chunk({"content": "a"}), chunk({}, finish="stop")],  # no [DONE]
        [chunk({"content": "a"}), b"data: [DONE]\n\n"],  # no finish_reason
        [chunk({"content": "a"})[:20]],  # cut mid-event
        [chunk({"content": "a"}), b"data: {not json\n\n"],
    ],
)
async def test_truncated_or_malformed_stream_is_retried_then_protocol_error(pieces) -> None:
    rec = Recorder()
    async with client_for(sse(pieces), rec=rec, max_attempts=3) as client:
        with pytest.raises(ProtocolError) as info:
            await client.complete(ENDPOINT, BODY)
    err = info.value
    assert err.kind == "protocol" and err.retryable and err.attempts == 3
    assert [e.kind for e in rec.events] == ["protocol", "protocol"]


@pytest.mark.anyio
async def test_truncated_stream_then_success() -> None:
    good = [chunk({"content": "ok"}, finish="stop"), b"data: [DONE]\n\n"]
    async with client_for(sse([chunk({"content": "partial"})]), sse(good)) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.text == "ok" and result.attempts == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error_piece", "cls", "kind"),
    [
        (
            b'event: error\ndata: {"error": {"code": 429, "message": "slow", "type": "x"}}\n\n',
            RateLimitError,
            "rate_limit",
        ),
        (
            b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
            ServerError,
            "server",
        ),
        (b"event: error\ndata: upstream gone\n\n", ProtocolError, "protocol"),
        (b'data: {"error": "overloaded"}\n\n', ProtocolError, "protocol"),
    ],
)
async def test_in_stream_errors_are_retried_by_kind(error_piece, cls, kind) -> None:
    rec = Recorder()
    pieces = [chunk({"content": "a"}), error_piece]
    async with client_for(sse(pieces), rec=rec, max_attempts=2) as client:
        with pytest.raises(cls) as info:
            await client.complete(ENDPOINT, BODY)
    assert info.value.kind == kind and info.value.attempts == 2 and info.value.http_status == 200
    assert [e.kind for e in rec.events] == [kind]


@pytest.mark.anyio
async def test_in_stream_bad_request_is_not_retried() -> None:
    piece = b'event: error\ndata: {"error": {"code": 400, "message": "too long"}}\n\n'
    rec = Recorder()
    async with client_for(sse([piece]), rec=rec) as client:
        with pytest.raises(BadRequestError) as info:
            await client.complete(ENDPOINT, BODY)
    assert info.value.attempts == 1 and "too long" in info.value.message and rec.events == []


@pytest.mark.anyio
async def test_stream_stall_hits_the_attempt_timeout() -> None:
    pieces = [chunk({"content": "a"})]
    async with client_for(sse(pieces, stall_s=10), attempt_timeout_s=0.05, max_attempts=2) as c:
        with anyio.fail_after(5):
            with pytest.raises(APITimeoutError) as info:
                await c.complete(ENDPOINT, BODY)
    assert info.value.attempts == 2


@pytest.mark.anyio
async def test_error_status_on_a_stream_request() -> None:
    response = httpx.Response(
        429, json={"error": {"message": "wait"}}, headers={"retry-after": "2"}
    )
    good = sse([chunk({"content": "ok"}, finish="stop"), b"data: [DONE]\n\n"])
    rec = Recorder()
    async with client_for(response, good, rec=rec) as client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.attempts == 2 and rec.sleeps == [2.0]


@pytest.mark.anyio
async def test_data_after_done_is_ignored() -> None:
    pieces = [chunk({"content": "a"}, finish="stop"), b"data: [DONE]\n\n", chunk({"content": "b"})]
    async with client_for(sse(pieces)) as client:
        assert (await client.complete(ENDPOINT, BODY)).text == "a"


@pytest.mark.anyio
async def test_crlf_stream_held_open_with_done_split_before_its_last_lf() -> None:
    body = b"".join([chunk({"content": "a"}, finish="stop"), b"data: [DONE]\n\n"])
    body = body.replace(b"\n", b"\r\n")
    pieces = [body[:-1], body[-1:]]  # the final "\n" never comes: the server holds on
    async with client_for(sse(pieces[:1], stall_s=10), attempt_timeout_s=0.3) as client:
        with anyio.fail_after(5):
            result = await client.complete(ENDPOINT, BODY)
    assert result.text == "a" and result.attempts == 1 and result.latency_s < 0.2


@pytest.mark.anyio
async def test_stream_held_open_after_done_is_still_a_success() -> None:
    pieces = [chunk({"content": "a"}, finish="stop"), b"data: [DONE]\n\n"]
    async with client_for(sse(pieces, stall_s=10), attempt_timeout_s=0.3) as client:
        with anyio.fail_after(5):
            result = await client.complete(ENDPOINT, BODY)
    assert result.text == "a" and result.attempts == 1 and result.latency_s < 0.2
