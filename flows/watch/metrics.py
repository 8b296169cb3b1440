"""The watcher's operations endpoint: Prometheus metrics and ``/healthz``.

Why a registry of our own per ``WatchMetrics`` (never prometheus_client's global ``REGISTRY``):
tests and several watchers in one process would otherwise register the same names twice and
fail, or silently mix their numbers.

Why ``/healthz`` is decided by the scheduler's heartbeat and not by cycle outcomes: a cabinet
that is down makes cycles fail, and restarting the watcher does not bring it back; a loop that
no longer turns (a hung await, a dead task) is what a restart does fix. Outcomes, failures and
backlogs are in the JSON body and in the metrics, for people and for alerts.

Every label set an account or a sink can take is created (at zero) the first time the account
or sink is seen, so ``rate()`` and ``increase()`` see the first failure instead of a series that
appears already at 1.

Metrics (all ``vats_watch_``)::

    cycles_total{account,outcome}          cycles finished, by outcome (ok, partial, failed)
    cycle_duration_seconds{account}        histogram, 1 s ... 10 min
    cycles_in_progress                     cycles started and not finished
    trunks{account}                        trunks in the last ok/partial cycle
    unread_trunks{account}                 trunks that cycle could not read
    last_success_timestamp_seconds{account} end of the last ok cycle (Unix time)
    events_total{account,type}             CloudEvents emitted
    delivered_events_total{sink}           events a sink took
    delivery_failures_total{sink,kind}     sink-down, sink-refused, sink-gone, returned
    delivery_lag_seconds{sink}             histogram: event time to delivery
    pending_events{sink}                   events in the outbox for the sink
    oldest_pending_age_seconds{sink}       age of the oldest of them (0 when none)
    sink_state{sink,state}                 1 for the sink's state (up, down, disabled), else 0
    heartbeat_timestamp_seconds            the scheduler's last loop turn (Unix time)
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from scraper.errors import UsageError

log = logging.getLogger(__name__)

PREFIX = "vats_watch_"
OUTCOMES = ("ok", "partial", "failed")
SINK_STATES = ("up", "down", "disabled")
FAILURE_KINDS = ("sink-down", "sink-refused", "sink-gone", "returned")
# a cycle of a small account takes seconds, a large one with slow trunk pages minutes
CYCLE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# from a webhook taking an event at once to a broker that was down for hours
LAG_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)


@dataclass(frozen=True)
class _CycleInstruments:
    """The per-account metrics, grouped so the constructor stays readable."""

    cycles: Counter
    duration: Histogram
    in_progress: Gauge
    trunks: Gauge
    unread: Gauge
    last_success: Gauge
    events: Counter
    heartbeat: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> _CycleInstruments:
        r = registry
        return cls(
            cycles=Counter(PREFIX + "cycles_total", "Watch cycles finished, by outcome.",
                           ["account", "outcome"], registry=r),
            duration=Histogram(PREFIX + "cycle_duration_seconds", "Duration of watch cycles.",
                               ["account"], buckets=CYCLE_BUCKETS, registry=r),
            in_progress=Gauge(PREFIX + "cycles_in_progress", "Watch cycles running now.",
                              registry=r),
            trunks=Gauge(PREFIX + "trunks", "Trunks seen by the last ok or partial cycle.",
                         ["account"], registry=r),
            unread=Gauge(PREFIX + "unread_trunks",
                         "Trunks the last ok or partial cycle could not read.", ["account"],
                         registry=r),
            last_success=Gauge(PREFIX + "last_success_timestamp_seconds",
                               "Unix time the last ok cycle finished.", ["account"], registry=r),
            events=Counter(PREFIX + "events_total", "CloudEvents emitted, by type.",
                           ["account", "type"], registry=r),
            heartbeat=Gauge(PREFIX + "heartbeat_timestamp_seconds",
                            "Unix time of the scheduler's last loop turn.", registry=r),
        )


@dataclass(frozen=True)
class _SinkInstruments:
    """The per-sink metrics."""

    delivered: Counter
    failures: Counter
    lag: Histogram
    pending: Gauge
    oldest_age: Gauge
    state: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> _SinkInstruments:
        r = registry
        return cls(
            delivered=Counter(PREFIX + "delivered_events_total", "Events a sink took.", ["sink"],
                              registry=r),
            failures=Counter(PREFIX + "delivery_failures_total",
                             "Failed deliveries, by SinkError kind (or returned).",
                             ["sink", "kind"], registry=r),
            lag=Histogram(PREFIX + "delivery_lag_seconds",
                          "From an event's time to its delivery.", ["sink"], buckets=LAG_BUCKETS,
                          registry=r),
            pending=Gauge(PREFIX + "pending_events", "Events in the outbox for a sink.", ["sink"],
                          registry=r),
            oldest_age=Gauge(PREFIX + "oldest_pending_age_seconds",
                             "Age of the oldest event pending for a sink (0 when none).",
                             ["sink"], registry=r),
            state=Gauge(PREFIX + "sink_state", "1 for the state a sink is in, 0 for the others.",
                        ["sink", "state"], registry=r),
        )


@dataclass
class _AccountHealth:
    """What /healthz says of an account; kept here because Prometheus cannot be read back."""

    last_outcome: str | None = None
    last_ok: float | None = None  # Unix time
    consecutive_failures: int = 0
    running: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"last_outcome": self.last_outcome, "last_ok": _iso(self.last_ok),
                "consecutive_failures": self.consecutive_failures, "running": self.running}


@dataclass
class _SinkHealth:
    state: str | None = None
    pending: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "pending": self.pending}


class WatchMetrics:
    """The watcher's numbers, fed by the runner and deliverers, read by scrapers and probes.

    ``stale_after``: seconds without a heartbeat after which the watcher counts as stuck.
    Before the first heartbeat it is unhealthy too: the scheduler beats on its first turn, so
    a watcher that never beats never started scheduling.
    """

    def __init__(self, stale_after: float = 120.0) -> None:
        self.stale_after = stale_after
        self.registry = CollectorRegistry(auto_describe=True)
        self._cycle = _CycleInstruments.create(self.registry)
        self._sink = _SinkInstruments.create(self.registry)
        self._accounts: dict[str, _AccountHealth] = {}
        self._sinks: dict[str, _SinkHealth] = {}
        self._last_beat: float | None = None  # monotonic: immune to clock steps

    # -- cycles -----------------------------------------------------------------------------

    def cycle_started(self, account: str) -> None:
        health = self._account(account)
        if not health.running:  # a repeated start must not leave the gauge high for ever
            health.running = True
            self._cycle.in_progress.inc()

    def cycle_finished(self, account: str, outcome: str, seconds: float, trunks: int | None,
                       unread: int) -> None:
        """Trunk gauges keep the last readable cycle: a failed one read nothing, and dropping
        them to 0 would look like an account that lost all its trunks."""
        _check(outcome, OUTCOMES, "outcome")
        health = self._account(account)
        if health.running:
            health.running = False
            self._cycle.in_progress.dec()
        self._cycle.cycles.labels(account, outcome).inc()
        self._cycle.duration.labels(account).observe(max(seconds, 0.0))
        self._record_outcome(account, health, outcome, trunks, unread)

    def _record_outcome(self, account: str, health: _AccountHealth, outcome: str,
                        trunks: int | None, unread: int) -> None:
        health.last_outcome = outcome
        if outcome == "failed":
            health.consecutive_failures += 1
            return
        health.consecutive_failures = 0
        if trunks is not None:
            self._cycle.trunks.labels(account).set(trunks)
        self._cycle.unread.labels(account).set(unread)
        if outcome == "ok":
            health.last_ok = time.time()
            self._cycle.last_success.labels(account).set(health.last_ok)

    def events_emitted(self, account: str, types: Iterable[str]) -> None:
        self._account(account)
        for event_type in types:
            self._cycle.events.labels(account, event_type).inc()

    def heartbeat(self) -> None:
        self._last_beat = time.monotonic()
        self._cycle.heartbeat.set_to_current_time()

    def _account(self, account: str) -> _AccountHealth:
        health = self._accounts.get(account)
        if health is None:
            health = self._accounts[account] = _AccountHealth()
            for outcome in OUTCOMES:
                self._cycle.cycles.labels(account, outcome)
        return health

    # -- sinks ------------------------------------------------------------------------------

    def delivered(self, sink: str, count: int, lag_seconds: float) -> None:
        """Lag is observed once per call: a batch's oldest event stands for the batch, so a
        deliverer that batches reports the worst lag, never an average that hides it."""
        self._sink_health(sink)
        if count <= 0:
            return
        self._sink.delivered.labels(sink).inc(count)
        self._sink.lag.labels(sink).observe(max(lag_seconds, 0.0))  # clocks may disagree

    def delivery_failed(self, sink: str, kind: str) -> None:
        self._sink_health(sink)
        self._sink.failures.labels(sink, kind).inc()

    def set_pending(self, sink: str, count: int, oldest_age_seconds: float | None) -> None:
        self._sink_health(sink).pending = count
        self._sink.pending.labels(sink).set(count)
        self._sink.oldest_age.labels(sink).set(max(oldest_age_seconds or 0.0, 0.0))

    def set_sink_state(self, sink: str, state: str) -> None:
        _check(state, SINK_STATES, "sink state")
        self._sink_health(sink).state = state
        for each in SINK_STATES:
            self._sink.state.labels(sink, each).set(1 if each == state else 0)

    def _sink_health(self, sink: str) -> _SinkHealth:
        health = self._sinks.get(sink)
        if health is None:
            health = self._sinks[sink] = _SinkHealth()
            self._sink.delivered.labels(sink)
            for kind in FAILURE_KINDS:
                self._sink.failures.labels(sink, kind)
        return health

    # -- health -----------------------------------------------------------------------------

    def heartbeat_age(self) -> float | None:
        return None if self._last_beat is None else time.monotonic() - self._last_beat

    def healthy(self) -> bool:
        age = self.heartbeat_age()
        return age is not None and age <= self.stale_after

    def health(self) -> dict[str, Any]:
        age = self.heartbeat_age()
        return {
            "healthy": self.healthy(),
            "heartbeat_age_seconds": None if age is None else round(age, 3),
            "stale_after_seconds": self.stale_after,
            "accounts": {name: h.as_json() for name, h in sorted(self._accounts.items())},
            "sinks": {name: h.as_json() for name, h in sorted(self._sinks.items())},
        }


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    """A misspelt outcome or state is a bug of the caller: fail loudly rather than grow a
    label nobody alerts on."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (expected one of {', '.join(allowed)})")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


