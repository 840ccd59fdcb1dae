"""Where a request goes and how it is authorised; the key never shows in repr or str."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_SENSITIVE = ("authorization", "key", "token", "secret", "cookie")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A chat-completions base URL with its key (empty: no auth) and extra headers."""

    base_url: str
    api_key: str = field(default="", repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    # The key and the values of key-like extra headers, for redaction.
    secrets: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.api_key is None:  # a local server without auth
            object.__setattr__(self, "api_key", "")
        if not isinstance(self.api_key, str):
            raise TypeError("api_key must be a string")
        key = self.api_key.strip()
        if any(not 0x21 <= ord(c) <= 0x7E for c in key):
            # Checked here so no HTTP library can echo the key in an "illegal header" error.
            raise ValueError("api_key contains characters not allowed in an HTTP header")
        object.__setattr__(self, "api_key", key)
        headers = dict(self.headers)
        secrets = [key] if key else []
        for name, value in headers.items():
            if not isinstance(value, str):
                continue
            if any((c < " " and c != "\t") or c == "\x7f" for c in value):  # not echoed
                raise ValueError(f"header {name!r} contains characters not allowed in HTTP")
            if any(s in name.lower() for s in _SENSITIVE):
                secrets += [value.strip(), value.strip().rpartition(" ")[2]]  # "Token <t>"
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "secrets", tuple(dict.fromkeys(s for s in secrets if s)))

    def __repr__(self) -> str:
        shown = {
            k: ("***" if any(s in k.lower() for s in _SENSITIVE) else v)
            for k, v in self.headers.items()
        }
        return f"Endpoint(base_url={self.base_url!r}, headers={shown!r})"

    __str__ = __repr__

    def __hash__(self) -> int:
        return hash((self.base_url, self.api_key, tuple(sorted(self.headers.items()))))

    @property
    def url(self) -> str:
        """The chat-completions URL for this base."""
        return chat_url(self.base_url)


def chat_url(base_url: str) -> str:
    """{base}/v1/chat/completions, or {base}/chat/completions when the base ends in /v1."""
    base = base_url.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    """Per-request headers: JSON type, bearer auth if keyed, then extras (replacing any case)."""
    headers = {"content-type": "application/json"}
    if endpoint.api_key:
        headers["authorization"] = "Bearer " + endpoint.api_key
    for name, value in endpoint.headers.items():
        headers[name.lower()] = value
    return headers
