"""One convention in every command (issue 13): numbers, --output, --format, exit codes, help.

Each command is run as a user runs it (``python -m flows.cli`` in a subprocess). The refusals
need no cabinet: they come before a login, as the default address (vpbx.mts.ru) shows — it is
never reached.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scraper.audit import AuditLog
from tests.conftest import ACCOUNT_LOGIN, REPO, SandboxHandle
from tests.flows.test_trunks import unknown_phone

ACCOUNT_COMMANDS = ("trunks", "login", "capture", "doctor", "enable", "disable", "add-device",
                    "remove-device", "audit", "demo")
CHANGE_COMMANDS = ("enable", "disable", "add-device", "remove-device")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    return dict(clean, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp_path / "state"),
                VATS_AUDIT_DB=str(tmp_path / "audit.sqlite"), COLUMNS="200")


def vats(*args: str | Path, env: dict[str, str], timeout: float = 180
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2, one line ``vats: ...`` naming the trouble, no traceback."""
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("vats: ") and message in result.stderr, result.stderr


# --- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ACCOUNT_COMMANDS)
def test_every_command_lists_the_global_options_and_the_exit_codes(command, env):
    text = vats(command, "--help", env=env).stdout
    for option in ("--login", "--address", "--password-stdin", "--headed", "--verbose"):
        assert option in text, option
    assert "Exit status: 0 all done; 1 some items failed" in text
    assert "2 usage error" in text
    assert "<bool>" not in text and "<int>" not in text  # flags take no value
    assert "-vv" in text


def test_the_root_help_and_the_version(env):
    text = vats("--help", env=env).stdout
    assert "Usage: vats " in text and "Exit status: 0" in text and "<bool>" not in text
    version = vats("--version", env=env)
    assert version.returncode == 0 and re.fullmatch(r"vats \S+\n", version.stdout)
    assert "<bool>" not in vats("gwt", "decode", "--help", env=env).stdout


@pytest.mark.parametrize("command", [*CHANGE_COMMANDS, "trunks"])
def test_numbers_and_concurrency_are_described_alike(command, env):
    text = vats(command, "--help", env=env).stdout
    assert "[NUMBER]..." in text and "--numbers " in text and "--numbers-file" in text
    assert re.search(r"--concurrency\s+N\s+GWT calls in flight", text), text


# --- refusals before any work -------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("enable", "7924653652x", "--dry-run"),
    ("disable", "--numbers", "x9246536523"),
    ("add-device", "79991234567,tel:79246536523"),
])
def test_a_malformed_number_is_refused_by_the_change_commands(args, env):
    """``enable 7924653652x --dry-run`` planned the change for 77924653652."""
    result = vats(*args, env=env)
    assert_refused(result, "not phone numbers: ")
    assert next(a for a in args[1:] if "9246536" in a).split(",")[-1] in result.stderr


@pytest.mark.parametrize("command", ["trunks", "enable"])
def test_an_empty_numbers_file_is_refused_everywhere(command, env, tmp_path):
    """``trunks`` listed every trunk, ``enable`` said "name the numbers" though a file was given."""
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert_refused(vats(command, "--numbers-file", empty, env=env),
            f"--numbers-file {empty}: no numbers in it")


@pytest.mark.parametrize(("args", "message"), [
    (("audit", "--format", "csv"), "unknown format 'csv'; choose from table, json"),
    (("audit", "--format", "foo"), "unknown format 'foo'"),
    (("doctor", "--format", "foo"), "unknown format 'foo'; choose from table, json"),
    (("enable", "79991234567", "--format", "csv"), "--format"),
    (("trunks", "--format", "foo"), "unknown format 'foo'"),
])
def test_every_format_is_honoured_or_refused(args, message, env):
    """``audit --format csv`` and ``--format foo`` printed a table."""
    assert_refused(vats(*args, env=env), message)


