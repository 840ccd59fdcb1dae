"""The fan-out: send every planned item not done yet, each model within its own limits, journal
each result as it lands, then finalize.

A dispatcher reads the plan's stream (in its representative, paired order) into one small
queue per model; each model's sender starts requests while its gate (`limits.ModelGate`:
rates, 429 pauses, adaptive concurrency), the run's concurrency and the budget allow. The
queues hold at most a bounded lookahead, so memory does not grow with the run, and a model
that is paused does not hold up another one for longer than that lookahead.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from pipeline import startup
from pipeline.catalog import CATALOG
from pipeline.client import AttemptReport, ChatClient, ChatError, Endpoint, RetryPolicy
from pipeline.config import Config, LoadedConfig
from pipeline.errors import PipelineError, RunError, error_text
from pipeline.journal import Journal, spent_of
from pipeline.limits import (
    Budget,
    BudgetExhausted,
    GateClosed,
    ModelGate,
    PausedTooLong,
    Reservation,
)
from pipeline.plan import Plan
from pipeline.preflight import check_config, context_problem, resolve_endpoints
from pipeline.pricing import Rate, rate_for, worst_case_cost
from pipeline.providers import identity, open_endpoints
from pipeline.records import error_record, internal_error_record, local_error_record, ok_record
from pipeline.results import ROWS, RowFeeder, RowWriter, warm_up
from pipeline.resume import (
    check_endpoints,
    choose_folder,
    fingerprint,
    load_index,
    pending,
    price_changes,
    prices,
    request_config,
)
from pipeline.runfolder import (
    MANIFEST,
    RunLock,
    now_iso,
    read_manifest,
    versions,
    versions_soon,
    write_json,
)
from pipeline.store import announce, attach, open_store, syncing
from pipeline.tokens import estimate_prompt
from pipeline.work import WorkItem

if TYPE_CHECKING:
    import httpx  # only a type here: the default HTTP backend never imports it
    import polars as pl

    from pipeline.shards import Shard

DRAIN_S = 25.0  # after a stop signal, in-flight requests get this long (Heroku kills at 30 s)
SIGNAL_WINDOW_S = 1.0  # signals this close together are one (a group and its process)
FATAL_KINDS = frozenset({"auth", "not_found"})  # every later request would fail the same way
# A 403 can be one request's content (a WAF block) or no access to the model at all; this
# many in a row from one model means the latter.
MAX_REFUSED = 5
# A model whose first answers are all 400s has a setup problem (a mistyped id, a setting the
# endpoint refuses): stop before paying for the rest of the run's time.
FIRST_400S = 10
EXPECTED_COMPLETION = 256  # tokens assumed for an answer before any came back (TPM pacing)


@dataclass(slots=True)
class RunOptions:
    """How to run: which folder, and hooks the CLI and tests set."""

    run_id: str | None = None
    resume: bool = False
    progress: bool | None = None  # None: a bar on a terminal, else a line every interval
    progress_interval_s: float = 10.0  # off a terminal: seconds between progress lines
    quiet: bool = False  # no progress at all
    verbose: bool = False  # a line per failed item; per-model counts in progress lines
    env: Mapping[str, str] | None = None
    transport: httpx.AsyncBaseTransport | None = None  # tests: httpx.MockTransport
    sleep: Callable[[float], Any] | None = None  # tests: zero backoff between retries
    on_record: Callable[[dict[str, Any]], None] | None = None
    handle_signals: bool = False  # the CLI: first Ctrl-C/SIGTERM drains, second aborts
    emulator_overrides: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None  # --baseline: "latest" or a run folder to compare with
    shard: tuple[int, int] | None = None  # --shard K/N: only shard K of N (pipeline/shards.py)


@dataclass(slots=True)
class RunOutcome:
    """What a finished (or stopped) run did and where its files are; figures describe the
    whole run folder, not only this invocation."""

    run_id: str
    folder: Path
    status: str  # complete | complete_with_errors | incomplete | interrupted | aborted |
    #              budget_exhausted | failed
    planned: int
    skipped: int  # already done in an earlier invocation of this run
    sent: int  # items finished by this invocation
    errors: int  # of those, errors
    files: list[Path]
    reason: str | None = None
    emulator_stats: dict[str, Any] | None = None
    pending: int = 0  # planned items with no final record in the run folder
    failed_items: int = 0  # planned items that ended in a permanent error
    error_rate: float = 0.0  # failed_items / planned
    max_error_rate: float = 0.0
    warnings: list[str] = field(default_factory=list)
    baseline: pl.DataFrame | None = None  # the comparison with --baseline's run, if any
    store_url: str | None = None  # output_dir = "s3://...": where the run folder is stored
    judged: int = 0  # judge requests finished by this invocation
    judge_pending: int = 0  # answers in the run folder its judge has not judged yet


class Abandoned(Exception):
    """The run is stopping: this item gives up (it stays pending for a resume)."""


@dataclass(slots=True)
class _State:
    stopping: bool = False
    status: str = "complete"
    reason: str | None = None
    fatal: BaseException | None = None  # raised once every sender has stopped
    event: anyio.Event = field(default_factory=anyio.Event)
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    def stop(self, status: str, reason: str | None = None) -> None:
        if self.stopping:
            return
        self.stopping, self.status, self.reason = True, status, reason
        self.event.set()
        for wake in self.on_stop:
            wake()

    async def sleep(self, delay: float) -> None:
        """Sleep, or give up at once when the run stops."""
        if self.stopping:
            raise Abandoned
        if delay > 0:
            with anyio.move_on_after(delay):
                await self.event.wait()
            if self.stopping:
                raise Abandoned


class _Progress:
    """Counts, and what the user sees while a run goes on: a bar on a terminal; off a terminal
    (a scheduler's log) a plain line every `interval_s` seconds; nothing when quiet."""

    def __init__(self, total: int | None, done: int, opts: RunOptions,
                 label: str = "progress") -> None:
        self.label = label
        tty = sys.stderr.isatty()
        shown = not opts.quiet and opts.progress is not False
        self.mode = ("bar" if tty or opts.progress else "lines") if shown else "off"
        self.bar = _NoBar()
        if self.mode == "bar":
            from tqdm import tqdm  # only a terminal shows a bar: no import cost otherwise

            self.bar = tqdm(total=total, initial=done, unit="req", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.25,
                            desc=None if label == "progress" else label)
        self.total, self.initial = total, done  # total: None until the dataset is counted
        self.interval_s, self.verbose = opts.progress_interval_s, opts.verbose
        self.started = time.monotonic()
        self.sent = self.errors = 0
        self.cost = 0.0
        self.unpriced = 0  # answers whose model has no price: their cost is unknown, not 0
        self.by_model: dict[str, list[int]] = {}

    def update(self, rec: dict[str, Any]) -> None:
        self.sent += 1
        cost = rec.get("cost_usd")
        if cost is None and rec["status"] == "ok":
            self.unpriced += 1
        self.cost += cost or 0.0
        counts = self.by_model.setdefault(rec.get("model") or "?", [0, 0])
        counts[0] += 1
        if rec["status"] != "ok":
            self.errors += 1
            counts[1] += 1
            if self.verbose:
                print(f"error: {rec.get('model')} {rec.get('dataset')}/{rec.get('sample_id')} "
                      f"epoch {rec.get('epoch')}: "
                      f"{error_text(rec.get('error_type'), rec.get('error_message'))[:200]}",
                      file=sys.stderr, flush=True)
        if rec["status"] != "ok" or self.sent % 32 == 1:  # formatting costs: not every item
            self.bar.set_postfix_str(f"{self.spent()}, {self.errors} errors", refresh=False)
        self.bar.update(1)

    def spent(self) -> str:
        """What the requests of this invocation cost: unknown, never $0, where answers have
        no price."""
        if not self.unpriced:
            return f"${self.cost:.4f} spent now"
        if self.cost == 0:
            return "cost unknown (no price)"
        return f"at least ${self.cost:.4f} spent now ({self.unpriced} answers without a price)"

    def line(self, paused: list[str] | None = None) -> str:
        """One plain progress line: done/total, rate, errors, USD spent, ETA."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        done = self.initial + self.sent
        rate = self.sent / elapsed
        if self.total is None:  # still counted beside the sending (a second at most)
            text = (f"{self.label}: {done} items, {rate:.1f} items/s, {self.errors} errors, "
                    f"{self.spent()}")
        else:
            left = self.total - done
            eta = f"ETA {_duration(left / rate)}" if rate > 0 and left > 0 else (
                "ETA unknown" if left > 0 else "sending done")
            pct = 100 * done / self.total if self.total else 100.0
            text = (f"{self.label}: {done}/{self.total} items ({pct:.0f}%), {rate:.1f} "
                    f"items/s, {self.errors} errors, {self.spent()}, {eta}")
        if paused:
            text += f"; paused: {', '.join(paused)}"
        if self.verbose and self.by_model:
            text += "; " + ", ".join(f"{m} {n} done/{e} errors"
                                     for m, (n, e) in self.by_model.items())
        return text

    async def ticker(self, paused: Callable[[], list[str]]) -> None:
        """Print a line every interval until cancelled (the sending ended)."""
        while True:
            await anyio.sleep(self.interval_s)
            print(self.line(paused()), file=sys.stderr, flush=True)

    def set_total(self, total: int) -> None:
        """The number of items, once the dataset is counted."""
        self.total = total
        if self.mode == "bar":
            self.bar.total = total
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
        if self.mode == "lines":
            print(self.line(), file=sys.stderr, flush=True)


class _NoBar:
    """What _Progress calls on a bar, when there is none."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class _Hooks:
    """One item's AttemptHooks: its model's gate before each attempt, stop-aware backoff."""

    __slots__ = ("gate", "tokens", "state", "backoff", "reserved", "open", "attempts", "last")

    def __init__(self, gate: ModelGate, tokens: int, state: _State,
                 backoff: Callable[[float], Any] | None, *, admitted: int) -> None:
        self.gate, self.tokens, self.state, self.backoff = gate, tokens, state, backoff
        self.reserved = admitted  # the first attempt was admitted before it took a slot
        self.open = True  # an admitted attempt has not been reported back yet
        self.attempts = 0  # attempts reported back
        self.last: AttemptReport | None = None

    async def before_attempt(self, attempt: int) -> None:
        if attempt == 1:
            return
        if self.state.stopping:
            raise Abandoned
        try:
            self.reserved = await self.gate.admit(self.tokens, self.state.sleep)
        except GateClosed:
            raise Abandoned from None
        self.open = True

    def after_attempt(self, report: AttemptReport) -> None:
        self.gate.feedback(report, self.reserved)
        self.reserved, self.open = 0, False
        self.attempts += 1
        self.last = report

    def close(self) -> None:
        """The item ended: an attempt admitted but never reported frees its place."""
        if self.open:
            self.gate.cancel_attempt(self.reserved)
            self.reserved, self.open = 0, False

    async def wait_retry(self, delay_s: float) -> None:
        if self.backoff is not None:  # tests: no real backoff
            if self.state.stopping:
                raise Abandoned
            await self.backoff(delay_s)
            return
        await self.state.sleep(delay_s)


class _Sender:
    """Sends one invocation's pending items (see the module docstring)."""

    def __init__(self, cfg: Config, endpoints: list[Endpoint], journal: Journal,
                 progress: _Progress, budget: Budget, opts: RunOptions,
                 rows: RowFeeder | None = None) -> None:
        self.cfg, self.endpoints, self.journal, self.rows = cfg, endpoints, journal, rows
        self.progress, self.budget, self.opts = progress, budget, opts
        self.state = _State()
        n = len(cfg.models)
        conc = cfg.run.concurrency
        use_limits = cfg.run.rate_limits if cfg.run.rate_limits is not None else (
            cfg.provider.kind == "heroku")
        self.gates = []
        for m in cfg.models:
            facts = CATALOG.get(m.id)
            rpm = m.rpm or (facts.rpm if use_limits and facts else None)
            tpm = m.tpm or (facts.tpm if use_limits and facts else None)
            self.gates.append(ModelGate(m.name, concurrency=conc, rpm=rpm, tpm=tpm,
                                        max_pause_s=cfg.run.deadline_s))
        self.facts = [CATALOG.get(m.id) for m in cfg.models]
        self.rates: list[Rate | None] = [
            rate_for(m.id, (m.price.input, m.price.output) if m.price else None)
            for m in cfg.models
        ]
        self.queues: list[deque[WorkItem]] = [deque() for _ in range(n)]
        # Items read ahead of the senders: bounds memory and how far one model may run
        # ahead of another (a paused model holds the others up after this many).
        self.lookahead = max(2 * conc, 64)
        self.started = 0  # requests started
        self.buffered = 0
        self.space = anyio.Event()
        self.feeding = True
        self.in_flight = 0
        self.refused = [0] * n  # consecutive 403s per model
        self.answers = [0] * n  # finished items per model
        self.first_400s = [0] * n
        self.blocked: list[str | None] = [None] * n  # why a model sends nothing more
        self.first_sent = anyio.Event()
        self.state.on_stop += [self.close_gates, budget.wake, lambda: self.space.set(),
                               self.first_sent.set]

    def wake_all(self) -> None:
        for gate in self.gates:
            gate.wake()

    def close_gates(self) -> None:
        for gate in self.gates:
            gate.close()

    # -- the parts ---------------------------------------------------------------------------
    async def dispatch(self, items: Iterator[WorkItem]) -> None:
        """Feed pending items into the per-model queues, a bounded lookahead at most."""
        try:
            for item in items:
                if self.state.stopping:
                    return
                if self.blocked[item.model_index] is not None:
                    continue  # stays pending: its model may not send now
                problem = context_problem(item, self.facts[item.model_index])
                if problem is not None:  # the server would refuse it: record, don't send
                    self._finish(item, local_error_record(
                        item, self.cfg.models[item.model_index].id,
                        self.rates[item.model_index], "context_window", problem,
                        retryable=False))
                    continue
                while self.buffered >= self.lookahead and not self.state.stopping:
                    self.space = anyio.Event()
                    await self.space.wait()
                if self.state.stopping:
                    return
                self.queues[item.model_index].append(item)
                self.buffered += 1
                self.gates[item.model_index].wake()
                if self.buffered % 64 == 0:
                    await anyio.lowlevel.checkpoint()  # let senders start while we read
        finally:
            self.feeding = False
            self.wake_all()

    async def model_sender(self, mi: int) -> None:
        """Start model `mi`'s requests as its gate, the run's concurrency and budget allow.

        An item takes a run-wide slot only once its model's gate (rates, pauses) admitted it,
        so a model that must wait never holds slots another model could use; and the gate's
        admission is asked for last, so it is never held while waiting on a slot or the
        budget that an item in flight (whose retries need the gate) would free."""
        gate, queue = self.gates[mi], self.queues[mi]
        conc = self.cfg.run.concurrency
        async with anyio.create_task_group() as tg:
            while not self.state.stopping and self.blocked[mi] is None:
                if not queue:
                    if not self.feeding:
                        break
                    await gate.wait_slot()
                    continue
                if not gate.has_slot:
                    await gate.wait_slot()
                    continue
                if self.in_flight >= conc:
                    await gate.wait_slot()  # a run-wide slot frees: _release wakes every model
                    continue
                # The budget first, then the gate: an admission is never held while waiting
                # on anything an item in flight may need (its retries need the gate).
                head = queue[0]
                try:
                    reservation = await self.budget.reserve(
                        self._worst_cost(head), lambda: self.state.stopping)
                except BudgetExhausted as exc:
                    self.state.stop("budget_exhausted", str(exc))
                    break
                if reservation is None or self.state.stopping:
                    if reservation is not None:
                        self.budget.release(reservation)
                    break
                tokens = self._tokens(head, gate)
                try:
                    reserved = await gate.admit(tokens, self.state.sleep)
                except (Abandoned, GateClosed):
                    self.budget.release(reservation)
                    break
                except PausedTooLong as exc:
                    self.budget.release(reservation)
                    self.blocked[mi] = str(exc)
                    break
                if self.state.stopping or self.in_flight >= conc:
                    # another model took the last run-wide slot while this one waited
                    gate.cancel_attempt(reserved)
                    self.budget.release(reservation)
                    if self.state.stopping:
                        break
                    continue
                item = queue.popleft()
                self.buffered -= 1
                self.space.set()
                self.in_flight += 1
                gate.take()
                tg.start_soon(self._send, item, reservation, tokens, reserved)
                self.started += 1
                if self.started == 1:  # the first request is out: load the tables' library
                    self.first_sent.set()
                    warm_up()
                    versions_soon()
                if self.started <= conc:
                    # The first wave: each request leaves before the next is set up (an
                    # admission does not yield, limits.ModelGate; 63 requests set up before
                    # the first leaves cost it ~40 ms). Later, a request starts as one ends.
                    await anyio.lowlevel.checkpoint()
            if self.blocked[mi] is not None:  # its queued items stay pending
                self.buffered -= len(queue)
                queue.clear()
                self.space.set()

    def _release(self, gate: ModelGate) -> None:
        self.in_flight -= 1
        gate.give()
        if self.in_flight == self.cfg.run.concurrency - 1:
            self.wake_all()  # a run-wide slot freed: any model may start

    def _worst_cost(self, item: WorkItem) -> float:
        """The most this request can cost: every prompt byte a token, the whole max_tokens."""
        if self.budget.limit is None:
            return 0.0
        rate = self.rates[item.model_index]
        if rate is None:
            return 0.0
        return worst_case_cost(item.body, rate, self.facts[item.model_index])

    def _tokens(self, item: WorkItem, gate: ModelGate) -> int:
        if gate.tokens is None:
            return 0
        body = item.body
        out = body.get("max_tokens") or EXPECTED_COMPLETION
        return estimate_prompt(body["messages"], body.get("tools")) + min(out,
                                                                          EXPECTED_COMPLETION)

    async def _send(self, item: WorkItem, reservation: Reservation, tokens: int,
                    reserved: int) -> None:
        mi = item.model_index
        gate, model, rate = self.gates[mi], self.cfg.models[mi], self.rates[mi]
        hooks = _Hooks(gate, tokens, self.state, self.opts.sleep, admitted=reserved)
        started = time.time()
        rec: dict[str, Any] | None = None
        try:
            try:
                c = await self.client.complete(self.endpoints[mi], item.body, hooks=hooks)
                rec = ok_record(item, model.id, rate, started, c, bound_usd=reservation.amount)
                self.refused[mi] = 0
                self.answers[mi] += 1
            except Abandoned:  # the run stops while this item waits to retry: it stays pending
                rec = self._given_up(item, hooks, "stopped", "the run stopped while it waited "
                                     "to retry")
            except PausedTooLong as exc:  # the item stays pending; so do the model's others
                rec = self._given_up(item, hooks, "paused", str(exc))
                self.blocked[mi] = str(exc)
                gate.wake()
            except ChatError as exc:
                rec = error_record(item, model.id, rate, started, exc)
                self._check_fatal(mi, exc)
            except Exception as exc:  # a bug on our side: keep the run and the data
                rec = internal_error_record(item, model.id, started, exc)
            if rec is not None:
                self.budget.settle(reservation, spent_of(rec))
                self._finish(item, rec)
            else:
                self.budget.release(reservation)
        except BaseException:
            if rec is None:
                self.budget.release(reservation)
            raise
        finally:
            hooks.close()
            self._release(gate)

    def _given_up(self, item: WorkItem, hooks: _Hooks, kind: str, why: str
                  ) -> dict[str, Any] | None:
        """The record of an item given up after attempts were sent (they stay accounted for
        in the journal; the item stays pending), or None when none was sent."""
        if hooks.attempts == 0:
            return None
        last = hooks.last
        if last is not None and last.kind:
            why += f" (last attempt: {last.kind}" + (
                f", HTTP {last.http_status})" if last.http_status else ")")
        mi = item.model_index
        rec = local_error_record(item, self.cfg.models[mi].id, self.rates[mi], kind, why,
                                 retryable=True)
        rec.update(attempts=hooks.attempts,
                   http_status=last.http_status if last is not None else None)
        return rec

    def _finish(self, item: WorkItem, rec: dict[str, Any]) -> None:
        try:
            offset = self.journal.append(rec)
            if self.rows is not None:  # scored as it lands; parts flushed every few thousand
                self.rows.add(rec, offset)
        except (RunError, OSError) as exc:  # e.g. disk full: stop everyone, report it once
            exc = exc if isinstance(exc, RunError) else RunError(f"cannot write result rows "
                                                                 f"({exc})")
            self.state.fatal = self.state.fatal or exc
            self.state.stop("failed", str(exc))
            return
        self.progress.update(rec)
        if self.opts.on_record is not None:
            self.opts.on_record(rec)

    def _check_fatal(self, mi: int, exc: ChatError) -> None:
        model = self.cfg.models[mi]
        self.answers[mi] += 1
        self.refused[mi] = self.refused[mi] + 1 if exc.kind == "forbidden" else 0
        if exc.kind == "bad_request" and self.first_400s[mi] == self.answers[mi] - 1:
            self.first_400s[mi] += 1
        if exc.kind in FATAL_KINDS or self.refused[mi] >= MAX_REFUSED:
            self.state.stop("failed", f"{model.name}: the endpoint answered "
                            f"{exc.http_status} ({exc.kind}): {exc}")
        elif self.first_400s[mi] >= FIRST_400S:
            self.state.stop("failed", f"{model.name}: its first {FIRST_400S} requests were all "
                            f"refused with HTTP 400 (last: {exc}); check the model id and its "
                            "generation settings")

    async def check(self, chunks: Iterator[None]) -> None:
        """Validate the datasets beside the sending (large datasets: see run_async); a bad
        row stops the run at once, with what was paid for kept. It starts once the first
        request is out and yields the loop for twice as long as each chunk took, so the
        sending keeps most of the CPU (a million rows take a few minutes, not the start)."""
        await self.first_sent.wait()
        try:
            while not self.state.stopping:
                started = time.perf_counter()
                if next(chunks, StopIteration) is StopIteration:
                    return
                await anyio.sleep(CHECK_YIELD * (time.perf_counter() - started))
        except PipelineError as exc:
            self.state.fatal = self.state.fatal or exc
            self.state.stop("failed", str(exc))

    async def run(self, items: Iterator[WorkItem], check: Iterator[None] | None = None
                  ) -> _State:
        """Send every item unless stopped; returns how the sending ended."""
        retry = RetryPolicy(
            max_attempts=self.cfg.run.max_attempts,
            attempt_timeout_s=self.cfg.run.attempt_timeout_s,
            deadline_s=self.cfg.run.deadline_s,
        )
        kwargs: dict[str, Any] = {"retry": retry, "http_backend": self.cfg.provider.http_backend,
                                  "max_connections": self.cfg.run.concurrency}
        if self.opts.transport is not None:
            kwargs["transport"] = self.opts.transport
        async with ChatClient(**kwargs) as client:
            self.client = client
            async with anyio.create_task_group() as outer:
                if self.opts.handle_signals:
                    outer.start_soon(_watch_signals, self.state, outer.cancel_scope)
                if self.progress.mode == "lines":
                    outer.start_soon(self.progress.ticker, self.paused)
                if check is not None:
                    outer.start_soon(self.check, check)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.dispatch, items)
                    for mi in range(len(self.cfg.models)):
                        tg.start_soon(self.model_sender, mi)
                outer.cancel_scope.cancel()
        if self.state.fatal is not None:
            raise self.state.fatal
        return self.state

    def paused(self) -> list[str]:
        """Models whose gate is paused by a 429 right now (for progress lines)."""
        now = time.monotonic()
        return [f"{g.name} for {g.pause_until - now:.0f}s" for g in self.gates
                if g.pause_until > now]

    def notes(self) -> str | None:
        """Why some models stopped sending while the run went on, if any did."""
        blocked = [b for b in self.blocked if b]
        return "; ".join(blocked) if blocked else None

    def rate_limits(self) -> dict[str, Any]:
        """Each model's rate-limit trace, for the manifest."""
        return {g.name: g.snapshot() for g in self.gates}


