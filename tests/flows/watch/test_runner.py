"""The watch over three sandbox cabinets in real headless Chromium, cycle by cycle.

Each test runs ``Watcher.run(once=True)`` (one cycle of every account, its events delivered)
as many times as it needs, changing the cabinets in between, and checks the events that reach
a real JSONL file against the changes made.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from flows.client import Vats
from flows.watch import events as ev
from flows.watch.config import JsonlSinkConfig
from flows.watch.metrics import WatchMetrics
from flows.watch.sinks.jsonl import JsonlSink
from flows.watch.store import Store
from tests.flows.watch.conftest import read_jsonl, trunk_phones, watcher

pytestmark = pytest.mark.browser


@pytest.fixture
def store(tmp_path: Path):
    store = Store(tmp_path / "watch.sqlite")
    yield store
    store.close()


def jsonl(tmp_path: Path, name: str = "log", include_secrets: bool = False) -> JsonlSink:
    return JsonlSink(JsonlSinkConfig(name=name, type="jsonl", path=str(tmp_path / f"{name}.jsonl"),
                                     include_secrets=include_secrets))


async def cycle(cabinets, vats_host, store, tmp_path, **options):
    sinks = options.pop("sinks", None) or [jsonl(tmp_path)]
    return await watcher(cabinets, vats_host, store, sinks, **options).run(once=True)


async def test_first_cycle_appeared_then_nothing_then_exactly_the_changes(
        cabinets, vats_host, store, tmp_path):
    report = await cycle(cabinets, vats_host, store, tmp_path)
    sent = read_jsonl(tmp_path / "log.jsonl")
    assert {c.outcome for c in report.cycles.values()} == {"ok"}
    for name, cabinet in cabinets.items():
        mine = [e for e in sent if e["source"] == f"urn:vats:account:{name}"]
        assert {e["type"] for e in mine} == {ev.APPEARED}
        assert {e["subject"] for e in mine} == trunk_phones(cabinet)
    assert len({e["id"] for e in sent}) == len(sent)
    assert all("sip_password" not in (e["data"]["after"] or {}) for e in sent)

    await cycle(cabinets, vats_host, store, tmp_path)
    assert len(read_jsonl(tmp_path / "log.jsonl")) == len(sent)  # unchanged: nothing

    north, south = cabinets["north"], cabinets["south"]
    on = sorted(t["phone"] for t in north.trunks() if t["device"] and t["device"]["enabled"])
    bare = sorted(t["phone"] for t in south.trunks() if not t["device"])
    async with Vats(settings=north.settings()) as vats:
        await vats.disable([on[0]])
    async with Vats(settings=south.settings()) as vats:
        await vats.add_device([bare[0]])
    report = await cycle(cabinets, vats_host, store, tmp_path)
    new = read_jsonl(tmp_path / "log.jsonl")[len(sent):]
    got = Counter((e["source"].rsplit(":", 1)[1], e["subject"], e["type"]) for e in new)
    assert ("north", on[0], ev.DEVICE_DISABLED) in got
    assert ("south", bare[0], ev.DEVICE_CREATED) in got
    assert {name for name, _, _ in got} <= {"north", "south"}  # east did not change
    assert report.emitted["east"] == 0


async def test_a_wrong_password_fails_one_account_once_and_recovers(
        cabinets, vats_host, store, tmp_path, monkeypatch):
    monkeypatch.setenv("VATS_TEST_PASSWORD_SOUTH", "wrong")
    for _ in range(2):
        report = await cycle(cabinets, vats_host, store, tmp_path)
        assert report.cycles["south"].outcome == "failed"
        assert report.cycles["south"].error_kind == "login"
        assert {report.cycles[n].outcome for n in ("north", "east")} == {"ok"}
    sent = read_jsonl(tmp_path / "log.jsonl")
    failed = [e for e in sent if e["type"] == ev.ACCOUNT_FAILED]
    assert len(failed) == 1  # said when it started failing, not every cycle
    assert failed[0]["source"] == "urn:vats:account:south"
    assert failed[0]["data"]["error"]["kind"] == "login"
    assert "wrong" not in failed[0]["data"]["error"]["message"]
    assert not any(e["source"].endswith("south") and e["type"] == ev.APPEARED for e in sent)

    monkeypatch.setenv("VATS_TEST_PASSWORD_SOUTH", cabinets["south"].password)
    await cycle(cabinets, vats_host, store, tmp_path)
    new = [e for e in read_jsonl(tmp_path / "log.jsonl")[len(sent):]
           if e["source"].endswith("south")]
    assert new[0]["type"] == ev.ACCOUNT_RECOVERED
    assert {e["subject"] for e in new[1:]} == trunk_phones(cabinets["south"])


async def watch_cycles(run, store, cycles, *, between=None):
    """A continuous watch (every 1 s) until every account has ``cycles`` cycles; ``between``
    runs after each account's first cycle ended, before its second."""
    stop = asyncio.Event()

    async def steer():
        names = [r.entry.name for r in run.runs]
        while not all(len(store.cycles(n)) >= 1 for n in names):
            await asyncio.sleep(0.05)
        if between is not None:
            between()
        while not all(len(store.cycles(n)) >= cycles for n in names):
            await asyncio.sleep(0.05)
        stop.set()

    async with asyncio.TaskGroup() as group:
        group.create_task(steer())
        report = await asyncio.wait_for(run.run(stop=stop), 120)
    return report


