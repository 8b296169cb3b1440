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
    # the unknown number is reported, and makes the exit status 1 (as in ``vats trunks``)
    assert out.returncode == 1, out.stderr.decode()
    assert b"unknown number: 79990000001" in out.stderr
    report = json.loads(out.stdout)
    assert report["dry_run"] is True
    assert [i["plan"] for i in report["items"]] == ["apply", "apply", "unknown"]
    # real counts of what would be done, not {} (issue 13.7)
    assert report["counts"] == {"apply": 2, "skip": 0, "unknown": 1, "not-a-trunk": 0}
    assert report["plan_counts"] == report["counts"]
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


# --- issue 13 --------------------------------------------------------------------------------


def ask_on_a_terminal(sandbox, *args, env, answer):
    """Run a change command with a terminal on stdin (the confirmation question needs one) and
    ``answer`` typed into it; stdout and stderr are pipes."""
    import pty

    master, slave = pty.openpty()
    try:
        os.write(master, answer)
        return subprocess.run([sys.executable, "-m", "flows.cli", "--address", sandbox.url,
                               "--login", ACCOUNT_LOGIN, *args], cwd=REPO, env=env,
                              stdin=slave, capture_output=True, timeout=180)
    finally:
        os.close(slave)
        os.close(master)


def test_json_shows_the_plan_before_asking_and_no_changes_nothing(sandbox, env):
    numbers = off_devices(sandbox)[:2]
    out = ask_on_a_terminal(sandbox, "enable", *numbers, "--format", "json", env=env,
                            answer=b"n\n")
    stderr = out.stderr.decode()
    assert out.returncode == 0, stderr
    question = stderr.index("Apply enable to 2 trunks?")
    assert all(-1 < stderr.find(n) < question for n in numbers), stderr  # the plan came first
    assert "nothing was changed" in stderr[question:]
    report = json.loads(out.stdout)  # the question did not go to stdout
    assert report["outcome"] == "declined" and report["dry_run"] is False
    assert report["counts"] == {"apply": 2, "skip": 0, "unknown": 0, "not-a-trunk": 0}
    assert off_devices(sandbox)[:2] == numbers
    assert not [e for e in sandbox.audit() if e["method"] == "setDeviceEnabled"]


def test_unknown_and_non_trunk_numbers_exit_1_after_the_rest_is_done(sandbox, env):
    number = off_devices(sandbox)[0]
    ordinary = next(a["phone"] for a in sandbox.state()["abonents"] if not a["identify_line"])
    out = vats(sandbox, "enable", number, "79990000001", ordinary, "--yes", "--format", "json",
               env=env)
    stderr = out.stderr.decode()
    assert out.returncode == 1, stderr
    assert "unknown number: 79990000001" in stderr and f"not a trunk: {ordinary}" in stderr
    report = json.loads(out.stdout)
    assert report["counts"] == {"done": 1, "skipped": 2, "failed": 0}
    assert report["plan_counts"] == {"apply": 1, "skip": 0, "unknown": 1, "not-a-trunk": 1}
    assert number not in off_devices(sandbox)  # the good one was applied all the same


def test_all_inactive_with_numbers_is_refused(sandbox, env):
    out = vats(sandbox, "enable", off_devices(sandbox)[0], "--all-inactive", "--yes", env=env)
    assert out.returncode == 2 and b"--all-inactive takes no numbers" in out.stderr
    marked = vats(sandbox, "enable", off_devices(sandbox)[0], "--include-marked", env=env)
    assert marked.returncode == 2 and b"--include-marked goes with --all-inactive" in marked.stderr
    assert not [e for e in sandbox.audit() if e["method"] == "login"]  # refused before any work


