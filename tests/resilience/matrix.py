"""The fault matrix: its rows and columns, what each cell must show, and the checks they share.

A cell passes only if its job either completes with exactly the right result or stops with the
documented typed error and exit code (docs/resilience.md) — and, in every cell, no change is
lost or applied twice: the report, the local audit log (``VATS_AUDIT_DB``), the sandbox's own
audit of mutations and the sandbox's state are checked against each other item by item.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scraper.audit import AuditLog
from scraper.browser.rpc import CallPolicy
from scraper.models import TRUNK_COLUMNS, Trunk
from tests.conftest import ACCOUNT_LOGIN, REPO, SandboxHandle

#: a few hundred abonents: 200 trunks, 125 switched on, 25 without a device (seed.py's mix)
ABONENTS = 250
SWITCH_COUNT = 24
CONCURRENCY = 8  # more than the throttled sandbox allows (2), so throttling really bites
STALL_TIMEOUT_S = 3.0
def _longest_retry_wait(policy: CallPolicy) -> float:
    """How long a read keeps trying at most: every backoff at its longest jitter (× 1.5)."""
    steps = range(1, policy.read_retries + 1)
    return sum(min(policy.max_backoff, policy.backoff * 2.0 ** (i - 1)) * 1.5 for i in steps)


#: how long "HTTP 500 past the retries" lasts: longer than a read keeps trying (the policy's
#: backoffs at their longest, plus a second for the calls themselves), so the items caught at
#: its start fail
LONG_BURST_S = _longest_retry_wait(CallPolicy()) + 1.0

#: a user's bad day, all at once and all along (issue 12): latency 20 + 0..30 ms, at most 6 calls
#: in flight, 8 % HTTP 500s, 3 % resets, 1 % stalls, 5 % of device forms answered //EX, every
#: session gone after 3 s; and a redeploy 1.5 s into the run (``BAD_DAY_REDEPLOY_S``)
BAD_DAY: dict[str, Any] = {
    "latency_ms": 20, "jitter_ms": 30, "max_concurrent_calls": 6, "session_lifetime": 3,
    "faults": [{"kind": "http500", "rate": 0.08}, {"kind": "reset", "rate": 0.03},
               {"kind": "stall", "rate": 0.01},
               {"kind": "ex", "rate": 0.05, "method": "getForm"}],
}
BAD_DAY_REDEPLOY_S = 1.5


def is_bad_day(row: str) -> bool:
    return row.startswith("bad-day-")


ROWS: dict[str, str] = {
    "http500": "HTTP 500 burst",
    "http500-long": "HTTP 500 past the retries",
    "throttle": "throttling (503)",
    "reset": "connection reset",
    "stall": "stall past the timeout",
    "expiry": "session expiry",
    "redeploy": "redeploy",
    "password": "wrong password",
    "code": "confirmation code",
    "ui-b": "new UI variant (b)",
    **{f"bad-day-{seed}": f"all together, seed {seed}" for seed in (1, 2, 3)},
}
COLUMNS: dict[str, str] = {
    "inventory": "inventory",
    "switch": f"bulk switch (disable {SWITCH_COUNT})",
    "devices": "bulk device creation",
}
#: the per-item call each job makes: what a mid-run fault aims at
METHOD = {"inventory": "getForm", "switch": "setDeviceEnabled", "devices": "updateForm"}
ACTION = {"switch": "disable", "devices": "add-device"}
#: ok: every item done / read; items-failed: some reported failed (exit 1); login-refused:
#: LoginError (exit 2); any: only the invariants (nothing lost, nothing twice) are required
#: exact: every item done / read, by whatever path (the first switch need not be the page's)
Expect = Literal["ok", "exact", "items-failed", "login-refused", "any"]
EXPECT: dict[str, Expect] = {row: "exact" if is_bad_day(row) else "ok" for row in ROWS}
EXPECT.update({"http500-long": "items-failed", "password": "login-refused"})

#: (row, column) → what the run showed: "ok (N done)", "stopped: …", "FAIL"; filled by the cells
RESULTS: dict[tuple[str, str], str] = {}


def cell_id(value: tuple[str, str]) -> str:
    return f"{value[0]}-{value[1]}"


# --- the faults -------------------------------------------------------------------------------


def _burst(kind: str, job: str, *, reads: int) -> list[dict[str, Any]]:
    """One mutation failed before it is applied, one after it is applied (changes only), and
    ``reads`` failed reads — fewer than a read's five attempts, so every item can recover."""
    faults: list[dict[str, Any]] = []
    if job != "inventory":
        faults += [{"kind": kind, "next": 1, "method": METHOD[job]},
                   {"kind": kind, "next": 1, "method": METHOD[job], "after": True}]
    faults.append({"kind": kind, "next": reads, "method": "getForm"})
    return faults


