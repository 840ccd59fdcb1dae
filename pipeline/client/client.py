"""`ChatClient`: one connection pool (http11 by default, or httpx), one retry loop, JSON and SSE."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio

from .completion import (
    BodyError,
    Completion,
    StreamAssembler,
    error_fields,
    parse_completion,
    parse_error_body,
)
from .endpoint import Endpoint, chat_url, request_headers
from .errors import (
    ERROR_CLASSES,
    ChatError,
    DeadlineExceededError,
    ProtocolError,
    exception_kind,
    redact,
    translate,
)
from .hooks import AttemptHooks, AttemptReport
from .http11 import Pool, Prepared, Response
from .retry import RetryEvent, RetryPolicy, backoff_s, classify, error_kind, retry_after_s
from .sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    import httpx

    _Response = Response | httpx.Response  # the attributes read are the same on both

log = logging.getLogger("pipeline.client")

BACKENDS = ("asyncio", "aiohttp", "httpx")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")
_MAX_TARGETS = 1024  # endpoints whose URL and headers are kept ready (cleared when full)


class _Target:
    """An endpoint's URL and request headers, worked out once, and the pool's prepared head."""

    __slots__ = ("url", "headers", "prepared")

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.prepared: Prepared | None = None

_DRAIN_S = 1.0  # after [DONE], read the rest of the body this long so the connection is reused
_ERROR_BODY_S = 5.0  # an error status is known from its headers: wait this long for its body
_CLOSE_S = 2.0  # bound on closing a response (shielded: also while being cancelled)
_RATE_PREFIX = "x-ratelimit-"


class ChatClient:
    """Send chat-completion requests with bounded retries; reuse one connection pool."""

    def __init__(
        self,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, safe to share
        transport: httpx.AsyncBaseTransport | None = None,
        http_backend: str = "asyncio",
        max_connections: int = 256,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        on_retry: Callable[[RetryEvent], None] | None = None,
        user_agent: str = "pipeline/0.1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`http_backend`: "asyncio" (the default: `http11.Pool`, no httpx per request),
        "aiohttp" (httpx over the httpx-aiohttp transport) or "httpx" (httpx's own pool).
        A `transport` (tests: httpx.MockTransport) always goes through httpx, and so does
        "asyncio" when a proxy variable is set, as only httpx honours proxies here.
        """
        if http_backend not in BACKENDS:
            raise ValueError(f"http_backend must be one of {', '.join(BACKENDS)}, "
                             f"not {http_backend!r}")  # fmt: skip
        if transport is not None:
            http_backend = "httpx"
        elif http_backend == "asyncio" and _proxy_set():
            log.info("a proxy variable is set: sending through httpx, which honours it")
            http_backend = "httpx"
        self.retry = retry
        self.http_backend = http_backend  # the one in use
        self._sleep = sleep
        self._on_retry = on_retry
        self._clock = clock
        self._targets: dict[Endpoint, _Target] = {}
        self._pool: Pool | None = None
        self._http: httpx.AsyncClient | None = None
        if http_backend == "asyncio":
            self._pool = Pool(max_connections, user_agent)
            return
        import httpx  # only here: the default backend never imports it

        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None and http_backend == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits)
        self._http = httpx.AsyncClient(
            transport=transport,
            limits=limits,
            # Backstop only: the whole attempt is bounded by anyio.fail_after.
            timeout=httpx.Timeout(retry.attempt_timeout_s),
            headers={"user-agent": user_agent},
            follow_redirects=False,
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._pool is not None:
            await self._pool.aclose()
        if self._http is not None:
            await self._http.aclose()

    async def complete(
        self, endpoint: Endpoint, body: dict, *, hooks: AttemptHooks | None = None
    ) -> Completion:
        """POST body to the endpoint's chat completions; stream when body["stream"] is true.

        `hooks` pace and observe the attempts (see `AttemptHooks`); what they raise propagates.
        """
        target = self._targets.get(endpoint)
        if target is None:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            target = self._targets[endpoint] = _Target(
                chat_url(endpoint.base_url), request_headers(endpoint)
            )
        content = _encode(body)
        stream = bool(body.get("stream"))
        secret = endpoint.secrets
        policy = self.retry
        clock = self._clock
        if hooks is not None:
            await hooks.before_attempt(1)
        start = clock()  # the deadline and elapsed_s count from here
        deadline = None if policy.deadline_s is None else start + policy.deadline_s
        attempt = 1
        last: ChatError | None = None  # the previous attempt's failure
        while True:
            sent = clock()
            limit = policy.attempt_timeout_s
            cut = False  # whether the deadline, not the attempt timeout, bounds this attempt
            if deadline is not None and deadline - sent < limit:
                limit, cut = deadline - sent, True
                if limit <= 0:
                    raise self._deadline_error(
                        f"reached before attempt {attempt} could start", last, attempt - 1,
                        sent - start,
                    ) from last  # fmt: skip
            # A bare cancel scope, not anyio.fail_after (a generator context manager): half
            # the cost per request, measured; its timeout is raised here instead.
            scope = anyio.CancelScope(deadline=anyio.current_time() + limit)
            try:
                with scope:
                    result = await self._attempt(target, content, stream, secret, sent)
                if scope.cancelled_caught:
                    raise TimeoutError
            except ChatError as exc:
                error = exc
            except Exception as exc:
                if cut and scope.cancelled_caught:
                    now = clock()
                    cutoff = self._deadline_error(
                        f"reached during attempt {attempt} (cut short after {now - sent:.3g}s)",
                        last, attempt, now - start, latency_s=now - sent,
                    )  # fmt: skip
                    if hooks is not None:  # the attempt got no answer: only the deadline
                        hooks.after_attempt(AttemptReport(
                            attempt, False, "deadline", None, None, {}, None, None, sent, now,
                            False,
                        ))  # fmt: skip
                    raise cutoff from (exc if last is None else last)
                translated = translate(exc, secret=secret, timeout_s=limit)
                if translated is None:
                    raise
                error = translated
            else:
                result.attempts = attempt
                result.elapsed_s = clock() - start
                if hooks is not None:
                    hooks.after_attempt(_succeeded(attempt, result, sent))
                return result
            now = clock()
            error.attempts = attempt
            error.latency_s = now - sent
            error.elapsed_s = now - start
            final: ChatError | None = None  # what to raise instead of retrying
            delay = 0.0
            if not error.retryable or attempt >= policy.max_attempts:
                final = error
            else:
                delay = error.retry_after_s
                if delay is None:
                    delay = backoff_s(attempt, policy)
                if deadline is not None and now + delay > deadline:
                    final = self._deadline_error(
                        f"would be passed by the retry due in {delay:.3g}s", error, attempt,
                        now - start,
                    )  # fmt: skip
            if hooks is not None:
                hooks.after_attempt(_failed(attempt, error, sent, now, retry=final is None))
            if final is error:
                raise error
            if final is not None:
                raise final from error
            if self._on_retry is not None:
                self._on_retry(
                    RetryEvent(attempt, error.kind, error.http_status, delay, error.message)
                )
            log.debug(
                "retry %d/%d in %.2fs after %s", attempt, policy.max_attempts, delay, error.message
            )
            if hooks is None:
                await self._sleep(delay)
            else:
                await hooks.wait_retry(delay)
            attempt += 1
            last = error
            if hooks is not None:
                if deadline is not None and clock() >= deadline:  # don't take a slot in vain
                    raise self._deadline_error(
                        f"reached before attempt {attempt} could start", last, attempt - 1,
                        clock() - start,
                    ) from last  # fmt: skip
                await hooks.before_attempt(attempt)  # its time counts against the deadline

    def _deadline_error(
        self,
        what: str,
        last: ChatError | None,
        attempts: int,
        elapsed_s: float,
        *,
        latency_s: float | None = None,
    ) -> DeadlineExceededError:
        """The deadline error for `what` happened, carrying the last failure's facts."""
        text = f"deadline {self.retry.deadline_s:g}s {what}"
        if last is not None:
            text += f"; last error: {last.message}"
        error = DeadlineExceededError(
            text,
            http_status=None if last is None else last.http_status,
            retryable=True,
            attempts=attempts,
            latency_s=(0.0 if last is None else last.latency_s) if latency_s is None else latency_s,
            elapsed_s=elapsed_s,
            retry_after_s=None if last is None else last.retry_after_s,
            request_id=None if last is None else last.request_id,
            rate_limit=None if last is None else last.rate_limit,
            error_code=None if last is None else last.error_code,
            error_type=None if last is None else last.error_type,
        )
        error.last_kind = "timeout" if last is None else last.kind
        return error

    async def _attempt(
        self,
        target: _Target,
        content: bytes,
        stream: bool,
        secret: tuple[str, ...],
        sent: float,
    ) -> Completion:
        if self._pool is not None:
            prepared = target.prepared
            if prepared is None:  # here, so a bad URL or header fails as an attempt does
                prepared = target.prepared = self._pool.prepare(target.url, target.headers)
            response: _Response = await self._pool.post(prepared, content)
        else:
            http = cast("httpx.AsyncClient", self._http)
            request = http.build_request(
                "POST", target.url, headers=target.headers, content=content
            )
            response = await http.send(request, stream=True)
        try:
            status = response.status_code
            if not 200 <= status < 300:
                raise self._status_error(response, await _error_body(response), secret)
            ctype = response.headers.get("content-type", "")
            ttft = None
            try:
                if "event-stream" in ctype or (stream and "json" not in ctype):
                    assembler = StreamAssembler()
                    ttft, finished = await self._read_stream(response, assembler, sent)
                    completion = assembler.result()
                else:
                    payload = await _read_json(response)
                    finished = self._clock()
                    completion = parse_completion(payload)
            except BodyError as exc:
                raise self._body_error(exc, response, secret) from None
        except BaseException:
            await _close_quietly(response)
            raise
        if not response.is_closed:
            await _close_quietly(response)  # the answer is complete: closing can't undo it
        completion.latency_s = finished - sent
        completion.ttft_s = ttft
        completion.http_status = status
        completion.request_id = response.headers.get("x-request-id")
        completion.rate_limit = _rate_limit(response.headers)
        return completion

    async def _read_stream(
        self, response: _Response, assembler: StreamAssembler, sent: float
    ) -> tuple[float | None, float]:
        """Feed the SSE body into the assembler; return time to first delta and end time."""
        decoder = SSEDecoder()
        ttft = None
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
        try:
            try:
                async for chunk in chunks:
                    for event in decoder.feed(chunk):
                        if _apply(event, assembler) and ttft is None:
                            ttft = self._clock() - sent
                    if assembler.done:
                        break
                else:
                    for event in decoder.flush():
                        if _apply(event, assembler) and ttft is None:
                            ttft = self._clock() - sent
            except BodyError:
                raise
            except Exception as exc:
                if exception_kind(exc) is None or not _complete_on_failure(decoder, assembler):
                    raise
                log.debug("connection lost right after a complete answer: %s", type(exc).__name__)
            finished = self._clock()
            if assembler.done:
                await _drain(chunks)
        finally:
            if chunks.ag_frame is not None:  # not run to its end (which closes it)
                await _close_quietly(chunks)
        return ttft, finished

    def _status_error(
        self, response: _Response, body: bytes, secret: tuple[str, ...]
    ) -> ChatError:
        status = response.status_code
        decision = classify(status, response.headers, None)
        message, code, type_ = parse_error_body(body)
        detail = message or response.reason_phrase or "no details"
        error = ERROR_CLASSES[decision.kind](
            redact(f"HTTP {status} {decision.kind}: {detail}", secret),
            kind=decision.kind,
            http_status=status,
            retryable=decision.retry,
            retry_after_s=retry_after_s(response.headers),
            request_id=response.headers.get("x-request-id"),
            rate_limit=_rate_limit(response.headers),
            error_code=None if code is None else str(code),
            error_type=type_ if isinstance(type_, str) else None,
        )
        return error

    def _body_error(
        self, exc: BodyError, response: _Response, secret: tuple[str, ...]
    ) -> ChatError:
        status = response.status_code
        if exc.protocol:
            kind, retryable, text = "protocol", True, f"protocol: {exc.message}"
            cls: type[ChatError] = ProtocolError
        else:
            kind, retryable = error_kind(exc.code, exc.type, status)
            text = f"stream error ({kind}): {exc.message}"
            cls = ERROR_CLASSES[kind]
        return cls(
            redact(text, secret),
            kind=kind,
            http_status=status,
            retryable=retryable,
            retry_after_s=retry_after_s(response.headers),
            request_id=response.headers.get("x-request-id"),
            rate_limit=_rate_limit(response.headers),
            error_code=None if exc.code is None else str(exc.code),
            error_type=exc.type if isinstance(exc.type, str) else None,
        )


def _succeeded(attempt: int, result: Completion, sent: float) -> AttemptReport:
    return AttemptReport(
        attempt, True, None, result.http_status, None, result.rate_limit, result.prompt_tokens,
        result.completion_tokens, sent, sent + result.latency_s, False,
    )  # fmt: skip


def _failed(
    attempt: int, error: ChatError, sent: float, now: float, *, retry: bool
) -> AttemptReport:
    return AttemptReport(
        attempt, False, error.kind, error.http_status, error.retry_after_s, error.rate_limit,
        None, None, sent, now, retry,
    )  # fmt: skip


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (usually just the end of the body) so the connection is reused."""
    await _read_rest(chunks, _DRAIN_S, None)


async def _error_body(response: _Response) -> bytes:
    """What arrives of an error status's body: a body lost or stalled must not hide the status."""
    parts: list[bytes] = []
    chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
    try:
        await _read_rest(chunks, _ERROR_BODY_S, parts)
    finally:
        await _close_quietly(chunks)
    return b"".join(parts)


async def _read_rest(chunks: AsyncIterator[bytes], grace_s: float, parts: list | None) -> None:
    """Read a body whose outcome is already known, so that nothing here can change it."""
    # Shielded from the attempt's timeout but ending with it (or the grace): a server that
    # stalls or drops the connection now costs no more time and loses nothing.
    deadline = min(anyio.current_time() + grace_s, anyio.current_effective_deadline())
    with anyio.CancelScope(shield=True, deadline=deadline):
        try:
            async for part in chunks:
                if parts is not None:
                    parts.append(part)
        except Exception as exc:  # noqa: BLE001 - the outcome is known; this is the aftermath
            log.debug("ignored while reading the rest of a body: %s", type(exc).__name__)


async def _close_quietly(closable: _Response | AsyncGenerator[bytes, None]) -> None:
    """Close a response or body iterator, bounded and shielded; a failure to close is no error."""
    with anyio.CancelScope(shield=True, deadline=anyio.current_time() + _CLOSE_S):
        try:
            await closable.aclose()
        except Exception as exc:  # noqa: BLE001 - closing must not replace the real outcome
            log.debug("ignored while closing a response: %s", type(exc).__name__)


def _complete_on_failure(decoder: SSEDecoder, assembler: StreamAssembler) -> bool:
    """After a read failure: whether what arrived (its last line unterminated) is complete."""
    try:
        for event in decoder.flush():
            _apply(event, assembler)
    except BodyError:
        return False
    return assembler.done and assembler.finish_reason is not None


async def _read_json(response: _Response) -> object:
    """The JSON body; a read failure after a complete document (JSON ends itself) is ignored."""
    parts: list[bytes] = []
    try:
        async for part in response.aiter_bytes():
            parts.append(part)
    except Exception as exc:
        complete, payload = _try_json(b"".join(parts))
        if not complete or exception_kind(exc) is None:
            raise
        log.debug("connection lost right after a complete body: %s", type(exc).__name__)
        return payload
    return _decode(b"".join(parts))


def _try_json(data: bytes) -> tuple[bool, object]:
    try:
        return True, json.loads(data)
    except ValueError:
        return False, None


def _apply(event: ServerSentEvent, assembler: StreamAssembler) -> bool:
    """Fold one SSE event into the assembler; True when it carried a delta."""
    if assembler.done:
        return False
    data = event.data
    if event.event == "error":
        try:
            payload: object = json.loads(data)
        except ValueError:
            payload = data
        message, code, type_ = error_fields(payload)
        raise BodyError(message or "error event in stream", code=code, type_=type_, protocol=False)
    if data == "[DONE]":
        assembler.done = True
        return False
    if not data:
        return False
    if event.event != "message":  # a named event: a chunk if it holds one, else not ours (ping)
        try:
            payload = json.loads(data)
        except ValueError:
            return False
        return assembler.add(payload) if isinstance(payload, dict) else False
    return assembler.add(_decode(data))


def _decode(data: bytes | str) -> object:
    try:
        return json.loads(data)
    except ValueError:
        raise BodyError("malformed JSON in response") from None


def _encode(body: dict) -> bytes:
    if not isinstance(body, dict):
        raise TypeError("body must be a dict")
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let json escape them
        return json.dumps(body, separators=(",", ":")).encode("ascii")


def _rate_limit(headers: Mapping[str, str]) -> dict[str, str]:
    """The x-ratelimit-* headers, lower-case (httpx.Headers and http11's dict both say so)."""
    return {k: v for k, v in headers.items() if k.startswith(_RATE_PREFIX)}


def _proxy_set() -> bool:
    environ = os.environ
    return any(environ.get(v) or environ.get(v.upper()) for v in _PROXY_VARS)
