"""``vats login`` / ``vats capture`` as a user runs them, and the secret scan of every artifact."""

import json
import os
import subprocess
import sys
import urllib.parse
import zipfile

import pytest

from scraper.browser.storage import state_path
from scraper.gwt.escapes import escape_response_string
from tests.conftest import ACCOUNT_LOGIN, REPO, SandboxHandle, start_sandbox_process, stop_sandbox_process

pytestmark = pytest.mark.browser

SECRET_PASSWORD = "Pa$$&w<o>rd='\"x\\1"


def vats(*args, env=None, stdin=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env,
                          input=stdin, capture_output=True, timeout=timeout)


def forms(secret):
    """The ways a secret could be written down: raw, GWT-escaped, URL-encoded, JSON-escaped."""
    return {secret, escape_response_string(secret), urllib.parse.quote_plus(secret),
            urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=True)[1:-1]}


def artifact_texts(paths):
    for path in paths:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    yield f"{path.name}:{name}", archive.read(name).decode("utf-8", "replace")
        else:
            yield path.name, path.read_bytes().decode("utf-8", "replace")


@pytest.fixture
def secret_sandbox():
    process, (url,), log = start_sandbox_process(password=SECRET_PASSWORD)
    try:
        yield SandboxHandle(url, log)
    finally:
        stop_sandbox_process(process)


def logins(sandbox):
    return len([a for a in sandbox.audit() if a["method"] == "login"])


def test_login_checks_the_credentials_every_time(sandbox, tmp_path):
    """Issue 13.2: ``vats login`` used to answer "reused the saved session" (exit 0) to a wrong
    password. It logs in afresh each time; the other commands reuse what it saved."""
    env = dict(os.environ, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp_path))
    base = ["--address", sandbox.url, "--login", ACCOUNT_LOGIN]
    saved = state_path(sandbox.url, ACCOUNT_LOGIN, tmp_path)
    first = vats(*base, "login", env=env)
    assert first.returncode == 0, first.stderr.decode()
    assert b"logged in" in first.stdout and str(saved).encode() in first.stdout
    second = vats(*base, "login", env=env)
    assert second.returncode == 0, second.stderr.decode()
    assert b"logged in" in second.stdout and b"reused" not in second.stdout
    assert logins(sandbox) == 2  # a fresh login, not the saved session
    listed = vats(*base, "trunks", "--format", "json", env=env)
    assert listed.returncode == 0 and logins(sandbox) == 2  # the others reuse the session
    wrong = vats(*base, "login", env=dict(env, VATS_PASSWORD="nope"))
    assert wrong.returncode == 2, wrong.stderr.decode()
    assert "Неверный логин или пароль" in wrong.stderr.decode()
    assert b"reused" not in wrong.stdout
    # the refused password leaves no saved session that would let the next run in without one
    assert not saved.exists()
    again = vats(*base, "trunks", "--format", "json", env=dict(env, VATS_PASSWORD="nope"))
    assert again.returncode == 2


def test_no_reuse_login_checks_and_saves_nothing(sandbox, tmp_path):
    env = dict(os.environ, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp_path))
    out = vats("--address", sandbox.url, "--login", ACCOUNT_LOGIN, "--no-reuse", "login", env=env)
    assert out.returncode == 0, out.stderr.decode()
    assert b"logged in" in out.stdout and b"not saved" in out.stdout
    assert not state_path(sandbox.url, ACCOUNT_LOGIN, tmp_path).exists()


