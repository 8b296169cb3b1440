"""One browser per process, one context per account — and nothing left running afterwards.

Why a host object: Playwright and Chromium must be stopped on every exit path (errors,
cancellation, Ctrl-C), or CI machines fill with orphaned Chromium processes. ``async with``
guarantees it; contexts opened through the host are closed with it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from scraper.browser.chromium import launch_options

log = logging.getLogger(__name__)

#: V8 flags for Playwright's Node driver. Its young generation otherwise grows to tens of MB
#: while it relays hundreds of calls (bench/inventory.py: the driver went from ~120 to ~180 MB
#: PSS over 800 calls; with 1 MB semi-spaces ~130 MB, at no measurable cost in time).
DRIVER_NODE_OPTIONS = "--max-semi-space-size=1"
LAUNCH_ATTEMPTS = 2


@contextmanager
def _driver_environment() -> Iterator[None]:
    """``NODE_OPTIONS`` for the driver while it starts (the user's own flags win)."""
    before = os.environ.get("NODE_OPTIONS")
    if before is not None and "semi-space" in before:
        yield
        return
    os.environ["NODE_OPTIONS"] = f"{before} {DRIVER_NODE_OPTIONS}" if before else DRIVER_NODE_OPTIONS
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("NODE_OPTIONS", None)
        else:
            os.environ["NODE_OPTIONS"] = before


class BrowserHost:
    """Owns Playwright and one Chromium; ``new_context`` per account."""

    def __init__(self, *, headless: bool = True, slow_mo_ms: float = 0,
                 chromium: str | None = None) -> None:
        self.options = launch_options(headless=headless, slow_mo_ms=slow_mo_ms, executable=chromium)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._contexts: list[BrowserContext] = []

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            raise RuntimeError("BrowserHost is not started (use 'async with')")
        return self._browser

    async def start(self) -> BrowserHost:
        with _driver_environment():
            self._playwright = await async_playwright().start()
        try:
            self._browser = await self._launch(self._playwright)
        except BaseException:
            await self._playwright.stop()
            self._playwright = None
            raise
        log.info("browser started", extra={"executable": self.options.get("executable_path"),
                                           "headless": self.options.get("headless")})
        return self

    async def _launch(self, playwright: Playwright) -> Browser:
        """Launch, and once more if the browser died while starting.

        Why: on a loaded CI machine Chromium once crashed (SIGSEGV) before its DevTools pipe
        was up; a second start is cheap, and a configuration error fails the same way twice.
        """
        for attempt in range(LAUNCH_ATTEMPTS):
            try:
                return await playwright.chromium.launch(**self.options)
            except PlaywrightError as exc:
                if attempt + 1 == LAUNCH_ATTEMPTS:
                    raise
                log.warning("the browser did not start; trying once more",
                            extra={"error": exc.message.splitlines()[0]})
        raise AssertionError("unreachable")

    async def new_context(self, **kwargs: Any) -> BrowserContext:
        context = await self.browser.new_context(**kwargs)
        self._contexts.append(context)
        return context

    async def close(self) -> None:
        """Close contexts, the browser and Playwright; safe to call twice, never raises."""
        for context in self._contexts:
            try:
                await context.close()
            except Exception:
                log.debug("context close failed", exc_info=True)
        self._contexts.clear()
        if self._browser is not None:
            try:
                await self._browser.close()
            except Exception:
                log.debug("browser close failed", exc_info=True)
            self._browser = None
        if self._playwright is not None:
            try:
                await self._playwright.stop()
            except Exception:
                log.debug("playwright stop failed", exc_info=True)
            self._playwright = None

    async def __aenter__(self) -> BrowserHost:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