async def _watch_signals(state: _State, scope: anyio.CancelScope) -> None:
    """First SIGINT/SIGTERM: start nothing new, give up items waiting to retry, and let
    requests in flight finish for up to DRAIN_S. A second signal (more than SIGNAL_WINDOW_S
    after the first: `timeout -s INT` reaches a process and its group at once), or the end of
    the drain time, cancels what is left."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            state.stop("interrupted")
            print(f"\nstopping: finishing requests in flight (up to {DRAIN_S:.0f}s; "
                  "Ctrl-C again to abort)", file=sys.stderr)
            break
        first = time.monotonic()
        with anyio.move_on_after(DRAIN_S):
            async for _ in signals:
                if time.monotonic() - first > SIGNAL_WINDOW_S:
                    break
        state.status = "aborted"
        scope.cancel()


CHECK_FIRST_ROWS = 1_000  # datasets up to this many rows are checked whole before sending
CHECK_YIELD = 2.0  # the check beside the sending waits this many times each chunk's time


async def run_async(loaded: LoadedConfig, opts: RunOptions | None = None) -> RunOutcome:
    """Run (or resume) a config end to end and write its results and reports."""
    opts = opts or RunOptions()
    shard: Shard | None = None
    if opts.shard is not None:  # the shard's share of the run's limits
        from pipeline.shards import Shard, shard_loaded, shard_manifest, start_run

        shard = Shard(*opts.shard)
        loaded = shard_loaded(loaded, shard)
    cfg = loaded.config
    source = str(loaded.path)
    plan = Plan(loaded, shard=opts.shard)
    # Counts and checksums, no row parsed yet. Of one large JSONL file only the first rows are
    # counted here: the rest of the file is counted and hashed beside the sending (0.1-0.2 s
    # for a million rows), unless the run folder holds a run to resume (below).
    infos = plan.describe(defer_after=CHECK_FIRST_ROWS)
    # Small datasets are checked row by row before anything is sent; large ones beside the
    # sending (a bad row stops the run within seconds), so the first request never waits
    # for a million rows to be read.
    check = plan.check_rows()
    if not plan.deferred and sum(i["samples"] for i in infos) <= CHECK_FIRST_ROWS:
        for _ in check:
            pass
        check = None
    findings = check_config(plan, source)
    resolved, env_problems = resolve_endpoints(cfg, opts.env, source)
    findings.problems[:0] = env_problems
    judge_resolved = None
    if plan.scorers.judge_ids:  # an LLM judge: its endpoints are checked before sending too
        from pipeline.judging import check_judges

        judge_resolved, judge_problems = check_judges(cfg, opts.env, source)
        findings.problems += judge_problems
    findings.raise_if_any()
    endpoint_ids = identity(cfg, resolved)
    store = open_store(cfg.output_dir, opts.env)  # None for a local folder
    run_id, folder = choose_folder(cfg, opts.run_id, opts.resume, store, shard)
    if (folder / "journal.jsonl").exists():
        warm_up()  # a resume reads its index with polars: load it beside the checks below
    if shard is not None:
        start_run(folder.parent.parent, run_id, loaded, shard.count)
    baseline = _resolve_baseline(opts.baseline, plan, run_id, folder, store)

    with RunLock(folder):
        syncer = await attach(store, run_id)  # a stored run's working copy, restored first
        previous = read_manifest(folder)
        check_endpoints(folder, previous, cfg, endpoint_ids)
        rest = plan.described()  # what describe() left of the dataset file, if anything
        if (folder / "journal.jsonl").exists() or (folder / ROWS).exists():
            for _ in rest:  # a resume decides with the dataset's checksum: read it whole now
                pass
        req_cfg = request_config(plan, infos)
        index = load_index(folder, previous, plan, req_cfg, run_id)
        skipped = index.done
        # Plan positions identify items while every record was made by today's requests.
        positions_valid = index.keys is None
        price_now = prices(cfg)
        findings.warnings += price_changes(previous, price_now)
        budget = Budget(cfg.run.max_cost_usd, index.spent_usd + _judge_spent(folder, plan))
        manifest: dict[str, Any] = {
            "run_id": run_id, "name": cfg.name, "status": "running",
            "created_at": (previous or {}).get("created_at", now_iso()), "updated_at": now_iso(),
            "config_path": source, "config": loaded.raw,
            # None while the dataset's checksum is read beside the sending (then filled in)
            "request_config": None if plan.deferred else req_cfg,
            "request_fingerprint": None if plan.deferred else fingerprint(req_cfg),
            "provider": cfg.provider.kind, "endpoints": endpoint_ids,
            "datasets": infos,
            "models": [{"name": m.name, "id": m.id} for m in cfg.models],
            "prices": price_now, "positions_valid": positions_valid,
            "versions": None,  # read beside the sending, written after it (runfolder.versions)
            "invocations": (previous or {}).get("invocations", 0) + 1,
        }
        if shard is not None:
            manifest.update(shard_manifest(cfg, shard))
        write_json(folder / MANIFEST, _known(manifest))
        await announce(syncer)
        progress = _Progress(None if plan.deferred else plan.total, skipped, opts)

        def beside() -> Iterator[None]:
            """The rest of the dataset file (a block per step of the check beside the
            sending), then the manifest's checksum, request config and fingerprint."""
            yield from rest
            if manifest["request_config"] is None:
                req = request_config(plan, infos)
                manifest.update(request_config=req, request_fingerprint=fingerprint(req))
                write_json(folder / MANIFEST, _known(manifest))
                progress.set_total(plan.total)

        described = beside()
        if plan.deferred:
            check = chain(described, check or ())
        emulator_stats = None
        rate_limits: dict[str, Any] = {}
        judged = 0
        try:
            with open_endpoints(cfg, resolved, opts.emulator_overrides) as (endpoints, server):
                sender = None
                try:
                    with Journal(folder) as journal:
                        rows = RowFeeder(RowWriter(folder, run_id, plan.scorers))
                        sender = _Sender(cfg, endpoints, journal, progress, budget, opts, rows)
                        startup.resume()  # the garbage collector, if the command paused it
                        try:
                            async with syncing(syncer, cfg.run.sync_interval_s):
                                state = await sender.run(pending(plan, index), check)
                        except BaseException:
                            rows.abandon()  # the journal has it all: finalize catches up
                            raise
                        rows.close()
                finally:
                    progress.close()
                    if sender is not None:
                        rate_limits = sender.rate_limits()
                if not state.stopping and plan.scorers.judge_ids:
                    async with syncing(syncer, cfg.run.sync_interval_s):
                        judging = await _judge_phase(
                            folder, plan, endpoints, judge_resolved, budget, opts,
                            restrict=not positions_valid,
                            shards=shard.count if shard is not None else 1)
                    if judging is not None:
                        state, judged = judging
                if server is not None:
                    emulator_stats = server.stats.snapshot()
            for _ in described:  # what the sending left of it
                pass
            manifest.update(rate_limits=rate_limits, versions=versions())
            reason = state.reason or (sender.notes() if sender is not None else None)
            from pipeline.finalize import finalize  # polars: loaded while sending (warm_up)

            result = finalize(folder, plan, run_id, manifest, state.status, reason=reason,
                              infos=infos, baseline=baseline, restrict=not positions_valid)
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            manifest["versions"] = manifest["versions"] or versions()
            try:  # the checksum, so a resume can compare it; unless the file can't be read
                for _ in described:
                    pass
            except PipelineError:
                pass
            failed = {**manifest, "status": "interrupted" if cancelled else "failed",
                      "updated_at": now_iso(), "rate_limits": rate_limits}
            if not cancelled:
                failed["error"] = str(_single(exc))[:500]
            write_json(folder / MANIFEST, _known(failed))
            if syncer is not None:
                await syncer.push_quietly()
            if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                raise _single(exc) from None
            raise
        if syncer is not None:
            await syncer.push_final()
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return RunOutcome(
        run_id, folder, result.status, plan.total, skipped, progress.sent, progress.errors,
        files, reason, emulator_stats, pending=result.pending,
        failed_items=result.failed, error_rate=result.error_rate,
        max_error_rate=cfg.run.max_error_rate, warnings=findings.warnings + result.warnings
        + (syncer.warnings if syncer is not None else []),
        baseline=result.baseline,
        store_url=syncer.url if syncer is not None else None,
        judged=judged, judge_pending=result.judge_pending,
    )


