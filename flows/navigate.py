"""Walking the app's UI to the screens whose GWT calls we learn from.

Found by visible text and ARIA roles only — ids and class names change with every front-end
build (the sandbox's ``--ui-variant`` rehearses exactly that) — and every step waits on the
wire (the GWT call the click causes), never on sleeps.
"""

from __future__ import annotations

import logging
import re

from playwright.async_api import Error as PlaywrightError

from scraper.browser.capture import Exchange, for_call
from scraper.browser.session import BrowserSession
from scraper.errors import FlowError

log = logging.getLogger(__name__)

ABONENTS = re.compile(r"^\s*Абоненты\s*$")
LIST = for_call("AbonentBrowserGwtService", "list")
GET_FORM = for_call("DispatcherService", "getForm")


async def abonents_tab(session: BrowserSession) -> Exchange:
    """Show the Abonents tab; returns the list call the app made for it."""
    page = session.page
    timeout = session.settings.timeout_s
    seen = session.capture.latest(LIST)
    expectation = session.capture.expect(LIST)
    try:
        await page.get_by_role("link", name=ABONENTS).first.click(timeout=timeout * 1000)
    except PlaywrightError as exc:
        raise FlowError(f"no 'Абоненты' link in the menu: {exc.message.splitlines()[0]}") from None
    try:
        exchange = await expectation.wait(timeout if seen is None else min(timeout, 5))
    except TimeoutError:
        if seen is None:
            raise FlowError("the Abonents tab made no AbonentBrowserGwtService.list call") from None
        exchange = seen  # the tab was already showing; its call is the one we saw
    await page.get_by_role("table", name=ABONENTS).wait_for(timeout=timeout * 1000)
    await session.debug.step(page, "abonents")
    return exchange


async def devices_page(session: BrowserSession, row: int = 0) -> Exchange:
    """Open the Devices page of the ``row``-th abonent of the table; returns its getForm call."""
    page = session.page
    timeout = session.settings.timeout_s
    table = page.get_by_role("table", name=ABONENTS)
    links = table.get_by_role("link")
    try:
        await links.nth(row).wait_for(timeout=timeout * 1000)
    except PlaywrightError:
        raise FlowError(f"the Abonents table has no row {row} with a link") from None
    expectation = session.capture.expect(GET_FORM)
    await links.nth(row).click()
    try:
        exchange = await expectation.wait(timeout)
    except TimeoutError:
        raise FlowError("opening an abonent made no DispatcherService.getForm call") from None
    await page.get_by_text("Тип устройства").first.wait_for(timeout=timeout * 1000)
    await session.debug.step(page, "devices")
    return exchange


SWITCH_CALL = for_call("AbonentDeviceFormGwtService", "setDeviceEnabled", ok=False)


async def toggle_device(session: BrowserSession, abonent_id: int, want: bool) -> Exchange:
    """Open the abonent's Devices page (``/gwt/abonent/<id>/``, a captured URL form) and move
    its slider to ``want`` — a real user's action; returns the call the app made."""
    page = session.page
    timeout = session.settings.timeout_s
    form_call = session.capture.expect(GET_FORM)
    await session.goto(f"/gwt/abonent/{abonent_id}/")
    if "/login/" in page.url:
        raise FlowError("the session ended while opening the Devices page")
    try:
        await form_call.wait(timeout)
    except TimeoutError:
        raise FlowError("the Devices page made no getForm call") from None
    switch = page.get_by_role("switch").first
    try:
        await switch.wait_for(timeout=timeout * 1000)
    except PlaywrightError:
        raise FlowError("no device switch (role=switch) on the Devices page") from None
    if (await switch.get_attribute("aria-checked") == "true") == want:
        raise FlowError("the switch is already in the wanted position")
    call = session.capture.expect(SWITCH_CALL)
    await switch.click()
    try:
        exchange = await call.wait(timeout)
    except TimeoutError:
        raise FlowError("moving the switch made no setDeviceEnabled call") from None
    await session.debug.step(page, "switched")
    return exchange
