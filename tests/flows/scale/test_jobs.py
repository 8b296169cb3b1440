"""Account jobs on real ``vats worker`` processes, a real RabbitMQ and six sandbox accounts.

What is checked is what issue 15 promises: the watcher's events are the same with the workers
as with the local engine; a worker SIGKILLed mid-job gives its job back to the broker and the
other worker completes it, with no event lost or doubled and no Chromium left behind; time
limits end a job and its browser; a bulk change survives a killed worker with every change
applied exactly once; ``vats workers`` shows the workers, their jobs and the queue; and no
account password is ever in a task message.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from flows.scale.engine import CeleryEngine, entry_json
from flows.scale.errors import AccountBusy, JobTimeout
from flows.scale.tasks import Job, change_work
from flows.watch import events as ev
from flows.watch.config import AccountEntry, JsonlSinkConfig
from flows.watch.deliver import Deliverer, DeliveryPolicy
from flows.watch.engine import AccountJobError, Engine, LocalEngine
from flows.watch.metrics import WatchMetrics
from flows.watch.runner import Watcher, WatchReport
from flows.watch.sinks.jsonl import JsonlSink
from flows.watch.store import Store
from scraper.browser.host import BrowserHost
from tests.flows.scale.conftest import (
    REPO,
    WorkerProcess,
    Workers,
    entries,
    password_env,
    purge_jobs,
    wait_for,
    wait_gone,
)
from vats_fixtures.pytest_plugin import VatsSandbox

pytestmark = pytest.mark.browser

FAST = DeliveryPolicy(first_backoff_s=0.05, max_backoff_s=0.5)


async def watch_once(accounts: list[AccountEntry], engine: Engine, folder: Path, *,
                     parallel: int) -> tuple[WatchReport, list[dict[str, Any]], Store]:
    """One watch cycle of every account on ``engine``; its report, the events a JSONL sink
    with secrets got, and the store."""
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "watch.sqlite")
    metrics = WatchMetrics()
    sink = JsonlSink(JsonlSinkConfig(name="log", type="jsonl", path=str(folder / "events.jsonl"),
                                     include_secrets=True))
    watcher = Watcher(accounts, store, [Deliverer(store, sink, metrics, FAST)], engine=engine,
                      parallel=parallel, metrics=metrics)
    report = await watcher.run(once=True)
    lines = (folder / "events.jsonl").read_text().splitlines()
    return report, [json.loads(line) for line in lines], store


def comparable(event: dict[str, Any]) -> tuple[Any, ...]:
    """An event without what differs between two stores: its time and the fingerprints (an
    HMAC under each store's own key)."""
    data = json.loads(json.dumps(event["data"]))
    for side in ("before", "after"):
        if data.get(side):
            data[side].pop("sip_password_fingerprint", None)
    return (event["id"], event["type"], event.get("subject"), event["source"],
            json.dumps(data, sort_keys=True))


def local_engine(cabinets: dict[str, VatsSandbox]) -> LocalEngine:
    return LocalEngine(BrowserHost(),
                       lambda e: cabinets[e.name].settings(password=e.password()))


def jobs_done(worker: WorkerProcess) -> Counter[str]:
    """Accounts whose jobs the worker finished, from its log."""
    return Counter(line.split("account=")[1].split()[0] for line in worker.log().splitlines()
                   if "job done" in line)


def redelivered(worker: WorkerProcess) -> list[str]:
    return [line.split("account=")[1].split()[0] for line in worker.log().splitlines()
            if "redelivered job" in line]


async def test_a_watch_cycle_on_two_workers_equals_the_local_engines(
        cabinets, workers: Workers, rabbitmq, tmp_path, monkeypatch):
    refused = "lena"  # a wrong password, on the workers and here alike: the same failure
    workers.env[password_env(refused)] = "not-the-password"
    monkeypatch.setenv(password_env(refused), "not-the-password")
    first, second = workers.start("w1"), workers.start("w2")
    accounts = entries(cabinets)
    report, sent, store = await watch_once(accounts, CeleryEngine(rabbitmq.url, timeout_s=120),
                                           tmp_path / "celery", parallel=6)
    local, local_sent, local_store = await watch_once(accounts, local_engine(cabinets),
                                                      tmp_path / "local", parallel=2)
    outcomes = {name: c.outcome for name, c in report.cycles.items()}
    assert outcomes == {a.name: "failed" if a.name == refused else "ok" for a in accounts}
    assert {name: c.outcome for name, c in local.cycles.items()} == outcomes
    assert report.cycles[refused].error == local.cycles[refused].error
    assert sorted(map(comparable, sent)) == sorted(map(comparable, local_sent))
    assert {e["type"] for e in sent} == {ev.APPEARED, ev.ACCOUNT_FAILED}
    accounts = [a for a in accounts if a.name != refused]
    for account in accounts:  # the snapshots, trunk by trunk, SIP passwords included
        ours = store.states(store.last_cycle(account.name, with_states=True))
        theirs = local_store.states(local_store.last_cycle(account.name, with_states=True))
        assert ours == theirs and ours
    done = jobs_done(first) + jobs_done(second)
    assert done == Counter(a.name for a in accounts)  # each account's job ran once
    assert (refused in first.log()) != (refused in second.log())
    assert jobs_done(first) and jobs_done(second)  # the six accounts were shared
    store.close()
    local_store.close()


async def test_a_worker_killed_mid_inventory_gives_the_job_to_the_other(
        cabinets, workers: Workers, rabbitmq, tmp_path):
    workers.start("w1")
    workers.start("w2")
    slow = "ural"
    cabinets[slow].control(latency_ms=400)
    engine = CeleryEngine(rabbitmq.url, timeout_s=180)
    watch = asyncio.create_task(watch_once(entries(cabinets), engine, tmp_path / "w",
                                           parallel=6))
    victim, browsers = await asyncio.to_thread(_running_with_browser, workers, slow)
    processes = victim.descendants()
    victim.kill()
    report, sent, store = await watch
    store.close()
    assert {c.outcome for c in report.cycles.values()} == {"ok"}
    survivor = next(w for w in workers.started if w is not victim)
    assert slow in redelivered(survivor) and jobs_done(survivor)[slow] == 1
    for name, cabinet in cabinets.items():  # each trunk appeared once: nothing lost or doubled
        mine = [e for e in sent if e["source"] == f"urn:vats:account:{name}"]
        assert sorted(e["subject"] for e in mine) == sorted(t["phone"] for t in cabinet.trunks())
    assert len({e["id"] for e in sent}) == len(sent)
    assert browsers and not wait_gone(processes, 15), "the killed worker left processes"


def _running_with_browser(workers: Workers, account: str) -> tuple[WorkerProcess, list[Any]]:
    """The worker running the account's job, once that job's Chromium is up."""
    victim, _job = wait_for(lambda: workers.running(account), 60, f"a job of {account}")
    return victim, wait_for(victim.browsers, 30, "the job's Chromium")


async def test_a_job_at_its_hard_time_limit_is_killed_with_its_browser(
        cabinets, workers: Workers, rabbitmq):
    worker = workers.start("w1", "--soft-time-limit", "0", "--time-limit", "6")
    name = "volga"
    cabinets[name].control(latency_ms=2500)  # the inventory takes far longer than 6 s
    account = next(a for a in entries(cabinets) if a.name == name)
    async with CeleryEngine(rabbitmq.url, timeout_s=90) as engine:
        job = asyncio.create_task(engine.inventory(account))
        await asyncio.to_thread(wait_for, worker.browsers, 30, "the job's Chromium")
        processes = worker.descendants()
        pool = psutil.Process(worker.pid).children()  # the pool processes
        assert pool and all(os.getpgid(p.pid) == p.pid for p in pool)  # their own groups
        with pytest.raises(AccountJobError) as failed:
            await job
        assert failed.value.kind == "time-limit"
        assert "TimeLimitExceeded" in failed.value.description
        assert not wait_gone(processes, 15), "the killed job left processes"
        cabinets[name].control(latency_ms=0)
        again = await engine.inventory(account)  # the worker goes on, with a new pool process
    assert len(again.trunks) == len(cabinets[name].trunks())


async def test_a_job_at_its_soft_time_limit_closes_its_browser_and_says_so(
        cabinets, workers: Workers, rabbitmq):
    worker = workers.start("w1", "--soft-time-limit", "4", "--time-limit", "60")
    name = "neva"
    cabinets[name].control(latency_ms=2500)
    account = next(a for a in entries(cabinets) if a.name == name)
    pool = {p.pid for p in worker.descendants()}
    async with CeleryEngine(rabbitmq.url, timeout_s=90) as engine:
        job = asyncio.create_task(engine.inventory(account))
        browsers = await asyncio.to_thread(wait_for, worker.browsers, 30, "the job's Chromium")
        with pytest.raises(AccountJobError) as failed:
            await job
    assert failed.value.kind == "time-limit"
    assert "soft time limit" in failed.value.description
    assert not wait_gone(browsers, 15)
    assert {p.pid for p in worker.descendants()} == pool  # closed by the job, not killed


async def test_a_bulk_enable_with_a_worker_killed_midway_applies_each_change_once(
        cabinets, workers: Workers, rabbitmq):
    workers.start("w1")
    workers.start("w2")
    targets = {name: sorted(t["phone"] for t in c.trunks()
                            if t["device"] and not t["device"]["enabled"])
               for name, c in cabinets.items()}
    assert all(len(phones) >= 2 for phones in targets.values())
    for cabinet in cabinets.values():
        cabinet.control(latency_ms=300)
    async with CeleryEngine(rabbitmq.url, timeout_s=240) as engine:
        jobs = {a.name: asyncio.create_task(engine.change(a, "enable", targets[a.name]))
                for a in entries(cabinets)}
        victim, account = await asyncio.to_thread(_kill_mid_change, workers, cabinets, targets)
        reports = {name: await job for name, job in jobs.items()}
    for name, report in reports.items():
        assert len(report.results) == len(report.plan) == len(targets[name])
        assert {r.result for r in report.results} <= {"done", "skipped"}, name
        assert all(r.result == "done" or r.item.reason == "already on" for r in report.results)
    for name, cabinet in cabinets.items():
        devices = {a["device"]["id"]: a for a in cabinet.state()["abonents"]
                   if a["phone"] in targets[name]}
        toggles = Counter(e["arguments"][0] for e in cabinet.audit()
                          if e["method"] == "setDeviceEnabled")
        assert toggles == dict.fromkeys(devices, 1), name  # each applied exactly once
        assert all(a["device"]["enabled"] for a in devices.values())
    survivor = next(w for w in workers.started if w is not victim)
    assert account in redelivered(survivor)
    skipped = [r for r in reports[account].results if r.result == "skipped"]
    assert skipped, "the redelivered change planned again: what was applied is already on"


def _kill_mid_change(workers: Workers, cabinets: dict[str, VatsSandbox],
                     targets: dict[str, list[str]]) -> tuple[WorkerProcess, str]:
    """SIGKILL a worker whose change has applied some of its items and not all."""
    def midway() -> tuple[WorkerProcess, str] | None:
        for name, cabinet in cabinets.items():
            toggles = [e for e in cabinet.audit() if e["method"] == "setDeviceEnabled"]
            if 0 < len(toggles) < len(targets[name]):
                found = workers.running(name)
                if found is not None:
                    return found[0], name
        return None

    victim, account = wait_for(midway, 120, "a change half applied")
    processes = victim.descendants()
    victim.kill()
    assert not wait_gone(processes, 15), "the killed worker left processes"
    return victim, account


async def test_vats_workers_shows_the_workers_their_jobs_and_the_queue(
        cabinets, workers: Workers, rabbitmq):
    started = {workers.start("w1").name, workers.start("w2").name}
    for cabinet in cabinets.values():
        cabinet.control(latency_ms=700)
    env = {**workers.env}
    async with CeleryEngine(rabbitmq.url, timeout_s=240) as engine:
        jobs = [asyncio.create_task(engine.inventory(a)) for a in entries(cabinets)]
        await asyncio.to_thread(wait_for, lambda: len(workers.active_jobs()) == 2, 60,
                                "two jobs in flight")
        shown = await asyncio.to_thread(_vats, env, "workers", "--format", "json")
        table = await asyncio.to_thread(_vats, env, "workers")
        for cabinet in cabinets.values():
            cabinet.control(latency_ms=0)
        await asyncio.gather(*jobs)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert {w["name"] for w in status["workers"]} == started
    assert all(len(w["processes"]) == 1 for w in status["workers"])
    flying = [job for w in status["workers"] for job in w["jobs"]]
    assert len(flying) == 2 and {j["task"] for j in flying} == {"vats.inventory"}
    assert {j["account"] for j in flying} <= set(cabinets)
    assert status["queue"] == "vats.jobs" and status["consumers"] == 2
    assert 1 <= status["waiting"] <= 4  # six sent, two in flight, some may have ended since
    assert table.returncode == 0 and "w1@test" in table.stdout and "queue vats.jobs:" in table.stdout
    workers.stop()
    workers.started.clear()
    nobody = await asyncio.to_thread(_vats, env, "workers", "--timeout", "0.5")
    assert nobody.returncode == 1 and "no worker answered" in nobody.stderr


def _vats(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_no_password_travels_in_a_message_and_one_job_per_account(cabinets, rabbitmq):
    purge_jobs(rabbitmq.url)  # and no worker runs: the messages stay in the queue
    account, other = entries(cabinets)[:2]
    password = cabinets[account.name].password
    async with CeleryEngine(rabbitmq.url, timeout_s=60) as engine:
        first = asyncio.create_task(engine.inventory(account))
        await asyncio.to_thread(wait_for, lambda: rabbitmq.queues()["vats.jobs"]["messages"],
                                10, "the job in the queue")
        with pytest.raises(AccountBusy):
            await engine.inventory(account)  # its first job is outstanding
        messages = await rabbitmq.messages("vats.jobs")
        first.cancel()
        with pytest.raises(AccountBusy):
            await engine.inventory(account)  # given up on, but it may still run
    assert rabbitmq.queues()["vats.jobs"]["durable"] is True
    assert len(messages) == 1
    message = messages[0]
    args, kwargs, _embed = json.loads(message.body)
    assert (args, kwargs) == ([], {"account": entry_json(account)})
    assert kwargs["account"]["password_env"] == "VATS_TEST_PASSWORD_URAL"
    assert password not in message.body.decode() and password not in repr(message.headers)
    assert message.headers["task"] == "vats.inventory" and message.headers["expires"]
    assert message.delivery_mode == 2 and message.content_type == "application/json"
    assert message.expiration  # the broker drops it when its caller gives up

    async with CeleryEngine(rabbitmq.url, timeout_s=1) as engine:
        with pytest.raises(JobTimeout):
            await engine.inventory(other)
    await asyncio.to_thread(wait_for, lambda: rabbitmq.queues()["vats.jobs"]["messages"] == 0,
                            10, "the expired job dropped")


def test_a_change_run_again_plans_from_the_cabinet_and_changes_nothing_twice(
        cabinets, tmp_path, monkeypatch):
    """A redelivered change is the same job run again: it reads the cabinet, plans anew and
    skips what the first run applied (here both runs in this process, one after the other)."""
    monkeypatch.setenv("VATS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VATS_AUDIT_DB", str(tmp_path / "audit.sqlite"))
    name = "don"
    cabinet = cabinets[name]
    account = next(a for a in entries(cabinets) if a.name == name)
    phones = sorted(t["phone"] for t in cabinet.trunks()
                    if t["device"] and not t["device"]["enabled"])
    first = Job("change enable", account).run(change_work("enable", phones, all_inactive=False,
                                                          include_marked=False))
    again = Job("change enable", account, redelivered=True).run(
        change_work("enable", phones, all_inactive=False, include_marked=False))
    assert [r["result"] for r in first["ok"]["results"]] == ["done"] * len(phones)
    assert [(r["result"], r["detail"]) for r in again["ok"]["results"]] == [
        ("skipped", "already on")] * len(phones)
    assert again["redelivered"] is True
    toggles = [e for e in cabinet.audit() if e["method"] == "setDeviceEnabled"]
    assert len(toggles) == len(phones)
