"""The trunk inventory in real headless Chromium against a 1,000-abonent sandbox, both builds.

The inventory must equal ``/__sandbox__/state`` field for field, for every filter of the
cabinet's panel; the expected set is computed from the state alone (the server's own filter
rules, docs/reconstruction.md), never from the client's ``Filters.matches``. One sandbox per
build and one logged-in ``Vats`` per sandbox keep the module fast; the two clients replay
through the two transports (``TRANSPORTS``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from flows import navigate
from flows.client import Vats, VatsSync
from flows.login import make_authenticate
from flows.trunks import DEVICE_FORM, Inventory, inventory, normalize_phone
from scraper.browser.session import BrowserSession
from scraper.errors import LoginError, UsageError
from scraper.models import TRUNK_COLUMNS, Abonent, Filters, Trunk
from tests.conftest import REPO, SandboxHandle, account_settings, start_sandbox_process, stop_sandbox_process
from vats_fixtures.sandbox import builds

pytestmark = pytest.mark.browser
#: the async tests share the module's loop: the logged-in client lives in it
shared_loop = pytest.mark.asyncio(loop_scope="module")

ABONENTS = 1000
AXES = {"marked": "marked_for_deletion", "blocked": "blocked", "active": "active"}
ALL = Filters()
SINGLE_AXIS = [ALL] + [Filters(**{axis: want}) for axis in AXES for want in ("no", "yes")]
COMBINED = [
    Filters(marked="no", active="no"),       # switched off or without device, not marked
    Filters(marked="yes", blocked="no", active="no"),
    Filters(marked="yes", active="yes"),     # nothing: every marked abonent is switched off
    Filters(marked="no", blocked="yes", active="yes"),
]
ABONENT_FIELDS = ("phone", "abonent_id", "enterprise_id", "name", "active", "blocked",
                  "marked_for_deletion")


# --- what the state says ------------------------------------------------------------------------
def wanted(filters: Filters, abonent: dict[str, Any]) -> bool:
    """The cabinet's filter panel as the sandbox applies it: each axis all / no / yes."""
    for axis, key in AXES.items():
        want = getattr(filters, axis)
        if want != "all" and abonent[key] != (want == "yes"):
            return False
    return True


def expected_trunk(abonent: dict[str, Any], enterprise_id: int) -> dict[str, Any]:
    device = abonent["device"]
    return {
        "phone": abonent["phone"], "abonent_id": abonent["id"], "enterprise_id": enterprise_id,
        "identify_line": abonent["identify_line"],
        "sip_login": device["login"] if device else None,
        "sip_password": device["password"] if device else None,
        "has_device": device is not None,
        "device_enabled": bool(device and device["enabled"]),
        "device_id": device["id"] if device else None,
        "active": abonent["active"], "blocked": abonent["blocked"],
        "marked_for_deletion": abonent["marked_for_deletion"],
    }


def expected_abonent(abonent: dict[str, Any], enterprise_id: int) -> dict[str, Any]:
    return {"phone": abonent["phone"], "abonent_id": abonent["id"], "enterprise_id": enterprise_id,
            "name": abonent["name"], "active": abonent["active"], "blocked": abonent["blocked"],
            "marked_for_deletion": abonent["marked_for_deletion"]}


def expected(state: dict[str, Any], filters: Filters = ALL, phones: set[str] | None = None
             ) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """(trunks, other abonents) by abonent id; a trunk is an abonent with an identify line."""
    enterprise_id = state["enterprise_id"]
    chosen = [a for a in state["abonents"]
              if wanted(filters, a) and (phones is None or a["phone"] in phones)]
    trunks = {a["id"]: expected_trunk(a, enterprise_id)
              for a in chosen if a["identify_line"] is not None}
    others = {a["id"]: expected_abonent(a, enterprise_id)
              for a in chosen if a["identify_line"] is None}
    return trunks, others


def expected_summary(trunks: dict[int, dict[str, Any]], others: dict[int, dict[str, Any]]
                     ) -> dict[str, int]:
    """The counts by state the summary line shows."""
    return {
        "trunks": len(trunks),
        "working": sum(t["has_device"] and t["device_enabled"] for t in trunks.values()),
        "off": sum(t["has_device"] and not t["device_enabled"] for t in trunks.values()),
        "no-device": sum(not t["has_device"] for t in trunks.values()),
        "blocked": sum(t["blocked"] for t in trunks.values()),
        "marked": sum(t["marked_for_deletion"] for t in trunks.values()),
        "abonents": len(others), "unknown": 0, "excluded": 0, "failed": 0,
    }


