"""Fixtures shared by the emulator's test modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer

EMULATOR_KEY = "inf-test-key-emulator"


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Start an emulator with a config; yield an authenticated httpx client on it (its
    server at `client.server`); everything is stopped after the test."""
    stack: list[tuple[EmulatorServer, httpx.Client]] = []

    def start(**config: Any) -> httpx.Client:
        cfg = EmulatorConfig(**{"api_key": EMULATOR_KEY, "speed": 0, **config})
        server = EmulatorServer(cfg).start()
        client = httpx.Client(base_url=server.base_url, timeout=30,
                              headers={"Authorization": f"Bearer {EMULATOR_KEY}"})
        client.server = server  # type: ignore[attr-defined]
        stack.append((server, client))
        return client

    yield start
    for server, client in stack:
        client.close()
        server.stop()
