"""One browser per process, one context per account — and nothing left running afterwards.

Why a host object: Playwright and Chromium must be stopped on every exit path (errors,
cancellation, Ctrl-C), or CI machines fill with orphaned Chromium processes. ``async with``
guarantees it; contexts opened through the host are closed with it.

Trust: the host trusts the public roots and, besides them, exactly its ``ca_certs``
(``--ca-cert``), in both of the browser's network stacks — Chromium (page loads, in-page fetch)
and Playwright's request context, which runs in the Node driver (mutations). HTTPS errors are
never ignored: a server with any other certificate fails the TLS handshake, and the caller gets
a ``TLSError``. Chromium learns the certificates' keys from
``--ignore-certificate-errors-spki-list`` (it accepts a chain that holds one of those keys; the
check happens per browser, so the flag is a launch option of the one browser of the host), the
driver from ``NODE_EXTRA_CA_CERTS`` (a bundle of the same certificates, read by Node itself).
One difference remains: Chromium accepts a trusted key under any host name, Node also checks the
certificate names the host (the sandbox's names the address it binds).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from scraper.browser.chromium import launch_options
from scraper.errors import UsageError

if TYPE_CHECKING:
    from scraper.settings import AccountSettings

log = logging.getLogger(__name__)

#: V8 flags for Playwright's Node driver. Its young generation otherwise grows to tens of MB
#: while it relays hundreds of calls (bench/inventory.py: the driver went from ~120 to ~180 MB
#: PSS over 800 calls; with 1 MB semi-spaces ~130 MB, at no measurable cost in time).
DRIVER_NODE_OPTIONS = "--max-semi-space-size=1"
LAUNCH_ATTEMPTS = 2
SPKI_FLAG = "--ignore-certificate-errors-spki-list="

#: the app-load place the current task holds (``BrowserHost.app_load``)
_load_place: ContextVar[LoadPlace | None] = ContextVar("vats_load_place", default=None)
#: edits the environment Playwright builds for its driver; set only while a host starts one
_driver_env_edit: ContextVar[Callable[[dict[str, str]], None] | None] = ContextVar(
    "vats_driver_env_edit", default=None)


def _hook_driver_env() -> bool:
    """Let a starting host edit its driver's environment; False when Playwright's code moved.

    Why this way: only the driver needs ``NODE_OPTIONS`` and ``NODE_EXTRA_CA_CERTS``, and
    Playwright takes no environment for it; writing ``os.environ`` around the start would change
    it for every thread and child process meanwhile. Playwright builds the driver's environment
    with ``playwright._impl._driver.get_driver_env()`` (a copy of ``os.environ``), called by
    ``PipeTransport.connect`` through its module's reference. That reference is wrapped once;
    the wrapper consults a context variable, so the edit reaches only the driver of the host
    that set it (the task that connects copies the starting task's context), also when two
    hosts start at once, and without the variable the wrapper changes nothing.
    """
    try:
        from playwright._impl import transport as driver_transport

        original = getattr(driver_transport, "get_driver_env")  # noqa: B009 - not exported
    except (ImportError, AttributeError):
        return False
    if getattr(original, "vats_hook", False):
        return True

    def get_driver_env() -> dict[str, str]:
        env: dict[str, str] = original()
        edit = _driver_env_edit.get()
        if edit is not None:
            edit(env)
        return env

    get_driver_env.vats_hook = True  # type: ignore[attr-defined]
    setattr(driver_transport, "get_driver_env", get_driver_env)  # noqa: B010 - typed module
    return True


def load_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates in ``path`` (PEM, one or more, or DER); none is a ``UsageError``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--ca-cert {path}: cannot read it ({exc.strerror})") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UsageError(f"--ca-cert {path}: no certificate in it (PEM or DER)") from None


def spki_hash(certificate: x509.Certificate) -> str:
    """Chromium's name for a key: base64 of the SHA-256 of its SubjectPublicKeyInfo (DER)."""
    der = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


class BrowserHost:
    """Owns Playwright and one Chromium; ``new_context`` per account."""

    def __init__(self, *, headless: bool = True, slow_mo_ms: float = 0,
                 chromium: str | None = None, ca_certs: Iterable[Path] = ()) -> None:
        self.options = launch_options(headless=headless, slow_mo_ms=slow_mo_ms, executable=chromium)
        self.ca_certs = tuple(Path(path) for path in ca_certs)
        self._trusted = [cert for path in self.ca_certs for cert in load_certificates(path)]
        #: the keys Chromium accepts besides the public roots
        self.spki = frozenset(spki_hash(cert) for cert in self._trusted)
        if self.spki:
            self.options["args"] = [*self.options["args"], SPKI_FLAG + ",".join(sorted(self.spki))]
        self._bundle: Path | None = None
        self._driver_env_applied = False
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._contexts: list[BrowserContext] = []
        #: False for a host around someone else's browser (``around``)
        self._owner = True
        self._open: Callable[..., Awaitable[BrowserContext]] | None = None
        self._loads: asyncio.Semaphore | None = None  # made in the loop that uses it

    @classmethod
    def around(cls, browser: Browser, *,
               new_context: Callable[..., Awaitable[BrowserContext]] | None = None) -> BrowserHost:
        """A host on a browser that someone else launched and will close — a test runner's,
        e.g. pytest-playwright's ``browser`` and ``new_context`` fixtures, so its flags
        (``--headed``, ``--slowmo``, ``--tracing``) reach vats sessions too.

        ``start`` launches nothing and ``close`` closes only the contexts opened through the
        host; they are opened by ``new_context`` (which may record traces) when given, else by
        ``browser.new_context``. The browser trusts what it was launched with: no ``ca_certs``.
        """
        host = cls()
        host._browser = browser
        host._owner = False
        host._open = new_context
        return host

    @classmethod
    def for_settings(cls, settings: AccountSettings) -> BrowserHost:
        """The host an account's settings ask for (browser, speed, trusted certificate)."""
        return cls(headless=settings.headless, slow_mo_ms=settings.slow_mo_ms,
                   chromium=settings.chromium,
                   ca_certs=() if settings.ca_cert is None else (settings.ca_cert,))

    def trusts(self, path: Path) -> bool:
        """Whether the host trusts every certificate in ``path`` (a session checks its own)."""
        return {spki_hash(cert) for cert in load_certificates(path)} <= self.spki

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            raise RuntimeError("BrowserHost is not started (use 'async with')")
        return self._browser

    def _edit_driver_env(self, env: dict[str, str]) -> None:
        """The driver's variables, in Playwright's copy of the environment (the user's
        ``NODE_OPTIONS`` stay and win; ``NODE_EXTRA_CA_CERTS`` is ours when we trust any)."""
        self._driver_env_applied = True
        before = env.get("NODE_OPTIONS")
        if not (before and "semi-space" in before):
            env["NODE_OPTIONS"] = f"{before} {DRIVER_NODE_OPTIONS}" if before else DRIVER_NODE_OPTIONS
        if self._bundle is not None:
            if env.get("NODE_EXTRA_CA_CERTS"):
                log.info("the driver trusts --ca-cert instead of NODE_EXTRA_CA_CERTS",
                         extra={"ca_certs": [str(path) for path in self.ca_certs]})
            env["NODE_EXTRA_CA_CERTS"] = str(self._bundle)

    def _write_bundle(self) -> Path | None:
        """The trusted certificates as one PEM file for Node (which takes one file, PEM only).

        Kept until ``close``: Node may read it only when its first TLS connection needs it.
        """
        if not self._trusted:
            return None
        fd, name = tempfile.mkstemp(prefix="vats-ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as out:
            for cert in self._trusted:
                out.write(cert.public_bytes(serialization.Encoding.PEM))
        return Path(name)

    def _remove_bundle(self) -> None:
        if self._bundle is not None:
            self._bundle.unlink(missing_ok=True)
            self._bundle = None

    async def start(self) -> BrowserHost:
        if not self._owner:
            return self
        self._bundle = self._write_bundle()
        self._driver_env_applied = False
        hooked = _hook_driver_env()
        token = _driver_env_edit.set(self._edit_driver_env)
        try:
            self._playwright = await async_playwright().start()
        except BaseException:
            self._remove_bundle()
            raise
        finally:
            _driver_env_edit.reset(token)
        if not (hooked and self._driver_env_applied):
            # the driver runs anyway: with more memory, and trusting no --ca-cert (a TLSError
            # on the first mutation then, never an unchecked connection)
            log.warning("could not give Playwright's driver its environment (its internals moved?)",
                        extra={"node_options": DRIVER_NODE_OPTIONS,
                               "ca_certs": [str(path) for path in self.ca_certs]})
        try:
            self._browser = await self._launch(self._playwright)
        except BaseException:
            await self._playwright.stop()
            self._playwright = None
            self._remove_bundle()
            raise
        log.info("browser started", extra={"executable": self.options.get("executable_path"),
                                           "headless": self.options.get("headless"),
                                           "ca_certs": [str(path) for path in self.ca_certs]})
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
        """A context of the browser; one that ignores HTTPS errors is refused (see the module
        docstring: certificates are trusted by the host, never waved through)."""
        if kwargs.get("ignore_https_errors"):
            raise UsageError("ignore_https_errors is not supported: trust the certificate "
                             "with --ca-cert (BrowserHost(ca_certs=...))")
        context = await (self._open or self.browser.new_context)(**kwargs)
        self._contexts.append(context)
        return context

    @asynccontextmanager
    async def app_load(self) -> AsyncIterator[LoadPlace]:
        """One account's page loading the app (a login, a re-login, a re-learn): at most one
        per core of this machine at once.

        Why: loading the GWT app is the browser's CPU work (about 0.45 CPU-s: renderer,
        browser, driver); four at once on two cores each took 2–3 times as long as one alone,
        and the other accounts' reads waited for the CPU behind them. One per core keeps each
        load near its own time, and later accounts load between the reads of the others.
        A load that waits for a person (a confirmation code) gives its place up meanwhile
        (``waiting_for_person``)."""
        held = _load_place.get()
        if held is not None:  # a load inside a load (a re-login while the app loads): one place
            yield held
            return
        if self._loads is None:
            self._loads = asyncio.Semaphore(cores())
        place = LoadPlace(self._loads)
        await place.take()
        token = _load_place.set(place)
        try:
            yield place
        finally:
            _load_place.reset(token)
            place.leave()

    @asynccontextmanager
    async def waiting_for_person(self) -> AsyncIterator[None]:
        """Around a wait for a person inside an app load (a confirmation code): the load's
        place is free meanwhile, so other accounts' loads go on."""
        place = _load_place.get()
        if place is None:
            yield
            return
        async with place.given_up():
            yield

    async def close(self) -> None:
        """Close contexts, the browser and Playwright; safe to call twice, never raises."""
        for context in self._contexts:
            try:
                await context.close()
            except Exception:
                log.debug("context close failed", exc_info=True)
        self._contexts.clear()
        if not self._owner:
            return
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
        try:
            self._remove_bundle()
        except OSError:
            log.debug("could not remove the certificate bundle", exc_info=True)

    async def __aenter__(self) -> BrowserHost:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


class LoadPlace:
    """A place among the host's app loads (``BrowserHost.app_load``), held or given up."""

    def __init__(self, loads: asyncio.Semaphore) -> None:
        self._loads = loads
        self.held = False

    async def take(self) -> None:
        await self._loads.acquire()  # a cancelled wait holds nothing
        self.held = True

    def leave(self) -> None:
        if self.held:
            self.held = False
            self._loads.release()

    @asynccontextmanager
    async def given_up(self) -> AsyncIterator[None]:
        """Around a wait that is not the browser's work: the place is free meanwhile, and
        taken again (waiting its turn) before the load goes on."""
        self.leave()
        try:
            yield
        finally:
            await self.take()


def cores() -> int:
    """The CPUs this process may run on (a container's affinity, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