def _judge_spent(folder: Path, plan: Plan) -> float:
    """What the run folder's judge requests spent so far (0 without a judge)."""
    if not plan.scorers.judge_ids:
        return 0.0
    from pipeline.judging import Verdicts

    return Verdicts(folder, plan.scorers.judge_ids).spent_usd


async def _judge_phase(folder: Path, plan: Plan, run_endpoints: list[Endpoint],
                       resolved: Any, budget: Budget, opts: RunOptions, *,
                       restrict: bool = False, shards: int = 1
                       ) -> tuple[_State, int] | None:
    """Send the judge requests the run's answers still need (pipeline.judging) through a
    sender of the judge models, journaled in judge.jsonl; returns how that ended and the
    requests finished (None when there was nothing to send)."""
    from dataclasses import replace

    from pipeline.judging import (
        JUDGE_JOURNAL,
        Verdicts,
        count_pending,
        judge_config,
        judge_endpoints,
    )
    from pipeline.judging import (
        pending as pending_judgments,
    )

    jcfg = judge_config(plan.loaded.config)
    assert jcfg is not None
    if shards > 1:
        from pipeline.shards import judge_share

        jcfg = judge_share(plan.loaded.config, jcfg, shards)
    verdicts = Verdicts(folder, plan.scorers.judge_ids)
    allowed = None
    if restrict:  # the plan's requests changed: judge only the answers it makes
        from pipeline.records import key_digest

        allowed = {key_digest(i.key) for i in plan.items() if i.judged}
    total = count_pending(folder, plan.scorers, verdicts, jcfg.models, allowed)
    if total == 0:
        return None
    jopts = replace(opts, on_record=None)
    progress = _Progress(total, 0, jopts, label="judging")
    endpoints = judge_endpoints(resolved, run_endpoints, len(jcfg.models))
    unprompted = [0]
    try:
        with Journal(folder, name=JUDGE_JOURNAL) as journal:
            sender = _Sender(jcfg, endpoints, journal, progress, budget, jopts)
            state = await sender.run(pending_judgments(folder, plan.scorers, verdicts,
                                                       jcfg.models, allowed, unprompted))
    finally:
        progress.close()
        verdicts.close()
    if unprompted[0]:
        print(f"warning: {unprompted[0]} answers were not judged: the journal holds no prompt "
              "for their sample yet (its first request, epoch 1 of the first model, is not "
              "answered); resume the run, then `pipeline score`", file=sys.stderr)
    return state, progress.sent


