"""Where each model's requests go: the local emulator, Heroku, or an OpenAI-compatible URL."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipeline.client import Endpoint, chat_url
from pipeline.config import Config, ResolvedEndpoint, resolve_endpoint


def resolve_all(
    cfg: Config, env: Mapping[str, str] | None, source: str
) -> list[ResolvedEndpoint] | None:
    """Every model's URL and key from the environment (None for the local emulator)."""
    if cfg.provider.kind == "local":
        return None
    return [resolve_endpoint(cfg, i, env, source=source) for i in range(len(cfg.models))]


def _public_url(url: str) -> str:
    """A URL without credentials (user:password@, query, fragment), for the manifest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def identity(cfg: Config, resolved: list[ResolvedEndpoint] | None) -> list[dict[str, Any]]:
    """What the manifest keeps of each endpoint (never the key), to refuse mixed resumes."""
    return [
        {"model": m.name, "model_id": m.id, "kind": cfg.provider.kind,
         "base_url": None if resolved is None else _public_url(resolved[i].base_url)}
        for i, m in enumerate(cfg.models)
    ]


def same_endpoint(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two manifest endpoints send the same model to the same chat URL."""
    if a["kind"] != b["kind"] or a.get("model_id", b.get("model_id")) != b.get("model_id"):
        return False
    if a["base_url"] is None or b["base_url"] is None:
        return a["base_url"] == b["base_url"]
    return chat_url(a["base_url"]) == chat_url(b["base_url"])


@contextmanager
def open_endpoints(
    cfg: Config, resolved: list[ResolvedEndpoint] | None,
    emulator_overrides: Mapping[str, Any] | None = None,
) -> Iterator[tuple[list[Endpoint], Any]]:
    """Yield (endpoints, emulator server or None); the local emulator runs while inside."""
    if resolved is not None:
        yield [Endpoint(base_url=r.base_url, api_key=r.api_key, headers=r.headers)
               for r in resolved], None
        return
    from pipeline.emulator import EmulatorConfig, EmulatorServer, Faults

    settings = cfg.provider.emulator
    ecfg = EmulatorConfig(
        api_key="inf-local-" + secrets.token_hex(16), speed=settings.speed,
        faults=Faults(**settings.faults.model_dump()), seed=settings.seed,
        usage=settings.usage, response_model=settings.response_model,
        accept_any_model=settings.accept_any_model,
        enforce_rate_limits=settings.enforce_rate_limits, rate_window_s=settings.rate_window_s,
        accuracy=settings.accuracy,
    )
    if emulator_overrides:  # tests; replace() validates like the constructor
        ecfg = dataclasses.replace(ecfg, **emulator_overrides)
    with EmulatorServer(ecfg, host="127.0.0.1", port=0) as server:
        key = server.config.api_key
        yield [Endpoint(base_url=server.base_url, api_key=key) for _ in cfg.models], server