# --- what vats says -----------------------------------------------------------------------------
def trunk_fields(trunk: Trunk) -> dict[str, Any]:
    """Every model field, the secret unwrapped — so a new field fails the comparison."""
    assert isinstance(trunk, Trunk)
    values = {name: getattr(trunk, name) for name in TRUNK_COLUMNS}
    if trunk.sip_password is not None:
        values["sip_password"] = trunk.sip_password.get_secret_value()
    return values


def found(inventory: Inventory) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    trunks = {t.abonent_id: trunk_fields(t) for t in inventory.trunks}
    assert len(trunks) == len(inventory.trunks), "a trunk came back twice"
    assert [a for a in inventory.abonents if type(a) is not Abonent] == [], "non-trunks must be Abonents"
    others = {a.abonent_id: {f: getattr(a, f) for f in ABONENT_FIELDS} for a in inventory.abonents}
    assert len(others) == len(inventory.abonents), "an abonent came back twice"
    return trunks, others


def assert_matches(inventory: Inventory, want: tuple[dict[int, dict[str, Any]],
                                                      dict[int, dict[str, Any]]]) -> None:
    assert inventory.failures == {}
    trunks, others = found(inventory)
    want_trunks, want_others = want
    assert trunks.keys() == want_trunks.keys(), (
        f"missing {sorted(want_trunks.keys() - trunks.keys())[:5]}, "
        f"extra {sorted(trunks.keys() - want_trunks.keys())[:5]}")
    wrong = {i: (trunks[i], want_trunks[i]) for i in trunks if trunks[i] != want_trunks[i]}
    assert not wrong, f"{len(wrong)} trunks differ, e.g. {next(iter(wrong.values()))}"
    assert others == want_others


# --- one 1,000-abonent sandbox per build, one logged-in client per sandbox -----------------------
#: build → how its client replays calls. The default in-page fetch on one build, Playwright's
#: request API (``transport="request"``, about twice as fast here) on the other: both transports
#: are held to the state field for field, and the module stays near a minute on two cores.
TRANSPORTS = {"older": "page", "newer": "request"}


