"""How a replayed GWT call travels: the seam between call logic and the network.

The default rides inside the logged-in page (``fetch`` on Chromium's own network stack, with
the app's cookies and TLS — the real host has a TLS setup other clients struggle with);
Playwright's request context is the alternative; ``MockTransport`` lets call logic be tested
without a browser (httpx-style).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from scraper.errors import TransportError


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """What came back: status, body text, the final URL (after redirects) and headers."""

    status: int
    body: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        """POST ``body``; raise ``TransportError`` when no answer arrived (timeout, reset)."""
        ...


_FETCH_JS = """
async ([url, body, headers, timeoutMs]) => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const r = await fetch(url, {method: "POST", body, headers, credentials: "same-origin",
                                 signal: controller.signal});
    const text = await r.text();
    const h = {};
    r.headers.forEach((v, k) => { h[k] = v; });
    return {ok: true, status: r.status, body: text, url: r.url, headers: h};
  } catch (e) {
    return {ok: false, error: (e && e.name === "AbortError") ? "timeout" : String(e)};
  } finally {
    clearTimeout(timer);
  }
}
"""


class PageFetchTransport:
    """``fetch`` inside the app's page: same cookies, headers and TLS as the real app."""

    def __init__(self, page: Page) -> None:
        self.page = page

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        try:
            result = await self.page.evaluate(_FETCH_JS, [url, body, headers, int(timeout * 1000)])
        except PlaywrightError as exc:
            raise TransportError(f"in-page fetch failed: {exc.message.splitlines()[0]}") from None
        if not result.get("ok"):
            raise TransportError(f"no answer: {result.get('error')}")
        return RawAnswer(int(result["status"]), str(result["body"]), str(result["url"]),
                         dict(result.get("headers") or {}))


class RequestContextTransport:
    """Playwright's API request context of the browser context (shares its cookies)."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        try:
            response = await self.context.request.post(
                url, data=body.encode("utf-8"), headers=headers, timeout=timeout * 1000)
            text = await response.text()
        except PlaywrightError as exc:
            raise TransportError(f"request failed: {exc.message.splitlines()[0]}") from None
        return RawAnswer(response.status, text, response.url, dict(response.headers))


Handler = Callable[[str, str, dict[str, str]], RawAnswer | Awaitable[RawAnswer]]


class MockTransport:
    """Answers from a function: for testing call logic without a browser or a server."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        self.calls.append((url, body, headers))
        answer = self.handler(url, body, headers)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, RawAnswer)
        return answer
