"""Logging in through the cabinet's own login page, as a person would.

The form is found by its visible Russian labels (not by ids or classes, which change between
builds); what happened after submitting is read from where Spring Security sends us: the app
(``/gwt/enterprise/<id>/``), the login page again with an error, or a confirmation-code page.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from scraper.browser.capture import for_call
from scraper.browser.session import BrowserSession
from scraper.errors import FlowError, LoginError, UsageError

log = logging.getLogger(__name__)

CodeProvider = Callable[[], str | Awaitable[str]]

LOGIN_LABEL = re.compile(r"^\s*Логин", re.I)
PASSWORD_LABEL = re.compile(r"^\s*Пароль", re.I)
CODE_LABEL = re.compile(r"код", re.I)
SUBMIT = re.compile(r"^\s*(Войти|Вход|Подтвердить|Продолжить)\s*$", re.I)
_APP = re.compile(r"/gwt/(enterprise|abonent)/\d+/")


def no_code_provider() -> str:
    """Without a provider the code can only come with the settings (``confirmation_code``,
    ``VATS_CONFIRMATION_CODE``); when it did not, say so."""
    raise UsageError("the cabinet asks for a confirmation code; set VATS_CONFIRMATION_CODE")


def make_authenticate(code_provider: CodeProvider | None = None
                      ) -> Callable[[BrowserSession], Awaitable[None]]:
    """The ``authenticate`` strategy a ``BrowserSession`` calls to (re-)log in."""

    async def authenticate(session: BrowserSession) -> None:
        await login(session, code_provider=code_provider)

    return authenticate


async def _outcome(page: Page, timeout_s: float, *, code_sent: bool = False) -> str:
    """Where the submit led: ``app``, ``code`` or ``error``.

    After the code was sent the page is still on the code form until the answer arrives, so
    only the app or the form again with its error (``/login/code/?error``) count then; taking
    the form itself for the answer made a refused code wait for an app call that never came
    and end in an untyped ``TimeoutError``.
    """
    def which(url: str) -> str | None:
        path = url.split("#", 1)[0]
        if _APP.search(path):
            return "app"
        if "/login/code" in path:
            if "error" in path.partition("?")[2]:
                return "error"
            return None if code_sent else "code"
        if "/login/" in path and ("error" in path or "?" in path):
            return "error"
        return None

    await page.wait_for_url(lambda url: which(url) is not None, timeout=timeout_s * 1000)
    result = which(page.url)
    assert result is not None
    return result


async def _page_error(page: Page) -> str | None:
    for locator in (page.get_by_role("alert"), page.locator(".error")):
        try:
            if await locator.count() and await locator.first.is_visible():
                text = (await locator.first.inner_text()).strip()
                if text:
                    return text
        except PlaywrightError:
            continue
    return None


async def _submit(page: Page) -> None:
    button = page.get_by_role("button", name=SUBMIT)
    if await button.count() == 0:
        raise FlowError("no submit button (Войти) on the login page: the markup changed")
    await button.first.click()


async def login(session: BrowserSession, *, code_provider: CodeProvider | None = None) -> None:
    """Log in and wait until the app runs and has made its first GWT call."""
    settings = session.settings
    username, password = settings.require_credentials()
    page = session.page
    debug = session.debug
    timeout = settings.login_timeout_s
    if "/login/" not in page.url or "error" in page.url:
        await session.goto("/login/")  # open_app was usually just redirected here already
    await debug.step(page, "login-page")
    try:
        await page.get_by_label(LOGIN_LABEL).first.fill(username, timeout=timeout * 1000)
        await page.get_by_label(PASSWORD_LABEL).first.fill(password, timeout=timeout * 1000)
    except PlaywrightError as exc:
        raise FlowError(f"login form not found by its labels (Логин/Пароль): {exc.message}") from None
    await debug.step(page, "login-filled")
    first_call = session.capture.expect(for_call(ok=False))  # a failed one fails fast
    await _submit(page)
    outcome = await _outcome(page, timeout)
    if outcome == "code":
        await debug.step(page, "code-page")
        code = await _ask_code(session, code_provider)
        session.redactor.add(code)
        await page.get_by_label(CODE_LABEL).first.fill(code)
        await _submit(page)
        outcome = await _outcome(page, timeout, code_sent=True)
    if outcome == "error":
        await debug.step(page, "login-refused")
        raise LoginError("the cabinet refused the login", page_message=await _page_error(page))
    session.login_accepted()  # from here a retry walks into the app, never logs in twice
    await session.app_call(first_call, "after the login")
    log.info("logged in", extra={"address": settings.address})
    await session.logged_in()


async def _ask_code(session: BrowserSession, provider: CodeProvider | None) -> str:
    """The one-time code: the settings' (``VATS_CONFIRMATION_CODE``), else asked from
    ``provider`` while the page stays open, within ``code_timeout_s``."""
    if session.settings.confirmation_code is not None:
        return session.settings.confirmation_code.get_secret_value()
    chosen = provider or no_code_provider

    async def ask() -> str:
        answer = chosen()
        if inspect.isawaitable(answer):
            answer = await answer
        return str(answer).strip()

    try:
        async with session.host.waiting_for_person():  # other accounts log in meanwhile
            code = await asyncio.wait_for(ask(), session.settings.code_timeout_s)
    except TimeoutError:
        raise LoginError("no confirmation code arrived in time") from None
    if not code:
        raise LoginError("an empty confirmation code was given")
    return code