def test_all_inactive_shows_blocked_and_marked_and_leaves_marked_out(sandbox, env):
    abonents = sandbox.state()["abonents"]
    marked = {a["phone"] for a in abonents if a["identify_line"] and not a["active"]
              and a["marked_for_deletion"] and a["device"] and not a["device"]["enabled"]}
    assert marked
    out = vats(sandbox, "enable", "--all-inactive", "--dry-run", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr.decode()
    items = {i["number"]: i for i in json.loads(out.stdout)["items"]}
    assert not [n for n, i in items.items() if i["plan"] == "apply" and n in marked]
    assert all(items[n]["plan"] == "skip" and "--include-marked" in items[n]["reason"]
               for n in marked)
    assert all({"blocked", "marked_for_deletion"} <= set(i) for i in items.values())
    table = vats(sandbox, "enable", "--all-inactive", "--dry-run", env=dict(env, COLUMNS="200"))
    header = table.stderr.decode().splitlines()
    assert any("blocked" in line and "marked" in line for line in header), table.stderr.decode()
    included = vats(sandbox, "enable", "--all-inactive", "--include-marked", "--dry-run",
                    "--format", "json", env=env)
    todo = {i["number"] for i in json.loads(included.stdout)["items"] if i["plan"] == "apply"}
    assert marked <= todo


def test_disable_without_a_device_is_a_skip_with_nothing_to_switch_off(sandbox, env):
    bare = next(a["phone"] for a in sandbox.state()["abonents"]
                if a["identify_line"] and a["device"] is None)
    out = vats(sandbox, "disable", bare, "--dry-run", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr.decode()
    (item,) = json.loads(out.stdout)["items"]
    assert (item["plan"], item["reason"]) == ("skip", "no SIP device: nothing to switch off")


def test_remove_then_add_device_warns_and_shows_the_new_credentials(sandbox, env):
    number = next(a["phone"] for a in sandbox.state()["abonents"]
                  if a["identify_line"] and a["device"] and a["device"]["enabled"])
    old = {a["phone"]: a for a in sandbox.state()["abonents"]}[number]["device"]
    removed = vats(sandbox, "remove-device", number, "--yes", env=dict(env, COLUMNS="200"))
    assert removed.returncode == 0, removed.stderr.decode()
    stderr = removed.stderr.decode()
    assert old["login"] in stderr and "new SIP login and password" in stderr  # said in the plan
    planned = vats(sandbox, "add-device", number, "--dry-run", "--format", "json", env=env)
    (item,) = json.loads(planned.stdout)["items"]
    assert "new SIP login and password will be issued" in item["warning"]
    added = vats(sandbox, "add-device", number, "--yes", "--format", "json", env=env)
    assert added.returncode == 0, added.stderr.decode()
    new = {a["phone"]: a for a in sandbox.state()["abonents"]}[number]["device"]
    assert new["login"] != old["login"]
    (item,) = json.loads(added.stdout)["items"]
    assert item["sip_login"] == new["login"] and item["sip_password"] == "***"
    assert new["password"].encode() not in added.stdout + added.stderr
    assert b"new SIP login" in added.stderr  # the summary says credentials were issued
    # the password itself only when asked for
    other = next(a["phone"] for a in sandbox.state()["abonents"]
                 if a["identify_line"] and a["device"] is None)
    shown = vats(sandbox, "add-device", other, "--yes", "--show-secrets", env=dict(
        env, COLUMNS="200"))
    assert shown.returncode == 0, shown.stderr.decode()
    device = {a["phone"]: a for a in sandbox.state()["abonents"]}[other]["device"]
    assert device["login"].encode() in shown.stdout and device["password"].encode() in shown.stdout
    assert device["password"].encode() not in shown.stderr


def test_change_commands_say_what_concurrency_bounds(env):
    for command in ("enable", "disable", "add-device", "remove-device"):
        out = subprocess.run([sys.executable, "-m", "flows.cli", command, "--help"], cwd=REPO,
                             env=dict(env, COLUMNS="200"), capture_output=True, timeout=60)
        text = " ".join(out.stdout.decode().split())
        assert "GWT calls in flight at once" in text, text
        assert "--include-marked" in text and "--show-secrets" in text
