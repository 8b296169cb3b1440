"""``vats trunks`` and ``vats demo`` as a user runs them: a subprocess, real headless Chromium.

One sandbox (the default 40 abonents) and one state directory for the module: the first run
logs in, the others reuse the saved session, and nothing here changes the cabinet's state.
The expected rows come from ``/__sandbox__/state`` (helpers shared with test_trunks.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scraper.models import TRUNK_COLUMNS, Filters
from tests.conftest import ACCOUNT_LOGIN, REPO, SandboxHandle, start_sandbox_process, stop_sandbox_process
from tests.flows.test_trunks import ALL, expected, expected_summary, spellings, unknown_phone
from vats_fixtures.sandbox.seed import make_seed

pytestmark = pytest.mark.browser

MASK = "***"


@pytest.fixture(scope="module")
def cabinet() -> Any:
    process, (url,), log = start_sandbox_process()
    try:
        yield SandboxHandle(url, log)
    finally:
        stop_sandbox_process(process)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def state(cabinet: SandboxHandle) -> dict[str, Any]:
    return cabinet.state()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    return dict(clean, VATS_PASSWORD="sandbox",
                VATS_STATE_DIR=str(tmp_path_factory.mktemp("vats-state")))


def run(cabinet: SandboxHandle, env: dict[str, str], *args: str | Path
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "--address", cabinet.url, "--login", ACCOUNT_LOGIN,
         "trunks", *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def rows_for(state: dict[str, Any], filters: Filters = ALL, *, secrets: bool,
             phones: set[str] | None = None) -> list[dict[str, Any]]:
    """The rows ``vats trunks --format json`` must print: sorted by phone, masked or not."""
    trunks, _ = expected(state, filters, phones)
    rows = sorted(trunks.values(), key=lambda t: t["phone"])
    if not secrets:
        rows = [dict(t, sip_password=None if t["sip_password"] is None else MASK) for t in rows]
    return rows


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def summary_text(state: dict[str, Any], filters: Filters = ALL) -> str:
    s = expected_summary(*expected(state, filters))
    return (f"{plural(s['trunks'], 'trunk')}: {s['working']} working, {s['off']} switched off, "
            f"{s['no-device']} without device; {s['blocked']} blocked, {s['marked']} marked for "
            f"deletion; {plural(s['abonents'], 'other abonent')}")


def logins(cabinet: SandboxHandle) -> int:
    return sum(a["method"] == "login" for a in cabinet.audit())


# --- formats ------------------------------------------------------------------------------------
def test_json_keys_are_the_model_fields_and_passwords_are_masked(cabinet, env, state):
    data = json.loads(ok(run(cabinet, env, "--format", "json")).stdout)
    assert data, "the seed has trunks"
    assert {tuple(row) for row in data} == {tuple(TRUNK_COLUMNS)}
    assert data == rows_for(state, secrets=False)
    assert any(row["sip_password"] == MASK for row in data)
    assert any(row["sip_password"] is None for row in data)   # trunks without a device


def test_show_secrets_prints_the_passwords(cabinet, env, state):
    data = json.loads(ok(run(cabinet, env, "--format", "json", "--show-secrets")).stdout)
    assert data == rows_for(state, secrets=True)
    assert any(set("&=<>'\"\\") & set(row["sip_password"] or "") for row in data)


def test_jsonl_is_one_object_per_line(cabinet, env, state):
    lines = ok(run(cabinet, env, "--format", "jsonl")).stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows_for(state, secrets=False)


def test_csv_header_is_the_columns(cabinet, env, state):
    text = ok(run(cabinet, env, "--format", "csv")).stdout
    reader = csv.reader(io.StringIO(text))
    header, *body = list(reader)
    assert header == list(TRUNK_COLUMNS)
    want = rows_for(state, secrets=False)
    assert [dict(zip(header, row, strict=True)) for row in body] == [
        {k: "" if v is None else json.dumps(v) if isinstance(v, bool) else str(v)
         for k, v in row.items()} for row in want]
    assert {"true", "false"} <= {cell for row in body for cell in row}  # not True / False


def test_xlsx_with_output(cabinet, env, state, tmp_path):
    from openpyxl import load_workbook

    target = tmp_path / "trunks.xlsx"
    ok(run(cabinet, env, "--format", "xlsx", "--output", target))
    sheet = load_workbook(target).active
    header, *body = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header == list(TRUNK_COLUMNS)
    assert [dict(zip(header, row, strict=True)) for row in body] == rows_for(state, secrets=False)


def test_columns_choose_and_order_the_fields(cabinet, env, state, tmp_path):
    data = json.loads(ok(run(cabinet, env, "--format", "json", "--columns", "sip_login,phone"))
                      .stdout)
    assert data == [{"sip_login": r["sip_login"], "phone": r["phone"]}
                    for r in rows_for(state, secrets=False)]
    target = tmp_path / "two.csv"
    ok(run(cabinet, env, "--format", "csv", "--columns", "phone,sip_login", "--output", target))
    assert target.read_text(encoding="utf-8").splitlines()[0] == "phone,sip_login"


def test_table_summary_line_and_whole_values(cabinet, env, state):
    """The default table: every phone and SIP login whole (a pipe is 80 columns wide), the
    summary on stderr on one line."""
    result = ok(run(cabinet, env))
    for row in rows_for(state, secrets=False):
        assert row["phone"] in result.stdout
        assert row["sip_login"] is None or row["sip_login"] in result.stdout
    assert MASK in result.stdout
    assert result.stderr.strip().splitlines()[-1] == summary_text(state)


def test_table_shows_values_verbatim():
    """In-process: a password with rich markup in it, a width far below the table's."""
    from rich.console import Console

    from flows.cli.output import render
    from scraper.models import Trunk

    trunk = Trunk(phone="79991234567", abonent_id=2_400_000_001, enterprise_id=2_400_000_000,
                  identify_line="mobsip_79991234567", sip_login="sip_9991234567_ab12",
                  sip_password="p[b]w[/b]x[red]", has_device=True, device_enabled=True,
                  device_id=2_400_000_002, active=True, blocked=False, marked_for_deletion=False)
    buffer = io.StringIO()
    render([trunk], fmt="table", columns=list(TRUNK_COLUMNS), show_secrets=True, output=None,
           console=Console(file=buffer, width=40))
    text = buffer.getvalue()
    for value in ("79991234567", "mobsip_79991234567", "sip_9991234567_ab12", "p[b]w[/b]x[red]",
                  "2400000002", "marked_for_deletion"):
        assert value in text


