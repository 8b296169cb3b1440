"""No Chromium is left running: after success, after an error, after Ctrl-C."""

import asyncio
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


# --- app loads: at most one per core at once (BrowserHost.app_load) -----------------------------
async def _loads_at_once(host, tasks, *, hold=0.05, nested=False):
    inside = peak = 0

    async def one():
        nonlocal inside, peak
        async with host.app_load():
            if nested:  # a re-login inside a load: the same place, no deadlock
                async with host.app_load():
                    pass
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(hold)
            inside -= 1

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(tasks))), 10)
    return peak


async def test_app_loads_are_one_per_core(monkeypatch):
    monkeypatch.setattr("scraper.browser.host.cores", lambda: 2)
    host = BrowserHost()  # no browser needed to share out places
    assert await _loads_at_once(host, 7) == 2
    assert await _loads_at_once(host, 3, nested=True) == 2


async def test_a_cancelled_wait_for_a_load_keeps_no_place(monkeypatch):
    monkeypatch.setattr("scraper.browser.host.cores", lambda: 1)
    host = BrowserHost()
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder():
        async with host.app_load():
            holding.set()
            await release.wait()

    first = asyncio.ensure_future(holder())
    await holding.wait()
    waiting = asyncio.ensure_future(_loads_at_once(host, 1))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the one place is held
    waiting.cancel()
    release.set()
    await first
    assert await _loads_at_once(host, 4) == 1  # not 2: the cancelled wait left nothing behind


async def test_a_load_waiting_for_a_person_lets_others_load(monkeypatch):
    monkeypatch.setattr("scraper.browser.host.cores", lambda: 1)
    host = BrowserHost()
    other_loaded = asyncio.Event()
    order = []

    async def needs_a_code():
        async with host.app_load():
            order.append("code asked")
            async with host.waiting_for_person():
                await asyncio.wait_for(other_loaded.wait(), 5)  # the person answers later
            order.append("code given")

    async def other():
        await asyncio.sleep(0.02)
        async with host.app_load():
            order.append("other loaded")
            other_loaded.set()
            await asyncio.sleep(0.05)
        order.append("other left")

    await asyncio.gather(needs_a_code(), other())
    # the coded load waited for its place again: it went on only after the other left it
    assert order == ["code asked", "other loaded", "other left", "code given"]
    assert await _loads_at_once(host, 3) == 1
