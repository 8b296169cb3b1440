"""vats on the sandbox's drift build [R], in real Chromium: a release whose classes differ from
our reconstruction as a real one might (a new field in the middle of the device record, an extra
field in the list row, the list answer and row classes renamed). vats must read every trunk,
switch and create devices, and ``doctor`` must name each difference — all from the layouts it
derives from the served permutation, none of it from our schema's guesses.
"""

from __future__ import annotations

from typing import Any

import pytest

from flows import doctor
from flows.client import Vats
from scraper import profile
from scraper.models import Filters
from tests.conftest import account_settings, sandbox_handle
from tests.flows.test_trunks import assert_matches, expected

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def drift_sandbox() -> Any:
    with sandbox_handle("--abonents", "60", "--build", "drift") as handle:
        assert handle.state()["build"] == "drift"
        yield handle


@pytest.fixture
def cabinet(drift_sandbox: Any) -> Any:
    drift_sandbox.control(reset=True)
    assert drift_sandbox.state()["build"] == "drift"
    return drift_sandbox


def client(handle: Any, tmp_path: Any) -> Vats:
    return Vats(settings=account_settings(handle, state_dir=tmp_path))


async def test_inventory_of_the_drift_build_equals_the_state(cabinet: Any, tmp_path: Any) -> None:
    state = cabinet.state()
    async with client(cabinet, tmp_path) as vats:
        inventory = await vats.trunks()
        live = vats.session.live
        assert live.derived is not None, "the layouts must come from the permutation"
        assert profile.LIST_RECORD not in live.derived.types  # renamed in this build
    assert_matches(inventory, expected(state, Filters()))


async def test_switch_and_create_devices_on_the_drift_build(cabinet: Any, tmp_path: Any) -> None:
    abonents = cabinet.state()["abonents"]
    off = next(a for a in abonents if a["identify_line"] and a["device"]
               and not a["device"]["enabled"])
    bare = next(a for a in abonents if a["identify_line"] and a["device"] is None)
    async with client(cabinet, tmp_path) as vats:
        enabled = await vats.enable([off["phone"]])
        created = await vats.add_device([bare["phone"]])
    assert [r.result for r in enabled.results] == ["done"]
    assert [r.result for r in created.results] == ["done"]
    after = {a["phone"]: a for a in cabinet.state()["abonents"]}
    assert after[off["phone"]]["device"]["enabled"] is True
    assert after[bare["phone"]]["device"] is not None
    writes = [e for e in cabinet.audit() if e["method"] in ("setDeviceEnabled", "updateForm")]
    assert len(writes) == 2  # each applied once


async def test_doctor_names_each_difference_of_the_drift_build(cabinet: Any,
                                                               tmp_path: Any) -> None:
    async with client(cabinet, tmp_path) as vats:
        session = vats.session
        observed = await doctor.observe(session)
        findings = doctor.examine(session.live, session.learned.ordinals, observed,
                                  session.registry)
    by_item = {f.item: f for f in findings}
    record = by_item["layout of AbonentDeviceRecordGWTModel"]
    assert record.status == "differs" and "16 live" in record.live and not record.needed
    rows = [f for f in findings if f.item.startswith("layout of AbonentBrowserRecordGWTModel")]
    assert rows and rows[0].status == "differs" and "bound by structure" in rows[0].item
    assert "AbonentListItemGWTModel" in rows[0].item and not rows[0].needed
    answers = [f for f in findings
               if f.item.startswith("layout of AbonentBrowserResponseGWTModel (bound")]
    assert answers and answers[0].status == "confirmed"
    assert "AbonentListResultGWTModel" in answers[0].item
    assert by_item["type signature of AbonentDeviceRecordGWTModel"].status == "differs"
    assert doctor.healthy(findings)
