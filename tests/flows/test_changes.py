"""Changes against the sandbox in real Chromium: single and bulk, idempotent, faults mid-run.

Every scenario checks the three records against each other: the report (every item done,
skipped or failed), the sandbox's own audit (nothing applied twice) and the sandbox state (the
targets of every item not reported failed are reached).
"""

import json
from collections import Counter

import pytest

from flows.changes import reached
from flows.client import Vats
from scraper.audit import AuditLog
from tests.conftest import account_settings, sandbox_handle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def big_sandbox():
    with sandbox_handle("--abonents", "200") as handle:
        yield handle


@pytest.fixture
def cabinet(big_sandbox):
    big_sandbox.control(reset=True)
    return big_sandbox


@pytest.fixture
def audit_db(tmp_path, monkeypatch):
    path = tmp_path / "audit.sqlite"
    monkeypatch.setenv("VATS_AUDIT_DB", str(path))
    return path


def trunks(handle, pred):
    return [a for a in handle.state()["abonents"] if a["identify_line"] and pred(a)]


def device_on(a):
    return a["device"] is not None and a["device"]["enabled"]


def mutations(handle, method):
    return [e for e in handle.audit() if e["method"] == method]


def by_phone(handle):
    return {a["phone"]: a for a in handle.state()["abonents"]}


def check_consistent(handle, report, predicate):
    """Every item accounted for; targets reached for all not failed."""
    assert len(report.results) == len(report.plan)
    state = by_phone(handle)
    for result in report.results:
        if result.result != "failed" and result.item.status in ("apply", "skip"):
            assert predicate(state[result.item.number]), (result.item.number, result.detail)


def vats(handle, **overrides):
    return Vats(settings=account_settings(handle, **overrides))


async def test_enable_single_then_idempotent(cabinet, state_dir, audit_db):
    target = trunks(cabinet, lambda a: a["device"] and not a["device"]["enabled"])[0]
    async with vats(cabinet) as client:
        report = await client.enable([target["phone"]])
        assert [r.result for r in report.results] == ["done"]
        assert by_phone(cabinet)[target["phone"]]["device"]["enabled"] is True
        again = await client.plan("enable", [target["phone"]])
        assert [i.status for i in again] == ["skip"]
    entries = AuditLog(audit_db).entries()
    assert [(e.number, e.action, e.result) for e in entries] == [(target["phone"], "enable", "done")]
    assert entries[0].before["device_enabled"] is False and entries[0].after["device_enabled"] is True


async def test_plan_reports_unknown_and_non_trunks(cabinet, state_dir, audit_db):
    state = cabinet.state()["abonents"]
    ordinary = next(a for a in state if not a["identify_line"])
    on = next(a for a in state if a["identify_line"] and device_on(a))
    async with vats(cabinet) as client:
        plan = await client.plan("enable", ["79990000001", ordinary["phone"], on["phone"]])
        report = await client.apply("enable", plan)
    assert [i.status for i in plan] == ["unknown", "not-a-trunk", "skip"]
    assert [r.result for r in report.results] == ["skipped"] * 3
    assert mutations(cabinet, "setDeviceEnabled") == []
    assert AuditLog(audit_db).entries() == []


@pytest.mark.parametrize("action", ["disable", "remove-device", "add-device", "enable"])
async def test_each_operation_in_bulk(cabinet, state_dir, audit_db, action):
    pick = {
        "disable": device_on,
        "enable": lambda a: a["device"] and not a["device"]["enabled"],
        "remove-device": lambda a: a["device"] is not None,
        "add-device": lambda a: a["device"] is None,
    }[action]
    numbers = [a["phone"] for a in trunks(cabinet, pick)][:12]
    assert len(numbers) >= 5
    async with vats(cabinet, concurrency=4) as client:
        report = await client.change(action, numbers)
        assert report.counts() == {"done": len(numbers), "skipped": 0, "failed": 0}
        rerun = await client.plan(action, numbers)
        assert all(i.status == "skip" for i in rerun)  # re-running yields an empty plan
    state = by_phone(cabinet)
    for result in report.results:
        assert reached(result.after, action)
    want = {"disable": lambda a: a["device"] and not a["device"]["enabled"],
            "enable": device_on, "remove-device": lambda a: a["device"] is None,
            "add-device": lambda a: a["device"] is not None}[action]
    assert all(want(state[n]) for n in numbers)
    method = "setDeviceEnabled" if action in ("enable", "disable") else "updateForm"
    assert len(mutations(cabinet, method)) == len(numbers)  # exactly one call each
    assert len(AuditLog(audit_db).entries()) == len(numbers)
    if action == "add-device":
        for number in numbers:
            device = state[number]["device"]
            assert device["type"] == "Generic SIP Phone" and device["name"] == "SIP-phone"


