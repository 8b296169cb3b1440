"""``--ca-cert`` trusts exactly the given certificate, in Chromium and in the request context.

A sandbox serves HTTPS with its own self-signed certificate (``--tls --cert-out``); the browser
must accept it when that certificate is given, and refuse it — with a ``TLSError`` that names
``--ca-cert`` — when another certificate or none is. Ignoring HTTPS errors would pass the
"accepted" tests and fail the "refused" ones, so both are needed. Everything talks to loopback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from flows.client import Vats
from scraper.browser.direct import DirectTransport
from scraper.browser.host import DRIVER_NODE_OPTIONS, BrowserHost, load_certificates, spki_hash
from scraper.browser.session import BrowserSession
from scraper.browser.transport import RequestContextTransport
from scraper.errors import TLSError, UsageError
from tests.conftest import (
    REPO,
    SandboxHandle,
    account_settings,
    start_sandbox_process,
    stop_sandbox_process,
)
from vats_fixtures.sandbox.tls import make_certificate

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxHandle, Path]]:
    """A TLS sandbox and its certificate, written where we asked (``--cert-out``)."""
    cert = tmp_path_factory.mktemp("tls") / "sandbox.pem"
    process, (url, printed), log_path = start_sandbox_process(
        "--tls", "--cert-out", str(cert), "--abonents", "6", lines=2)
    try:
        assert url.startswith("https://127.0.0.1:")
        assert cert.read_bytes() == Path(printed).read_bytes()
        yield SandboxHandle(url, log_path), cert
    finally:
        stop_sandbox_process(process)
        log_path.unlink(missing_ok=True)


@pytest.fixture
def other_cert(tmp_path: Path) -> Path:
    """A certificate just like the sandbox's (same names), but not the one it presents."""
    cert, _key = make_certificate(tmp_path, "127.0.0.1")
    return cert


async def never_log_in(session: BrowserSession) -> None:
    raise AssertionError("these tests never log in through the session")


@asynccontextmanager
async def session_for(handle: SandboxHandle, ca_cert: Path | None) -> AsyncIterator[BrowserSession]:
    settings = account_settings(handle, ca_cert=ca_cert, reuse_session=False, login_timeout_s=10)
    async with BrowserHost.for_settings(settings) as host, \
            BrowserSession(host, settings, authenticate=never_log_in) as session:
        yield session


async def post_control(session: BrowserSession, url: str) -> Any:
    """One POST through Playwright's request context (the mutations' way), changing nothing."""
    return await RequestContextTransport(session.context).post(
        f"{url}/__sandbox__/control", "{}", {"Content-Type": "application/json"}, 10)


async def test_the_given_certificate_is_trusted_by_page_and_request_context(
        tls_sandbox: tuple[SandboxHandle, Path], caplog: pytest.LogCaptureFixture) -> None:
    handle, cert = tls_sandbox
    async with session_for(handle, cert) as session:
        await session.goto("/login/")
        assert "/login/" in session.page.url
        answer = await post_control(session, handle.url)
        assert answer.status == 200 and "latency_ms" in json.loads(answer.body)

    # and a whole run: log in, the trunk inventory with every read through the request context
    caplog.set_level(logging.WARNING)
    settings = account_settings(handle, ca_cert=cert, reuse_session=False, transport="request")
    async with Vats(settings=settings) as vats:
        inventory = await vats.trunks()
    assert inventory.trunks
    # the request context did the work itself, it did not fall back to the page's fetch
    assert not [r for r in caplog.records if "cannot connect" in r.getMessage()]


async def test_another_certificate_is_refused_by_page_and_request_context(
        tls_sandbox: tuple[SandboxHandle, Path], other_cert: Path) -> None:
    handle, _cert = tls_sandbox
    async with session_for(handle, other_cert) as session:
        with pytest.raises(TLSError, match="not trusted") as page_error:
            await session.goto("/login/")
        with pytest.raises(TLSError, match="not trusted") as request_error:
            await post_control(session, handle.url)
    for error in (page_error.value, request_error.value):
        assert "--ca-cert" in str(error) and error.not_sent
    assert "ERR_CERT" in str(page_error.value)


async def test_no_certificate_is_refused_by_page_and_request_context(
        tls_sandbox: tuple[SandboxHandle, Path]) -> None:
    handle, _cert = tls_sandbox
    async with session_for(handle, None) as session:
        with pytest.raises(TLSError, match="--ca-cert"):
            await session.goto("/login/")
        with pytest.raises(TLSError, match="--ca-cert"):
            await post_control(session, handle.url)


