"""The aiohttp application: routes, auth, faults, latency, streaming and the admin routes."""

from __future__ import annotations

import hmac
import json
import math
import os
import threading
import time
import uuid
from asyncio import sleep
from collections import deque
from collections.abc import Iterable
from hashlib import blake2b
from typing import Any

from aiohttp import web

from .config import OUTCOMES, EmulatorConfig, Faults
from .models import Limits, available_models
from .rand import unit
from .ratelimit import SlidingWindow
from .responses import Reply, build_reply, completion_body, stream_events
from .sampling import Draws
from .solvers import solve
from .stats import EmulatorStats
from .validation import ChatRequest, RequestError, parse_request

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_SEEN_CAP = 1_000_000
_WINDOWS_CAP = 10_000
CLIENT_MAX_SIZE = 4 * 1024 * 1024


class EmulatorState:
    """Mutable emulator state shared by the handlers and the controlling thread."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.stats = EmulatorStats()
        self._lock = threading.Lock()
        self._id_prefix = os.urandom(6).hex()
        self._counter = 0
        self.draws = Draws(_SEEN_CAP)
        self.reset()

    def reset(self) -> None:
        """Back to the state at start: config faults, no script, zero counters and windows."""
        with self._lock:
            self.faults = self.config.faults
            self._script: deque[str] = deque()
            self._seen: dict[bytes, int] = {}
            self.windows: dict[str, SlidingWindow] = {}
        self.draws.clear()
        self.stats.reset()

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault knobs (takes effect on the next request)."""
        if not isinstance(faults, Faults):
            raise TypeError("set_faults expects a Faults instance")
        self.faults = faults

    def script(self, outcomes: Iterable[str]) -> None:
        """Queue outcomes for the next chat requests, replacing any still queued."""
        queued = [str(o) for o in outcomes]
        bad = [o for o in queued if o not in OUTCOMES]
        if bad:
            raise ValueError(f"unknown outcome(s) {bad}; expected some of {', '.join(OUTCOMES)}")
        with self._lock:
            self._script = deque(queued)

    def next_outcome(self, key: bytes | None) -> str:
        """The scripted outcome if any, else a fault drawn from seed, body hash and repeat count."""
        if self._script:
            with self._lock:
                if self._script:
                    return self._script.popleft()
        faults = self.faults
        if not faults.active or key is None:
            return "ok"
        with self._lock:
            if len(self._seen) >= _SEEN_CAP:
                self._seen.clear()
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
        return faults.pick(unit("fault", self.config.seed, key.hex(), seen))

    def next_id(self) -> str:
        """A unique hex id for a response."""
        self._counter += 1
        return f"{self._id_prefix}{self._counter:09x}"

    def window(self, model_id: str, limits: Limits) -> SlidingWindow:
        """The rate-limit window of a model."""
        window = self.windows.get(model_id)
        if window is None:
            if len(self.windows) >= _WINDOWS_CAP:  # any model id is accepted: stay bounded
                self.windows.clear()
            config = self.config
            rpm, tpm = config.rate_limit_for(model_id, (limits.rpm, limits.tpm))
            window = SlidingWindow(rpm, tpm, config.rate_window_s)
            self.windows[model_id] = window
        return window


def body_key(raw: bytes) -> bytes:
    """The hash identical request bodies share (faults and draws count repeats by it)."""
    return blake2b(raw, digest_size=8).digest()


STATE: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)


def make_app(config: EmulatorConfig, *, state: EmulatorState | None = None) -> web.Application:
    """The emulator as an aiohttp application (state at ``app[STATE]``)."""
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state or EmulatorState(config)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/available-models", _available_models)
    app.router.add_get("/_emulator/stats", _admin_stats)
    app.router.add_get("/_emulator/faults", _admin_get_faults)
    app.router.add_post("/_emulator/faults", _admin_set_faults)
    app.router.add_post("/_emulator/script", _admin_script)
    app.router.add_post("/_emulator/reset", _admin_reset)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


