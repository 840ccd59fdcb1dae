"""Per-attempt hooks: how a caller paces attempts (rate limits, 429 pauses) and hears of each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class AttemptHooks(Protocol):
    """What `ChatClient.complete(..., hooks=)` calls; exceptions raised here propagate as-is."""

    async def before_attempt(self, attempt: int) -> None:
        """Awaited before every attempt, the first included (1-based); may wait or raise."""
        ...

    def after_attempt(self, report: AttemptReport) -> None:
        """Called after every attempt, success or failure, before any wait for a retry."""
        ...

    async def wait_retry(self, delay_s: float) -> None:
        """Replaces the client's own backoff sleep of `delay_s` before a retry; may raise."""
        ...


@dataclass(frozen=True, slots=True)
class AttemptReport:
    """The facts of one attempt, as `after_attempt` receives them."""

    attempt: int  # 1-based
    ok: bool
    kind: str | None  # the error kind when not ok (ChatError.kind), None when ok
    http_status: int | None
    retry_after_s: float | None  # the server's requested delay, uncapped, if it sent one
    rate_limit: Mapping[str, str]  # the response's x-ratelimit-* headers (lower-case), {} if none
    prompt_tokens: int | None  # on success, the usage counts if known
    completion_tokens: int | None
    started: float  # client clock at send
    finished: float  # client clock at the end of the body (success) or the failure
    will_retry: bool  # whether the client will make another attempt