async def test_the_direct_transport_trusts_exactly_the_given_certificate(
        tls_sandbox: tuple[SandboxHandle, Path], other_cert: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    handle, cert = tls_sandbox
    control = f"{handle.url}/__sandbox__/control"
    async with session_for(handle, cert) as session:
        for trusted, expect in ((cert, None), (other_cert, "not trusted"), (None, "--ca-cert")):
            direct = DirectTransport(session.context, epoch=lambda: 0,
                                     ca_certs=() if trusted is None else (trusted,))
            try:
                if expect is None:
                    answer = await direct.post(control, "{}", {}, 10)
                    assert answer.status == 200 and "latency_ms" in json.loads(answer.body)
                    continue
                with pytest.raises(TLSError, match=expect) as info:
                    await direct.post(control, "{}", {}, 10)
                assert info.value.not_sent  # the handshake failed: nothing was sent
            finally:
                await direct.close()

    # and a whole run: every read direct, verified against the given certificate
    caplog.set_level(logging.WARNING)
    settings = account_settings(handle, ca_cert=cert, reuse_session=False, transport="direct")
    async with Vats(settings=settings) as vats:
        inventory = await vats.trunks()
    assert inventory.trunks and not inventory.failures
    assert not [r for r in caplog.records if "cannot connect" in r.getMessage()]


def drivers() -> dict[int, dict[str, str]]:
    """This process's Playwright drivers (``node cli.js run-driver``) and their environments."""
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if "run-driver" in child.cmdline():
                found[child.pid] = child.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def new_driver_environment(before: dict[int, dict[str, str]]) -> dict[str, str]:
    (env,) = [env for pid, env in drivers().items() if pid not in before]
    return env


async def test_the_driver_gets_its_environment_and_the_process_keeps_its_own(
        tls_sandbox: tuple[SandboxHandle, Path]) -> None:
    _handle, cert = tls_sandbox
    before = dict(os.environ)
    running = drivers()
    changed: list[dict[str, str]] = []
    host = BrowserHost(ca_certs=[cert])
    start = asyncio.ensure_future(host.start())
    while not start.done():  # watch the environment on every turn of the loop while it starts
        if dict(os.environ) != before:
            changed.append(dict(os.environ))
        await asyncio.sleep(0)
    try:
        await start
        assert changed == [] and dict(os.environ) == before
        env = new_driver_environment(running)
        assert env["NODE_OPTIONS"].endswith(DRIVER_NODE_OPTIONS)
        bundle = Path(env["NODE_EXTRA_CA_CERTS"])
        assert [spki_hash(c) for c in load_certificates(bundle)] == [
            spki_hash(c) for c in load_certificates(cert)]
        assert any(arg.startswith("--ignore-certificate-errors-spki-list=")
                   for arg in host.options["args"])
    finally:
        await host.close()
    assert not bundle.exists()  # the bundle goes with the host


async def test_the_users_node_options_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_OPTIONS", "--max-semi-space-size=2")
    running = drivers()
    async with BrowserHost():
        env = new_driver_environment(running)
    assert env["NODE_OPTIONS"] == "--max-semi-space-size=2"
    assert os.environ["NODE_OPTIONS"] == "--max-semi-space-size=2"


async def test_a_session_refuses_a_host_that_does_not_trust_its_certificate(
        tls_sandbox: tuple[SandboxHandle, Path], other_cert: Path) -> None:
    handle, cert = tls_sandbox
    settings = account_settings(handle, ca_cert=cert, reuse_session=False)
    async with BrowserHost(ca_certs=[other_cert]) as host:
        with pytest.raises(UsageError, match="--ca-cert"):
            await BrowserSession(host, settings, authenticate=never_log_in).start()
        with pytest.raises(UsageError, match="ignore_https_errors"):
            await host.new_context(ignore_https_errors=True)


def test_a_file_without_a_certificate_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(UsageError, match="no certificate"):
        BrowserHost(ca_certs=[junk])
    with pytest.raises(UsageError, match="cannot read"):
        BrowserHost(ca_certs=[tmp_path / "missing.pem"])


def vats(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, VATS_PASSWORD="sandbox")
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env,
                          capture_output=True, timeout=120, check=False)


def test_cli_trusts_the_written_certificate_and_nothing_else(
        tls_sandbox: tuple[SandboxHandle, Path], other_cert: Path) -> None:
    handle, cert = tls_sandbox
    base = ["--address", handle.url, "--login", "+7-9000000000", "--no-reuse"]
    ok = vats(*base, "--ca-cert", str(cert), "trunks", "--format", "json")
    assert ok.returncode == 0, ok.stderr.decode()
    assert json.loads(ok.stdout)
    refused = vats(*base, "--ca-cert", str(other_cert), "trunks", "--format", "json")
    assert refused.returncode == 1
    assert b"TLSError" in refused.stderr and b"not trusted" in refused.stderr
    assert b"--ca-cert" in refused.stderr


def test_cert_out_needs_tls(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vats_fixtures.sandbox", "--port", "0",
                           "--cert-out", str(tmp_path / "cert.pem")],
                          cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--cert-out needs --tls" in done.stderr
    assert not (tmp_path / "cert.pem").exists()
