"""Listening to the app's GWT traffic: every POST to a servlet under the cabinet's GWT path
(``CabinetProfile.gwt_path``) becomes a record.

Why listen rather than guess: the permutation, the policy strong names, the type signatures and
the enum ordinals of the live build are all in what the real app sends. We keep the raw bodies
and decode them with the codec only when asked (most exchanges are never looked at again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import BrowserContext
from playwright.async_api import Request as PwRequest

from scraper.gwt import Registry, Request, Response, parse_request, parse_response
from scraper.gwt.request import peek_call

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One GWT-RPC call as the browser made it (request and answer, raw)."""

    servlet: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None
    response_body: str | None
    started: float  # epoch seconds
    duration_ms: float
    failure: str | None = None
    _decoded: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def permutation(self) -> str | None:
        return self.request_headers.get("x-gwt-permutation")

    @property
    def module_base(self) -> str | None:
        return self.request_headers.get("x-gwt-module-base")

    @property
    def call(self) -> tuple[str, str] | None:
        """(service interface, method) read from the payload header, without full decoding."""
        if "call" not in self._decoded:
            self._decoded["call"] = peek_call(self.request_body)
        return self._decoded["call"]  # type: ignore[no-any-return]

    def request(self, registry: Registry) -> Request:
        """The decoded request (cached per exchange)."""
        cached = self._decoded.get("request")
        if cached is None:
            cached = self._decoded["request"] = parse_request(self.request_body, registry)
        assert isinstance(cached, Request)
        return cached

    def response(self, registry: Registry, *, returns: str | None = None) -> Response:
        if self.response_body is None:
            raise ValueError(f"{self.servlet}: no answer was captured")
        return parse_response(self.response_body, registry, returns=returns)


def servlet_of(url: str, gwt_path: str) -> str | None:
    """The servlet a URL under ``gwt_path`` names: ``https://host/app/Svc?x`` → ``Svc`` for
    ``/app/``; None for other URLs and for the module's files (``*.js``, deeper paths)."""
    index = url.find(gwt_path)
    if index < 0:
        return None
    rest = url[index + len(gwt_path):].split("?", 1)[0]
    return rest if rest and "/" not in rest and not rest.endswith(".js") else None


class Capture:
    """Records the GWT exchanges of one browser context; ``wait_for`` awaits the next match.

    ``gwt_path`` is where the app's servlets are (``/app/`` for ``https://host/app/<servlet>``);
    ``on_exchange`` callbacks run for every record (the learned build takes what it proves).
    """

    def __init__(self, gwt_path: str) -> None:
        self.gwt_path = gwt_path
        self.exchanges: list[Exchange] = []
        self._listeners: list[Callable[[Exchange], None]] = []
        self._waiters: list[tuple[Callable[[Exchange], bool], asyncio.Future[Exchange]]] = []
        self._started: dict[int, float] = {}
        self._context: BrowserContext | None = None
        #: requests to leave out (our own replays: only the app's calls are worth learning)
        self.ignore: Callable[[str], bool] = lambda body: False

    def attach(self, context: BrowserContext) -> None:
        """Listen to ``context`` for as long as it lives (attaching twice listens once)."""
        if self._context is context:
            return
        self._context = context
        context.on("request", self._on_request)
        context.on("requestfinished", self._on_finished)
        context.on("requestfailed", self._on_failed)

    def on_exchange(self, listener: Callable[[Exchange], None]) -> None:
        self._listeners.append(listener)

    def _wanted(self, request: PwRequest) -> str | None:
        if request.method != "POST":
            return None
        servlet = servlet_of(request.url, self.gwt_path)
        if servlet is None or self.ignore(request.post_data or ""):
            return None
        return servlet

    def _on_request(self, request: PwRequest) -> None:
        if self._wanted(request):
            self._started[id(request)] = time.time()

    async def _on_finished(self, request: PwRequest) -> None:
        if id(request) not in self._started:
            return
        servlet = self._wanted(request) or servlet_of(request.url, self.gwt_path) or "?"
        status: int | None = None
        body: str | None = None
        try:
            response = await request.response()
            if response is not None:
                status = response.status
                body = await response.text()
        except Exception as exc:  # noqa: BLE001 - a page closing mid-read must not kill capture
            log.debug("could not read a GWT answer", extra={"servlet": servlet, "error": str(exc)})
        self._record(request, servlet, status, body, None)

    def _on_failed(self, request: PwRequest) -> None:
        if id(request) in self._started:
            servlet = servlet_of(request.url, self.gwt_path) or "?"
            self._record(request, servlet, None, None, request.failure or "failed")

    def _record(self, request: PwRequest, servlet: str, status: int | None, body: str | None,
                failure: str | None) -> None:
        started = self._started.pop(id(request), time.time())
        exchange = Exchange(
            servlet=servlet, url=request.url,
            request_headers={k.lower(): v for k, v in request.headers.items()},
            request_body=request.post_data or "", status=status, response_body=body,
            started=started, duration_ms=(time.time() - started) * 1000, failure=failure,
        )
        self.exchanges.append(exchange)
        for listener in self._listeners:
            try:
                listener(exchange)
            except Exception:
                log.exception("capture listener failed", extra={"servlet": servlet})
        for matcher, future in list(self._waiters):
            if not future.done() and matcher(exchange):
                future.set_result(exchange)

    def expect(self, matcher: Callable[[Exchange], bool]) -> Expectation:
        """Register interest BEFORE the action that causes the call (no race), then ``wait``."""
        future: asyncio.Future[Exchange] = asyncio.get_running_loop().create_future()
        entry = (matcher, future)
        self._waiters.append(entry)
        return Expectation(self, entry)

    async def wait_for(self, matcher: Callable[[Exchange], bool], *, timeout: float) -> Exchange:
        """The next exchange from now on for which ``matcher`` is true."""
        return await self.expect(matcher).wait(timeout)

    def latest(self, matcher: Callable[[Exchange], bool]) -> Exchange | None:
        for exchange in reversed(self.exchanges):
            if matcher(exchange):
                return exchange
        return None


class Expectation:
    """A pending wait for an exchange; registered at creation so nothing is missed."""

    def __init__(
        self, capture: Capture,
        entry: tuple[Callable[[Exchange], bool], asyncio.Future[Exchange]],
    ) -> None:
        self._capture = capture
        self._entry = entry

    async def wait(self, timeout: float) -> Exchange:
        try:
            return await asyncio.wait_for(self._entry[1], timeout)
        finally:
            if self._entry in self._capture._waiters:
                self._capture._waiters.remove(self._entry)


def for_call(service: str | None = None, method: str | None = None, *,
             servlet: str | None = None, ok: bool = True) -> Callable[[Exchange], bool]:
    """A matcher for exchanges of ``servlet`` and/or ``service`` (interface suffix) / ``method``."""

    def match(exchange: Exchange) -> bool:
        if servlet is not None and exchange.servlet != servlet:
            return False
        if ok and (exchange.status != 200 or not (exchange.response_body or "").startswith("//OK")):
            return False
        if service is None and method is None:
            return True
        call = exchange.call
        if call is None:
            return False
        return (service is None or call[0].endswith(service)) and (method is None or call[1] == method)

    return match