def midway_knobs(row: str, job: str) -> dict[str, Any] | None:
    """What the control endpoint gets when half the items are done (None: a start condition)."""
    if row == "http500":
        return {"faults": _burst("http500", job, reads=4)}
    if row == "http500-long":  # every call of the job's per-item method fails (for a while)
        return {"faults": [{"kind": "http500", "rate": 1, "method": METHOD[job]}]}
    if row == "throttle":  # calls take a while, so they overlap at the server as under load
        return {"max_concurrent_calls": 2, "latency_ms": 40}
    if row == "reset":
        return {"faults": _burst("reset", job, reads=4)}
    if row == "stall":
        return {"faults": _burst("stall", job, reads=2)}
    if row == "expiry":
        return {"expire_sessions": True}
    if row == "redeploy":
        return {"redeploy": True}
    return None


def start_knobs(row: str) -> dict[str, Any]:
    """What the sandbox is set to before the login (the rows whose meaning is 'from the start')."""
    if is_bad_day(row):
        return {**BAD_DAY, "fault_seed": int(row.rsplit("-", 1)[1])}
    knobs: dict[str, dict[str, Any]] = {"code": {"require_code": True},
                                        "ui-b": {"ui_variant": "b"}}
    return knobs.get(row, {})


def settings_overrides(row: str) -> dict[str, Any]:
    values: dict[str, Any] = {"concurrency": CONCURRENCY}
    if row == "stall" or is_bad_day(row):
        values["timeout_s"] = STALL_TIMEOUT_S
    if row == "password":
        values["password"] = "wrong-password"
    return values


class Midway:
    """A progress callback that injects the row's fault once half of the items are done."""

    def __init__(self, handle: SandboxHandle, knobs: dict[str, Any] | None) -> None:
        self.handle = handle
        self.knobs = knobs
        self.fired_at: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.knobs is not None and self.fired_at is None and done >= total // 2:
            self.fired_at = (done, total)
            self.handle.control(**self.knobs)


class LogTail:
    """The sandbox's log lines written since this object was made (one line per RPC call)."""

    def __init__(self, handle: SandboxHandle) -> None:
        self.path = handle.log_path
        self.offset = self.path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as file:
            file.seek(self.offset)
            return file.read().decode("utf-8", "replace")

    def count(self, needle: str) -> int:
        return self.text().count(needle)


def check_fault_bit(handle: SandboxHandle, row: str, job: str, tail: LogTail) -> None:
    """The injected fault really happened (else the cell proves nothing)."""
    if row in ("http500", "reset", "stall"):  # every fault of the burst fired
        faults = handle_control_state(handle)["faults"]
        assert faults and all(f["hits"] > 0 for f in faults), faults
    elif row == "http500-long":  # cleared by now: the sandbox's log tells
        assert tail.count(f".{METHOD[job]} -> 500 (fault http500)") > 0
    elif row == "throttle":
        assert tail.count(" -> 503 (concurrency limit)") > 0, "nothing was throttled"
    elif row == "expiry":
        assert len(logins(handle)) == 2, logins(handle)  # logged in again once, went on
    elif row == "redeploy":
        assert handle.state()["build"] == "newer"
    elif row == "code":
        assert [e["arguments"]["result"] for e in handle.audit() if e["method"] == "confirm"] == [
            "ok"]
    elif row == "ui-b":
        assert handle.state()["ui_variant"] == "b"
    elif is_bad_day(row):  # every fault of the day happened, none was spared
        hits: Counter[str] = Counter()
        for fault in handle_control_state(handle)["faults"]:
            hits[fault["kind"]] += fault["hits"]
        # 500s are frequent enough to hit every run; the rarer kinds may miss a short one
        assert hits["http500"] and sum(hits.values()) > hits["http500"], hits
        assert handle.state()["build"] == "newer", "the redeploy did not happen"
        assert len(logins(handle)) >= 2, "no session expired during the run"