def test_login_fails_when_the_session_cannot_be_saved(sandbox, tmp_path):
    """Saving the session is ``vats login``'s job: one line naming why, exit 1 — found before
    logging in (no login the command could not keep)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env = dict(os.environ, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(blocker / "sessions"))
    saved = state_path(sandbox.url, ACCOUNT_LOGIN, blocker / "sessions")
    out = vats("--address", sandbox.url, "--login", ACCOUNT_LOGIN, "login", env=env)
    assert out.returncode == 1, out.stderr.decode()
    assert out.stdout == b""
    (line,) = out.stderr.decode().splitlines()
    assert line.startswith(f"vats: StorageError: cannot save the session to {saved}: "), line
    assert logins(sandbox) == 0


def test_login_help_says_it_logs_in_afresh_and_the_others_reuse(tmp_path):
    out = vats("login", "--help", env=dict(os.environ, COLUMNS="200"))
    text = " ".join(out.stdout.decode().split())
    assert "afresh" in text and "reuse" in text, text


def test_password_from_stdin(sandbox, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VATS_PASSWORD"}
    env["VATS_STATE_DIR"] = str(tmp_path)
    out = vats("--address", sandbox.url, "--login", ACCOUNT_LOGIN, "--password-stdin", "login",
               env=env, stdin=b"sandbox\n")
    assert out.returncode == 0, out.stderr.decode()


def test_capture_and_debug_artifacts_hold_no_secret(secret_sandbox, tmp_path):
    debug_dir, out_file, state_dir = tmp_path / "debug", tmp_path / "capture.jsonl", tmp_path / "s"
    env = dict(os.environ, VATS_PASSWORD=SECRET_PASSWORD, VATS_STATE_DIR=str(state_dir))
    run = vats("--address", secret_sandbox.url, "--login", ACCOUNT_LOGIN, "--debug-dir",
               str(debug_dir), "--trace", "always", "-vv", "capture", "--out", str(out_file),
               env=env)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    (log_file := tmp_path / "stderr.log").write_bytes(run.stderr)

    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    servlets = {line["servlet"] for line in lines}
    assert {"MenuGwtService", "AbonentBrowserGwtService", "DispatcherGwtService"} <= servlets
    artifacts = sorted(debug_dir.iterdir())
    names = [p.name for p in artifacts]
    assert any(n.endswith("login-filled.png") for n in names)
    assert any(n.startswith("trace-") and n.endswith(".zip") for n in names)

    state = secret_sandbox.state()
    sip_passwords = [a["device"]["password"] for a in state["abonents"] if a["device"]]
    (saved,) = [p for p in state_dir.iterdir() if p.is_file()]
    cookies = [c["value"] for c in json.loads(saved.read_text())["cookies"]
               if c["name"] == "JSESSIONID"]
    assert cookies
    secrets = [SECRET_PASSWORD, *sip_passwords, *cookies]
    hits = []
    for where, text in artifact_texts([*artifacts, out_file, log_file]):
        for secret in secrets:
            for form in forms(secret):
                if form in text:
                    hits.append((where, secret[:4] + "…"))
    assert hits == []
    # the device page was opened, so a SIP password travelled — and was masked
    assert any('"sipPassword": "***"' in json.dumps(line) for line in lines) or not any(
        a["device"] for a in state["abonents"][:1])


def test_secret_scan_over_login_inventory_and_bulk_change(secret_sandbox, tmp_path):
    """Issue 7.3: every artifact of login, inventory and a bulk change, with debug, traces and
    captures on, holds none of the seeded secrets."""
    debug_dir, state_dir = tmp_path / "debug", tmp_path / "s"
    env = dict(os.environ, VATS_PASSWORD=SECRET_PASSWORD, VATS_STATE_DIR=str(state_dir),
               VATS_AUDIT_DB=str(tmp_path / "audit.sqlite"))
    base = ["--address", secret_sandbox.url, "--login", ACCOUNT_LOGIN, "--debug-dir",
            str(debug_dir), "--trace", "always", "-vv"]
    state = secret_sandbox.state()
    off = [a["phone"] for a in state["abonents"]
           if a["identify_line"] and a["device"] and not a["device"]["enabled"]][:3]
    runs = {
        "login": vats(*base, "login", env=env),
        "trunks": vats(*base, "trunks", "--format", "json", env=env),
        "enable": vats(*base, "enable", *off, "--yes", env=env),
        "capture": vats(*base, "capture", "--out", str(tmp_path / "capture.jsonl"), env=env),
        "doctor": vats(*base, "doctor", "--bundle", str(tmp_path / "support.zip"), env=env),
    }
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr.decode()[-2000:])
    doctor_out = runs["doctor"].stdout.decode()
    assert "✓ confirmed" in doctor_out  # and exit 0 above: nothing the flows need differs
    with zipfile.ZipFile(tmp_path / "support.zip") as bundle:
        assert {"findings.json", "versions.json", "capture.jsonl", "templates.json",
                "derived-build.json", "derived-schema.json"} <= set(bundle.namelist())
    trunks = json.loads(runs["trunks"].stdout)
    assert trunks and {t["sip_password"] for t in trunks if t["sip_password"]} == {"***"}
    logs = tmp_path / "logs.txt"
    logs.write_bytes(b"\n".join(r.stdout + r.stderr for r in runs.values()))
    assert b"rpc " in logs.read_bytes()  # replayed calls were logged (one INFO line each)
    traces = [p for p in debug_dir.iterdir() if p.suffix == ".zip"]
    assert len(traces) >= 4  # one per run

    sip_passwords = [a["device"]["password"] for a in state["abonents"] if a["device"]]
    (saved,) = [p for p in state_dir.iterdir() if p.is_file()]
    cookies = [c["value"] for c in json.loads(saved.read_text())["cookies"]
               if c["name"] == "JSESSIONID"]
    secrets = [SECRET_PASSWORD, *sip_passwords, *cookies]
    hits = []
    files = [*sorted(debug_dir.iterdir()), logs, tmp_path / "capture.jsonl", tmp_path / "audit.sqlite",
             tmp_path / "support.zip", *sorted((state_dir / "builds").iterdir())]
    for where, text in artifact_texts(files):
        for secret in secrets:
            if any(form in text for form in forms(secret)):
                hits.append((where, secret[:3] + "…"))
    assert hits == []


def test_tls_sandbox_needs_its_certificate(tmp_path):
    process, (url, cert), _log = start_sandbox_process("--tls", "--abonents", "10", lines=2)
    try:
        assert url.startswith("https://127.0.0.1:")
        env = dict(os.environ, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp_path))
        refused = vats("--address", url, "--login", ACCOUNT_LOGIN, "login", env=env)
        assert refused.returncode == 1
        assert b"ERR_CERT" in refused.stderr and b"--ca-cert" in refused.stderr
        ok = vats("--address", url, "--login", ACCOUNT_LOGIN, "--ca-cert", cert, "trunks",
                  "--format", "json", env=env)
        assert ok.returncode == 0, ok.stderr.decode()
        assert json.loads(ok.stdout)
    finally:
        stop_sandbox_process(process)
