"""The webhook sink: POSTs each event, signed per Standard Webhooks (standardwebhooks.com).

Why each choice:

* the signature is made by the reference library (``standardwebhooks.Webhook.sign``), never by
  hand, so a receiver that verifies with any Standard Webhooks library accepts it; the secret is
  the library's ``whsec_<base64>`` (or bare base64), checked strictly here, at construction:
  the library itself decodes leniently (it drops characters that are not base64, so a typo or
  a URL-safe ``-``/``_`` silently makes another key) and would fail only at the receiver;
* ``webhook-id`` is the event id, the same on every retry: the receiver dedupes on it, as
  delivery is at least once (a timeout leaves unknown whether the receiver got the event);
* TLS is always verified, against the public roots plus, with ``ca_cert``, that certificate
  too (a receiver with a private CA or a self-signed certificate);
* redirects are not followed: a POST redirected becomes a GET in most clients, and a signed
  event should go to the address the user configured; a 3xx is reported as a refusal;
* neither the secret nor the body (which can carry SIP passwords) is ever logged or put in an
  error message; the URL is shown without credentials and query.

Outcomes, as the deliverer reads them (``SinkError.kind``): 2xx delivered; 410 sink-gone;
429 and 5xx sink-down (``retry_after`` from a ``Retry-After`` header); other statuses
sink-refused; no connection, a timeout or an untrusted certificate sink-down.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import math
import re
import ssl
import time
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook
from yarl import URL

from flows.watch.config import WebhookSinkConfig
from flows.watch.sinks.base import OutgoingEvent, Sent, Sink
from scraper.errors import ConfigError, SinkError

log = logging.getLogger(__name__)

#: the longest wait a receiver's ``Retry-After`` can impose (an hour): a larger one is a bug or
#: a hostile receiver, and events should not be held for days because of it
MAX_RETRY_AFTER = 3600.0
#: Standard Webhooks asks for secrets of 24 to 64 random bytes
MIN_SECRET_BYTES = 24
_SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


class WebhookSink(Sink):
    """One receiver URL; ``secret`` defaults to the value of the config's ``secret_env``."""

    def __init__(self, config: WebhookSinkConfig, secret: str | None = None) -> None:
        super().__init__(config.name, include_secrets=config.include_secrets)
        self.config = config
        where = f"sink {config.name}: " + ("secret_env" if secret is None else "secret")
        self._signer = signer(config.secret() if secret is None else secret, where=where)
        self._ssl = _ssl_context(config)
        self._shown_url = shown_url(config.url)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """A fresh session (connection pool); nothing is sent, so it never fails."""
        await self.close()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._ssl),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"user-agent": "vats-watch"},
        )

    async def send(self, event: OutgoingEvent) -> Sent:
        if self._session is None or self._session.closed:
            await self.open()
        assert self._session is not None
        try:
            payload = event.body.decode("utf-8")
        except UnicodeDecodeError:
            raise SinkError(f"event {event.id} is not UTF-8 JSON", sink=self.name,
                            kind="sink-refused") from None
        # whole seconds: the header and the signed text must carry the same number
        now = datetime.fromtimestamp(int(time.time()), UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(event.id, now, payload),
        }
        started = time.monotonic()
        try:
            async with self._session.post(self.config.url, data=event.body, headers=headers,
                                          allow_redirects=False) as response:
                status = response.status
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
        except TimeoutError:
            raise self._failed(event, f"no answer from {self._shown_url} within "
                                      f"{self.config.timeout_s:g} s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = getattr(exc.certificate_error, "verify_message", None) or "verify failed"
            raise self._failed(event, f"the certificate of {self._shown_url} is not trusted "
                                      f"({reason}); vats trusts the public root certificates "
                                      "and, with ca_cert = FILE, the certificate in FILE") from None
        except aiohttp.ClientSSLError as exc:
            raise self._failed(event, f"TLS with {self._shown_url} failed: "
                                      f"{_ssl_reason(exc)}") from None
        except aiohttp.ClientConnectorError as exc:
            raise self._failed(event, f"cannot connect to {self._shown_url}: "
                                      f"{exc.strerror or type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise self._failed(event, f"the request to {self._shown_url} failed: "
                                      f"{type(exc).__name__}") from None
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if 200 <= status < 300:
            log.debug("event delivered", extra={"sink": self.name, "event_id": event.id,
                                                "status": status, "elapsed_ms": elapsed_ms})
            return "delivered"
        if status == 410:
            raise self._failed(event, f"{self._shown_url} answered 410 Gone: the receiver is "
                                      "gone, the sink is disabled", kind="sink-gone", status=status)
        if status == 429 or status >= 500:
            raise self._failed(event, f"{self._shown_url} answered {status}", status=status,
                               retry_after=retry_after)
        if 300 <= status < 400:
            raise self._failed(event, f"{self._shown_url} answered {status}, a redirect: events "
                                      "are not sent on to another address (set url to the final "
                                      "one)", kind="sink-refused", status=status)
        if 400 <= status < 500:
            hint = " (is the secret the receiver's?)" if status in (401, 403) else ""
            raise self._failed(event, f"{self._shown_url} refused the event: {status}{hint}",
                               kind="sink-refused", status=status, retry_after=retry_after)
        raise self._failed(event, f"{self._shown_url} answered {status}", status=status)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()
            except Exception:  # close never raises
                log.debug("closing the session failed", exc_info=True, extra={"sink": self.name})

    def _failed(self, event: OutgoingEvent, message: str, *, kind: str = "sink-down",
                status: int | None = None, retry_after: float | None = None) -> SinkError:
        log.info("event not delivered", extra={
            "sink": self.name, "event_id": event.id, "kind": kind, "status": status,
            "retry_after": retry_after, "reason": message})
        return SinkError(message, sink=self.name, kind=kind, status=status,
                         retry_after=retry_after)


def signer(secret: str, *, where: str) -> Webhook:
    """The library's signer for ``secret`` (``whsec_<base64>`` or bare base64), checked strictly.

    Raises ``ConfigError`` at ``where``; the message never repeats the secret.
    """
    text = secret.strip()
    encoded = text.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
        problem = "is not base64"
    else:
        problem = "is empty"
    if not key:
        raise ConfigError(f"the webhook secret {problem}: give the receiver's secret, "
                          f"{_SECRET_PREFIX} followed by base64 (Standard Webhooks)", where=where)
    if len(key) < MIN_SECRET_BYTES:
        log.warning("the webhook secret is short: Standard Webhooks asks for 24 to 64 random bytes",
                    extra={"where": where, "secret_bytes": len(key)})
    try:
        return Webhook(text)
    except (EmptyWebhookSecretError, RuntimeError, ValueError) as exc:  # the library's refusal
        raise ConfigError(f"the webhook secret cannot be used ({type(exc).__name__})",
                          where=where) from None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` value (seconds, or an HTTP-date) as seconds from ``now``, clamped to
    [0, MAX_RETRY_AFTER]; ``None`` when absent or unreadable (the deliverer's backoff decides)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": UTC without a claim (RFC 5322)
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def shown_url(url: str) -> str:
    """The URL for logs and messages: no user, password, query or fragment (tokens live there)."""
    parsed = URL(url)
    return str(parsed.with_user(None).with_password(None).with_query(None).with_fragment(None))


def _ssl_context(config: WebhookSinkConfig) -> ssl.SSLContext:
    """The public roots, plus ``ca_cert`` when given; verification is never turned off."""
    context = ssl.create_default_context()
    if config.ca_cert is not None:
        try:
            context.load_verify_locations(cafile=str(config.ca_cert))
        except FileNotFoundError:
            raise ConfigError(f"no such file: {config.ca_cert}",
                              where=f"sink {config.name}: ca_cert") from None
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"{config.ca_cert} is not a PEM certificate "
                              f"({getattr(exc, 'reason', None) or type(exc).__name__})",
                              where=f"sink {config.name}: ca_cert") from None
    return context


def _ssl_reason(exc: aiohttp.ClientSSLError) -> str:
    inner = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else None
    return getattr(inner, "reason", None) or type(inner or exc).__name__
