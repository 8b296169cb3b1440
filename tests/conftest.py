"""Shared fixtures: the sandbox cabinet, started once per test session as a real server.

It is the ``vats_sandbox`` fixture of vats' own pytest plugin (vats_fixtures/pytest_plugin.py,
the one integrators use): a subprocess (``python -m vats_fixtures.sandbox --port 0``), exactly
as a user starts it, and the tests talk to it over HTTP on 127.0.0.1. ``sandbox`` resets it to
the seed before each test that uses it, so tests never see each other's changes. ``Cabinet`` is
a small aiohttp client with a cookie jar: log in, call RPC with the captured payloads, read the
test-only state.

The browser tests run in pytest-playwright's fixtures (``page``, ``context``, ``browser``; the
package pytest-playwright-asyncio), on the Chromium vats itself finds, so Playwright's own flags
work: ``--headed``, ``--slowmo MS``, ``--browser-channel``, ``--tracing retain-on-failure``,
``--screenshot only-on-failure``, ``--video`` (artifacts in ``test-results/``). ``vats_host`` is
a ``BrowserHost`` on that browser for the tests of vats sessions. Tests that use them run in the
session's event loop, the loop of those fixtures (``pytest_collection_modifyitems`` marks them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from scraper.gwt import encode_long
from vats_fixtures.pytest_plugin import VatsSandbox, sandbox_handle
from vats_fixtures.recorded import captures
from vats_fixtures.sandbox.process import start_sandbox_process, stop_sandbox_process

__all__ = ["sandbox_handle", "start_sandbox_process", "stop_sandbox_process"]

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_LOGIN = "+7-9000000000"
ACCOUNT_PASSWORD = "sandbox"
GWT_CONTENT_TYPE = "text/x-gwt-rpc; charset=UTF-8"

#: a running sandbox (vats_fixtures.pytest_plugin.VatsSandbox, under the tests' old name)
SandboxHandle = VatsSandbox


@pytest.fixture(scope="session")
def sandbox_server(vats_sandbox_server: VatsSandbox) -> VatsSandbox:
    """The sandbox cabinet, one per test session (the plugin's)."""
    return vats_sandbox_server


@pytest.fixture
def sandbox(sandbox_server: VatsSandbox) -> VatsSandbox:
    """The sandbox, reset to its seed (data, build, knobs, sessions, audit)."""
    sandbox_server.reset()
    return sandbox_server


class Cabinet:
    """A client of the sandbox with its own cookie jar (one browser session)."""

    def __init__(self, handle: SandboxHandle, **session_options: Any) -> None:
        self.handle = handle
        self.url = handle.url
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # the sandbox lives on an IP address
            **session_options)
        self.permutation = "4F3A39F8A8855D9244397AB61F97306B"

    async def __aenter__(self) -> Cabinet:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.close()

    async def login(self, username: str = ACCOUNT_LOGIN, password: str = ACCOUNT_PASSWORD
                    ) -> aiohttp.ClientResponse:
        """POST the login form (aiohttp percent-encodes the ``+``); no redirects followed."""
        async with self.http.post(f"{self.url}/j_spring_security_check",
                                  data={"j_username": username, "j_password": password},
                                  allow_redirects=False) as answer:
            await answer.read()
            return answer

    async def rpc(self, servlet: str, payload: str, *, headers: dict[str, str] | None = None,
                  timeout: float = 10) -> tuple[int, str, Any]:
        """POST one GWT-RPC call as the browser does; ``(status, text, headers)``."""
        sent = {"Content-Type": GWT_CONTENT_TYPE, "X-GWT-Permutation": self.permutation,
                "X-GWT-Module-Base": self.handle.module_base}
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        async with self.http.post(f"{self.url}/vpbxGwt/{servlet}", data=payload.encode(),
                                  headers=sent, allow_redirects=False,
                                  timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
            return answer.status, await answer.text(), answer.headers


def glong(value: int) -> str:
    """A GWT base-64 long."""
    return encode_long(value)


# --- the captured payloads of the older build with the module base as a placeholder ---------------
# (fixtures/recorded/captures.py holds them verbatim; only the module base differs here)
LIST = captures.LIST.replace(captures.MODULE_BASE, "{moduleBase}")
GET_FORM = captures.GET_FORM.replace(captures.MODULE_BASE, "{moduleBase}")
CREATE_DEVICE = captures.CREATE_DEVICE.replace(captures.MODULE_BASE, "{moduleBase}")
REMOVE_DEVICE = captures.REMOVE_DEVICE.replace(captures.MODULE_BASE, "{moduleBase}")
# docs/reconstruction.md: built to end exactly as the captured toggle tail
TOGGLE = ("7|0|6|{moduleBase}|{strongName}|ru.cti.vpbx.shared.services.AbonentDeviceFormGwtService|setDeviceEnabled|java.lang.Long/4227064769|java.lang.Boolean/476441737|1|2|3|4|2|5|6|5|{deviceId}|6|{on}|")  # noqa: E501 - verbatim
# the newer build's othercrm calls (fixtures/recorded/captures.py)
OTHERCRM_GET = ("7|0|6|{moduleBase}|{dispatcherStrongName}|ru.cti.vpbx.shared.services.DispatcherService|getForm|java.lang.Long/4227064769|ru.cti.vpbx.shared.services.DispatcherService$DISPATCHER/1933436215|1|2|3|4|2|5|6|5|{enterpriseId}|6|50|")  # noqa: E501 - verbatim
OTHERCRM_UPDATE = ("7|0|12|{moduleBase}|{dispatcherStrongName}|ru.cti.vpbx.shared.services.DispatcherService|updateForm|ru.cti.vpbx.shared.models.codebase.RecordGWTModel/4241958543|ru.cti.vpbx.shared.services.DispatcherService$DISPATCHER/1933436215|ru.cti.vpbx.shared.models.form.apicrm.OtherCrmFormGWTModel/1636192704|{apiKeyUuid}|ru.cti.vpbx.shared.models.codebase.id.BlockIdGWTModel/1203261855|java.lang.Long/4227064769|https://example.invalid/webhook||1|2|3|4|2|5|6|7|8|9|0|0|10|{enterpriseId}|11|12|1|10|{formId}|6|50|")


def fill(template: str, **values: Any) -> str:
    """A captured payload with its ``{placeholders}`` replaced (ints become GWT longs)."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", glong(value) if isinstance(value, int) else value)
    assert "{" not in text.replace("{apiKeyUuid}", ""), text
    return text


# [R] the menu call (docs/reconstruction.md)
MENU_CALL = ("7|0|5|{moduleBase}|{strongName}|ru.cti.vpbx.shared.services.MenuGwtService|getMenu|java.lang.Long/4227064769|1|2|3|4|1|5|5|{enterpriseId}|")  # noqa: E501 - verbatim


# --- the browser session against the sandbox (tests/flows, tests/scraper/browser) ----------------


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Saved sessions go to a private temporary directory."""
    path = tmp_path / "state"
    monkeypatch.setenv("VATS_STATE_DIR", str(path))
    return path


# --- Chromium through pytest-playwright (its asyncio flavour, pytest-playwright-asyncio) -----------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options (``--headed``, ``--slowmo``, ``--browser-channel``)
    on the Chromium vats finds for itself (``VATS_CHROMIUM``, Playwright's own, Debian's), with
    vats' flags (``--no-sandbox`` as root, no background networking): ``playwright install``
    cannot download a browser here."""
    from scraper.browser.chromium import launch_options

    theirs = dict(browser_type_launch_args)
    ours = launch_options(headless=theirs.get("headless", True))
    if theirs.get("channel"):
        ours.pop("executable_path", None)  # a channel names its own browser
    return {**ours, **theirs, "args": [*ours["args"], *theirs.get("args", [])]}


#: fixtures that live in the session's event loop (pytest-playwright's, and ours on them)
SESSION_LOOP_FIXTURES = frozenset({"playwright", "browser", "launch_browser", "new_context",
                                   "context", "page", "vats_host"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An async test that uses those fixtures runs in the session's loop, where they live
    (in a loop of its own, Playwright's objects would belong to another loop)."""
    for item in items:
        marker = item.get_closest_marker("asyncio")
        if marker is None or not SESSION_LOOP_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
        if scope not in (None, "session"):
            raise pytest.UsageError(f"{item.nodeid}: pytest-playwright's fixtures need "
                                    f"loop_scope='session', not {scope!r}")
        item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(loop_scope="session")
async def vats_host(browser: Any, new_context: Any) -> AsyncIterator[Any]:
    """A ``BrowserHost`` on pytest-playwright's browser: its contexts come from
    pytest-playwright's ``new_context``, so ``--tracing``/``--screenshot``/``--video`` record
    vats sessions as well; closed (its contexts only) after the test."""
    from scraper.browser.host import BrowserHost

    host = BrowserHost.around(browser, new_context=new_context)
    try:
        yield host
    finally:
        await host.close()


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """An aiohttp application on a free loopback port for a ``with`` block; yields its URL."""
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def account_settings(handle: SandboxHandle, **overrides: Any) -> Any:
    """``AccountSettings`` for a sandbox (saved sessions where ``VATS_STATE_DIR`` says)."""
    return handle.settings(**overrides)


# --- a real RabbitMQ broker (tests/flows/watch/sinks), one per test session ----------------------


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A private RabbitMQ node (vats_fixtures.rabbitmq: its own ports, epmd and files), started
    once (about 5 s) and stopped after the session. Without rabbitmq-server the tests that use
    it fail, naming scripts/setup, which installs it."""
    from vats_fixtures.rabbitmq import rabbitmq_broker

    with rabbitmq_broker(tmp_path_factory.mktemp("rabbitmq")) as broker:
        yield broker
