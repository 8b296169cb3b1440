"""How a replayed GWT call travels: the seam between call logic and the network.

The default rides inside the logged-in page (``fetch`` on Chromium's own network stack, with
the app's cookies and TLS — the real host has a TLS setup other clients struggle with), through
a queue in the page that starts the next call the moment an answer arrives; Playwright's request
context is the alternative and the overflow beyond Chromium's 6 connections per host;
``MockTransport`` lets call logic be tested without a browser (httpx-style).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from playwright.async_api import APIResponse, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from scraper.errors import TLSError, TransportError

log = logging.getLogger(__name__)


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


#: one POST from inside the page (``url``, ``body``, ``headers``, ``timeoutMs`` in scope). The
#: answer travels as one JSON string: Playwright serializes and validates every nested value of
#: an evaluate's result on both sides, a measurable share of the client's CPU per call.
_SEND_JS = """
  const send = async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const r = await fetch(url, {method: "POST", body, headers, credentials: "same-origin",
                                   signal: controller.signal});
      const text = await r.text();
      const h = {};
      for (const name of KEPT_HEADERS) {
        const value = r.headers.get(name);
        if (value !== null) h[name] = value;
      }
      return JSON.stringify({ok: true, status: r.status, body: text, url: r.url, headers: h});
    } catch (e) {
      return JSON.stringify({ok: false,
                             error: (e && e.name === "AbortError") ? "timeout" : String(e)});
    } finally {
      clearTimeout(timer);
    }
  };
"""

#: the answer headers call logic reads (the rest never cross the DevTools channel)
KEPT_HEADERS = ("retry-after", "content-type", "content-encoding")
_KEPT_JS = "  const KEPT_HEADERS = " + json.dumps(list(KEPT_HEADERS)) + ";\n"

_FETCH_JS = ("async (args) => {\n  const [url, body, headers, timeoutMs] = JSON.parse(args);\n"
             + _KEPT_JS + _SEND_JS + "  return await send();\n}")


def _answer(text: str) -> RawAnswer:
    result: dict[str, Any] = json.loads(text)  # written by _SEND_JS: its types are known
    if not result.get("ok"):
        raise TransportError(f"no answer: {result.get('error')}")
    return RawAnswer(result["status"], result["body"], result["url"], result["headers"])


#: Playwright's words for an evaluate whose page navigated away under it
_NAVIGATED = "Execution context was destroyed"


def _in_page_failure(exc: PlaywrightError) -> TransportError:
    message = exc.message.splitlines()[0]
    return TransportError(f"in-page fetch failed: {message}", interrupted=_NAVIGATED in message)


class PageFetchTransport:
    """``fetch`` inside the app's page: same cookies, headers and TLS as the real app."""

    def __init__(self, page: Page) -> None:
        self.page = page

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        try:
            result = await self.page.evaluate(
                _FETCH_JS, json.dumps([url, body, headers, int(timeout * 1000)]))
        except PlaywrightError as exc:
            raise _in_page_failure(exc) from None
        return _answer(result)


#: the page's queue: at most ``limit`` sends at once, the next one starts as an answer arrives
_POOL_JS = """async (args) => {
  const [url, body, headers, timeoutMs, limit] = JSON.parse(args);
  let pool = window.__vatsReplayPool;
  if (!pool) {
    pool = {active: 0, limit: 1, queue: []};
    pool.pump = () => {
      while (pool.active < pool.limit && pool.queue.length) {
        const job = pool.queue.shift();
        pool.active += 1;
        job().finally(() => { pool.active -= 1; pool.pump(); });
      }
    };
    Object.defineProperty(window, "__vatsReplayPool", {value: pool});
  }
  pool.limit = Math.max(1, limit);
""" + _KEPT_JS + _SEND_JS + """  return await new Promise((resolve) => {
    pool.queue.push(async () => resolve(await send()));
    pool.pump();
  });
}"""


class PagePoolTransport:
    """``fetch`` inside the app's page through a queue that lives in the page.

    Why: with a server that allows only C calls in flight, what separates the client from the
    bound is the gap between one answer and the next request. Through Playwright that gap is a
    round trip Python → driver → DevTools → page and back (~8-10 ms per call measured on a
    2-core machine). Here the next call already waits in the page and starts the moment an
    answer arrives; the round trips overlap the server's work instead of adding to it. The
    page runs at most ``limit()`` fetches at once — the session's limit, enforced at the edge
    (the caller may hand over more calls than that: see ``AdaptiveLimit``). A job's timeout
    counts from its own fetch, not from its wait in the queue.
    """

    def __init__(self, page: Page, limit: Callable[[], int] = lambda: 6) -> None:
        self.page = page
        self.limit = limit

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        try:
            result = await self.page.evaluate(
                _POOL_JS, json.dumps([url, body, headers, int(timeout * 1000), self.limit()]))
        except PlaywrightError as exc:
            raise _in_page_failure(exc) from None
        return _answer(result)