# --- filters ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("words", "filters"), [
    pytest.param(words, filters, id=" ".join(words)) for words, filters in (
        (["inactive"], Filters(active="no")),
        (["blocked,marked"], Filters(blocked="yes", marked="yes")),
        (["unmarked", "inactive"], Filters(marked="no", active="no")),
        (["active,unblocked"], Filters(active="yes", blocked="no")))])
def test_filters(cabinet, env, state, words, filters):
    args = [arg for word in words for arg in ("--filter", word)]
    result = ok(run(cabinet, env, "--format", "json", "--show-secrets", *args))
    assert json.loads(result.stdout) == rows_for(state, filters, secrets=True)
    assert result.stderr.strip().splitlines()[-1] == summary_text(state, filters)


# --- usage errors: exit 2, one clear line, before any browser work ------------------------------
@pytest.mark.parametrize(("args", "message"), [
    pytest.param(args, message, id=" ".join(args)) for args, message in (
        (["--filter", "active,inactive"], "'active' and 'inactive' contradict each other"),
        (["--filter", "blocked", "--filter", "unblocked"], "contradict each other"),
        (["--filter", "sleeping"], "unknown filter 'sleeping'"),
        (["--format", "xml"], "unknown format 'xml'"),
        (["--format", "xlsx"], "--format xlsx needs --output FILE"),
        (["--columns", "phone,pin"], "unknown column(s) pin"),
        (["--numbers", "12-34"], "not phone numbers: 12-34"),
        # letters are refused, not dropped (7924653652x used to become 77924653652)
        (["7924653652x"], "not phone numbers: 7924653652x"),
        (["--numbers", "x9246536523"], "not phone numbers: x9246536523"),
        (["--numbers", "79991234567,tel:79246536523"], "not phone numbers: tel:79246536523"),
        (["--output", "/no-such-folder/t.csv"], "folder /no-such-folder does not exist"),
        (["--output", "trunks.dat"], "cannot tell the format from its extension"),
        (["--format", "xlsx", "--output", "tests"], "is a folder"),
        # global options after the command win; the address is checked before a browser starts
        (["--address", "127.0.0.1:39085"], "address: '127.0.0.1:39085' has no scheme; write "
                                           "http(s)://host[:port]"),
        (["--address", "htp://127.0.0.1:1"], "has the scheme 'htp', not http or https"),
        (["--address", "https://127.0.0.1 :1"], "has a space in it"),
        (["--address", "https://host/some/path"], "has something after the host and port"),
        (["--concurrency", "0"], "concurrency: Input should be greater than or equal to 1"))])