# -- the HTTP endpoint --------------------------------------------------------------------------

def build_app(metrics: WatchMetrics) -> web.Application:
    """The two routes alone, so a caller with an aiohttp server of its own can mount them."""

    async def metrics_page(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        report = metrics.health()
        return web.json_response(report, status=200 if report["healthy"] else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    return app


@asynccontextmanager
async def serve_metrics(metrics: WatchMetrics, host: str = "127.0.0.1",
                        port: int = 0) -> AsyncIterator[str]:
    """Serve /metrics and /healthz for the ``with`` block; yields the base URL.

    Loopback by default: the numbers name accounts and sinks, so exposing them further is the
    operator's decision (``host``). No access log: a scraper every few seconds would drown it.
    """
    runner = web.AppRunner(build_app(metrics), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await _listen(runner, host, port)
        url = _base_url(host, runner.addresses[0][1])
        log.info("watch metrics at %s/metrics, health at %s/healthz", url, url)
        yield url
    finally:
        await runner.cleanup()


async def _listen(runner: web.AppRunner, host: str, port: int) -> None:
    """Turn the OSError of a bind into an error the CLI shows as a usage mistake: the fix is
    another --port or --host, not a bug report."""
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"cannot serve metrics: port {port} on {host} is already in use "
                             "(choose another port, or 0 for any free one)") from exc
        raise UsageError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc


def _base_url(host: str, port: int) -> str:
    """The wildcard addresses are not reachable as such: show loopback, which is among them."""
    wildcards = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104
    shown = wildcards.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