def _resolve_baseline(spec: str | None, plan: Plan, run_id: str, folder: Path,
                      store: Any = None) -> Path | None:
    """The --baseline run folder, checked before anything is sent (compare.resolve_baseline:
    with an s3:// output_dir it is looked up in the store and fetched)."""
    if spec is None:
        return None
    from pipeline.compare import check_overlap, resolve_baseline

    cfg = plan.loaded.config
    created = (read_manifest(folder) or {}).get("created_at")  # a resumed run: earlier ones
    path = resolve_baseline(spec, store if store is not None else Path(cfg.output_dir),
                            name=cfg.name, run_id=run_id, created_at=created)
    check_overlap(path, [d.name for d in plan.datasets], [m.name for m in cfg.models])
    return path


# Manifest keys whose values come later than the first manifest: the library versions once
# the sending is over (runfolder.versions, read beside it), the request config and its
# fingerprint once the dataset's checksum is read (run_async). A manifest without them makes
# a resume compare every planned key with the journal (resume.load_index): safe, only slower.
_LATER = ("request_config", "request_fingerprint", "versions")


def _known(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without the keys still waiting for their values."""
    return {k: v for k, v in manifest.items() if v is not None or k not in _LATER}


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run(loaded: LoadedConfig, opts: RunOptions | None = None) -> RunOutcome:
    """Synchronous entry point for the CLI."""
    return anyio.run(run_async, loaded, opts)
