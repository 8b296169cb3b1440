"""The watch loop: due accounts get an inventory, a snapshot and events; deliverers run beside.

Why it is shaped like this:

* the inventories run in an ``Engine`` (flows/watch/engine.py): in this process, one browser
  for every account and one context per account kept open between cycles so sessions are
  reused — or on workers; at most ``parallel`` inventories at once — the one bound of the
  watcher, here. Diffing, the store and the outbox stay here whatever the engine;
* an account's failure (a refused password, a cabinet that is down, a drift stop) is an
  ``vats.account.failed`` event and one log line; its client is closed and opened afresh next
  time, and the watch goes on;
* each account keeps its own schedule: the next cycle is due one interval after the previous
  one was due (not after it finished), so the schedule drifts by no more than one cycle's work,
  and a cycle that overran skips the slots it missed instead of running twice;
* structured concurrency: cycles run in a task group that a stop (SIGTERM) cancels as a whole;
  an inventory holds no write, and a cycle's writes are one SQLite transaction, so stopping
  never leaves half a cycle. The deliverers run in the outer group and stop after their current
  send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flows.watch.config import AccountEntry
from flows.watch.deliver import Deliverer
from flows.watch.engine import AccountInventory, Engine, LocalEngine, describe
from flows.watch.events import (
    ACCOUNT_FAILED,
    ACCOUNT_RECOVERED,
    Change,
    cloud_event,
    diff,
    merge_unread,
)
from flows.watch.metrics import WatchMetrics
from flows.watch.store import Cycle, Store, StoredEvent, now_iso
from scraper.browser.host import BrowserHost
from scraper.browser.redact import Redactor
from scraper.errors import VatsError
from scraper.settings import AccountSettings

log = logging.getLogger(__name__)

#: how often the scheduler wakes without anything due (heartbeat for /healthz)
TICK_S = 5.0
#: an account whose next cycle is further off than this gives its browser context back between
#: cycles (its saved session makes the next one log in no more); a closer one keeps it open:
#: reopening costs a context, the app's start and a UI walk (bench/watch.py: ~270 MB of
#: renderers for 10 accounts held open)
KEEP_OPEN_S = 120.0
#: how often a waiting --once still beats the /healthz heartbeat
HEARTBEAT_S = 1.0


class _Stopping(Exception):
    """Raised inside the cycles' task group to cancel every cycle in flight at once."""


@dataclass
class AccountRun:
    """What the watcher keeps of one account between cycles."""

    entry: AccountEntry
    due: float = 0.0  # time.monotonic() of the next cycle
    running: bool = False
    last: Cycle | None = None


@dataclass
class WatchReport:
    """What a watch did: each account's last cycle, the events by type, what is undelivered."""

    cycles: dict[str, Cycle] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)
    emitted: Counter[str] = field(default_factory=Counter)  # events per account
    pending: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [name for name, cycle in self.cycles.items() if cycle.outcome == "failed"]


