"""Walking the app's UI to the screens whose GWT calls we learn from.

Found by visible text and ARIA roles only — ids and class names change with every front-end
build (the sandbox's ``--ui-variant`` rehearses exactly that) — and every step waits on the
wire (the GWT call the click causes), never on sleeps.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from typing import TypeVar

from playwright.async_api import Error as PlaywrightError

from scraper.browser.capture import Exchange, for_call
from scraper.browser.session import BrowserSession
from scraper.errors import FlowError, VatsError

log = logging.getLogger(__name__)
T = TypeVar("T")

ABONENTS = re.compile(r"^\s*Абоненты\s*$")
LIST = for_call("AbonentBrowserGwtService", "list")
GET_FORM = for_call("DispatcherService", "getForm")
#: the same calls answered or not: a walk waits for either, and a failed one fails it at once
#: (the session judges the answer), instead of waiting out the timeout for a call that came
LIST_ANY = for_call("AbonentBrowserGwtService", "list", ok=False)
GET_FORM_ANY = for_call("DispatcherService", "getForm", ok=False)


async def _ui(step: Awaitable[T], what: str) -> T:
    """One action on the page; a Playwright failure (a timeout, an element gone because the
    page was reloaded under it) becomes a ``FlowError`` saying what could not be done, so the
    walk around it is retried like any other failure of the app."""
    try:
        return await step
    except PlaywrightError as exc:
        raise FlowError(f"{what}: {exc.message.splitlines()[0]}") from None


async def abonents_tab(session: BrowserSession) -> Exchange:
    """Show the Abonents tab; returns the list call the app made for it."""
    page = session.page
    timeout = session.settings.timeout_s
    seen = session.capture.latest(LIST)
    expectation = session.capture.expect(LIST_ANY)
    await _ui(page.get_by_role("link", name=ABONENTS).first.click(timeout=timeout * 1000),
              "no 'Абоненты' link in the menu")
    try:
        exchange = await expectation.wait(timeout if seen is None else min(timeout, 5))
    except TimeoutError:
        if seen is None:
            raise FlowError("the Abonents tab made no AbonentBrowserGwtService.list call") from None
        exchange = seen  # the tab was already showing; its call is the one we saw
    session.check_app_answer(exchange)
    await _ui(page.get_by_role("table", name=ABONENTS).wait_for(timeout=timeout * 1000),
              "the Abonents tab shows no table")
    await session.debug.step(page, "abonents")
    return exchange


async def devices_page(session: BrowserSession, row: int = 0) -> Exchange:
    """Open the Devices page of the ``row``-th abonent of the table; returns its getForm call."""
    page = session.page
    timeout = session.settings.timeout_s
    links = page.get_by_role("table", name=ABONENTS).get_by_role("link")
    await _ui(links.nth(row).wait_for(timeout=timeout * 1000),
              f"the Abonents table has no row {row} with a link")
    expectation = session.capture.expect(GET_FORM_ANY)
    await _ui(links.nth(row).click(timeout=timeout * 1000), f"cannot open the abonent in row {row}")
    try:
        exchange = await expectation.wait(timeout)
    except TimeoutError:
        raise FlowError("opening an abonent made no DispatcherService.getForm call") from None
    session.check_app_answer(exchange)
    await _ui(page.get_by_text("Тип устройства").first.wait_for(timeout=timeout * 1000),
              "the Devices page shows no device type")
    await session.debug.step(page, "devices")
    return exchange


SWITCH_CALL = for_call("AbonentDeviceFormGwtService", "setDeviceEnabled", ok=False)


async def toggle_device(session: BrowserSession, abonent_id: int, want: bool) -> Exchange:
    """Open the abonent's Devices page (``/gwt/abonent/<id>/``, a captured URL form) and move
    its slider to ``want`` — a real user's action; returns the call the app made (judging its
    answer is the caller's: the session's ``check_app_answer``)."""
    page = session.page
    timeout = session.settings.timeout_s
    form_call = session.capture.expect(GET_FORM_ANY)
    await session.goto(f"/gwt/abonent/{abonent_id}/")
    if "/login/" in page.url:
        raise FlowError("the session ended while opening the Devices page")
    try:
        session.check_app_answer(await form_call.wait(timeout))
    except TimeoutError:
        raise FlowError("the Devices page made no getForm call") from None
    except VatsError as exc:  # the page's form failed to load: nothing was switched, no refusal
        raise FlowError(f"the Devices page did not load: {exc}") from None
    switch = page.get_by_role("switch").first
    await _ui(switch.wait_for(timeout=timeout * 1000),
              "no device switch (role=switch) on the Devices page")
    checked = await _ui(switch.get_attribute("aria-checked", timeout=timeout * 1000),
                        "the device switch has no state")
    if (checked == "true") == want:
        raise FlowError("the switch is already in the wanted position")
    call = session.capture.expect(SWITCH_CALL)
    await _ui(switch.click(timeout=timeout * 1000), "cannot move the device switch")
    try:
        exchange = await call.wait(timeout)
    except TimeoutError:
        raise FlowError("moving the switch made no setDeviceEnabled call") from None
    await session.debug.step(page, "switched")
    return exchange