def error_response(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A Heroku-style JSON error: {"error": {"code", "message", "type"}}."""
    body = _dumps({"error": {"code": status, "message": message, "type": kind}})
    return web.Response(
        status=status, body=body.encode(), content_type="application/json", headers=headers
    )


async def _not_found(request: web.Request) -> web.Response:
    return error_response(
        404, f"Not found: {request.method} {request.path[:200]}", "invalid_request_error"
    )


async def _available_models(request: web.Request) -> web.Response:
    return web.json_response(available_models())


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.stats.begin()
    try:
        return await _handle_chat(request, state)
    finally:
        state.stats.end()


def _auth_error(request: web.Request, api_key: str | None) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return "Missing API key: send 'Authorization: Bearer <INFERENCE_KEY>'"
    if api_key is not None and not hmac.compare_digest(token.encode(), api_key.encode()):
        return "Invalid API key"
    return None


async def _handle_chat(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    stats = state.stats
    config = state.config
    request_id = str(uuid.uuid4())
    base_headers = {"x-request-id": request_id}
    problem = _auth_error(request, config.api_key)
    if problem is not None:
        stats.status(401)
        return error_response(401, problem, "authentication_error", base_headers)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        stats.status(413)
        return error_response(413, "Request body too large", "invalid_request_error", base_headers)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: valid JSON, nested too deeply
        stats.status(400)
        problem = "nested too deeply" if isinstance(exc, RecursionError) else "must be valid JSON"
        return error_response(
            400, f"Invalid request: body {problem}", "invalid_request_error", base_headers
        )
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        stats.model(body["model"][:100])
    try:
        chat = parse_request(
            body,
            reject_unknown=config.reject_unknown_fields,
            accept_any_model=config.accept_any_model,
        )
    except RequestError as exc:
        stats.status(400)
        return error_response(400, exc.message, "invalid_request_error", base_headers)

    tracked = chat.temperature > 0 and chat.seed is None
    key = body_key(raw) if tracked or state.faults.active else None
    if key is None or not tracked:
        draw = 0 if chat.seed is None else chat.seed
        return (await _answer(request, state, chat, raw, key, draw, base_headers))[0]
    draw = state.draws.take(key)
    answered = False
    try:
        response, answered = await _answer(request, state, chat, raw, key, draw, base_headers)
        return response
    finally:
        state.draws.finish(key, draw, answered)


async def _answer(
    request: web.Request,
    state: EmulatorState,
    chat: ChatRequest,
    raw: bytes,
    key: bytes | None,
    draw: int,
    base_headers: dict[str, str],
) -> tuple[web.StreamResponse, bool]:
    """Answer a valid request with this draw; True if a complete answer was sent."""
    stats = state.stats
    config = state.config
    model = chat.model
    accuracy = config.accuracy_for(model.model_id, model.accuracy)
    reply = build_reply(chat, solve(chat, accuracy, seed=config.seed, draw=draw))
    now = time.monotonic()
    window = state.window(model.model_id, chat.limits)
    tokens = reply.prompt_tokens + reply.completion_tokens
    if config.enforce_rate_limits:
        wait = window.retry_after(now, tokens)
        if wait is not None:
            stats.status(429)
            headers = {**base_headers, **window.headers(now)}
            if tokens > window.tpm:
                message = (
                    f"Rate limit exceeded: this request's {tokens} tokens are more than the "
                    f"model's limit of {window.tpm} tokens per window"
                )
                return _rate_limited(wait, headers, message), False
            return _rate_limited(wait, headers), False

    outcome = state.next_outcome(key)
    if outcome != "ok":
        stats.fault(outcome)
    if outcome == "429":
        stats.status(429)
        return _rate_limited(state.faults.retry_after_s, base_headers), False
    if outcome == "403":  # scripted only: no access to the model (or a WAF block)
        stats.status(403)
        return error_response(
            403, "Forbidden: no access to this model", "authorization_error", base_headers
        ), False
    if outcome in ("500", "503"):
        stats.status(int(outcome))
        message = "Internal server error" if outcome == "500" else "Service temporarily unavailable"
        return error_response(int(outcome), message, "server_error", base_headers), False
    if outcome == "drop":
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500), False  # never reaches the client: the connection is gone
    if outcome == "hang":
        await sleep(state.faults.hang_s)

    window.add(now, tokens)
    # The x-ratelimit-* headers describe limits the server enforces; an emulator that
    # enforces none sends none (a client reading them would pause for nothing).
    headers = {**base_headers, **window.headers(now)} if config.enforce_rate_limits \
        else base_headers
    ident = {
        "response_id": f"chatcmpl-{state.next_id()}",
        "created": int(time.time()),
        "model": config.response_model or model.model_id,
        "fingerprint": model.fingerprint,
    }
    stats.status(200)
    delay_scale = config.speed
    if delay_scale > 0:
        delay_scale *= 0.8 + 0.4 * unit("jitter", raw)
    mode = config.usage
    if chat.stream:
        usage = mode == "always" or (mode == "requested" and chat.include_usage)
        usage_null = usage and mode == "requested"
        events = stream_events(reply, **ident, usage=usage, usage_null=usage_null)
        return await _send_stream(
            request, state, chat, reply, events, headers, outcome, delay_scale, usage
        )
    body_bytes = completion_body(reply, **ident, usage=mode != "never")
    if delay_scale > 0:
        await sleep(model.latency_s(reply.completion_tokens) * delay_scale)
    if outcome == "truncate":
        body_bytes = body_bytes[: len(body_bytes) // 2]
    elif outcome == "malformed":
        body_bytes = _corrupt(body_bytes)
    response = web.Response(body=body_bytes, content_type="application/json", headers=headers)
    complete = outcome in ("ok", "hang")
    if complete:  # count before the bytes leave, so a client never sees a stale counter
        stats.complete(reply.prompt_tokens, reply.completion_tokens)
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:  # the client went away; aiohttp treats this as a disconnect
        if complete:
            stats.retract(reply.prompt_tokens, reply.completion_tokens)
        return response, False
    return response, complete


def _rate_limited(
    retry_after_s: float,
    headers: dict[str, str],
    message: str = "Rate limit exceeded: too many requests, retry later",
) -> web.Response:
    """A 429: Retry-After in whole seconds (rounded up, as HTTP requires), retry-after-ms exact."""
    headers = {
        **headers,
        "Retry-After": str(math.ceil(retry_after_s)),
        "retry-after-ms": str(math.ceil(round(retry_after_s * 1000, 6))),
    }
    return error_response(429, message, "rate_limit_error", headers)


def _corrupt(data: bytes) -> bytes:
    """Break a JSON document in a way no lenient parser accepts."""
    return data.replace(b'"choices":', b'"choices" ', 1).replace(b"{", b"{{", 1)


async def _send_stream(
    request: web.Request,
    state: EmulatorState,
    chat: ChatRequest,
    reply: Reply,
    events: list[tuple[bytes, int]],
    headers: dict[str, str],
    outcome: str,
    delay_scale: float,
    usage: bool,
) -> tuple[web.StreamResponse, bool]:
    if outcome == "truncate":  # about half the delta chunks: never the finish_reason, usage, [DONE]
        body_events = events[: -2 if usage else -1]
        events = body_events[: max(1, len(body_events) // 2)]
    elif outcome == "malformed":
        at = min(1, len(events) - 1)
        events = [*events[:at], (_corrupt(events[at][0]), events[at][1]), *events[at + 1 :]]
    response = web.StreamResponse(status=200, headers={**headers, "Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    stats = state.stats
    complete = outcome in ("ok", "hang")
    counted = False
    try:
        await response.prepare(request)
        if delay_scale > 0:
            model = chat.model
            per_token = delay_scale / model.tokens_per_s
            await sleep(model.ttft_s * delay_scale)
            for data, tokens in events[:-1]:
                if tokens:
                    await sleep(tokens * per_token)
                await response.write(data)
            events = events[-1:]
        if complete:  # count before the last bytes leave, so a client never sees a stale counter
            stats.complete(reply.prompt_tokens, reply.completion_tokens)
            counted = True
        await response.write(b"".join(data for data, _ in events))
        await response.write_eof()
    except ConnectionError:  # the client went away mid-stream
        if counted:
            stats.retract(reply.prompt_tokens, reply.completion_tokens)
        return response, False
    return response, counted


async def _admin_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats.snapshot())


async def _admin_get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].faults.to_dict())


async def _admin_set_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        data = await request.json()
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object of Faults fields")
        faults = Faults.from_dict(data)
    except (ValueError, TypeError) as exc:
        return error_response(400, f"Invalid faults: {exc}", "invalid_request_error")
    state.set_faults(faults)
    return web.json_response(faults.to_dict())


async def _admin_script(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        data: Any = await request.json()
        outcomes = data.get("outcomes") if isinstance(data, dict) else None
        if not isinstance(outcomes, list):
            raise ValueError('body must be {"outcomes": [...]}')
        state.script(outcomes)
    except ValueError as exc:
        return error_response(400, f"Invalid script: {exc}", "invalid_request_error")
    return web.json_response({"queued": len(outcomes)})


async def _admin_reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.reset()
    return web.json_response(state.stats.snapshot())