class Watcher:
    """Runs the accounts of an accounts file against one store and its sinks' deliverers."""

    def __init__(self, accounts: list[AccountEntry], store: Store, deliverers: list[Deliverer], *,
                 engine: Engine | None = None,
                 settings_for: Callable[[AccountEntry], AccountSettings] | None = None,
                 host: BrowserHost | None = None, parallel: int = 2,
                 metrics: WatchMetrics | None = None, redactor: Redactor | None = None) -> None:
        """``engine`` runs the inventories; without one, a ``LocalEngine`` on ``host`` (or a
        browser of its own) with ``settings_for`` each account."""
        self.runs = [AccountRun(entry) for entry in accounts]
        self.store = store
        self.deliverers = deliverers
        self.redactor = redactor or Redactor()
        if engine is None:
            if settings_for is None:
                raise TypeError("give an engine, or settings_for for the local one")
            engine = LocalEngine(host or BrowserHost(), settings_for, self.redactor)
        self.engine = engine
        self.slots = asyncio.Semaphore(parallel)
        self.metrics = metrics or WatchMetrics()
        self.report = WatchReport()
        self.once = False
        #: set when a cycle ends or a deliverer stops: --once waits on it, not on a clock
        self._progress = asyncio.Event()

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None,
                  deliver_timeout: float = 30.0) -> WatchReport:
        """Watch until ``stop`` — or, with ``once``, one cycle of every account and the delivery
        of its events (at most ``deliver_timeout`` seconds; what is left stays pending)."""
        stop = stop or asyncio.Event()
        delivering = asyncio.Event()
        self.once = once
        try:
            await self._run(stop, delivering, once=once, deliver_timeout=deliver_timeout)
        except BaseExceptionGroup as group:
            raise _sole(group) from None
        finally:
            self.report.pending = {name: count for name, (count, _)
                                   in self.store.pending_counts().items()}
        return self.report

    async def _run(self, stop: asyncio.Event, delivering: asyncio.Event, *, once: bool,
                   deliver_timeout: float) -> None:
        async with self.engine, asyncio.TaskGroup() as group:
            for deliverer in self.deliverers:
                task = group.create_task(deliverer.run(delivering))
                task.add_done_callback(lambda _: self._progress.set())
            try:
                await self._cycles(stop, once=once)
                if once and not stop.is_set():
                    await self._drain(stop, deliver_timeout)
            finally:
                delivering.set()
                self._notify()

    # -- scheduling -------------------------------------------------------------------------

    async def _cycles(self, stop: asyncio.Event, *, once: bool) -> None:
        try:
            async with asyncio.TaskGroup() as cycles:
                if once:
                    for run in self.runs:
                        cycles.create_task(self._cycle(run))
                    cycles.create_task(self._stop_on(stop))
                    await self._until_done(stop)
                else:
                    await self._schedule(cycles, stop)
                raise _Stopping
        except* _Stopping:
            pass

    async def _until_done(self, stop: asyncio.Event) -> None:
        """--once: return when every account's cycle ended, or at once on stop."""
        while not stop.is_set() and (any(r.running for r in self.runs)
                                     or any(r.last is None for r in self.runs)):
            self.metrics.heartbeat()
            await self._await_progress(stop, HEARTBEAT_S)

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        raise _Stopping

    async def _schedule(self, cycles: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        start = time.monotonic()
        for run in self.runs:
            run.due = start
        while not stop.is_set():
            self.metrics.heartbeat()
            now = time.monotonic()
            for run in self.runs:
                if not run.running and run.due <= now:
                    run.running = True
                    cycles.create_task(self._cycle(run))
            waiting = [r.due for r in self.runs if not r.running]
            await _wait(stop, min([TICK_S, *(d - now for d in waiting)]))

    # -- one account --------------------------------------------------------------------------

    async def _cycle(self, run: AccountRun) -> None:
        run.running = True
        name = run.entry.name
        try:
            async with self.slots:
                started, clock = now_iso(), time.monotonic()
                self.metrics.cycle_started(name)
                log.info("reading account", extra={"account": name})
                try:
                    inventory = await self.engine.inventory(run.entry)
                except Exception as exc:  # noqa: BLE001 - any failure of one account is its event
                    await self.engine.forget(run.entry)
                    cycle, events = self._record_failure(run, started, exc)
                else:
                    cycle, events = self._record_snapshot(run, started, inventory)
                self._finished(run, cycle, events, time.monotonic() - clock)
                if self.once or run.entry.every.total_seconds() > KEEP_OPEN_S:
                    await self.engine.release(run.entry)
        finally:
            run.running = False
            run.due = next_due(run.due, run.entry.every.total_seconds(), time.monotonic())
            self._progress.set()

    def _record_snapshot(self, run: AccountRun, started: str,
                         inventory: AccountInventory) -> tuple[Cycle, list[StoredEvent]]:
        name = run.entry.name
        previous = self.store.last_cycle(name, with_states=True)
        before = self.store.states(previous) if previous is not None else None
        read = {trunk.phone: trunk for trunk in inventory.trunks}
        unread = inventory.unread
        states = merge_unread(before, read, unread)
        changes = diff(before, states, unread)
        when = datetime.now(UTC)

        def events(seq: int, last: Cycle | None) -> list[dict[str, Any]]:
            found = list(changes)
            if last is not None and last.outcome == "failed":
                found.insert(0, Change(ACCOUNT_RECOVERED, None, None, None,
                                       detail={"failed_since": _failed_since(self.store, name)}))
            return [cloud_event(c, account=name, snapshot=seq, time=when, key=self.store.key)
                    for c in found]

        return self.store.record_cycle(
            name, started=started, outcome="partial" if unread else "ok", states=states,
            unread=unread, events=events, sinks=self._sink_names())

    def _record_failure(self, run: AccountRun, started: str,
                        exc: Exception) -> tuple[Cycle, list[StoredEvent]]:
        name = run.entry.name
        kind, description = describe(exc)
        message = self.redactor.text(description)
        if not isinstance(exc, VatsError):
            log.error("unexpected failure of an account", exc_info=exc, extra={"account": name})
        when = datetime.now(UTC)

        def events(seq: int, last: Cycle | None) -> list[dict[str, Any]]:
            if last is not None and last.outcome == "failed":
                return []  # said once, when it started failing
            change = Change(ACCOUNT_FAILED, None, None, None,
                            detail={"error": {"kind": kind, "message": message}})
            return [cloud_event(change, account=name, snapshot=seq, time=when, key=self.store.key)]

        return self.store.record_cycle(name, started=started, outcome="failed",
                                       error=(kind, message), events=events,
                                       sinks=self._sink_names())

    def _finished(self, run: AccountRun, cycle: Cycle, events: list[StoredEvent],
                  seconds: float) -> None:
        run.last = cycle
        self.report.cycles[cycle.account] = cycle
        types = [event.type for event in events]
        self.report.events.update(types)
        self.report.emitted[cycle.account] += len(types)
        self.metrics.cycle_finished(cycle.account, cycle.outcome, seconds, cycle.trunks,
                                    len(cycle.unread))
        self.metrics.events_emitted(cycle.account, types)
        self._notify()
        level = logging.WARNING if cycle.outcome == "failed" else logging.INFO
        log.log(level, "account cycle %s", cycle.outcome, extra={
            "account": cycle.account, "cycle": cycle.seq, "outcome": cycle.outcome,
            "trunks": cycle.trunks, "unread": len(cycle.unread), "events": len(events),
            "seconds": round(seconds, 2), **({"error": cycle.error} if cycle.error else {})})

    # -- delivery -----------------------------------------------------------------------------

    def _sink_names(self) -> list[str]:
        return [deliverer.name for deliverer in self.deliverers]

    def _notify(self) -> None:
        for deliverer in self.deliverers:
            deliverer.notify()

    async def _drain(self, stop: asyncio.Event, timeout: float) -> None:
        """--once: let the deliverers send what is pending, then stop them."""
        for deliverer in self.deliverers:
            deliverer.finishing = True
        self._notify()
        deadline = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < deadline:
            counts = self.store.pending_counts()
            disabled = {d.name for d in self.deliverers if d.disabled}
            if all(counts.get(d.name, (0, None))[0] == 0 or d.name in disabled
                   for d in self.deliverers):
                return
            self.metrics.heartbeat()
            await self._await_progress(stop, min(HEARTBEAT_S, deadline - time.monotonic()))

    async def _await_progress(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a cycle ends or a deliverer stops (``_progress``), ``stop``, or ``seconds``."""
        progress = asyncio.ensure_future(self._progress.wait())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({progress, stopping}, timeout=max(0.0, seconds),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            progress.cancel()
            stopping.cancel()
        self._progress.clear()


def next_due(due: float, interval: float, now: float) -> float:
    """One interval after the last due time, skipping slots an overrun missed: the schedule
    drifts by at most one cycle's work and never runs a cycle twice to catch up."""
    missed = max(0, math.floor((now - due) / interval))
    return due + (missed + 1) * interval


def _failed_since(store: Store, account: str) -> str | None:
    """When the account's current run of failed cycles began."""
    since = None
    for cycle in reversed(store.cycles(account)):
        if cycle.outcome != "failed":
            break
        since = cycle.started
    return since


def _sole(group: BaseExceptionGroup[Any]) -> BaseException:
    """What stopped the watch (a store that cannot be written, a bug): the first failure
    itself, so callers see a ``StorageError``, not a group of one."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), max(0.0, seconds))
