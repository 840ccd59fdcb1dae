"""Key redaction: whole tokens only, and only keys long enough to be secrets."""

from __future__ import annotations

import httpx
import pytest

from pipeline.client import BadRequestError, ChatClient, ChatError, Endpoint, RetryPolicy
from pipeline.client.errors import redact

KEY = "inf-SECRET-0123456789abcdefXYZ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Invalid key {KEY}", "Invalid key ***"),
        (f"Invalid key {KEY}.", "Invalid key ***."),  # end of a sentence
        (f"key '{KEY}', again", "key '***', again"),
        (f'{{"key": "{KEY}"}}', '{"key": "***"}'),
        (f"https://h/v1?api_key={KEY}&x=1", "https://h/v1?api_key=***&x=1"),
        (f"({KEY})", "(***)"),
        (f"{KEY}\n{KEY}", "*** ***"),
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer ***"),
        (f"GET /v1?key%3D{KEY}%26x", "GET /v1?key%3D***%26x"),  # URL-encoded
        (f"Invalid%20key%20{KEY}", "Invalid%20key%20***"),
        (f'{{\\"key\\":\\n{KEY}}}', '{\\"key\\":\\n***}'),  # an escaped echo
        # The same characters inside a longer token are another value, not the key.
        (f"x{KEY}", f"x{KEY}"),
        (f"{KEY}9", f"{KEY}9"),
        (f"{KEY}-2", f"{KEY}-2"),
        (f"{KEY}.v2", f"{KEY}.v2"),
        (f"v1.{KEY}", f"v1.{KEY}"),
    ],
)
def test_the_key_is_redacted_as_a_whole_token(text: str, expected: str) -> None:
    assert redact(text, KEY) == expected


@pytest.mark.parametrize("key", ["x", "EMPTY", "none", "sk-1234"])
def test_short_dummy_keys_do_not_mangle_messages(key: str) -> None:
    text = f"max_tokens exceeds the context window of {key} model (EMPTY none sk-1234)"
    assert redact(text, key) == text


def test_eight_characters_are_enough_to_be_a_secret() -> None:
    assert redact("bad key abcd1234 here", "abcd1234") == "bad key *** here"


def test_bearer_tokens_are_redacted_whatever_the_key() -> None:
    assert redact("sent bearer abc and Bearer  x", "x") == "sent Bearer *** and Bearer ***"
    assert redact("sent Bearer tok", None) == "sent Bearer ***"


def test_key_with_regex_characters() -> None:
    key = "a+b*c?d(e)[f]|g.h^$"
    assert redact(f"key {key} !", key) == "key *** !"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_dummy_key_leaves_error_messages_readable(anyio_backend: str) -> None:
    message = "Invalid request: max_tokens exceeds the maximum of model xlarge-max"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": 400, "message": message}})

    client = ChatClient(retry=RetryPolicy(max_attempts=1), transport=httpx.MockTransport(handler))
    async with client:
        with pytest.raises(BadRequestError) as info:
            await client.complete(Endpoint("http://127.0.0.1:9", "x"), {"model": "m"})
    assert info.value.message == f"HTTP 400 bad_request: {message}"


def test_several_secrets_are_redacted() -> None:
    other = "azure-api-key-0123456789"
    assert redact(f"{KEY} and {other} and x", (KEY, other, "x")) == "*** and *** and x"


@pytest.mark.parametrize(
    "headers",
    [{"api-key": KEY}, {"X-API-Key": f" {KEY} "}, {"Authorization": f"Token {KEY}"}],
)
def test_key_like_headers_are_secrets_too(headers: dict[str, str]) -> None:
    ep = Endpoint("http://127.0.0.1:9", "", headers)
    assert KEY in ep.secrets and KEY not in repr(ep)


def test_header_values_that_cannot_be_sent_are_refused_without_echo() -> None:
    with pytest.raises(ValueError) as info:
        Endpoint("http://127.0.0.1:9", "", {"X-Api-Key": f"{KEY}\r\n"})
    assert KEY not in str(info.value) and "X-Api-Key" in str(info.value)
    assert Endpoint("http://h", "", {"X-Note": "tab\tok"}).headers == {"X-Note": "tab\tok"}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("headers", [{"api-key": KEY}, {"Authorization": f"Token {KEY}"}])
async def test_a_key_sent_in_an_extra_header_is_not_echoed(
    anyio_backend: str, headers: dict[str, str]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot send {KEY}")

    async def no_sleep(seconds: float) -> None:
        return None

    client = ChatClient(
        retry=RetryPolicy(max_attempts=1), transport=httpx.MockTransport(handler), sleep=no_sleep
    )
    async with client:
        with pytest.raises(ChatError) as info:
            await client.complete(Endpoint("http://127.0.0.1:9", "", headers), {"model": "m"})
    assert KEY not in info.value.message and KEY not in str(info.value.__cause__)
    assert "cannot send ***" in info.value.message