class RequestContextTransport:
    """Playwright's API request context of the browser context (shares its cookies)."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self._disposing: set[asyncio.Future[None]] = set()

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        try:
            response = await self.context.request.post(
                url, data=body.encode("utf-8"), headers=headers, timeout=timeout * 1000)
            try:
                text = await response.text()
                answer = RawAnswer(response.status, text, response.url, dict(response.headers))
            finally:
                # else the body stays in the driver until the context closes; not awaited: the
                # answer is complete, and one more round trip per call would delay the next
                self._disposing.add(task := asyncio.ensure_future(_dispose(response)))
                task.add_done_callback(self._disposing.discard)
        except PlaywrightError as exc:
            message = exc.message.splitlines()[0]
            if _untrusted(message):
                # Node's own advice (";  if the root CA is installed locally, ...") is not ours
                raise untrusted_certificate(f"request to {url} failed",
                                            message.split(";")[0]) from None
            raise TransportError(f"request failed: {message}",
                                 not_sent=_never_sent(message)) from None
        return answer


async def _dispose(response: APIResponse) -> None:
    try:
        await response.dispose()
    except PlaywrightError:
        log.debug("could not dispose of an answer (the context closed?)")


#: failures that happen before a single byte of the request left (connecting, TLS handshake)
_NOT_SENT = ("ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "certificate", "CERT_", "SSL", "TLS",
             "handshake", "EPROTO", "self-signed", "self signed")


def _never_sent(message: str) -> bool:
    return any(marker in message for marker in _NOT_SENT)


#: Node's words for a certificate it does not trust ("self-signed certificate", "unable to
#: verify the first certificate", "certificate has expired", "... certificate's altnames")
_UNTRUSTED = ("certificate", "CERT_", "self-signed", "self signed")


def _untrusted(message: str) -> bool:
    return any(marker in message for marker in _UNTRUSTED)


#: what --ca-cert does, said in every "not trusted" error so that the user knows the way out
CA_CERT_ROLE = ("vats trusts the public root certificates and, with --ca-cert FILE, exactly the "
                "certificate in FILE (the sandbox's: vats sandbox --tls --cert-out FILE)")


def untrusted_certificate(doing: str, reason: str) -> TLSError:
    """The error for a server whose certificate vats does not trust (page or request context)."""
    return TLSError(f"{doing}: the server's certificate is not trusted ({reason}); {CA_CERT_ROLE}")


class FallbackTransport:
    """The primary transport, and the fallback only when the primary could not even connect.

    Why: mutations go through Playwright's request context (it never resends a POST on its
    own), but the real host has a TLS setup that non-browser clients struggle with. A request
    that failed while connecting was never sent, so trying the browser's own stack then cannot
    apply anything twice.
    """

    def __init__(self, primary: Transport, fallback: Transport) -> None:
        self.primary = primary
        self.fallback = fallback
        self.use_fallback = False

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        if not self.use_fallback:
            try:
                return await self.primary.post(url, body, headers, timeout)
            except TransportError as exc:
                if not exc.not_sent:
                    raise
                log.warning("%s cannot connect; the page's own fetch carries its calls now",
                            type(self.primary).__name__, extra={"error": str(exc)})
                self.use_fallback = True
        return await self.fallback.post(url, body, headers, timeout)


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


class LaneTransport:
    """Reads through the page's queue, up to ``page_lanes`` at once, the rest elsewhere.

    Why: Chromium opens at most 6 connections per host (HTTP/1.1), so more fetches in flight
    through the page only queue inside the browser. The default stays the in-page fetch (the
    browser's TLS); calls beyond its lanes take ``overflow`` (Playwright's request context,
    itself falling back to the page when it cannot connect).

    It queues at the edge (``bind_limit``): given the session's limit L, the page runs at most
    min(L, lanes) fetches, the overflow at most L - lanes, so the server never sees more than
    L calls even though the caller hands over up to ``ahead`` more, which wait in the page.
    """

    def __init__(self, page: PagePoolTransport, overflow: Transport, page_lanes: int = 6) -> None:
        self.page = page
        self.overflow = overflow
        self.page_lanes = page_lanes
        self.in_page = 0  # handed to the page: running or queued there
        self.in_overflow = 0
        self.limit: Callable[[], int] = lambda: page_lanes
        page.limit = self.page_limit

    def bind_limit(self, limit: Callable[[], int]) -> int:
        """Follow the caller's limit; returns how many calls beyond it may wait in the page."""
        self.limit = limit
        return self.page_lanes

    def page_limit(self) -> int:
        return max(1, min(self.page_lanes, self.limit()))

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        overflow_budget = self.limit() - self.page_limit()
        if self.in_page >= self.page_limit() and self.in_overflow < overflow_budget:
            self.in_overflow += 1
            try:
                return await self.overflow.post(url, body, headers, timeout)
            finally:
                self.in_overflow -= 1
        self.in_page += 1
        try:
            return await self.page.post(url, body, headers, timeout)
        finally:
            self.in_page -= 1