FAULTS = {
    "http500 before": [{"kind": "http500", "next": 1, "method": "setDeviceEnabled"}],
    "http500 after": [{"kind": "http500", "next": 1, "method": "setDeviceEnabled",
                       "after": True}],
    "reset after": [{"kind": "reset", "next": 1, "method": "setDeviceEnabled", "after": True}],
    "stall": [{"kind": "stall", "next": 1, "method": "setDeviceEnabled"}],
    "stall after": [{"kind": "stall", "next": 1, "method": "setDeviceEnabled", "after": True}],
}


async def _bulk_with_midway(cabinet, knobs, *, timeout_s=15.0, count=20):
    numbers = [a["phone"] for a in trunks(cabinet, device_on)][:count]
    async with vats(cabinet, concurrency=4, timeout_s=timeout_s) as client:
        plan = await client.plan("disable", numbers)
        fired = False

        def progress(done, total):
            nonlocal fired
            if done >= total // 2 and not fired:
                fired = True
                cabinet.control(**knobs)

        report = await client.apply("disable", plan, progress=progress)
    return numbers, report


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_fault_mid_bulk_nothing_lost_nothing_twice(cabinet, state_dir, audit_db, fault):
    numbers, report = await _bulk_with_midway(cabinet, {"faults": FAULTS[fault]}, timeout_s=3)
    check_consistent(cabinet, report, lambda a: a["device"] and not a["device"]["enabled"])
    per_device = Counter(str(e["arguments"]) for e in mutations(cabinet, "setDeviceEnabled"))
    assert max(per_device.values()) == 1, per_device  # none applied twice
    assert report.counts()["done"] == len(numbers), [r.detail for r in report.failed]  # recoverable
    assert len(AuditLog(audit_db).entries()) == len(numbers)


async def test_session_expiry_mid_bulk(cabinet, state_dir, audit_db):
    numbers, report = await _bulk_with_midway(cabinet, {"expire_sessions": True})
    assert report.counts()["done"] == len(numbers)
    check_consistent(cabinet, report, lambda a: a["device"] and not a["device"]["enabled"])
    logins = [e for e in cabinet.audit() if e["method"] == "login"]
    assert len(logins) == 2  # re-established once, the batch went on


async def test_redeploy_mid_bulk(cabinet, state_dir, audit_db):
    numbers, report = await _bulk_with_midway(cabinet, {"redeploy": True})
    assert cabinet.state()["build"] == "newer"
    assert report.counts()["done"] == len(numbers)
    check_consistent(cabinet, report, lambda a: a["device"] and not a["device"]["enabled"])
    per_device = Counter(str(e["arguments"]) for e in mutations(cabinet, "setDeviceEnabled"))
    assert max(per_device.values()) == 1


async def test_refused_item_is_reported_failed_and_others_done(cabinet, state_dir, audit_db):
    numbers = [a["phone"] for a in trunks(cabinet, device_on)][:6]
    cabinet.control(faults=[{"kind": "ex", "next": 1, "method": "setDeviceEnabled"}])
    async with vats(cabinet, concurrency=1) as client:
        report = await client.disable(numbers)
    counts = report.counts()
    assert counts["failed"] == 1 and counts["done"] == 5
    failed = report.failed[0]
    assert "refused" in failed.detail
    check_consistent(cabinet, report, lambda a: a["device"] and not a["device"]["enabled"])
    assert by_phone(cabinet)[failed.item.number]["device"]["enabled"] is True


# --- an audit log that cannot be written ---------------------------------------------------


def switched(handle):
    """Numbers whose device the sandbox switched (its own audit of mutations)."""
    by_device = {a["device"]["id"]: a["phone"] for a in handle.state()["abonents"] if a["device"]}
    return Counter(by_device[e["arguments"][0]] for e in mutations(handle, "setDeviceEnabled"))


async def test_an_audit_that_fails_mid_batch_starts_no_new_change(cabinet, state_dir, audit_db):
    """The log breaks after a few items: no change starts after that, those in flight finish,
    every item is reported, and the run ends in one AuditError that carries the report."""
    from scraper.errors import AuditError

    numbers = [a["phone"] for a in trunks(cabinet, device_on)][:30]
    broken = []

    def progress(done, total):
        if done == 3 and not broken:
            broken.append(done)
            audit_db.write_bytes(b"this is not a database" * 100)

    async with vats(cabinet, concurrency=3) as client:
        plan = await client.plan("disable", numbers)
        with pytest.raises(AuditError) as info:
            await client.apply("disable", plan, progress=progress)
    error = info.value
    assert str(audit_db) in str(error) and error.path == str(audit_db)
    report = error.report
    assert [r.item.number for r in report.results] == numbers  # every item, in order
    results = Counter(r.result for r in report.results)
    assert results["skipped"] > 0, results  # new changes were not started
    not_started = {r.item.number for r in report.results if r.result == "skipped"}
    assert all(r.detail.startswith("not started") for r in report.results
               if r.result == "skipped")
    applied = switched(cabinet)
    assert not_started.isdisjoint(applied), "a change started after the audit failed"
    assert max(applied.values()) == 1
    # what was started was finished and is reported as the cabinet shows it
    state = by_phone(cabinet)
    for result in report.results:
        if result.result == "done":
            assert not state[result.item.number]["device"]["enabled"], result
    unaudited = [r for r in report.results if "NOT AUDITED" in r.detail]
    assert unaudited, "the failed write must show on the items it concerns"
    assert len(applied) == results["done"] + results["failed"]


