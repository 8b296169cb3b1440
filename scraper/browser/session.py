"""One account's logged-in browser session: context, page, capture, learned build, replay.

The session does the mechanics (open, save and reuse the logged-in state, re-learn after a
redeploy, re-login after expiry, replay calls); *how* to log in is a flow (``flows/login.py``)
handed in as ``authenticate``, so the library never depends on the UI layer above it. What the
cabinet is (its GWT path, login page, secret fields, schema) is a ``CabinetProfile`` (``MTS`` by
default), whose parts the session hands to the capture, the learned build and the replays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from scraper.browser.buildnotes import Note, read_note, write_note
from scraper.browser.capture import Capture, Exchange, Expectation, for_call
from scraper.browser.debug import DebugRecorder
from scraper.browser.direct import DirectTransport, close_quietly
from scraper.browser.host import BrowserHost
from scraper.browser.learned import Learned
from scraper.browser.livebuild import LiveBuild, build_cache_dir, cached_build, load_live_build
from scraper.browser.redact import Redactor
from scraper.browser.rpc import Builder, CallPolicy, Check, RpcCaller
from scraper.browser.storage import forget_state, load_state, save_state, state_dir, state_path
from scraper.browser.transport import (
    FallbackTransport,
    LaneTransport,
    PageFetchTransport,
    PagePoolTransport,
    RequestContextTransport,
    Transport,
    untrusted_certificate,
)
from scraper.errors import (
    FlowError,
    ProtocolError,
    SessionError,
    StorageError,
    TransportError,
    UsageError,
    VatsError,
)
from scraper.gwt import (
    Instance,
    Registry,
    Request,
    Response,
    discover_services,
    discover_signatures,
    parse_request,
    walk,
)
from scraper.profile import MTS, CabinetProfile
from scraper.settings import AccountSettings

log = logging.getLogger(__name__)

Authenticate = Callable[["BrowserSession"], Awaitable[None]]
T = TypeVar("T")
PAGE_CONNECTIONS = 6  # Chromium's per-host connection limit on HTTP/1.1


class BrowserSession:
    """A logged-in cabinet for one account. Use ``async with``; it always closes its context."""

    def __init__(self, host: BrowserHost, settings: AccountSettings, *,
                 authenticate: Authenticate, registry: Registry | None = None,
                 redactor: Redactor | None = None, profile: CabinetProfile = MTS) -> None:
        self.host = host
        self.settings = settings
        self.authenticate = authenticate
        self.profile = profile
        self.registry = registry or profile.registry()
        #: the live build's layouts (until the permutation is derived: our schema alone)
        self.live = LiveBuild(self.registry, profile.needs)
        self.redactor = redactor or Redactor()
        if settings.password is not None:
            self.redactor.add(settings.password.get_secret_value())
        if settings.confirmation_code is not None:
            self.redactor.add(settings.confirmation_code.get_secret_value())
        self.learned = Learned(servlet_renames=profile.servlet_renames)
        self.capture = Capture(profile.gwt_path)
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
        self._page_lock = asyncio.Lock()
        self.page_turns = 0  # walks of the page done (the direct transport re-reads cookies)
        self._direct: DirectTransport | None = None
        #: logged in, but the app had not started yet: saved once it runs
        self._unsaved_login = False
        #: why the logged-in state could not be saved (the run goes on without it)
        self.save_error: StorageError | None = None
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
        return state_path(self.settings.address, self.settings.login or "",
                          self.settings.state_dir)

    async def start(self) -> BrowserSession:
        if self.settings.ca_cert is not None and not self.host.trusts(self.settings.ca_cert):
            # the browser's trust is set when it starts: a host started without the session's
            # certificate would fail every connection with a TLSError that hides the cause
            raise UsageError(f"--ca-cert {self.settings.ca_cert}: the browser was started "
                             "without it (BrowserHost.for_settings(settings) trusts it)")
        saved = load_state(self.state_file) if self.settings.reuse_session else None
        options: dict[str, Any] = {"locale": "ru-RU"}
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
        transport = self._read_transport(page_fetch, request_context)
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
                             ready=self._ready.wait, is_login_page=self.profile.is_login_page)
        rpc = self.rpc
        self.capture.ignore = lambda body: body in rpc.in_flight
        return self

    def _read_transport(self, page_fetch: PageFetchTransport,
                        request_context: Transport) -> Transport:
        """How reads travel (``settings.transport``); mutations always take the request
        context (see ``start``)."""
        assert self._page is not None and self._context is not None
        if self.settings.transport == "page":
            # reads ride the in-page fetch; beyond Chromium's 6 connections per host they
            # overflow to the request context instead of queueing inside the browser; the
            # page keeps the next calls queued in itself (PagePoolTransport)
            return LaneTransport(PagePoolTransport(self._page), request_context,
                                 PAGE_CONNECTIONS)
        if self.settings.transport == "direct":
            # Python's own client with the browser's cookies, re-read after every page walk;
            # the page when it cannot even connect (a TLS setup vats will not weaken)
            self._direct = DirectTransport(
                self._context, epoch=lambda: self.page_turns,
                ca_certs=() if self.settings.ca_cert is None else (self.settings.ca_cert,))
            return FallbackTransport(self._direct, page_fetch)
        return request_context

    async def close(self, *, failed: bool = False) -> None:
        await close_quietly(self._direct)
        self._direct = None
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
        if body.startswith("//OK") and any(m in body for m in self.profile.secret_markers):
            try:
                self.harvest(exchange.response(self.registry).value)
            except ProtocolError:
                log.debug("could not decode a captured answer", extra={"servlet": exchange.servlet})

    def harvest(self, value: object) -> None:
        """Add every secret field of a decoded value (``CabinetProfile.secret_fields``) to the
        redactor."""
        for obj in walk(value):
            if isinstance(obj, Instance):
                for name in self.profile.secret_fields.intersection(obj.fields):
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
        (DNS, refused connection; a ``TLSError`` for an untrusted certificate), never a raw
        Playwright error."""
        url = self.settings.address + path
        try:
            await self.page.goto(url, wait_until="domcontentloaded",
                                 timeout=self.settings.login_timeout_s * 1000)
        except PlaywrightError as exc:
            reason = exc.message.splitlines()[0]
            if "ERR_CERT_" in reason:
                raise untrusted_certificate(f"cannot open {url}", reason) from None
            raise TransportError(f"cannot open {url}: {reason}") from None

    async def open_app(self) -> None:
        """Land in the running GWT app: reuse the saved session or log in (once)."""
        await self._walk("open the app", self.enter_app)

    async def enter_app(self, attempt: int = 1) -> None:
        """Open the app's start page and wait for it to run; log in when it asks for that.

        One attempt of a walk: a retry comes back here and starts from the start page again
        (after a login that went through, the start page is the app, not the login form).
        """
        async with self.host.app_load():  # the browser's CPU, shared by every account
            first_call = self.capture.expect(for_call(ok=False))
            await self.goto("/")
            if self.profile.is_login_url(self.page.url):
                await self.authenticate(self)
                return
            await self.app_call(first_call, "after opening the app",
                                timeout=self.settings.timeout_s)
            await self.app_loaded()
            if self._unsaved_login:
                await self.logged_in()
            else:
                log.info("reused the saved session", extra={"address": self.settings.address})

    async def app_call(self, expectation: Expectation, doing: str, *,
                       timeout: float | None = None) -> Exchange:
        """The app's first GWT call, awaited within ``timeout`` (default ``login_timeout_s``).

        ``expectation`` should match failed calls too (``for_call(ok=False)``): a failed one (a
        500 burst, a reset while the app starts) is raised at once as the typed error our own
        call would get, so a walk is retried without waiting out the timeout. None coming is a
        ``FlowError`` naming what the last failed call got — never a bare ``TimeoutError``.
        """
        wait = self.settings.login_timeout_s if timeout is None else timeout
        try:
            exchange = await expectation.wait(wait)
        except TimeoutError:
            succeeded = for_call()
            failed = [e for e in self.capture.exchanges[-20:] if not succeeded(e)]
            last = (f"; its last failed call, {failed[-1].servlet}, got "
                    f"{failed[-1].status or failed[-1].failure}") if failed else ""
            raise FlowError(f"{doing}: the app made no successful GWT call within "
                            f"{wait:g} s{last}") from None
        self.check_app_answer(exchange)
        return exchange

    def check_app_answer(self, exchange: Exchange) -> None:
        """The app's own call judged as ours are: the typed error it amounts to, if any (so no
        flow reads ``//EX`` or status codes itself)."""
        call = exchange.call
        service, method = (call[0].rsplit(".", 1)[-1], call[1]) if call else (exchange.servlet, "?")
        if self.rpc is None:
            raise SessionError("session not started")
        self.rpc.check_app_answer(exchange.status, exchange.response_body, exchange.url,
                                  exchange.failure, service=service, method=method)

    async def app_loaded(self) -> None:
        """The app is up (first RPC seen): note the enterprise and learn the bootstrap files."""
        enterprise_id = self.profile.enterprise_id(self.page.url)
        if enterprise_id is not None:
            self.enterprise_id = enterprise_id
        await self.remember_cookies()
        await self.debug.step(self.page, "app")
        await self.learn_bootstrap()

    async def learn_bootstrap(self) -> None:
        """The live build from its ``<permutation>.cache.js``: every class layout derived from
        the compiled serializers (cached by strong name), services and their strong names."""
        if not self.learned.permutation or not self.learned.module_base:
            raise FlowError("the app made no GWT call yet: permutation and module base unknown")
        url = f"{self.learned.module_base}{self.learned.permutation}.cache.js"
        cache = self._build_cache()
        # a build derived before needs not its permutation (megabytes through the driver)
        cached = await asyncio.to_thread(cached_build, self.learned.permutation, cache)
        text = "" if cached is not None else await self.page.evaluate(
            "async (u) => { const r = await fetch(u); return r.ok ? await r.text() : ''; }", url)
        live = await asyncio.to_thread(
            load_live_build, text, self.learned.permutation, profile=self.profile,
            cache_dir=cache, extra_schemas=self.settings.schema_files, cached=cached)
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

    def recall(self, name: str) -> Request | None:
        """``name`` as an earlier session's walk noted it for this build (``buildnotes``): its
        ordinal and its call become this session's, so this session needs no walk. None when
        no session noted it (or nothing is saved: ``reuse_session`` off)."""
        cache, strong_name = self._build_cache(), self.learned.permutation
        note = read_note(cache, strong_name, name) if cache and strong_name else None
        if note is None:
            return None
        try:
            request = parse_request(note.body, self.registry)
        except ProtocolError as exc:
            log.warning("ignoring a build note this build cannot decode",
                        extra={"note": name, "permutation": strong_name, "error": str(exc)})
            return None
        self.learned.templates[(request.service, request.method)] = Exchange(
            servlet=note.servlet, url=f"{self.learned.module_base or ''}{note.servlet}",
            request_headers={}, request_body=note.body, status=None, response_body=None,
            started=time.time(), duration_ms=0.0)
        self.learned.ordinals[name] = note.ordinal
        log.info("recalled what a walk learned", extra={"note": name, "ordinal": note.ordinal,
                                                        "permutation": strong_name})
        return request

    def note(self, name: str, ordinal: int, exchange: Exchange) -> None:
        """Keep ``name`` (learned by a walk, shown by the app's own ``exchange``) for every
        later session on this build."""
        cache, strong_name = self._build_cache(), self.learned.permutation
        if cache is not None and strong_name and exchange.permutation == strong_name:
            write_note(cache, strong_name, name,
                       Note(ordinal=ordinal, servlet=exchange.servlet, body=exchange.request_body))

    def _build_cache(self) -> Path | None:
        """Derived builds are cached beside the saved sessions (not when nothing is saved)."""
        if not self.settings.reuse_session:
            return None
        return build_cache_dir(state_dir(self.settings.state_dir))

    def login_accepted(self) -> None:
        """The cabinet took the credentials; the app may not have started yet (a walk that
        retries from here finds the app, not the login form, and saves the session then)."""
        self.logins += 1
        self._unsaved_login = True

    async def logged_in(self) -> None:
        """The app runs after a login: learn it, and remember the session for next time."""
        await self.app_loaded()
        await self.save()
        self._unsaved_login = False

    async def save(self) -> None:
        """Remember the logged-in state; a state that cannot be written costs the next run a
        login, not this run: logged as a warning naming the file and the reason."""
        if not self.settings.reuse_session:
            return
        state = await self.context.storage_state()
        state_dict = dict(state)
        state_dict["vats"] = {"enterprise_id": self.enterprise_id, "saved_at": time.time()}
        try:
            save_state(self.state_file, state_dict)
        except OSError as exc:
            self.save_error = StorageError(f"cannot save the session to {self.state_file}: "
                                           f"{exc.strerror or exc}", path=str(self.state_file))
            log.warning("%s; the next run logs in again", self.save_error,
                        extra={"path": str(self.state_file)})

    # --- recovery ----------------------------------------------------------------------

    async def relearn(self) -> None:
        """The server says we are out of date: load the app afresh and learn the new build.

        Calls wait (``ready``) while this runs, so none is built from half-learned facts. The
        whole walk — the start page, then every learner's screens — is retried as one.
        """
        generation = self.learned.generation
        async with self._relearning:
            if self.learned.generation != generation and not self.learned.stale:
                return  # another call re-learned while we waited (and it worked)
            self._ready.clear()
            try:
                async def attempt(number: int) -> None:
                    self.learned.forget()
                    await self.enter_app(number)
                    for learner in self.learners:
                        await learner(self)

                await self._walk("re-learn the build", attempt)
                self.learned.stale = False
            finally:
                self._ready.set()

    async def _walk(self, what: str, attempt: Callable[[int], Awaitable[None]]) -> None:
        if self.rpc is None:
            raise SessionError("session not started")

        async def turn(number: int) -> None:
            async with self.page_turn():
                await attempt(number)

        await self.rpc.walk(what, turn)

    @asynccontextmanager
    async def page_turn(self) -> AsyncIterator[None]:
        """The page to oneself for one walk: a re-login, a re-learn, a Devices page opened
        to learn a call, the switch moved in the page. Two of them at once would navigate the
        page under each other (a click on a table another walk just reloaded)."""
        async with self._page_lock:
            try:
                yield
            finally:
                self.page_turns += 1  # cookies and the page may have changed

    async def ui_walk(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """A walk through the app's screens (to learn a call), retried like a read: every try
        after the first starts from a freshly loaded app."""
        if self.rpc is None:
            raise SessionError("session not started")

        async def attempt(number: int) -> T:
            async with self.page_turn():
                if number > 1:
                    await self.enter_app(number)
                return await step()

        return await self.rpc.walk(what, attempt)

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
        that is busy with the login form. ``RpcCaller`` makes it one re-login per expiry; the
        walk to the app after the login is retried like any other."""
        self._ready.clear()
        try:
            forget_state(self.state_file)
            await self.context.clear_cookies()
            await self._walk("log in again", self.enter_app)
        finally:
            self._ready.set()

    # --- calls -------------------------------------------------------------------------

    async def call(self, build: Builder, *, read_only: bool, returns: str | None = None) -> Response:
        if self.rpc is None:
            raise SessionError("session not started")
        return await self.rpc.call(build, read_only=read_only, returns=returns)

    async def mutate(self, build: Builder, *, applied: Check, returns: str | None = None,
                     unknown: VatsError | None = None,
                     admit: Callable[[], None] | None = None) -> Literal["sent", "confirmed"]:
        """A change applied at most once (``RpcCaller.mutate``)."""
        if self.rpc is None:
            raise SessionError("session not started")
        return await self.rpc.mutate(build, applied=applied, returns=returns, unknown=unknown,
                                     admit=admit)