@pytest.mark.parametrize(("args", "message"), [
    (("capture", "--output", "/no-such-folder/c.jsonl"), "folder /no-such-folder does not exist"),
    (("capture",), "capture needs --output FILE"),
    (("trunks", "--output", "/no-such-folder/t.csv"), "folder /no-such-folder does not exist"),
    (("doctor", "--bundle", "/no-such-folder/b.zip"), "folder /no-such-folder does not exist"),
])
def test_an_output_file_is_checked_before_the_login(args, message, env):
    assert_refused(vats(*args, "--login", ACCOUNT_LOGIN, env=env), message)


@pytest.mark.parametrize("address", ["127.0.0.1:39085", "htp://127.0.0.1:1", "https://a b",
                                     "https://127.0.0.1:1/some/path"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_an_address_is_checked_before_a_browser_starts(address, where, env):
    args = ("--address", address, "login") if where == "before" else ("login", "--address",
                                                                      address)
    assert_refused(vats(*args, "--login", ACCOUNT_LOGIN, env=env, timeout=30),
            "write http(s)://host[:port]")


def test_the_library_refuses_such_an_address_too():
    from pydantic import ValidationError

    from flows.client import Vats

    with pytest.raises(ValidationError, match="has no scheme"):
        Vats("127.0.0.1:39085", ACCOUNT_LOGIN, "sandbox")


# --- the audit table in a pipe ------------------------------------------------------------------
def test_a_piped_audit_never_cuts_a_value(env):
    """``vats audit | less`` showed "792465…" for every number."""
    log = AuditLog(Path(env["VATS_AUDIT_DB"]))
    numbers = [f"7924653{n:04d}" for n in range(3)]
    for number in numbers:
        log.record(address="https://vpbx.mts.ru", account=ACCOUNT_LOGIN, number=number,
                   abonent_id=2_400_000_001, device_id=2_400_000_002, action="remove-device",
                   before={"has_device": True, "device_enabled": True}, after={},
                   result="done", detail="a long detail that makes the table wide enough")
    result = vats("audit", env=dict(env, COLUMNS="80"))
    assert result.returncode == 0, result.stderr
    for number in numbers:
        assert number in result.stdout
    assert "…" not in result.stdout
    rows = json.loads(vats("audit", "--format", "json", env=env).stdout)
    assert sorted(r["number"] for r in rows) == numbers


# --- with a cabinet: the same exit for a number that is no trunk ---------------------------------

@pytest.mark.browser
def test_unknown_and_non_trunk_numbers_exit_1_in_every_command(sandbox: SandboxHandle, env):
    """``trunks`` exited 1 for an unknown number, ``enable`` 0."""
    state = sandbox.state()
    ordinary = next(a["phone"] for a in state["abonents"] if a["identify_line"] is None)
    unknown = unknown_phone(state)
    base = ("--address", sandbox.url, "--login", ACCOUNT_LOGIN)
    for number, said in ((unknown, f"unknown number: {unknown}"),
                         (ordinary, f"not a trunk: {ordinary}")):
        for args in (("trunks", number), ("enable", number, "--dry-run"),
                     ("add-device", "--numbers", number, "--dry-run", "--format", "json")):
            result = vats(*args, *base, env=env)
            assert result.returncode == 1, (args, result.stderr[-3000:])
            assert said in result.stderr.splitlines(), (args, result.stderr[-3000:])


@pytest.mark.browser
def test_the_change_commands_take_numbers_in_every_form(sandbox: SandboxHandle, env, tmp_path):
    state = sandbox.state()
    trunks = [a["phone"] for a in state["abonents"] if a["identify_line"] is not None][:4]
    numbers = tmp_path / "numbers.txt"
    numbers.write_text(f"8{trunks[3][1:]}  # the fourth\n", encoding="utf-8")
    result = vats("enable", f"{trunks[0]},+7 {trunks[1][1:]}", "--numbers", trunks[2],
                  "--numbers-file", numbers, "--dry-run", "--format", "json",
                  "--address", sandbox.url, "--login", ACCOUNT_LOGIN, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(i["number"] for i in json.loads(result.stdout)["items"]) == sorted(trunks)
