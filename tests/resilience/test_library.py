"""The matrix cells run through the library (``flows.client.Vats``) on pytest-playwright's one
Chromium (``vats_host``: ``--tracing retain-on-failure`` keeps a failed cell's trace).

Mid-run faults are injected from the job's own progress callback when half of the items are
done; the start conditions (wrong password, confirmation code, UI variant) before the login.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from flows.client import Vats
from scraper.browser.host import BrowserHost
from scraper.errors import HTTPStatusError, LoginError
from tests.conftest import SandboxHandle, account_settings
from tests.resilience.conftest import Later
from tests.resilience.matrix import (
    ACTION,
    BAD_DAY_REDEPLOY_S,
    EXPECT,
    RESULTS,
    ROWS,
    ItemOutcome,
    LogTail,
    Midway,
    cell_id,
    check_changes,
    check_fault_bit,
    check_inventory,
    check_untouched,
    handle_control_state,
    is_bad_day,
    midway_knobs,
    settings_overrides,
    start_knobs,
    targets,
    trunk_fields,
)

pytestmark = pytest.mark.browser

LIBRARY_CELLS = [
    *[(row, "inventory") for row in ("http500", "throttle", "reset", "stall", "expiry",
                                     "redeploy", "password", "code", "ui-b")],
    *[(row, "switch") for row in ("http500", "throttle", "reset", "stall", "expiry", "redeploy",
                                  "code")],
    *[(row, "devices") for row in ("http500", "throttle", "reset", "stall", "expiry", "redeploy",
                                   "ui-b")],
    *[(row, job) for job in ("inventory", "switch", "devices") for row in ROWS if is_bad_day(row)],
]


@pytest.fixture
def host(vats_host: BrowserHost) -> BrowserHost:
    """One Chromium for every library cell; each cell gets its own context and login."""
    return vats_host


def code_from(handle: SandboxHandle) -> Callable[[], Awaitable[str]]:
    """The 'SMS': the code the sandbox issued, read while the code page stays open."""

    async def provider() -> str:
        for _ in range(100):
            code = (await asyncio.to_thread(handle.state))["pending_code"]
            if code:
                return str(code)
            await asyncio.sleep(0.05)
        raise AssertionError("no confirmation code was issued")

    return provider


@pytest.mark.parametrize("cell", LIBRARY_CELLS, ids=cell_id)
async def test_cell(cell: tuple[str, str], cabinet: SandboxHandle, workdir: Path,
                    host: BrowserHost, later: Later) -> None:
    row, job = cell
    knobs = start_knobs(row)
    if knobs:
        cabinet.control(**knobs)
    before = cabinet.state()
    tail = LogTail(cabinet)
    audit_db = workdir / "audit.sqlite"
    settings = account_settings(cabinet, audit_db=audit_db, state_dir=workdir / "state",
                                **settings_overrides(row))
    midway = Midway(cabinet, midway_knobs(row, job))
    vats = Vats(settings=settings, host=host,
                code_provider=code_from(cabinet) if row == "code" else None)
    if is_bad_day(row):
        later(BAD_DAY_REDEPLOY_S, lambda: cabinet.control(redeploy=True))

    if EXPECT[row] == "login-refused":
        with pytest.raises(LoginError) as info:
            async with vats:
                raise AssertionError("logged in with a wrong password")
        assert info.value.page_message == "Неверный логин или пароль"
        check_untouched(cabinet, before, audit_db)
        RESULTS[cell] = "stopped: LoginError"
        return

    if job == "inventory":
        async with vats:
            inventory = await vats.trunks(progress=midway)
        if EXPECT[row] in ("ok", "exact"):  # why, before how many
            assert not inventory.failures, sorted(set(inventory.failures.values()))[:5]
        outcome = check_inventory(
            before, [trunk_fields(t) for t in inventory.trunks], set(inventory.failures),
            expect=EXPECT[row], others={a.abonent_id: a.model_dump() for a in inventory.abonents})
    else:
        action, numbers = ACTION[job], targets(job, before)
        async with vats:
            plan = await vats.plan(action, numbers)  # type: ignore[arg-type]
            report = await vats.apply(action, plan, progress=midway)  # type: ignore[arg-type]
        items = [ItemOutcome(r.item.number, r.item.status, r.result, r.detail)
                 for r in report.results]
        outcome = check_changes(cabinet, before, action, numbers, items, audit_db,
                                expect=EXPECT[row])
    if midway.knobs is not None:
        assert midway.fired_at is not None, "the fault was never injected"
    check_fault_bit(cabinet, row, job, tail)
    RESULTS[cell] = outcome


async def test_sustained_throttling_fails_no_change(cabinet: SandboxHandle, workdir: Path,
                                                    host: BrowserHost) -> None:
    """Not a cell: a bulk change throttled all along (server limit 1, client concurrency 8).

    Nothing may be lost or applied twice, and every item ends done: a 503 is a refusal at the
    door, waited out without counting as an attempt, and the adaptive limit probes upwards
    only slowly.
    """
    before = cabinet.state()
    numbers = [a["phone"] for a in before["abonents"]
               if a["identify_line"] and a["device"] and a["device"]["enabled"]][:60]
    audit_db = workdir / "audit.sqlite"
    settings = account_settings(cabinet, audit_db=audit_db, state_dir=workdir / "state",
                                concurrency=8)
    async with Vats(settings=settings, host=host) as vats:
        plan = await vats.plan("disable", numbers)
        cabinet.control(max_concurrent_calls=1, latency_ms=30)
        report = await vats.apply("disable", plan)
    items = [ItemOutcome(r.item.number, r.item.status, r.result, r.detail)
             for r in report.results]
    check_changes(cabinet, before, "disable", numbers, items, audit_db, expect="any")
    failed = [i.detail for i in items if i.result == "failed"]
    # throttled answers are refusals at the door: they are waited out (re-read first), and
    # never count as one of a change's attempts — every item ends done
    assert failed == [], failed[:3]


async def test_faults_while_the_app_starts_are_walked_through(
        cabinet: SandboxHandle, workdir: Path, host: BrowserHost) -> None:
    """Not a cell: the app's own first calls fail (a 500 burst at the login). The walk into the
    app is retried like a read, so the run goes on; when every call fails it stops with the
    typed error of the app's failed call, after its tries — not after the login timeout."""
    cabinet.control(faults=[{"kind": "http500", "next": 3}])
    settings = account_settings(cabinet, audit_db=workdir / "audit.sqlite",
                                state_dir=workdir / "state", login_timeout_s=20)
    async with Vats(settings=settings, host=host) as vats:
        inventory = await vats.trunks()
    assert inventory.trunks and not inventory.failures
    assert handle_control_state(cabinet)["faults"][0]["hits"] == 3

    cabinet.control(reset=True)
    cabinet.control(faults=[{"kind": "http500", "rate": 1}])
    before = cabinet.state()
    audit_db = workdir / "audit2.sqlite"
    settings = account_settings(cabinet, audit_db=audit_db, state_dir=workdir / "state2",
                                login_timeout_s=20)
    started = time.monotonic()
    with pytest.raises(HTTPStatusError) as info:
        async with Vats(settings=settings, host=host):
            raise AssertionError("the app started although all its calls failed")
    assert info.value.status == 500 and info.value.method  # names the app's failed call
    assert time.monotonic() - started < 20, "waited out the login timeout"
    check_untouched(cabinet, before, audit_db)