async def test_sessions_are_reused_between_cycles_and_the_schedule_keeps_time(
        cabinets, vats_host, store, tmp_path):
    run = watcher(cabinets, vats_host, store, [jsonl(tmp_path)], every=1)
    await watch_cycles(run, store, 3)
    for name, cabinet in cabinets.items():
        logins = [a for a in cabinet.audit() if (a["service"], a["method"]) == ("auth", "login")]
        assert len(logins) == 1, (name, logins)
        starts = [c.started for c in store.cycles(name)]
        assert starts == sorted(starts)


def test_the_next_cycle_is_due_one_interval_after_the_last_was_due():
    from flows.watch.runner import next_due

    assert next_due(100.0, 60.0, now=130.0) == 160.0  # a 30-s cycle does not push it back
    assert next_due(100.0, 60.0, now=100.5) == 160.0
    assert next_due(100.0, 60.0, now=250.0) == 280.0  # an overrun skips the missed slots
    assert next_due(100.0, 60.0, now=160.0) == 220.0


async def test_a_partial_inventory_keeps_unread_trunks_and_never_says_disappeared(
        cabinets, vats_host, store, tmp_path):
    east = cabinets["east"]
    broken = sorted(trunk_phones(east))[:2]
    run = watcher(cabinets, vats_host, store, [jsonl(tmp_path)], every=3)
    report = await watch_cycles(
        run, store, 2, between=lambda: east.edit(*({"phone": p, "broken_form": True}
                                                    for p in broken)))
    cycle = report.cycles["east"]
    assert cycle.outcome == "partial" and sorted(cycle.unread) == broken
    assert cycle.trunks == len(trunk_phones(east))  # unread ones kept, not dropped
    sent = read_jsonl(tmp_path / "log.jsonl")
    assert not [e for e in sent if e["type"] != ev.APPEARED]
    stored = store.states(store.last_cycle("east"))
    assert set(broken) <= set(stored)


async def test_secrets_reach_only_the_sinks_that_ask_and_ids_are_the_same_everywhere(
        cabinets, vats_host, store, tmp_path):
    plain, secret = jsonl(tmp_path, "plain"), jsonl(tmp_path, "secret", include_secrets=True)
    await cycle(cabinets, vats_host, store, tmp_path, sinks=[plain, secret])
    a, b = read_jsonl(tmp_path / "plain.jsonl"), read_jsonl(tmp_path / "secret.jsonl")
    assert [e["id"] for e in a] == [e["id"] for e in b]
    with_device = [e for e in b if e["data"]["after"]["has_device"]]
    assert with_device and all(e["data"]["after"]["sip_password"] for e in with_device)
    passwords = {e["data"]["after"]["sip_password"] for e in with_device}
    text = (tmp_path / "plain.jsonl").read_text()
    assert not any(p in text for p in passwords)
    assert all(e["data"]["after"]["sip_password_fingerprint"] for e in a
               if e["data"]["after"]["has_device"])


class CountingMetrics(WatchMetrics):
    """Counts the cycles in flight, as the runner reports them."""

    def __init__(self) -> None:
        super().__init__()
        self.inflight = self.peak = 0

    def cycle_started(self, account: str) -> None:
        super().cycle_started(account)
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)

    def cycle_finished(self, account, outcome, seconds, trunks, unread) -> None:
        super().cycle_finished(account, outcome, seconds, trunks, unread)
        self.inflight -= 1


@pytest.mark.parametrize("parallel", [1, 3])
async def test_parallel_bounds_the_accounts_read_at_once(cabinets, vats_host, store, tmp_path,
                                                         parallel):
    metrics = CountingMetrics()
    run = watcher(cabinets, vats_host, store, [jsonl(tmp_path)], parallel=parallel,
                  metrics=metrics)
    report = await run.run(once=True)
    assert {c.outcome for c in report.cycles.values()} == {"ok"}
    assert metrics.peak == parallel


async def test_a_cabinet_that_is_down_fails_that_account_only(cabinets, vats_host, store,
                                                             tmp_path):
    cabinets = {**cabinets, "east": dataclasses.replace(cabinets["east"], url="http://127.0.0.1:9")}
    report = await cycle(cabinets, vats_host, store, tmp_path)
    assert report.cycles["east"].outcome == "failed"
    assert {report.cycles[n].outcome for n in ("north", "south")} == {"ok"}
    failed = [e for e in read_jsonl(tmp_path / "log.jsonl") if e["type"] == ev.ACCOUNT_FAILED]
    assert [e["source"] for e in failed] == ["urn:vats:account:east"]
    assert failed[0]["data"]["error"]["kind"] == report.cycles["east"].error_kind


async def test_once_gives_contexts_back_and_the_next_run_reuses_the_saved_sessions(
        cabinets, vats_host, store, tmp_path):
    run = watcher(cabinets, vats_host, store, [jsonl(tmp_path)])
    await run.run(once=True)
    assert run.engine.clients == {}  # released after each account's cycle
    await cycle(cabinets, vats_host, store, tmp_path)  # a new watcher, as a new process would be
    for name, cabinet in cabinets.items():
        logins = [a for a in cabinet.audit() if (a["service"], a["method"]) == ("auth", "login")]
        assert len(logins) == 1, (name, logins)
