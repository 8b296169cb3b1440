"""Reads sent by Python's own HTTP client with the browser's cookies: the cheap transport.

Why: through the page a replayed read costs the machine ~11 ms of CPU across five processes
(Python, Playwright's driver, Chromium's browser, network service and renderer: the evaluate,
the fetch, DevTools' network events); through Playwright's request context ~10 ms (three driver
round trips and a cookie lookup in the browser per call); this way ~3 ms, nearly all of it our
own decoding (one 200-form inventory: 2.3 / 2.0 / 0.6 CPU-s, docs/benchmarks.md). The
browser stays the source of truth: it logs in, walks the app and learns the build; this
transport only carries reads, with the cookies the browser holds, re-read after every walk of
the page (a re-login changes them).

It is not the default. Non-browser clients are known to need a weakened TLS setup for the real
host (captures: OpenSSL's security level lowered), which vats never does: a handshake that
fails here fails before anything was sent (``not_sent``), so ``FallbackTransport`` can carry
the read in the page instead. Certificates are verified as the browser does: the public roots
and exactly the ``--ca-cert`` ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.async_api import BrowserContext

from scraper.browser.host import load_certificates
from scraper.browser.transport import KEPT_HEADERS, RawAnswer, untrusted_certificate
from scraper.errors import TransportError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def trust(ca_certs: tuple[Path, ...]) -> ssl.SSLContext:
    """The public roots and exactly the given certificates; verification always on.

    Shared by the sessions that trust the same files: loading the system's roots takes
    ~30 ms of the event loop, once per account otherwise."""
    context = ssl.create_default_context()
    pem = "".join(cert.public_bytes(Encoding.PEM).decode("ascii")
                  for path in ca_certs for cert in load_certificates(path))
    if pem:
        context.load_verify_locations(cadata=pem)
    return context


class DirectTransport:
    """aiohttp, with the cookies of ``context`` for each URL as of the last walk (``epoch``)."""

    def __init__(self, context: BrowserContext, *, epoch: Callable[[], int],
                 ca_certs: Iterable[Path] = (), connections: int = 64) -> None:
        self.context = context
        self.epoch = epoch
        self.ssl = trust(tuple(ca_certs))
        self.connections = connections
        self._client: aiohttp.ClientSession | None = None
        self._cookies: dict[str, str] = {}  # url → Cookie header, valid for ``_cookies_epoch``
        self._cookies_epoch = -1
        self._user_agent: str | None = None

    async def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> RawAnswer:
        sent = {**headers, **await self._browser_headers(url)}
        client = self._open()
        try:
            async with client.post(url, data=body.encode("utf-8"), headers=sent,
                                   timeout=aiohttp.ClientTimeout(total=timeout),
                                   allow_redirects=True, ssl=self.ssl) as response:
                text = await response.text(encoding=response.charset or "utf-8",
                                           errors="replace")
                kept = {name: response.headers[name] for name in KEPT_HEADERS
                        if name in response.headers}
                return RawAnswer(response.status, text, str(response.url), kept)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise untrusted_certificate(f"request to {url} failed",
                                        str(exc.certificate_error)) from None
        except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError) as exc:
            # connecting or the handshake failed: not a byte of the request left
            raise TransportError(f"direct request to {url} failed: {exc}", not_sent=True) \
                from None
        except TimeoutError:
            raise TransportError(f"direct request to {url}: no answer within {timeout:g} s") \
                from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"direct request to {url} failed: {type(exc).__name__}: "
                                 f"{exc}") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._client is None:
            # no cookie jar of its own: the browser's cookies are the only ones sent, so a
            # cookie the server sets on a replay never forks the session from the browser's
            connector = aiohttp.TCPConnector(limit=self.connections, ssl=self.ssl)
            self._client = aiohttp.ClientSession(connector=connector,
                                                 cookie_jar=aiohttp.DummyCookieJar())
        return self._client

    async def _browser_headers(self, url: str) -> dict[str, str]:
        """The Cookie header the browser would send to ``url`` and its User-Agent: one look
        into the browser per URL after each walk, none per call."""
        epoch = self.epoch()
        if epoch != self._cookies_epoch:
            self._cookies, self._cookies_epoch = {}, epoch
        if url not in self._cookies:
            cookies = await self.context.cookies([url])
            self._cookies[url] = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
        if self._user_agent is None:
            self._user_agent = await self._browser_user_agent()
        headers = {"User-Agent": self._user_agent or aiohttp.http.SERVER_SOFTWARE}
        if self._cookies[url]:
            headers["Cookie"] = self._cookies[url]
        return headers

    async def _browser_user_agent(self) -> str | None:
        """The browser's own, so that the server sees one client; None: ask again next call."""
        for page in self.context.pages[:1]:
            try:
                return str(await page.evaluate("navigator.userAgent"))
            except Exception:  # noqa: BLE001 - a page navigating right now
                log.debug("could not read the browser's user agent")
        return None


async def close_quietly(transport: DirectTransport | None) -> None:
    """Closing at the end of a session must not hide the session's own error."""
    if transport is None:
        return
    try:
        await asyncio.shield(transport.close())
    except Exception:
        log.debug("could not close the direct transport", exc_info=True)