def test_usage_errors_exit_2(cabinet, env, args, message):
    before = logins(cabinet)
    result = run(cabinet, env, *args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith("vats: ") and message in result.stderr
    assert logins(cabinet) == before  # refused before logging in


def test_a_wrong_address_is_refused_at_once(cabinet, env):
    """A path after the host used to wait 62 s for a login page that never came."""
    started = time.monotonic()
    result = run(cabinet, env, "--address", "https://host/some/path")
    assert result.returncode == 2 and "has something after the host" in result.stderr
    assert time.monotonic() - started < 20


def test_headed_without_a_display_is_one_line(cabinet, env):
    """Used to launch Chromium twice and print a hundred lines of Playwright's log."""
    bare = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    before = logins(cabinet)
    result = run(cabinet, bare, "--headed")
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "there is none" in result.stderr and "xvfb-run vats --headed" in result.stderr
    assert logins(cabinet) == before


def test_global_options_after_the_command(cabinet, env, state):
    """``vats trunks --login X`` is what people type; -v after it counts too."""
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "trunks", "--format", "json", "--address",
         cabinet.url, "--login", ACCOUNT_LOGIN, "-v"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == rows_for(state, secrets=False)
    assert " INFO " in result.stderr  # -v: one line per call


# --- output -------------------------------------------------------------------------------------
def test_the_output_format_follows_the_extension(cabinet, env, state, tmp_path):
    """``--output t.xlsx`` used to write a text table into t.xlsx."""
    from openpyxl import load_workbook

    ok(run(cabinet, env, "--output", tmp_path / "t.xlsx", "--columns", "phone"))
    sheet = load_workbook(tmp_path / "t.xlsx").active
    assert [r[0] for r in sheet.iter_rows(values_only=True)][1:] == [
        r["phone"] for r in rows_for(state, secrets=False)]
    ok(run(cabinet, env, "--output", tmp_path / "t.json"))
    assert json.loads((tmp_path / "t.json").read_text()) == rows_for(state, secrets=False)
    ok(run(cabinet, env, "--output", tmp_path / "t.csv", "--format", "jsonl"))  # --format wins
    assert [json.loads(line) for line in (tmp_path / "t.csv").read_text().splitlines()] == \
        rows_for(state, secrets=False)


def test_the_default_table_fits_the_terminal(cabinet, env, state):
    """At 80 columns the table was 170 characters wide: now it leaves out what does not fit
    (and says so) — never a value cut."""
    result = ok(run(cabinet, dict(env, COLUMNS="80")))
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    for row in rows_for(state, secrets=False):
        assert row["phone"] in result.stdout
    assert "left out to fit 80 columns: " in result.stderr
    # a pipe without COLUMNS: every column, however wide (a file gets everything)
    wide = ok(run(cabinet, env)).stdout
    assert "marked_for_deletion" in wide and "marked_for_deletion" not in result.stdout


# --- numbers ------------------------------------------------------------------------------------
def test_numbers_in_every_form(cabinet, env, state, tmp_path):
    """Positional, --numbers repeated or comma-separated, --numbers-file: as in every command."""
    chosen = [a["phone"] for a in state["abonents"] if a["identify_line"] is not None][:5]
    numbers = tmp_path / "numbers.txt"
    numbers.write_text(f"{spellings(chosen[4])[0]}\n", encoding="utf-8")
    result = ok(run(cabinet, env, "--format", "json", f"{chosen[0]},{spellings(chosen[1])[1]}",
                    "--numbers", f"{chosen[2]},{chosen[3]}", "--numbers-file", numbers))
    assert json.loads(result.stdout) == rows_for(state, secrets=False, phones=set(chosen))


def test_an_empty_numbers_file_is_refused(cabinet, env, tmp_path):
    """It used to list every trunk."""
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    result = run(cabinet, env, "--numbers-file", empty)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip() == f"vats: --numbers-file {empty}: no numbers in it"


def test_unknown_number_is_listed_and_exits_1(cabinet, env, state):
    known = next(a for a in state["abonents"] if a["device"] is not None)
    unknown = unknown_phone(state)
    result = run(cabinet, env, "--format", "json", "--numbers", spellings(known["phone"])[0],
                 "--numbers", spellings(unknown)[1])
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout) == rows_for(state, secrets=False, phones={known["phone"]})
    lines = result.stderr.strip().splitlines()
    assert f"unknown number: {unknown}" in lines
    assert lines[-1].endswith("; 1 unknown number")
    assert lines[-1].startswith("1 trunk: ")  # not "1 trunks"


