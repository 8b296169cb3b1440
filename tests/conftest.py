"""Shared fixtures: the sandbox cabinet, started once per test session as a real server.

It runs as a subprocess (``python -m fixtures.sandbox --port 0``), exactly as a user starts it,
and the tests talk to it over HTTP on 127.0.0.1. ``sandbox`` resets it to the seed before each
test that uses it, so tests never see each other's changes. ``Cabinet`` is a small aiohttp
client with a cookie jar: log in, call RPC with the captured payloads, read the test-only state.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fixtures.recorded import captures
from fixtures.sandbox.process import start_sandbox_process, stop_sandbox_process
from scraper.gwt import encode_long

__all__ = ["start_sandbox_process", "stop_sandbox_process"]

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_LOGIN = "+7-9000000000"
ACCOUNT_PASSWORD = "sandbox"
GWT_CONTENT_TYPE = "text/x-gwt-rpc; charset=UTF-8"


@dataclass(frozen=True)
class SandboxHandle:
    """A running sandbox: its base URL (no trailing slash) and its log file."""

    url: str
    log_path: Path

    @property
    def module_base(self) -> str:
        return f"{self.url}/vpbxGwt/"

    def control(self, **knobs: Any) -> dict[str, Any]:
        """POST the test-only control endpoint (synchronously)."""
        request = urllib.request.Request(
            f"{self.url}/__sandbox__/control", data=json.dumps(knobs).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: dict[str, Any] = json.loads(answer.read())
        return result

    def state(self) -> dict[str, Any]:
        """GET the test-only state (synchronously)."""
        with urllib.request.urlopen(f"{self.url}/__sandbox__/state", timeout=10) as answer:
            state: dict[str, Any] = json.loads(answer.read())
        return state

    def audit(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/__sandbox__/audit", timeout=10) as answer:
            audit: list[dict[str, Any]] = json.loads(answer.read())
        return audit


@contextmanager
def sandbox_handle(*args: str) -> Iterator[SandboxHandle]:
    """A sandbox subprocess (``python -m fixtures.sandbox ARGS``) for a ``with`` block."""
    process, (url,), log_path = start_sandbox_process(*args)
    try:
        yield SandboxHandle(url, log_path)
    finally:
        stop_sandbox_process(process)
        log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxHandle]:
    """The sandbox cabinet, one per test session."""
    with sandbox_handle() as handle:
        yield handle


@pytest.fixture
def sandbox(sandbox_server: SandboxHandle) -> SandboxHandle:
    """The sandbox, reset to its seed (data, build, knobs, sessions, audit)."""
    sandbox_server.control(reset=True)
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


# --- the captured payloads of captures.md §3 (older build) with the module base as a placeholder --
# (fixtures/recorded/captures.py holds them verbatim; only the module base differs here)
LIST = captures.LIST.replace(captures.MODULE_BASE, "{moduleBase}")
GET_FORM = captures.GET_FORM.replace(captures.MODULE_BASE, "{moduleBase}")
CREATE_DEVICE = captures.CREATE_DEVICE.replace(captures.MODULE_BASE, "{moduleBase}")
REMOVE_DEVICE = captures.REMOVE_DEVICE.replace(captures.MODULE_BASE, "{moduleBase}")
# docs/reconstruction.md: built to end exactly as the captured toggle tail
TOGGLE = ("7|0|6|{moduleBase}|{strongName}|ru.cti.vpbx.shared.services.AbonentDeviceFormGwtService|setDeviceEnabled|java.lang.Long/4227064769|java.lang.Boolean/476441737|1|2|3|4|2|5|6|5|{deviceId}|6|{on}|")  # noqa: E501 - verbatim
# the newer build's othercrm calls (captures.md §2)
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


@asynccontextmanager
async def browser_host() -> AsyncIterator[Any]:
    """A started ``BrowserHost`` (headless); the test is skipped when no Chromium can start."""
    from scraper.browser.host import BrowserHost

    host = BrowserHost()
    try:
        await host.start()
    except Exception as exc:  # noqa: BLE001 - any launch failure means "no browser here"
        pytest.skip(f"no usable Chromium: {exc}")
    try:
        yield host
    finally:
        await host.close()


@asynccontextmanager
async def headless_browser() -> AsyncIterator[Any]:
    """A fresh headless Chromium, started and stopped as the library does (``BrowserHost``)."""
    async with browser_host() as host:
        yield host.browser


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
    from scraper.settings import AccountSettings

    values: dict[str, Any] = {"address": handle.url, "login": ACCOUNT_LOGIN,
                              "password": ACCOUNT_PASSWORD, "timeout_s": 15,
                              "login_timeout_s": 20}
    values.update(overrides)
    return AccountSettings(**values)
