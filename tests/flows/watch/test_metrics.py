"""The watcher's /metrics and /healthz, read over real HTTP as a scraper and a probe read them."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from flows.watch.metrics import WatchMetrics, serve_metrics
from scraper.errors import UsageError


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def get_json(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, keyed by name and label set."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


async def scrape(metrics: WatchMetrics) -> dict:
    async with serve_metrics(metrics) as url:
        status, content_type, text = await get(url + "/metrics")
    assert status == 200 and content_type == CONTENT_TYPE_LATEST
    return samples(text)


async def test_cycle_metrics_carry_account_and_outcome():
    metrics = WatchMetrics()
    metrics.cycle_started("main")
    metrics.cycle_started("branch")
    metrics.cycle_finished("main", "ok", 3.5, trunks=12, unread=0)
    metrics.cycle_finished("main", "partial", 700.0, trunks=11, unread=2)
    found = await scrape(metrics)
    assert value(found, "vats_watch_cycles_total", account="main", outcome="ok") == 1
    assert value(found, "vats_watch_cycles_total", account="main", outcome="partial") == 1
    assert value(found, "vats_watch_cycles_total", account="main", outcome="failed") == 0
    assert value(found, "vats_watch_cycles_in_progress") == 1  # branch still runs
    assert value(found, "vats_watch_cycle_duration_seconds_count", account="main") == 2
    assert value(found, "vats_watch_cycle_duration_seconds_bucket", account="main", le="5.0") == 1
    assert value(found, "vats_watch_cycle_duration_seconds_bucket", account="main", le="600.0") == 1
    assert value(found, "vats_watch_cycle_duration_seconds_bucket", account="main", le="+Inf") == 2
    assert value(found, "vats_watch_trunks", account="main") == 11
    assert value(found, "vats_watch_unread_trunks", account="main") == 2
    assert value(found, "vats_watch_last_success_timestamp_seconds", account="main") > 1.7e9


async def test_a_failed_cycle_keeps_the_last_trunk_counts():
    metrics = WatchMetrics()
    metrics.cycle_finished("main", "ok", 1.0, trunks=5, unread=1)
    metrics.cycle_finished("main", "failed", 1.0, trunks=None, unread=0)
    found = await scrape(metrics)
    assert value(found, "vats_watch_trunks", account="main") == 5
    assert value(found, "vats_watch_unread_trunks", account="main") == 1
    assert value(found, "vats_watch_cycles_in_progress") == 0  # a finish without start is no -1


async def test_events_are_counted_per_type_and_account():
    metrics = WatchMetrics()
    metrics.events_emitted("main", ["trunk.created", "trunk.changed", "trunk.changed"])
    metrics.events_emitted("branch", ["trunk.deleted"])
    found = await scrape(metrics)
    assert value(found, "vats_watch_events_total", account="main", type="trunk.changed") == 2
    assert value(found, "vats_watch_events_total", account="main", type="trunk.created") == 1
    assert value(found, "vats_watch_events_total", account="branch", type="trunk.deleted") == 1


async def test_sink_metrics_carry_sink_and_kind():
    metrics = WatchMetrics()
    metrics.delivered("hook", 3, lag_seconds=0.3)
    metrics.delivered("hook", 1, lag_seconds=-2.0)  # a clock ahead of ours counts as no lag
    metrics.delivery_failed("hook", "sink-down")
    metrics.delivery_failed("rabbit", "returned")
    metrics.set_pending("hook", 7, oldest_age_seconds=42.0)
    metrics.set_pending("log", 0, oldest_age_seconds=None)
    metrics.set_sink_state("hook", "down")
    found = await scrape(metrics)
    assert value(found, "vats_watch_delivered_events_total", sink="hook") == 4
    assert value(found, "vats_watch_delivered_events_total", sink="rabbit") == 0
    assert value(found, "vats_watch_delivery_failures_total", sink="hook", kind="sink-down") == 1
    assert value(found, "vats_watch_delivery_failures_total", sink="hook", kind="sink-gone") == 0
    assert value(found, "vats_watch_delivery_failures_total", sink="rabbit", kind="returned") == 1
    assert value(found, "vats_watch_delivery_lag_seconds_count", sink="hook") == 2
    assert value(found, "vats_watch_delivery_lag_seconds_bucket", sink="hook", le="0.1") == 1
    assert value(found, "vats_watch_delivery_lag_seconds_sum", sink="hook") == pytest.approx(0.3)
    assert value(found, "vats_watch_pending_events", sink="hook") == 7
    assert value(found, "vats_watch_oldest_pending_age_seconds", sink="hook") == 42
    assert value(found, "vats_watch_oldest_pending_age_seconds", sink="log") == 0
    assert value(found, "vats_watch_sink_state", sink="hook", state="down") == 1
    assert value(found, "vats_watch_sink_state", sink="hook", state="up") == 0
    assert value(found, "vats_watch_sink_state", sink="hook", state="disabled") == 0


def test_a_misspelt_outcome_or_state_is_refused():
    metrics = WatchMetrics()
    with pytest.raises(ValueError, match="outcome 'okay'"):
        metrics.cycle_finished("main", "okay", 1.0, trunks=1, unread=0)
    with pytest.raises(ValueError, match="sink state 'gone'"):
        metrics.set_sink_state("hook", "gone")


async def test_healthz_is_200_after_a_heartbeat_and_lists_accounts_and_sinks():
    metrics = WatchMetrics()
    metrics.heartbeat()
    metrics.cycle_finished("main", "ok", 1.0, trunks=3, unread=0)
    metrics.cycle_finished("main", "failed", 1.0, trunks=None, unread=0)
    metrics.cycle_finished("main", "failed", 1.0, trunks=None, unread=0)
    metrics.cycle_started("branch")
    metrics.set_sink_state("hook", "up")
    metrics.set_pending("hook", 2, oldest_age_seconds=1.0)
    async with serve_metrics(metrics) as url:
        status, body = await get_json(url + "/healthz")
    assert status == 200 and body["healthy"] is True
    main = body["accounts"]["main"]
    assert main["last_outcome"] == "failed" and main["consecutive_failures"] == 2
    assert main["last_ok"].endswith("+00:00") and main["running"] is False
    assert body["accounts"]["branch"] == {"last_outcome": None, "last_ok": None,
                                          "consecutive_failures": 0, "running": True}
    assert body["sinks"] == {"hook": {"state": "up", "pending": 2}}


async def test_healthz_is_503_before_the_first_heartbeat_and_when_the_loop_is_stuck():
    metrics = WatchMetrics(stale_after=0.05)
    async with serve_metrics(metrics) as url:
        status, body = await get_json(url + "/healthz")
        assert status == 503 and body["heartbeat_age_seconds"] is None
        metrics.heartbeat()
        await asyncio.sleep(0.1)
        status, body = await get_json(url + "/healthz")
    assert status == 503 and body["healthy"] is False and body["heartbeat_age_seconds"] >= 0.05


async def test_a_port_in_use_is_a_usage_error_naming_the_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} .*in use"):
            async with serve_metrics(WatchMetrics(), port=port):
                pass


async def test_the_url_names_the_port_bound():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with serve_metrics(WatchMetrics(), port=port) as url:
        assert url == f"http://127.0.0.1:{port}"
    async with serve_metrics(WatchMetrics(), host="0.0.0.0") as url:
        assert url.startswith("http://127.0.0.1:")
        assert (await get(url + "/metrics"))[0] == 200


async def test_two_watchers_in_one_process_do_not_collide():
    first, second = WatchMetrics(), WatchMetrics()
    first.events_emitted("main", ["trunk.created"])
    async with serve_metrics(first) as url_a, serve_metrics(second) as url_b:
        assert url_a != url_b
        a = samples((await get(url_a + "/metrics"))[2])
        b = samples((await get(url_b + "/metrics"))[2])
    assert value(a, "vats_watch_events_total", account="main", type="trunk.created") == 1
    assert ("vats_watch_events_total", frozenset({("account", "main"),
                                                  ("type", "trunk.created")})) not in b
    assert REGISTRY.get_sample_value("vats_watch_cycles_in_progress") is None  # global untouched
