"""The direct transport against the sandbox: reads with the browser's cookies, no fallback.

The sandbox answers a call without a live ``JSESSIONID`` with its login page (an expired
session), so a read that succeeds proves the browser's cookie travelled with it.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from flows.client import Vats
from scraper.browser.direct import DirectTransport
from scraper.browser.host import BrowserHost
from scraper.browser.transport import FallbackTransport
from scraper.errors import TransportError
from tests.conftest import account_settings

pytestmark = pytest.mark.browser


def trunk_rows(state: dict[str, Any]) -> set[tuple[str, str | None, bool]]:
    return {(a["phone"], a["device"]["login"] if a["device"] else None, bool(a["device"]))
            for a in state["abonents"] if a["identify_line"] is not None}


def direct_of(vats: Vats) -> tuple[DirectTransport, FallbackTransport]:
    rpc = vats.session.rpc
    assert rpc is not None and isinstance(rpc.transport, FallbackTransport)
    direct = rpc.transport.primary
    assert isinstance(direct, DirectTransport)
    return direct, rpc.transport


async def browser_cookie(vats: Vats) -> str:
    cookies = await vats.session.context.cookies([vats.settings.address])
    return next(c["value"] for c in cookies if c["name"] == "JSESSIONID")


async def test_an_inventory_read_directly_equals_the_cabinet(sandbox: Any, state_dir: Any,
                                                             vats_host: BrowserHost) -> None:
    settings = account_settings(sandbox, transport="direct")
    async with Vats(settings=settings, host=vats_host) as vats:
        inventory = await vats.trunks()
        direct, fallback = direct_of(vats)
        assert not fallback.use_fallback  # every read went direct
        sent = next(iter(direct._cookies.values()))
        assert f"JSESSIONID={await browser_cookie(vats)}" in sent
        assert direct._user_agent == await vats.session.page.evaluate("navigator.userAgent")
    assert not inventory.failures
    assert {(t.phone, t.sip_login, t.has_device) for t in inventory.trunks} \
        == trunk_rows(sandbox.state())


async def test_after_a_re_login_the_new_cookie_is_sent(sandbox: Any, state_dir: Any,
                                                       vats_host: BrowserHost) -> None:
    """Every session dies half-way through: one re-login in the browser, and the reads after
    it carry the new session's cookie (else each would meet the login page again)."""
    settings = account_settings(sandbox, transport="direct")
    expired: list[int] = []

    def halfway(done: int, total: int) -> None:
        if not expired and done >= total // 2:
            expired.append(done)
            sandbox.control(expire_sessions=True)

    async with Vats(settings=settings, host=vats_host) as vats:
        before = await browser_cookie(vats)
        inventory = await vats.trunks(progress=halfway)
        after = await browser_cookie(vats)
        direct, fallback = direct_of(vats)
        assert vats.session.rpc is not None and vats.session.rpc.logins == 1
        assert not fallback.use_fallback
        assert all(f"JSESSIONID={after}" in header for header in direct._cookies.values())
    assert expired and before != after
    assert not inventory.failures and len(inventory.trunks) == len(trunk_rows(sandbox.state()))


async def test_a_server_that_cannot_be_reached_is_not_sent_to(vats_host: BrowserHost) -> None:
    """Connecting failed: nothing left, so the session's fallback may carry the read."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = await vats_host.new_context()
    direct = DirectTransport(context, epoch=lambda: 0)
    try:
        with pytest.raises(TransportError) as info:
            await direct.post(f"http://127.0.0.1:{port}/vpbxGwt/x", "7|0|", {}, 5)
    finally:
        await direct.close()
    assert info.value.not_sent and not info.value.interrupted
    assert f"127.0.0.1:{port}" in str(info.value)
