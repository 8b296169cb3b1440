"""No Chromium is left running: after success, after an error, after Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from scraper.browser.host import BrowserHost
from tests.conftest import ACCOUNT_LOGIN, ACCOUNT_PASSWORD, REPO

pytestmark = pytest.mark.browser


def chromium_pids():
    pids = set()
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            name = (proc.info["name"] or "").lower()
            if "chrom" in name or "headless_shell" in name:
                pids.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def assert_no_new_chromium(before, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid in chromium_pids() - before if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"Chromium processes left running: {sorted(left)}"


async def test_host_closes_everything():
    before = chromium_pids()
    async with BrowserHost() as host:
        context = await host.new_context()
        page = await context.new_page()
        await page.set_content("<p>hi</p>")
        assert chromium_pids() - before
    assert_no_new_chromium(before)


async def test_a_host_around_someone_elses_browser_closes_only_its_contexts(browser):
    """``BrowserHost.around`` (pytest-playwright's browser, tests/conftest.py's ``vats_host``):
    nothing is launched or closed but the contexts opened through it, and those are opened by
    the given callable (pytest-playwright's ``new_context``, which records traces)."""
    from scraper.errors import UsageError

    opened = []

    async def open_context(**options):
        opened.append(options)
        return await browser.new_context(**options)

    host = BrowserHost.around(browser, new_context=open_context)
    assert await host.start() is host and host.browser is browser
    context = await host.new_context(locale="ru-RU")
    await (await context.new_page()).set_content("<p>hi</p>")
    assert opened == [{"locale": "ru-RU"}] and context in browser.contexts
    with pytest.raises(UsageError, match="ca-cert"):
        await host.new_context(ignore_https_errors=True)
    await host.close()
    assert context not in browser.contexts and browser.is_connected()


async def test_host_closes_on_error():
    before = chromium_pids()
    with pytest.raises(ZeroDivisionError):
        async with BrowserHost() as host:
            await host.new_context()
            1 / 0  # noqa: B018
    assert_no_new_chromium(before)


def test_ctrl_c_mid_login_leaves_nothing(sandbox, tmp_path):
    sandbox.control(latency_ms=4000)  # the login's first RPC will be slow: we interrupt it
    before = chromium_pids()
    env = dict(os.environ, VATS_PASSWORD=ACCOUNT_PASSWORD, VATS_STATE_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "--address", sandbox.url, "--login", ACCOUNT_LOGIN,
         "login"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not (chromium_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the login, browser running
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    assert_no_new_chromium(before)


async def test_a_browser_that_dies_while_starting_is_started_once_more() -> None:
    from types import SimpleNamespace

    from playwright.async_api import Error as PlaywrightError

    from scraper.browser.host import BrowserHost

    attempts: list[dict[str, object]] = []

    async def launch(**options: object) -> str:
        attempts.append(options)
        if len(attempts) == 1:
            raise PlaywrightError("Browser.launch: Target page, context or browser has been closed")
        return "browser"

    host = BrowserHost()
    fake = SimpleNamespace(chromium=SimpleNamespace(launch=launch))
    assert await host._launch(fake) == "browser"  # type: ignore[arg-type]
    assert len(attempts) == 2 and attempts[0] == attempts[1] == host.options

    async def broken(**options: object) -> str:
        attempts.append(options)
        raise PlaywrightError("Executable doesn't exist at /nowhere/chrome")

    attempts.clear()
    fake = SimpleNamespace(chromium=SimpleNamespace(launch=broken))
    with pytest.raises(PlaywrightError, match="Executable doesn't exist"):
        await host._launch(fake)  # type: ignore[arg-type]
    assert len(attempts) == 2  # tried twice, then the error as it was