@pytest.fixture(scope="module", params=list(TRANSPORTS))
def big_sandbox(request: pytest.FixtureRequest) -> Any:
    process, (url,), log = start_sandbox_process("--abonents", str(ABONENTS),
                                                 "--build", request.param)
    try:
        handle = SandboxHandle(url, log)
        assert handle.state()["build"] == request.param
        yield handle
    finally:
        stop_sandbox_process(process)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def big_state(big_sandbox: SandboxHandle) -> dict[str, Any]:
    """Read once: every test of the module only reads, so the state never changes."""
    state = big_sandbox.state()
    assert len(state["abonents"]) == ABONENTS
    return state


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vats(big_sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Any:
    build = big_sandbox.state()["build"]
    settings = account_settings(big_sandbox, state_dir=tmp_path_factory.mktemp("state"),
                                transport=TRANSPORTS[build])
    async with Vats(settings=settings) as client:
        yield client


def test_the_seed_is_mixed(big_state: dict[str, Any]) -> None:
    """The data covers every case the comparison must see (else the test proves little)."""
    abonents = big_state["abonents"]
    trunks = [a for a in abonents if a["identify_line"] is not None]
    assert 0 < len(trunks) < len(abonents)
    assert {(a["device"] is not None, bool(a["device"] and a["device"]["enabled"]))
            for a in trunks} == {(True, True), (True, False), (False, False)}
    for key in AXES.values():
        assert {a[key] for a in trunks} == {False, True}
    assert any(set("&=<>'\"\\") & set(a["device"]["password"]) for a in trunks if a["device"])


@shared_loop
@pytest.mark.parametrize("filters", SINGLE_AXIS + COMBINED,
                         ids=lambda f: "-".join(f"{k}={v}" for k, v in f if v != "all") or "all")
async def test_inventory_equals_state(vats: Vats, big_state: dict[str, Any],
                                      filters: Filters) -> None:
    seen: list[tuple[int, int]] = []
    inventory = await vats.trunks(filters, progress=lambda done, total: seen.append((done, total)))
    assert inventory.unknown_numbers == []
    want = expected(big_state, filters)
    assert_matches(inventory, want)
    assert inventory.summary() == expected_summary(*want)
    count = len(inventory.trunks)  # progress counts device forms, one per trunk
    assert seen == [(done, count) for done in range(1, count + 1)]


@shared_loop
async def test_abonent_list_is_complete_and_filtered(vats: Vats, big_state: dict[str, Any]) -> None:
    """``abonents()`` is every row on every page (10 pages of 100), each matching the filter."""
    rows = await vats.abonents()
    assert len(rows) == ABONENTS
    assert {r.abonent_id for r in rows} == {a["id"] for a in big_state["abonents"]}
    by_id = {a["id"]: a for a in big_state["abonents"]}
    for row in rows:
        a = by_id[row.abonent_id]
        assert (row.phone, row.name, row.is_trunk) == (a["phone"], a["name"],
                                                       a["identify_line"] is not None)
    for filters in (Filters(active="no"), Filters(marked="yes", active="no")):
        rows = await vats.abonents(filters)
        assert {r.abonent_id for r in rows} == {a["id"] for a in big_state["abonents"]
                                                 if wanted(filters, a)}
        assert [r for r in rows if not filters.matches(r)] == []


# --- numbers ------------------------------------------------------------------------------------
def spellings(phone: str) -> list[str]:
    """``79991234567`` as people write it."""
    ten = phone[1:]
    return [f"+7 ({ten[:3]}) {ten[3:6]}-{ten[6:8]}-{ten[8:]}", "8" + ten, ten, phone,
            f"8-{ten[:3]}-{ten[3:]}"]


def pick(state: dict[str, Any], kind: str) -> dict[str, Any]:
    tests = {
        "working": lambda a: a["device"] is not None and a["device"]["enabled"] and not a["blocked"],
        "off": lambda a: a["device"] is not None and not a["device"]["enabled"],
        "no_device": lambda a: a["identify_line"] is not None and a["device"] is None,
        "ordinary": lambda a: a["identify_line"] is None,
    }
    return next(a for a in state["abonents"] if tests[kind](a))


def unknown_phone(state: dict[str, Any]) -> str:
    phones = {a["phone"] for a in state["abonents"]}
    return next(p for p in (f"7999{n:07d}" for n in itertools.count()) if p not in phones)


def test_normalize_phone_spellings() -> None:
    for text in [*spellings("79991234567"), "+79991234567", "+7(999)1234567", "7.999.123.45.67",
                 " 8 999 123 45 67 ", "+7 999 123 45 67"]:
        assert normalize_phone(text) == "79991234567", text
    for bad in ("12345", "+1 (999) 123-45-67", "799912345678", "", "+8 999 123 45 67",
                "79991234567)", "++79991234567"):
        with pytest.raises(UsageError):
            normalize_phone(bad)


@pytest.mark.parametrize("bad", ["7924653652x", "x9246536523", "tel:79246536523", "7924653652#",
                                 "79246536 52 x", "+7 924 653-65-2З"])
def test_a_letter_is_refused_not_dropped(bad: str) -> None:
    """``7924653652x`` used to become ``77924653652``: the letters were silently dropped."""
    with pytest.raises(UsageError, match=re.escape(f"not a Russian phone number: {bad!r}")):
        normalize_phone(bad)


@shared_loop
@pytest.mark.parametrize("spelling", range(len(spellings("79990000000"))))
async def test_one_number_in_any_spelling(vats: Vats, big_state: dict[str, Any],
                                          spelling: int) -> None:
    abonent = pick(big_state, "working")
    inventory = await vats.trunks(numbers=[spellings(abonent["phone"])[spelling]])
    assert inventory.unknown_numbers == []
    assert [t.phone for t in inventory.trunks] == [abonent["phone"]]
    assert_matches(inventory, expected(big_state, phones={abonent["phone"]}))


@shared_loop
async def test_several_numbers_and_an_unknown_one(vats: Vats, big_state: dict[str, Any]) -> None:
    chosen = [pick(big_state, kind) for kind in ("working", "off", "no_device", "ordinary")]
    unknown = unknown_phone(big_state)
    numbers = [spellings(a["phone"])[i % 3] for i, a in enumerate(chosen)]
    numbers += [spellings(chosen[0]["phone"])[1]]        # the same phone twice: once in the result
    numbers += [spellings(unknown)[0]]
    inventory = await vats.trunks(numbers=numbers)
    assert inventory.unknown_numbers == [unknown]         # reported, normalised, not dropped
    assert_matches(inventory, expected(big_state, phones={a["phone"] for a in chosen}))
    assert [a.phone for a in inventory.abonents] == [chosen[3]["phone"]]   # not a trunk


@shared_loop
async def test_only_unknown_numbers(vats: Vats, big_state: dict[str, Any]) -> None:
    unknown = unknown_phone(big_state)
    inventory = await vats.trunks(numbers=[unknown])
    assert (inventory.trunks, inventory.abonents, inventory.unknown_numbers) == ([], [], [unknown])
    assert inventory.summary()["unknown"] == 1


@shared_loop
async def test_numbers_within_a_filter(vats: Vats, big_state: dict[str, Any]) -> None:
    """A number outside the filter is not returned; it is reported as left out, not unknown."""
    off, working = pick(big_state, "off"), pick(big_state, "working")
    inventory = await vats.trunks(Filters(active="no"),
                                  numbers=[off["phone"], working["phone"], "79990000001"])
    assert [t.phone for t in inventory.trunks] == [off["phone"]]
    assert inventory.excluded_numbers == [working["phone"]]
    assert inventory.unknown_numbers == ["79990000001"]


@shared_loop
async def test_a_malformed_number_is_a_usage_error(vats: Vats) -> None:
    with pytest.raises(UsageError, match="not a Russian phone number"):
        await vats.trunks(numbers=["12-34"])


@shared_loop
async def test_the_server_never_sees_more_than_the_limit(big_sandbox: SandboxHandle,
                                                         big_state: dict[str, Any],
                                                         tmp_path: Any) -> None:
    """More calls handed over than the cabinet allows (the page queues them), the Devices page
    walked while the list pages are read, and yet not one 503: a fresh client, limit 3."""
    def throttled() -> int:
        return big_sandbox.log_path.read_text(encoding="utf-8").count("-> 503")

    transport = TRANSPORTS[big_state["build"]]
    settings = account_settings(big_sandbox, state_dir=tmp_path, transport=transport,
                                concurrency=3, reuse_session=False)
    before = throttled()
    lines_before = len(big_sandbox.log_path.read_text(encoding="utf-8").splitlines())
    big_sandbox.control(max_concurrent_calls=3, latency_ms=30)  # latency: calls overlap for sure
    try:
        async with Vats(settings=settings) as client:
            inventory = await client.trunks()
            rpc = client.session.rpc
            assert rpc is not None
            peak = rpc.limit.peak
    finally:
        big_sandbox.control(max_concurrent_calls=0, latency_ms=0)
    assert_matches(inventory, expected(big_state))
    assert throttled() == before
    # device forms were read while list pages were still coming in (streamed, not phased)
    calls = [line for line in big_sandbox.log_path.read_text(encoding="utf-8").splitlines()
             [lines_before:] if "-> 200" in line]
    lists = [i for i, line in enumerate(calls) if "AbonentBrowserGwtService.list" in line]
    forms = [i for i, line in enumerate(calls) if "DispatcherGwtService.getForm" in line]
    assert len(lists) >= 10 and forms and forms[0] < lists[-1]
    if transport == "page":
        assert rpc.ahead > 0 and peak > 3  # the next calls waited in the page
    else:
        assert peak == 3


# --- the synchronous facade ---------------------------------------------------------------------
def test_vats_sync_from_plain_code(sandbox: SandboxHandle, state_dir: Any) -> None:
    """``VatsSync`` in code without a loop; the same answer as the async client."""
    settings = account_settings(sandbox)
    filters = Filters(marked="no")
    with VatsSync(settings=settings) as client:
        synced = client.trunks(filters)
        rows = client.abonents(filters)

    async def with_async() -> Inventory:
        async with Vats(settings=settings) as client:
            return await client.trunks(filters)

    awaited = asyncio.run(with_async())
    state = sandbox.state()
    assert_matches(synced, expected(state, filters))
    assert found(synced) == found(awaited)
    assert len(rows) == len(synced.trunks) + len(synced.abonents)


def test_vats_sync_failed_login_leaks_nothing(sandbox: SandboxHandle, state_dir: Any) -> None:
    """A script that retries a wrong password must not leak an event loop per attempt."""
    settings = account_settings(sandbox, password="wrong-password")

    def attempt() -> None:
        with pytest.raises(LoginError), VatsSync(settings=settings):
            pass

    attempt()  # the first one also loads modules and the browser's files
    before = len(os.listdir("/proc/self/fd"))
    attempt()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_readme_library_example_runs(sandbox: SandboxHandle, state_dir: Any) -> None:
    """The README's library example, pointed at the sandbox, prints every trunk."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(b.split("```", 1)[0] for b in readme.split("```python\n")[1:]
                 if "from flows.client import Vats" in b)
    assert "http://127.0.0.1:8480" in block
    code = block.replace("http://127.0.0.1:8480", sandbox.url)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    trunks, _ = expected(sandbox.state())
    assert sorted(result.stdout.splitlines()) == sorted(
        f"{t['phone']} {t['sip_login']} {t['device_enabled']}" for t in trunks.values())


# --- one Devices page walk per build (scraper/browser/buildnotes.py) ----------------------------
async def _inventory_walks(sandbox: SandboxHandle, host: Any) -> tuple[Inventory, int, int]:
    """One session's inventory: what it found, the device form's ordinal it used, and how many
    getForm calls the app itself made (a Devices page walk makes one; our replays are not
    captured)."""
    async with BrowserSession(host, account_settings(sandbox),
                              authenticate=make_authenticate()) as session:
        await session.open_app()
        result = await inventory(session)
        app_forms = [e for e in session.capture.exchanges if navigate.GET_FORM_ANY(e)]
        return result, session.learned.ordinals[DEVICE_FORM], len(app_forms)


async def test_a_build_walked_once_is_recalled_until_a_redeploy(
        sandbox: SandboxHandle, state_dir: Path, vats_host: Any) -> None:
    """The second session on a build reads every trunk without opening a Devices page; after a
    redeploy the new build (another ordinal) is walked again, and both builds' notes stay."""
    first, ordinal, walks = await _inventory_walks(sandbox, vats_host)
    assert (ordinal, walks) == (builds.get_build("older").device_form, 1)
    assert_matches(first, expected(sandbox.state()))
    again, ordinal, walks = await _inventory_walks(sandbox, vats_host)
    assert (ordinal, walks) == (builds.get_build("older").device_form, 0)
    assert found(again) == found(first)

    sandbox.control(redeploy=True)
    newer, ordinal, walks = await _inventory_walks(sandbox, vats_host)
    assert (ordinal, walks) == (builds.get_build("newer").device_form, 1)
    assert_matches(newer, expected(sandbox.state()))
    notes = sorted((state_dir / "builds").glob("*.notes.json"))
    assert len(notes) == 2
    text = "".join(path.read_text(encoding="utf-8") for path in notes)
    assert "sandbox" not in text  # the account's password (ACCOUNT_PASSWORD) is in no note
    assert all(t.sip_password.get_secret_value() not in text
               for t in newer.trunks if t.sip_password)


async def test_a_note_this_build_cannot_decode_is_walked_past(
        sandbox: SandboxHandle, state_dir: Path, vats_host: Any) -> None:
    _, _, walks = await _inventory_walks(sandbox, vats_host)
    assert walks == 1
    (path,) = (state_dir / "builds").glob("*.notes.json")
    notes = json.loads(path.read_text(encoding="utf-8"))
    notes[DEVICE_FORM]["body"] = "7|0|garbage"
    path.write_text(json.dumps(notes), encoding="utf-8")
    result, ordinal, walks = await _inventory_walks(sandbox, vats_host)
    assert (ordinal, walks) == (builds.get_build("older").device_form, 1)
    assert_matches(result, expected(sandbox.state()))
    assert json.loads(path.read_text(encoding="utf-8"))[DEVICE_FORM]["body"] != "7|0|garbage"