def handle_control_state(handle: SandboxHandle) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{handle.url}/__sandbox__/control", timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def logins(handle: SandboxHandle) -> list[dict[str, Any]]:
    return [e for e in handle.audit() if e["service"] == "auth" and e["method"] == "login"
            and e["arguments"]["result"] != "bad_credentials"]


# --- what the sandbox says ----------------------------------------------------------------------


def expected_trunks(state: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Every trunk of the state as ``Trunk`` fields, by abonent id."""
    enterprise_id = state["enterprise_id"]
    trunks = {}
    for a in state["abonents"]:
        if a["identify_line"] is None:
            continue
        device = a["device"]
        trunks[a["id"]] = {
            "phone": a["phone"], "abonent_id": a["id"], "enterprise_id": enterprise_id,
            "identify_line": a["identify_line"],
            "sip_login": device["login"] if device else None,
            "sip_password": device["password"] if device else None,
            "has_device": device is not None, "device_enabled": bool(device and device["enabled"]),
            "device_id": device["id"] if device else None,
            "active": a["active"], "blocked": a["blocked"],
            "marked_for_deletion": a["marked_for_deletion"],
        }
    assert set(next(iter(trunks.values()))) == set(TRUNK_COLUMNS), "Trunk changed: update here"
    return trunks


def expected_others(state: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {a["id"]: {"phone": a["phone"], "abonent_id": a["id"],
                      "enterprise_id": state["enterprise_id"], "name": a["name"],
                      "active": a["active"], "blocked": a["blocked"],
                      "marked_for_deletion": a["marked_for_deletion"]}
            for a in state["abonents"] if a["identify_line"] is None}


def trunk_fields(trunk: Trunk) -> dict[str, Any]:
    values = {name: getattr(trunk, name) for name in TRUNK_COLUMNS}
    if trunk.sip_password is not None:
        values["sip_password"] = trunk.sip_password.get_secret_value()
    return values


def check_inventory(state: dict[str, Any], trunks: list[dict[str, Any]], failures: set[int], *,
                    expect: Expect, others: dict[int, dict[str, Any]] | None = None) -> str:
    """Every trunk read equals the state field for field; the rest are reported failures."""
    want = expected_trunks(state)
    got = {t["abonent_id"]: t for t in trunks}
    assert len(got) == len(trunks), "a trunk came back twice"
    assert not got.keys() & failures, "a trunk both read and reported failed"
    missing = want.keys() - got.keys() - failures
    extra = got.keys() - want.keys()
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    wrong = {i: (got[i], want[i]) for i in got if got[i] != want[i]}
    assert not wrong, f"{len(wrong)} trunks differ, e.g. {next(iter(wrong.values()))}"
    if others is not None:
        assert others == expected_others(state)
    if expect in ("ok", "exact"):
        assert not failures, f"{len(failures)} trunks could not be read"
        return f"ok ({len(got)} done)"
    assert expect == "items-failed"
    assert failures, "the fault outlasted the retries, yet no trunk was reported failed"
    return f"{len(failures)}/{len(want)} failed"


@dataclass(frozen=True)
class ItemOutcome:
    """One planned item as the report (library or ``--format json``) tells it."""

    number: str
    plan: str
    result: str
    detail: str


def target_reached(action: str, abonent: dict[str, Any]) -> bool:
    device = abonent["device"]
    if action == "disable":
        return device is not None and not device["enabled"]
    if action == "enable":
        return device is not None and device["enabled"]
    if action == "add-device":
        return device is not None
    return device is None


def mutations_by_phone(handle: SandboxHandle, before: dict[str, Any]) -> Counter[str]:
    """The sandbox's own audit: how many mutations were applied to each number."""
    by_device = {a["device"]["id"]: a["phone"] for a in before["abonents"] if a["device"]}
    by_abonent = {a["id"]: a["phone"] for a in before["abonents"]}
    applied: Counter[str] = Counter()
    for entry in handle.audit():
        if entry["method"] == "setDeviceEnabled":
            applied[by_device[entry["arguments"][0]]] += 1
        elif entry["method"] == "updateForm":
            form = entry["arguments"][0]
            assert form.get("$class", "").endswith("AbonentDeviceFormGWTModel"), form
            applied[by_abonent[form["id"]]] += 1
    return applied


def check_changes(handle: SandboxHandle, before: dict[str, Any], action: str, numbers: list[str],
                  items: list[ItemOutcome], audit_db: Path, *, expect: Expect) -> str:
    """Report, local audit, sandbox audit and state agree; nothing lost, nothing twice."""
    state = {a["phone"]: a for a in handle.state()["abonents"]}
    old = {a["phone"]: a for a in before["abonents"]}
    assert sorted(i.number for i in items) == sorted(numbers), "a planned item is missing"
    assert all(i.result in ("done", "skipped", "failed") for i in items), items
    todo = [i for i in items if i.plan == "apply"]
    assert len(todo) == len(numbers), [i for i in items if i.plan != "apply"]
    applied = mutations_by_phone(handle, before)
    twice = {n: c for n, c in applied.items() if c > 1}
    assert not twice, f"applied twice (sandbox audit): {twice}"
    assert set(applied) <= set(numbers), f"mutations outside the plan: {set(applied) - set(numbers)}"
    for item in todo:
        now, then = state[item.number], old[item.number]
        # applied exactly when the state shows it: a change the sandbox made is never hidden
        assert target_reached(action, now) == (applied[item.number] == 1), (item, now)
        if item.result != "failed":
            assert target_reached(action, now), f"reported {item.result} but not reached: {item}"
        else:
            assert now == then or applied[item.number] == 1, (item, then, now)
        if action == "add-device" and now["device"] is not None:
            assert (now["device"]["type"], now["device"]["name"]) == ("Generic SIP Phone",
                                                                      "SIP-phone")
    for number, abonent in state.items():  # nobody else was touched
        if number not in numbers:
            assert abonent == old[number], number
    rows = AuditLog(audit_db).entries() if audit_db.exists() else []
    assert Counter(r.number for r in rows) == Counter(i.number for i in todo), \
        "the local audit log must have exactly one row per applied item"
    results = {i.number: i.result for i in todo}
    assert all(r.result == results[r.number] and r.action == action for r in rows)
    counts = Counter(i.result for i in todo)
    if action in ("enable", "disable") and expect == "ok":  # the first item, before any fault
        assert sum(i.detail == "switched in the page" for i in todo) == 1, "no switch in the UI"
    if expect == "any":
        return f"{counts['failed']}/{len(todo)} failed"
    if expect in ("ok", "exact"):
        assert counts["done"] == len(todo), [i for i in todo if i.result != "done"]
        return f"ok ({counts['done']} done)"
    assert expect == "items-failed"
    assert counts["failed"] >= 1, "the fault outlasted the attempts, yet nothing failed"
    assert counts["done"] + counts["failed"] == len(todo)
    return f"{counts['failed']}/{len(todo)} failed"


def check_untouched(handle: SandboxHandle, before: dict[str, Any], audit_db: Path) -> None:
    """A run stopped at the start changed nothing anywhere."""
    assert not [e for e in handle.audit() if e["service"] != "auth"], "a mutation happened"
    assert handle.state()["abonents"] == before["abonents"]
    assert not audit_db.exists() or AuditLog(audit_db).entries() == []


def error_kind(details: list[str]) -> str:
    """A short name for what failed items died of (``HTTP 500``, ``TransportError`` …)."""
    kinds = set()
    for detail in details:
        match = re.search(r"HTTP \d{3}", detail) or re.search(r"[A-Z][A-Za-z]+Error", detail)
        kinds.add(match.group(0) if match else detail[:30])
    return ", ".join(sorted(kinds))


# --- the targets of the change jobs -------------------------------------------------------------


def switch_targets(state: dict[str, Any]) -> list[str]:
    """Trunks whose device is switched on (the first ``SWITCH_COUNT`` of them)."""
    on = [a["phone"] for a in state["abonents"]
          if a["identify_line"] and a["device"] and a["device"]["enabled"]]
    assert len(on) >= SWITCH_COUNT
    return on[:SWITCH_COUNT]


def device_targets(state: dict[str, Any]) -> list[str]:
    """Every trunk without a device."""
    bare = [a["phone"] for a in state["abonents"] if a["identify_line"] and a["device"] is None]
    assert len(bare) >= 20
    return bare


def targets(job: str, state: dict[str, Any]) -> list[str]:
    return switch_targets(state) if job == "switch" else device_targets(state)


# --- the CLI ------------------------------------------------------------------------------------


def cli_env(tmp: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    return dict(clean, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp / "state"),
                VATS_AUDIT_DB=str(tmp / "audit.sqlite"), PYTHONUNBUFFERED="1")


def cli_command(handle: SandboxHandle, *args: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "--address", handle.url, "--login", ACCOUNT_LOGIN,
            *args]


def run_cli(handle: SandboxHandle, env: dict[str, str], *args: str,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cli_command(handle, *args), cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


class Watcher(threading.Thread):
    """Injects knobs into the sandbox once ``count()`` reaches ``at`` — the CLI's 'progress' —
    and, with ``lasts``, clears the faults again that many seconds later."""

    def __init__(self, handle: SandboxHandle, knobs: dict[str, Any], count: Callable[[], int],
                 at: int, *, lasts: float | None = None) -> None:
        super().__init__(daemon=True)
        self.handle, self.knobs, self.count, self.at = handle, knobs, count, at
        self.lasts = lasts
        self.fired_at: int | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            seen = self.count()
            if seen >= self.at:
                self.handle.control(**self.knobs)
                self.fired_at = seen
                if self.lasts is not None and not self._stop_event.wait(self.lasts):
                    self.handle.control(faults=[])
                return
            self._stop_event.wait(0.03)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def run_cli_answering_code(handle: SandboxHandle, env: dict[str, str], *args: str,
                           timeout: float = 180) -> tuple[int, str, str]:
    """Run the CLI with its stdin on a terminal and type the confirmation code when the
    sandbox has issued one (the 'SMS'), as a person would; (exit code, stdout, stderr)."""
    import pty

    master, slave = pty.openpty()
    out_path = Path(env["VATS_STATE_DIR"]).parent / "cli.out"
    err_path = out_path.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(cli_command(handle, *args), cwd=REPO, env=env, stdin=slave,
                                   stdout=out, stderr=err)
    os.close(slave)
    typed = False
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            assert time.monotonic() < deadline, "the CLI did not finish"
            if select.select([master], [], [], 0)[0]:
                try:
                    os.read(master, 4096)  # the terminal's echo; keep its buffer empty
                except OSError:
                    pass
            if not typed:
                code = handle.state()["pending_code"]
                if code:
                    os.write(master, f"{code}\n".encode())
                    typed = True
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(master)
    assert typed, "the sandbox never asked for a code"
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    return process.returncode, stdout, stderr


def report_items(stdout: str) -> list[ItemOutcome]:
    """The items of ``--format json`` (after any prompt text on the same stream)."""
    report = json.loads(stdout[stdout.index("{"):])
    assert report["dry_run"] is False
    return [ItemOutcome(i["number"], i["plan"], i.get("result", ""), i.get("detail", ""))
            for i in report["items"]]


# --- the table ----------------------------------------------------------------------------------


def table_lines() -> list[str]:
    """The matrix as text: fault × job → outcome."""
    header = ["fault \\ job", *COLUMNS.values()]
    body = [[ROWS[row], *(RESULTS.get((row, job), "-") for job in COLUMNS)] for row in ROWS]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(header), rule, *(line(cells) for cells in body)]