def test_numbers_file(cabinet, env, state, tmp_path):
    trunks = [a for a in state["abonents"] if a["identify_line"] is not None][:3]
    ordinary = next(a for a in state["abonents"] if a["identify_line"] is None)
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("# the trunks to check\n\n"
                       + "".join(f"{spellings(a['phone'])[i]}  # {a['name']}\n"
                                 for i, a in enumerate(trunks))
                       + f"{ordinary['phone']}\n", encoding="utf-8")
    result = run(cabinet, env, "--format", "json", "--numbers-file", numbers)
    assert json.loads(result.stdout) == rows_for(state, secrets=False,
                                                 phones={a["phone"] for a in trunks})
    # a named number that is no trunk fails the run as an unknown one does (and as in enable)
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert f"not a trunk: {ordinary['phone']}" in lines
    assert lines[-1].endswith("; 1 other abonent")


def test_concurrency_backs_off_when_throttled(cabinet, env, state):
    """More calls in flight than the cabinet allows: 503s, back-off, and still every trunk."""
    def throttled() -> int:
        return cabinet.log_path.read_text(encoding="utf-8").count("-> 503")

    before = throttled()
    cabinet.control(max_concurrent_calls=2, latency_ms=50)  # latency: calls overlap for sure
    try:
        result = ok(run(cabinet, env, "--format", "json", "--show-secrets", "--concurrency", "8"))
    finally:
        cabinet.control(max_concurrent_calls=0, latency_ms=0)
    assert throttled() > before
    assert json.loads(result.stdout) == rows_for(state, secrets=True)
    assert result.stderr.strip().splitlines()[-1] == summary_text(state)


def test_the_session_was_reused(cabinet):
    """The runs above share one saved session: one login in all (none when run alone)."""
    assert logins(cabinet) <= 1


# --- vats demo ----------------------------------------------------------------------------------
def test_demo_prints_the_sandbox_table(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    # from another directory, with no address, login or password: the demo needs none
    result = subprocess.run([sys.executable, "-m", "flows.cli", "demo"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    seed = make_seed(40, 1)  # the demo's sandbox: the default abonents and seed
    trunks = [a for a in seed.abonents if a.identify_line is not None]
    assert trunks
    for abonent in trunks:
        assert abonent.phone in result.stdout
    assert not any(a.phone in result.stdout for a in seed.abonents if a.identify_line is None)
    assert result.stderr.strip().splitlines()[-1].startswith(f"{len(trunks)} trunks: ")


def test_demo_leaves_the_process_environment_alone(tmp_path, monkeypatch, capsys):
    """The demo's state dir and password are settings of its own run: it used to write them
    into ``os.environ``, which every later run in the process then inherited."""
    from flows.cli.common import CliState
    from flows.cli.trunks_cmd import demo_command

    for name in [n for n in os.environ if n.startswith("VATS_")]:
        monkeypatch.delenv(name)
    mine = tmp_path / "my-sessions"
    monkeypatch.setenv("VATS_STATE_DIR", str(mine))      # the user's own saved sessions ...
    monkeypatch.setenv("VATS_PASSWORD", "not-the-demo")  # ... and password: the demo uses neither
    # the CLI's logging setup would replace pytest's handlers for the rest of the session
    monkeypatch.setattr("flows.cli.common.configure", lambda verbosity, redactor: None)
    before = dict(os.environ)
    state = CliState(address=None, login=None, password_stdin=False, headed=False, slow_mo=0,
                     debug_dir=None, trace="off", chromium=None, ca_cert=None, reuse=True,
                     verbose=0)
    demo_command(state, 10)
    assert dict(os.environ) == before
    assert not mine.exists()
    out = capsys.readouterr().out
    trunks = [a for a in make_seed(10, 1).abonents if a.identify_line is not None]
    assert trunks and all(a.phone in out for a in trunks)
