"""One deliverer per sink: the outbox's pending events, in order, until each one is taken.

Why per sink and in order: a sink that is down must block neither the other sinks nor the
polling, so each sink has its own loop over its own pending rows; within a sink the oldest event
goes first and a failure holds the ones behind it (a PBX that got "disabled" before "enabled"
would end up wrong). Delivery is at least once: an event is marked delivered after the sink took
it, so a crash in between sends it again, with the same id; consumers dedupe by id.

Recovery is decided here, once for every sink: a failure waits the receiver's ``Retry-After``
when it gave one, else an exponential backoff (``DeliveryPolicy``); a sink that is gone (webhook
410) is disabled in the store — its events stay pending until ``vats events --enable SINK``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from flows.watch.events import render
from flows.watch.metrics import WatchMetrics
from flows.watch.sinks.base import OutgoingEvent, Sink
from flows.watch.store import Delivery, Store
from scraper.errors import SinkError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Backoff of a failing sink: first wait, doubling, capped; events fetched per batch."""

    first_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    batch: int = 200

    def backoff(self, attempts: int) -> float:
        return float(min(self.max_backoff_s, self.first_backoff_s * 2 ** max(0, attempts - 1)))


class Deliverer:
    """Moves one sink's pending events out of the store."""

    def __init__(self, store: Store, sink: Sink, metrics: WatchMetrics,
                 policy: DeliveryPolicy | None = None) -> None:
        self.store = store
        self.sink = sink
        self.metrics = metrics
        self.policy = policy or DeliveryPolicy()
        self.wake = asyncio.Event()
        self.finishing = False  # --once: return once nothing is pending
        self.opened = False
        self.disabled = sink.name in store.disabled_sinks()

    @property
    def name(self) -> str:
        return self.sink.name

    def notify(self) -> None:
        """New events were committed (or the watcher is stopping): look again now."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` (or, when finishing, until nothing deliverable is pending)."""
        self.metrics.set_sink_state(self.name, "disabled" if self.disabled else "up")
        if self.disabled:
            log.error("sink is disabled; its events stay pending (vats events --enable %s)",
                      self.name, extra={"sink": self.name})
        try:
            while not stop.is_set():
                wait = None if self.disabled else await self.deliver_due(stop)
                self._report_pending()
                if self.finishing and (wait is None or self.disabled):
                    return
                await self._sleep(wait)
        finally:
            await self.sink.close()

    async def deliver_due(self, stop: asyncio.Event) -> float | None:
        """Send what is due; how long until the oldest pending event is due again (None: no
        event is pending)."""
        while not stop.is_set():
            batch = self.store.pending(self.name, limit=self.policy.batch)
            if not batch:
                return None
            due = self.store.next_attempt(self.name) or 0.0
            if due > time.time():
                return due - time.time()
            done: dict[int, str] = {}
            try:
                for item in batch:
                    if stop.is_set() or not await self.send(item, done):
                        break
                else:
                    continue
            finally:
                self.store.mark_done(self.name, done)  # one commit a batch; a crash resends
            if self.disabled:
                return None
        return None

    async def send(self, item: Delivery, done: dict[int, str]) -> bool:
        """One event, recorded in ``done``; False when the sink failed (the event is retried
        later, in order)."""
        event = item.event
        outgoing = OutgoingEvent(
            id=event.id, type=event.type, source=str(event.body.get("source", "")),
            subject=event.subject, time=event.time,
            body=render(event.body, include_secrets=self.sink.include_secrets))
        try:
            if not self.opened:
                await self.sink.open()
                self.opened = True
            sent = await self.sink.send(outgoing)
        except SinkError as exc:
            await self._failed(item, exc)
            return False
        done[event.seq] = sent
        if sent == "returned":
            self.metrics.delivery_failed(self.name, "returned")
            log.warning("the broker returned an event: no queue is bound for its type",
                        extra={"sink": self.name, "event_id": event.id, "type": event.type})
        else:
            self.metrics.delivered(self.name, 1, _age(event.time))
        self.metrics.set_sink_state(self.name, "up")
        return True

    async def _failed(self, item: Delivery, exc: SinkError) -> None:
        self.metrics.delivery_failed(self.name, exc.kind)
        self.opened = False
        await self.sink.close()
        if exc.kind == "sink-gone":
            self.disabled = True
            self.store.disable_sink(self.name, str(exc))
            self.metrics.set_sink_state(self.name, "disabled")
            log.error("sink is gone and now disabled; its events stay pending",
                      extra={"sink": self.name, "error": str(exc)})
            return
        attempts = item.attempts + 1
        wait = exc.retry_after if exc.retry_after is not None else self.policy.backoff(attempts)
        self.store.mark_failed(self.name, item.event.seq, f"{exc.kind}: {exc}", time.time() + wait)
        self.metrics.set_sink_state(self.name, "down")
        log.warning("delivery failed; retrying", extra={
            "sink": self.name, "event_id": item.event.id, "kind": exc.kind,
            "attempts": attempts, "retry_in_s": round(wait, 2), "error": str(exc)})

    async def _sleep(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()

    def _report_pending(self) -> None:
        count, oldest = self.store.pending_counts().get(self.name, (0, None))
        self.metrics.set_pending(self.name, count, None if oldest is None else _age(oldest))


def _age(iso: str) -> float:
    """Seconds since an event's time (its snapshot's)."""
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - then.timestamp())
