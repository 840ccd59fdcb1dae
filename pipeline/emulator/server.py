"""Run the emulator: in a background thread (tests, benchmarks) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Iterable
from types import TracebackType

from aiohttp import web

from .app import EmulatorState, make_app
from .config import EmulatorConfig, Faults
from .stats import EmulatorStats

_START_TIMEOUT_S = 10.0


def _runner(app: web.Application, config: EmulatorConfig) -> web.AppRunner:
    return web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=config.shutdown_timeout_s,
    )


class EmulatorServer:
    """The emulator on its own event loop in a daemon thread; a context manager."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.state = EmulatorState(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no /v1)."""
        if self._thread is None:
            raise RuntimeError("EmulatorServer is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> EmulatorStats:
        """The live counters."""
        return self.state.stats

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault knobs at runtime."""
        self.state.set_faults(faults)

    def script(self, outcomes: Iterable[str]) -> None:
        """The next chat requests get these outcomes in order, then the knobs apply again."""
        self.state.script(outcomes)

    def reset(self) -> None:
        """Zero the counters, clear the script and restore the configured faults."""
        self.state.reset()

    def start(self) -> EmulatorServer:
        """Bind and serve in a daemon thread; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("EmulatorServer is already running")
        self._ready.clear()
        self._error = None
        thread = threading.Thread(target=self._run, name="heroku-emulator", daemon=True)
        self._thread = thread
        thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("the emulator did not start in time")
        if self._error is not None:
            thread.join()
            self._thread = None
            raise RuntimeError(f"the emulator failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Stop serving, cancel in-flight answers after the shutdown timeout, join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.config.shutdown_timeout_s + 10.0)
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # report any bind error to start()
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
        finally:
            _cancel_pending(loop)
            loop.close()

    async def _startup(self) -> None:
        runner = _runner(make_app(self.config, state=self.state), self.config)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = int(runner.addresses[0][1])


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def serve_forever(config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM; prints one line with the URL."""
    try:
        asyncio.run(_serve(config, host, port))
    except KeyboardInterrupt:
        pass


async def _serve(config: EmulatorConfig, host: str, port: int) -> None:
    runner = _runner(make_app(config), config)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        auth = "fixed key" if config.api_key else "any bearer token"
        print(
            f"Heroku emulator listening on http://{host}:{bound} "
            f"(speed={config.speed:g}, auth={auth}; Ctrl-C stops)",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):  # not main thread / Windows
                pass
        await stop.wait()
    finally:
        await runner.cleanup()
        print("Heroku emulator stopped", file=sys.stderr, flush=True)
