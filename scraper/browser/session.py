"""One account's logged-in browser session: context, page, capture, learned build, replay.

The session does the mechanics (open, save and reuse the logged-in state, re-learn after a
redeploy, re-login after expiry, replay calls); *how* to log in is a flow (``flows/login.py``)
handed in as ``authenticate``, so the library never depends on the UI layer above it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from scraper.browser.capture import Capture, Exchange, Expectation, for_call
from scraper.browser.debug import DebugRecorder
from scraper.browser.host import BrowserHost
from scraper.browser.learned import Learned
from scraper.browser.livebuild import LiveBuild, build_cache_dir, load_live_build
from scraper.browser.redact import Redactor
from scraper.browser.rpc import Builder, CallPolicy, RpcCaller
from scraper.browser.storage import forget_state, load_state, save_state, state_dir, state_path
from scraper.browser.transport import (
    FallbackTransport,
    LaneTransport,
    PageFetchTransport,
    PagePoolTransport,
    RequestContextTransport,
    Transport,
)
from scraper.errors import FlowError, ProtocolError, SessionError, TransportError
from scraper.gwt import (
    Instance,
    Registry,
    Response,
    default_registry,
    discover_services,
    discover_signatures,
    walk,
)
from scraper.profile import SECRET_FIELDS
from scraper.settings import AccountSettings

log = logging.getLogger(__name__)

Authenticate = Callable[["BrowserSession"], Awaitable[None]]
_ENTERPRISE = re.compile(r"/gwt/enterprise/(\d+)/")
PAGE_CONNECTIONS = 6  # Chromium's per-host connection limit on HTTP/1.1


class BrowserSession:
    """A logged-in cabinet for one account. Use ``async with``; it always closes its context."""

    def __init__(self, host: BrowserHost, settings: AccountSettings, *,
                 authenticate: Authenticate, registry: Registry | None = None,
                 redactor: Redactor | None = None) -> None:
        self.host = host
        self.settings = settings
        self.authenticate = authenticate
        self.registry = registry or default_registry()
        #: the live build's layouts (until the permutation is derived: our schema alone)
        self.live = LiveBuild(self.registry)
        self.redactor = redactor or Redactor()
        if settings.password is not None:
            self.redactor.add(settings.password.get_secret_value())
        if settings.confirmation_code is not None:
            self.redactor.add(settings.confirmation_code.get_secret_value())
        self.learned = Learned()
        self.capture = Capture()
        self.capture.on_exchange(self._learn)
        self.debug = DebugRecorder(settings.debug_dir, self.redactor, trace=settings.trace)
        self.enterprise_id: int | None = None
        self.logins = 0
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self.rpc: RpcCaller | None = None
        #: flows that must walk the UI again after a redeploy (e.g. to learn an enum ordinal)
        self.learners: list[Callable[[BrowserSession], Awaitable[None]]] = []
        self._relearning: asyncio.Lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._ready.set()

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def page(self) -> Page:
        if self._page is None:
            raise RuntimeError("session not started")
        return self._page

    @property
    def context(self) -> BrowserContext:
        if self._context is None:
            raise RuntimeError("session not started")
        return self._context

    @property
    def state_file(self) -> Path:
        path = state_path(self.settings.address, self.settings.login or "")
        if self.settings.state_dir is not None:  # the setting wins over VATS_STATE_DIR
            return self.settings.state_dir / path.name
        return path

    async def start(self) -> BrowserSession:
        saved = load_state(self.state_file) if self.settings.reuse_session else None
        options: dict[str, Any] = {"locale": "ru-RU",
                                   "ignore_https_errors": self.settings.ignore_https_errors}
        if saved is not None:
            options["storage_state"] = {k: v for k, v in saved.items() if k != "vats"}
            self.enterprise_id = (saved.get("vats") or {}).get("enterprise_id")
        self._context = await self.host.new_context(**options)
        self.capture.attach(self._context)
        await self.debug.start(self._context)
        self._page = await self._context.new_page()
        page_fetch = PageFetchTransport(self._page)
        # Playwright's request context, and the page's own fetch only when it cannot even
        # connect (the real host's TLS): nothing was sent then, so nothing can happen twice
        request_context = FallbackTransport(RequestContextTransport(self._context), page_fetch)
        # "page" (default): reads ride the in-page fetch; beyond Chromium's 6 connections per
        # host they overflow to the request context instead of queueing inside the browser;
        # the page keeps the next calls queued in itself (PagePoolTransport)
        transport: Transport = (
            LaneTransport(PagePoolTransport(self._page), request_context, PAGE_CONNECTIONS)
            if self.settings.transport == "page" else request_context)
        concurrency = self.settings.concurrency
        policy = CallPolicy(concurrency=concurrency, timeout=self.settings.timeout_s)
        # Mutations never ride the in-page fetch: Chromium silently resends a POST whose reused
        # keep-alive connection was reset before any answer byte, which would apply a change
        # twice (the sandbox's "reset after" fault shows it). Playwright's request context
        # shares the cookies and does not resend (maxRetries defaults to 0).
        self.rpc = RpcCaller(transport, self.learned, self.registry, policy=policy,
                             redactor=self.redactor, relearn=self.relearn, relogin=self.relogin,
                             on_response=lambda response: self.harvest(response.value),
                             mutation_transport=request_context,
                             ready=self._ready.wait)
        rpc = self.rpc
        self.capture.ignore = lambda body: body in rpc.in_flight
        return self

    async def close(self, *, failed: bool = False) -> None:
        if self._context is None:
            return
        try:
            await self.debug.finish(self._context, failed=failed)
        finally:
            try:
                await self._context.close()
            except Exception:
                log.debug("context close failed", exc_info=True)
            self._context = None
            self._page = None

    async def __aenter__(self) -> BrowserSession:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close(failed=exc is not None)

    # --- the app -----------------------------------------------------------------------

    def _learn(self, exchange: Exchange) -> None:
        self.learned.learn_exchange(exchange, self.registry)
        body = exchange.response_body or ""
        if body.startswith("//OK") and any(f in body for f in ("sip_", "mobsip_")):
            try:
                self.harvest(exchange.response(self.registry).value)
            except ProtocolError:
                log.debug("could not decode a captured answer", extra={"servlet": exchange.servlet})

    def harvest(self, value: object) -> None:
        """Add every secret-named field of a decoded value (SIP passwords) to the redactor."""
        for obj in walk(value):
            if isinstance(obj, Instance):
                for name in SECRET_FIELDS.intersection(obj.fields):
                    secret = obj.fields[name]
                    if isinstance(secret, str):
                        self.redactor.add(secret)

    async def remember_cookies(self) -> None:
        """The session cookie is a secret too: it must not reach traces or logs."""
        for cookie in await self.context.cookies():
            if cookie.get("httpOnly") or "SESSION" in cookie.get("name", "").upper():
                self.redactor.add(cookie.get("value"))

    async def goto(self, path: str) -> None:
        """Open ``address + path``; a page that cannot load is a ``TransportError`` saying why
        (DNS, refused connection, an untrusted certificate), never a raw Playwright error."""
        url = self.settings.address + path
        try:
            await self.page.goto(url, wait_until="domcontentloaded",
                                 timeout=self.settings.login_timeout_s * 1000)
        except PlaywrightError as exc:
            reason = exc.message.splitlines()[0]
            hint = " (a self-signed certificate? see --ca-cert)" if "CERT" in reason else ""
            raise TransportError(f"cannot open {url}: {reason}{hint}") from None

    async def open_app(self) -> None:
        """Land in the running GWT app: reuse the saved session or log in (once)."""
        first_call = self.capture.expect(for_call())
        await self.goto("/")
        if "/login/" in self.page.url:
            await self.authenticate(self)
            return
        await self.app_call(first_call, "after opening the app")
        await self.app_loaded()
        log.info("reused the saved session", extra={"address": self.settings.address})

    async def app_call(self, expectation: Expectation, doing: str) -> Exchange:
        """The app's first successful GWT call, awaited within ``login_timeout_s``.

        None coming (the app's own calls failed: a 500 burst or throttling while it starts) is a
        ``FlowError`` naming what they got — not a bare ``TimeoutError`` that no caller expects.
        """
        try:
            return await expectation.wait(self.settings.login_timeout_s)
        except TimeoutError:
            succeeded = for_call()
            failed = [e for e in self.capture.exchanges[-20:] if not succeeded(e)]
            last = (f"; its last failed call, {failed[-1].servlet}, got "
                    f"{failed[-1].status or failed[-1].failure}") if failed else ""
            raise FlowError(f"{doing}: the app made no successful GWT call within "
                            f"{self.settings.login_timeout_s:g} s{last}") from None

    async def app_loaded(self) -> None:
        """The app is up (first RPC seen): note the enterprise and learn the bootstrap files."""
        match = _ENTERPRISE.search(self.page.url)
        if match:
            self.enterprise_id = int(match.group(1))
        await self.remember_cookies()
        await self.debug.step(self.page, "app")
        await self.learn_bootstrap()

    async def learn_bootstrap(self) -> None:
        """The live build from its ``<permutation>.cache.js``: every class layout derived from
        the compiled serializers (cached by strong name), services and their strong names."""
        if not self.learned.permutation or not self.learned.module_base:
            raise FlowError("the app made no GWT call yet: permutation and module base unknown")
        url = f"{self.learned.module_base}{self.learned.permutation}.cache.js"
        text = await self.page.evaluate(
            "async (u) => { const r = await fetch(u); return r.ok ? await r.text() : ''; }", url)
        live = await asyncio.to_thread(
            load_live_build, text, self.learned.permutation, cache_dir=self._build_cache(),
            extra_schemas=self.settings.schema_files)
        self.use_live_build(live)
        if live.derived is not None:
            services = {s.path: s.policy for s in live.derived.services if s.path and s.policy}
            for svc in live.derived.services:
                if svc.interface and svc.path:
                    self.learned.servlets.setdefault(svc.interface, svc.path)
        else:
            services = discover_services(text)
        if not services:
            raise FlowError(f"{url} holds no service proxies: the front end changed")
        self.learned.learn_bootstrap(services, live.signatures or discover_signatures(text))
        log.info("learned the build", extra={"permutation": self.learned.permutation,
                                             "services": sorted(services),
                                             "derived": live.derived is not None})

    def use_live_build(self, live: LiveBuild) -> None:
        """Decode and encode with ``live``'s registry from now on (calls built after this)."""
        self.live = live
        self.registry = live.registry
        if self.rpc is not None:
            self.rpc.registry = live.registry

    def _build_cache(self) -> Path | None:
        """Derived builds are cached beside the saved sessions (not when nothing is saved)."""
        if not self.settings.reuse_session:
            return None
        return build_cache_dir(self.settings.state_dir or state_dir())

    async def logged_in(self) -> None:
        """Called by the login flow once the app runs: remember the session for next time."""
        self.logins += 1
        await self.app_loaded()
        await self.save()

    async def save(self) -> None:
        if not self.settings.reuse_session:
            return
        state = await self.context.storage_state()
        state_dict = dict(state)
        state_dict["vats"] = {"enterprise_id": self.enterprise_id, "saved_at": time.time()}
        save_state(self.state_file, state_dict)

    # --- recovery ----------------------------------------------------------------------

    async def relearn(self) -> None:
        """The server says we are out of date: load the app afresh and learn the new build.

        Calls wait (``ready``) while this runs, so none is built from half-learned facts.
        """
        generation = self.learned.generation
        async with self._relearning:
            if self.learned.generation != generation:
                return  # another call re-learned while we waited
            self._ready.clear()
            try:
                self.learned.forget()
                first_call = self.capture.expect(for_call())
                # the app's start page (the Abonents tab), wherever the page was before
                await self.goto("/")
                if "/login/" in self.page.url:
                    await self.authenticate(self)
                else:
                    await self.app_call(first_call, "after reloading the app")
                    await self.app_loaded()
                for learner in self.learners:
                    await learner(self)
            finally:
                self._ready.set()

    def add_learner(self, learner: Callable[[BrowserSession], Awaitable[None]]) -> None:
        if learner not in self.learners:
            self.learners.append(learner)

    @asynccontextmanager
    async def ui_turn(self) -> AsyncIterator[None]:
        """Hold one of the session's call slots while walking the UI next to replays in flight.

        Why: the app's own calls count against the cabinet's per-session limit as much as ours;
        a Devices page opened while C replays run would be call C+1 (a 503 in the sandbox).
        """
        if self.rpc is None:
            yield
            return
        async with self.rpc.limit.slot():
            yield

    async def relogin(self) -> None:
        """Log in again; calls wait (``ready``) meanwhile instead of failing against a page
        that is busy with the login form. ``RpcCaller`` makes it one re-login per expiry."""
        self._ready.clear()
        try:
            forget_state(self.state_file)
            await self.context.clear_cookies()
            await self.authenticate(self)
        finally:
            self._ready.set()

    # --- calls -------------------------------------------------------------------------

    async def call(self, build: Builder, *, read_only: bool, returns: str | None = None) -> Response:
        if self.rpc is None:
            raise SessionError("session not started")
        return await self.rpc.call(build, read_only=read_only, returns=returns)