async def test_an_audit_that_cannot_be_opened_stops_before_the_first_change(
        cabinet, state_dir, tmp_path):
    from scraper.errors import AuditError

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    numbers = [a["phone"] for a in trunks(cabinet, device_on)][:3]
    async with vats(cabinet, audit_db=not_a_folder / "audit.sqlite") as client:
        plan = await client.plan("disable", numbers)
        with pytest.raises(AuditError, match="cannot be written"):
            await client.apply("disable", plan)
    assert mutations(cabinet, "setDeviceEnabled") == []


async def test_a_devices_page_that_fails_to_load_is_no_refusal(cabinet, state_dir, audit_db):
    """The first switch goes through the page; its form answered //EX is a page that did not
    load (nothing was switched), not the server refusing the change: the item is done."""
    numbers = [a["phone"] for a in trunks(cabinet, device_on)][:2]
    async with vats(cabinet, concurrency=1) as client:
        plan = await client.plan("disable", numbers)
        knobs = cabinet.control(faults=[{"kind": "ex", "next": 1, "method": "getForm"}])
        assert knobs["faults"][0]["hits"] == 0
        report = await client.apply("disable", plan)
    assert [r.result for r in report.results] == ["done", "done"], [r.detail for r in report.results]
    check_consistent(cabinet, report, lambda a: a["device"] and not a["device"]["enabled"])
    assert len(mutations(cabinet, "setDeviceEnabled")) == 2
    import urllib.request

    with urllib.request.urlopen(f"{cabinet.url}/__sandbox__/control", timeout=10) as answer:
        assert json.loads(answer.read())["faults"][0]["hits"] == 1  # the fault did bite


# --- what a plan says out loud (issue 13) ---------------------------------------------------


async def test_all_inactive_leaves_marked_trunks_out_unless_asked(cabinet, state_dir, audit_db):
    from scraper.errors import UsageError

    inactive = trunks(cabinet, lambda a: not a["active"] and a["device"]
                      and not a["device"]["enabled"])
    marked = {a["phone"] for a in inactive if a["marked_for_deletion"]}
    unmarked = {a["phone"] for a in inactive if not a["marked_for_deletion"]}
    assert marked and unmarked
    async with vats(cabinet) as client:
        plan = await client.plan("enable", all_inactive=True)
        with_marked = await client.plan("enable", all_inactive=True, include_marked=True)
        with pytest.raises(UsageError, match="--all-inactive"):
            await client.plan("enable", [next(iter(unmarked))], all_inactive=True)
    todo = {i.number for i in plan if i.status == "apply"}
    assert todo == unmarked
    left_out = {i.number: i for i in plan if i.status == "skip"}
    assert set(left_out) >= marked
    assert all("--include-marked" in left_out[n].reason for n in marked)
    assert all(left_out[n].marked_for_deletion for n in marked)
    assert {i.number for i in with_marked if i.status == "apply"} == marked | unmarked
    assert all(i.marked_for_deletion == (i.number in marked) for i in with_marked)
    assert all(i.blocked is False for i in with_marked)


async def test_disable_without_a_device_has_nothing_to_switch_off(cabinet, state_dir, audit_db):
    bare = trunks(cabinet, lambda a: a["device"] is None)[0]["phone"]
    async with vats(cabinet) as client:
        (off,) = await client.plan("disable", [bare])
        (on,) = await client.plan("enable", [bare])
    assert (off.status, off.reason) == ("skip", "no SIP device: nothing to switch off")
    assert (on.status, on.reason) == ("skip", "no SIP device (run add-device first)")


async def test_remove_then_add_device_says_the_credentials_change(cabinet, state_dir, audit_db):
    number = trunks(cabinet, device_on)[0]["phone"]
    old = by_phone(cabinet)[number]["device"]
    async with vats(cabinet) as client:
        (remove,) = await client.plan("remove-device", [number])
        assert old["login"] in remove.warning and "new" in remove.warning
        await client.apply("remove-device", [remove])
        (add,) = await client.plan("add-device", [number])
        assert "new SIP login and password will be issued" in add.warning
        report = await client.apply("add-device", [add])
    (result,) = report.results
    new = by_phone(cabinet)[number]["device"]
    assert new["login"] != old["login"] and new["password"] != old["password"]
    assert result.result == "done" and result.issued_login == new["login"]
    assert result.after.sip_password.get_secret_value() == new["password"]
    assert report.plan_counts() == {"apply": 1, "skip": 0, "unknown": 0, "not-a-trunk": 0}
