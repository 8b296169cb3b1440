"""The matrix cells run as a user runs them: ``vats …`` as a subprocess, exit code checked.

A subprocess has no progress callback for us, so a watcher thread injects the mid-run fault
when the sandbox has seen half of the items (its audit of mutations, or its log of ``getForm``
calls for the inventory). The confirmation code is typed on the CLI's terminal (a pty) once the
sandbox has issued it, as a person reading the SMS would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SandboxHandle, start_sandbox_process, stop_sandbox_process
from tests.resilience.matrix import (
    ABONENTS,
    ACTION,
    CONCURRENCY,
    EXPECT,
    LONG_BURST_S,
    RESULTS,
    LogTail,
    Watcher,
    cell_id,
    check_changes,
    check_fault_bit,
    check_inventory,
    check_untouched,
    cli_env,
    error_kind,
    expected_trunks,
    midway_knobs,
    report_items,
    run_cli,
    run_cli_answering_code,
    targets,
)

pytestmark = pytest.mark.browser

CLI_CELLS = [
    ("http500-long", "inventory"), ("http500-long", "switch"), ("http500-long", "devices"),
    ("password", "switch"), ("password", "devices"),
    ("code", "devices"),
    ("ui-b", "switch"),
]
EXIT = {"ok": 0, "items-failed": 1, "login-refused": 2}
FAILED_READ = re.compile(r"could not read abonent (\d+): (.*)")


@pytest.fixture(scope="module")
def variant_b_sandbox() -> Iterator[SandboxHandle]:
    """A cabinet deployed with UI variant b from its start (``--ui-variant b``)."""
    process, (url,), log_path = start_sandbox_process("--abonents", str(ABONENTS),
                                                      "--ui-variant", "b")
    try:
        yield SandboxHandle(url, log_path)
    finally:
        stop_sandbox_process(process)
        log_path.unlink(missing_ok=True)


def job_args(job: str, numbers: list[str]) -> list[str]:
    common = ["--concurrency", str(CONCURRENCY)]
    if job == "inventory":
        return ["trunks", "--format", "json", "--show-secrets", *common]
    if job == "switch":
        return ["disable", *numbers, "--yes", "--format", "json", *common]
    return ["add-device", "--all-inactive", "--yes", "--format", "json", *common]


def half_done(handle: SandboxHandle, job: str, total: int) -> tuple[Callable[[], int], int]:
    """How to count the items done so far, and what half is."""
    if job == "inventory":
        tail = LogTail(handle)
        return (lambda: tail.count("DispatcherGwtService.getForm -> ")), total // 2
    method = {"switch": "setDeviceEnabled", "devices": "updateForm"}[job]
    return (lambda: sum(e["method"] == method for e in handle.audit())), total // 2


@pytest.mark.parametrize("cell", CLI_CELLS, ids=cell_id)
def test_cli_cell(cell: tuple[str, str], cabinet: SandboxHandle, tmp_path: Path,
                  request: pytest.FixtureRequest) -> None:
    row, job = cell
    handle = cabinet
    if row == "ui-b":
        handle = request.getfixturevalue("variant_b_sandbox")
        handle.control(reset=True)
        assert handle.state()["ui_variant"] == "b"
    if row == "code":
        handle.control(require_code=True)
    before = handle.state()
    numbers = [] if job == "inventory" else targets(job, before)
    env = cli_env(tmp_path)
    if row == "password":
        env["VATS_PASSWORD"] = "wrong-password"
    audit_db = Path(env["VATS_AUDIT_DB"])
    tail = LogTail(handle)
    knobs = midway_knobs(row, job)
    watcher = None
    if knobs is not None:
        total = len(expected_trunks(before)) if job == "inventory" else len(numbers)
        count, at = half_done(handle, job, total)
        watcher = Watcher(handle, knobs, count, at,
                          lasts=LONG_BURST_S if row == "http500-long" else None)
        watcher.start()
    try:
        if row == "code":
            code, stdout, stderr = run_cli_answering_code(handle, env, *job_args(job, numbers))
        else:
            result = run_cli(handle, env, *job_args(job, numbers))
            code, stdout, stderr = result.returncode, result.stdout, result.stderr
    finally:
        if watcher is not None:
            watcher.stop()
    expect = EXPECT[row]
    assert code == EXIT[expect], stderr[-3000:]
    if watcher is not None:
        assert watcher.fired_at is not None, "the fault was never injected"

    if expect == "login-refused":
        assert "refused the login" in stderr and "Неверный логин или пароль" in stderr
        assert "wrong-password" not in stderr + stdout
        check_untouched(handle, before, audit_db)
        RESULTS[cell] = f"stopped: LoginError exit {code} [cli]"
        return
    if job == "inventory":
        failures = {int(m.group(1)): m.group(2) for m in FAILED_READ.finditer(stderr)}
        outcome = check_inventory(before, json.loads(stdout), set(failures),
                                  expect=expect)
        details = list(failures.values())
    else:
        items = report_items(stdout)
        outcome = check_changes(handle, before, ACTION[job], numbers, items, audit_db,
                                expect=expect)
        details = [i.detail for i in items if i.result == "failed"]
    check_fault_bit(handle, row, job, tail)
    if expect == "items-failed":
        outcome = f"stopped: {outcome} ({error_kind(details)})"
    RESULTS[cell] = f"{outcome} exit {code} [cli]"


def test_wrong_confirmation_code_is_a_login_error(cabinet: SandboxHandle, tmp_path: Path) -> None:
    """Not a cell: a refused code stops at once with LoginError and exit 2 (it used to wait out
    the login timeout for an app call that never came and die of an untyped TimeoutError)."""
    cabinet.control(require_code=True)
    before = cabinet.state()
    env = dict(cli_env(tmp_path), VATS_CONFIRMATION_CODE="1234567")  # 7 digits: never the code
    result = run_cli(cabinet, env, "trunks", "--format", "json", timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Неверный код подтверждения" in result.stderr and "1234567" not in result.stderr
    assert [e["arguments"]["result"] for e in cabinet.audit() if e["method"] == "confirm"] == [
        "bad_code"]
    check_untouched(cabinet, before, Path(env["VATS_AUDIT_DB"]))
