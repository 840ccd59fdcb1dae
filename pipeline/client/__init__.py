"""Chat-completion client: endpoint, retries, SSE, the error tree (see `errors`), and the
default HTTP/1.1 transport (`http11`)."""

from __future__ import annotations

from .client import ChatClient
from .completion import Completion
from .endpoint import Endpoint, chat_url
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatError,
    DeadlineExceededError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestTooLargeError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from .hooks import AttemptHooks, AttemptReport
from .retry import RetryDecision, RetryEvent, RetryPolicy, classify

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AttemptHooks",
    "AttemptReport",
    "AuthenticationError",
    "BadRequestError",
    "ChatClient",
    "ChatError",
    "Completion",
    "DeadlineExceededError",
    "Endpoint",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "RequestTooLargeError",
    "RetryDecision",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
    "chat_url",
    "classify",
]
