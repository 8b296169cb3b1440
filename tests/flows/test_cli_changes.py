"""``vats enable|disable|add-device|remove-device`` and ``vats audit`` as a user runs them."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ACCOUNT_LOGIN, REPO

pytestmark = pytest.mark.browser


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp_path / "s"),
                VATS_AUDIT_DB=str(tmp_path / "audit.sqlite"))


def vats(sandbox, *args, env, stdin=None):
    return subprocess.run([sys.executable, "-m", "flows.cli", "--address", sandbox.url,
                           "--login", ACCOUNT_LOGIN, *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, timeout=180)


def off_devices(sandbox):
    return [a["phone"] for a in sandbox.state()["abonents"]
            if a["identify_line"] and a["device"] and not a["device"]["enabled"]]


def test_dry_run_changes_nothing(sandbox, env):
    numbers = off_devices(sandbox)[:2]
    out = vats(sandbox, "enable", *numbers, "79990000001", "--dry-run", "--format", "json",
               env=env)
    assert out.returncode == 0, out.stderr.decode()
    report = json.loads(out.stdout)
    assert report["dry_run"] is True
    assert [i["plan"] for i in report["items"]] == ["apply", "apply", "unknown"]
    assert off_devices(sandbox)[:2] == numbers
    assert not [e for e in sandbox.audit() if e["method"] == "setDeviceEnabled"]


def test_without_yes_on_a_pipe_refuses(sandbox, env):
    out = vats(sandbox, "enable", off_devices(sandbox)[0], env=env, stdin=b"")
    assert out.returncode == 2
    assert b"--yes" in out.stderr


def test_apply_report_audit_and_rerun(sandbox, env):
    numbers = off_devices(sandbox)[:3]
    out = vats(sandbox, "enable", *numbers, "--yes", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr.decode()
    report = json.loads(out.stdout)
    assert report["counts"] == {"done": 3, "skipped": 0, "failed": 0}
    assert {i["after"] for i in report["items"]} == {"working"}
    again = vats(sandbox, "enable", *numbers, "--yes", env=env)
    assert again.returncode == 0 and b"nothing to do" in again.stderr
    audit = vats(sandbox, "audit", "--format", "json", env=env)
    rows = json.loads(audit.stdout)
    assert sorted((r["number"], r["action"], r["result"]) for r in rows) == sorted(
        (n, "enable", "done") for n in numbers)
    not_switched = [r for r in rows if r["before"]["device_enabled"] is not False
                    or r["after"]["device_enabled"] is not True]
    assert not_switched == []


def test_all_inactive_add_device(sandbox, env):
    without = [a["phone"] for a in sandbox.state()["abonents"]
               if a["identify_line"] and a["device"] is None and not a["active"]]
    assert without
    out = vats(sandbox, "add-device", "--all-inactive", "--yes", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr.decode()
    report = json.loads(out.stdout)
    assert sorted(i["number"] for i in report["items"]) == sorted(without)
    state = {a["phone"]: a for a in sandbox.state()["abonents"]}
    assert [n for n in without if state[n]["device"] is None] == []


def test_failure_gives_non_zero_exit(sandbox, env):
    numbers = off_devices(sandbox)[:2]
    sandbox.control(faults=[{"kind": "ex", "rate": 1, "method": "setDeviceEnabled"}])
    out = vats(sandbox, "enable", *numbers, "--yes", env=env)
    assert out.returncode == 1
    assert b"2 failed" in out.stderr


def test_all_inactive_refused_for_disable(sandbox, env):
    out = vats(sandbox, "disable", "--all-inactive", "--yes", env=env)
    assert out.returncode == 2 and b"--all-inactive" in out.stderr


def test_an_audit_log_that_cannot_be_written_is_one_line_and_no_change(sandbox, env, tmp_path):
    """Used to be a sqlite3 traceback after the change was made; now refused before it."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env = dict(env, VATS_AUDIT_DB=str(blocker / "audit.sqlite"))
    out = vats(sandbox, "enable", off_devices(sandbox)[0], "--yes", env=env)
    stderr = out.stderr.decode()
    assert out.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert f"vats: AuditError: the audit log {blocker / 'audit.sqlite'} cannot be written" in stderr
    assert not [e for e in sandbox.audit() if e["method"] == "setDeviceEnabled"]
