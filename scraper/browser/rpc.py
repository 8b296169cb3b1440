"""Replaying GWT-RPC calls: the one place with concurrency limits, timeouts and retries.

A call is given as a *builder* (learned build → ``Request``) rather than a fixed request, so
that after "the client is out of date" the session can re-learn and the same call is rebuilt
with the new build's strong names and signatures — never sent with stale ones.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from scraper.browser.learned import Learned
from scraper.browser.redact import Redactor
from scraper.browser.transport import RawAnswer, Transport
from scraper.errors import (
    HTTPStatusError,
    IncompatibleClientError,
    NotGwtAnswerError,
    SessionError,
    TransportError,
)
from scraper.gwt import Registry, Request, Response, build_request, parse_response

log = logging.getLogger(__name__)

Builder = Callable[[Learned], Request]
Hook = Callable[[], Awaitable[None]]
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
THROTTLED = frozenset({429, 503})


@dataclass(frozen=True)
class CallPolicy:
    """Limits for replayed calls; defaults are polite to a shared production cabinet."""

    concurrency: int = 4
    timeout: float = 30.0
    read_retries: int = 4
    throttle_retries: int = 12  # 429/503 answers tolerated per read (the server did nothing)
    backoff: float = 0.25  # first retry delay (s), doubled each time, with jitter
    max_backoff: float = 8.0

    def delay(self, step: int) -> float:
        """How long to wait before retry number ``step`` (1, 2, ...)."""
        delay = min(self.max_backoff, self.backoff * 2.0 ** (step - 1))
        return delay * (0.5 + random.random())  # noqa: S311 - jitter, not cryptography


class AdaptiveLimit:
    """At most ``limit`` calls in flight; the limit halves when the server says it is
    overloaded (503/429) and creeps back up (+1 per ``limit`` successes) to ``maximum``.

    This is the one place concurrency is bounded: every replayed call passes through it.
    Calls to a transport that queues at the edge (the page's own queue) may be let through
    ``ahead`` beyond the limit — they wait in the page, which runs at most ``limit`` of them —
    but only while no direct call (a mutation) is in flight; a direct call waits until fewer
    than ``limit`` calls are in flight in all. Either way the server sees at most ``limit``.
    """

    def __init__(self, maximum: int, *, ahead: int = 0) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.ahead = ahead
        self.active = 0
        self.direct = 0  # calls in flight that do not queue at the edge
        self.waiting_direct = 0
        self.peak = 0
        self._streak = 0
        self._changed = asyncio.Condition()

    def _admits(self, edge: bool) -> bool:
        if edge and self.direct == 0 and self.waiting_direct == 0:
            return self.active < self.limit + self.ahead
        return self.active < self.limit

    @asynccontextmanager
    async def slot(self, *, edge: bool = False) -> AsyncIterator[None]:
        """Hold one call's place; ``edge`` when its transport queues at the edge."""
        async with self._changed:
            if not edge:
                self.waiting_direct += 1
            try:
                await self._changed.wait_for(lambda: self._admits(edge))
            finally:
                if not edge:
                    self.waiting_direct -= 1
            self.active += 1
            self.direct += not edge
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            async with self._changed:
                self.active -= 1
                self.direct -= not edge
                if self.waiting_direct:
                    self._changed.notify_all()  # waiters of both kinds: each checks its own rule
                else:
                    # wake only as many waiters as there are free places: notify_all would wake
                    # every queued call on each release (O(N²) wake-ups for N queued calls)
                    room = self.limit + (self.ahead if self.direct == 0 else 0)
                    self._changed.notify(max(0, room - self.active))

    def overloaded(self) -> None:
        if self.limit > 1:
            self.limit = max(1, self.limit // 2)
            log.info("server overloaded: fewer calls in flight", extra={"limit": self.limit})
        self._streak = 0

    def succeeded(self) -> None:
        self._streak += 1
        # additive increase, slowly: at a limit of 1, one success must not double the load
        if self.limit < self.maximum and self._streak >= max(8, 2 * self.limit):
            self.limit += 1
            self._streak = 0


class RpcCaller:
    """Sends calls through a transport, bounded by one semaphore, and interprets the answers."""

    def __init__(self, transport: Transport, learned: Learned, registry: Registry, *,
                 policy: CallPolicy | None = None, redactor: Redactor | None = None,
                 relearn: Hook | None = None, relogin: Hook | None = None,
                 on_response: Callable[[Response], None] | None = None,
                 mutation_transport: Transport | None = None,
                 ready: Callable[[], Awaitable[object]] | None = None) -> None:
        self.transport = transport
        #: mutations may need a transport that never resends on its own (see session.py)
        self.mutation_transport = mutation_transport
        #: awaited before building each call: a re-learn in progress must finish first
        self.ready = ready
        self.learned = learned
        self.registry = registry
        self.policy = policy or CallPolicy()
        self.redactor = redactor or Redactor()
        self.relearn = relearn
        self.relogin = relogin
        self.on_response = on_response  # e.g. harvest SIP passwords into the redactor
        #: a read transport that queues at the edge follows our limit (see AdaptiveLimit)
        bind = getattr(transport, "bind_limit", None)
        self.ahead: int = bind(self._current_limit) if bind is not None else 0
        self.limit = AdaptiveLimit(self.policy.concurrency, ahead=self.ahead)
        self.calls = 0
        self.logins = 0  # re-logins done through this caller: answers older than one are stale
        self._relogging = asyncio.Lock()
        #: payloads being replayed now, so the page capture can tell them from the app's calls
        self.in_flight: Counter[str] = Counter()

    def _current_limit(self) -> int:
        return self.limit.limit

    def set_concurrency(self, value: int) -> None:
        """Resize the limit (between batches)."""
        self.policy = CallPolicy(**{**self.policy.__dict__, "concurrency": value})
        self.limit = AdaptiveLimit(value, ahead=self.ahead)

    async def call(self, build: Builder, *, read_only: bool, returns: str | None = None) -> Response:
        """Send the call; re-learn once on IncompatibleRemoteServiceException and re-login once
        on an expired session. Reads are retried on transient failures; mutations never are
        (the caller must re-read before deciding to resend)."""
        relearned = relogged = False
        while True:
            if self.ready is not None:
                await self.ready()
            request = build(self.learned)
            logins = self.logins
            try:
                return await self._send_with_retries(request, read_only=read_only, returns=returns)
            except IncompatibleClientError:
                if relearned or self.relearn is None:
                    raise
                relearned = True
                log.warning("server says the client is out of date; re-learning",
                            extra={"service": request.service, "method": request.method})
                await self.relearn()
            except SessionError:
                if self.relogin is None:
                    raise
                # one re-login per expiry, however many calls see it: a call sent before
                # another call's re-login finished is just sent again
                async with self._relogging:
                    if self.logins == logins:
                        if relogged:
                            raise
                        relogged = True
                        log.warning("session expired; logging in again",
                                    extra={"service": request.service, "method": request.method})
                        await self.relogin()
                        self.logins += 1

    async def _send_with_retries(self, request: Request, *, read_only: bool,
                                 returns: str | None) -> Response:
        """Reads: retry transient failures with backoff. Throttling (429/503 — the server
        refused before doing anything) has its own, larger budget and never uses up a read's
        retries. Mutations are never resent here (the change flow re-reads first)."""
        attempt = throttled = 0
        while True:
            try:
                return await self._send(request, returns=returns, read_only=read_only)
            except (TransportError, HTTPStatusError) as exc:
                status = getattr(exc, "status", None)
                if read_only and status in THROTTLED and throttled < self.policy.throttle_retries:
                    throttled += 1
                    step = min(throttled, 6)
                elif read_only and status not in THROTTLED and attempt < self.policy.read_retries \
                        and (isinstance(exc, TransportError) or status in RETRYABLE_STATUS):
                    attempt += 1
                    step = attempt
                else:
                    raise
                delay = self.policy.delay(step)
                if isinstance(exc, HTTPStatusError) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                log.info("transient failure; retrying",
                         extra={"service": request.service, "method": request.method,
                                "attempt": attempt, "throttled": throttled,
                                "delay_s": round(delay, 2), "error": str(exc)})
                await asyncio.sleep(delay)
                if self.ready is not None:
                    await self.ready()  # a re-login or re-learn in progress must finish first

    async def _send(self, request: Request, *, returns: str | None,
                    read_only: bool = True) -> Response:
        servlet = self.learned.servlet_for(request.service)
        module_base = self.learned.module_base or request.module_base
        payload = build_request(request, self.registry)
        headers = {"Content-Type": "text/x-gwt-rpc; charset=UTF-8",
                   "X-GWT-Module-Base": module_base}
        if self.learned.permutation:
            headers["X-GWT-Permutation"] = self.learned.permutation
        short = request.service.rsplit(".", 1)[-1]
        queued = time.perf_counter()
        started = queued
        status: int | str = "-"
        try:
            async with self.limit.slot(edge=read_only and self.ahead > 0):
                started = time.perf_counter()  # the wire time excludes the wait for a slot
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("request body", extra={"service": short, "method": request.method,
                                                      "body": self.redactor.text(payload)})
                self.in_flight[payload] += 1
                try:
                    transport = self.transport if read_only else (
                        self.mutation_transport or self.transport)
                    answer = await transport.post(module_base + servlet, payload, headers,
                                                  self.policy.timeout)
                finally:
                    self.in_flight[payload] -= 1
                    if not self.in_flight[payload]:
                        del self.in_flight[payload]
            status = answer.status
            self.calls += 1
            if status in (429, 503):
                self.limit.overloaded()
            elif status == 200:
                self.limit.succeeded()
            return self._interpret(answer, short, request.method, returns)
        except TransportError:
            status = "no-answer"
            raise
        finally:
            now = time.perf_counter()
            log.info("rpc %s.%s %s %.0fms", short, request.method, status, (now - started) * 1000,
                     extra={"service": short, "method": request.method, "status": status,
                            "ms": round((now - started) * 1000, 1),
                            "queued_ms": round((started - queued) * 1000, 1)})

    def _interpret(self, answer: RawAnswer, service: str, method: str,
                   returns: str | None) -> Response:
        body = answer.body
        response = None
        if answer.status == 200 and body.startswith(("//OK", "//EX")):
            response = parse_response(body, self.registry, returns=returns)
            if self.on_response is not None:
                self.on_response(response)  # before any logging: secrets are known first
        if log.isEnabledFor(logging.DEBUG):
            log.debug("response body", extra={"service": service, "method": method,
                                               "body": self.redactor.text(body)[:4000]})
        if response is not None:
            response.raise_for_exception(service=service, method=method)
            return response
        if _is_login_page(answer):
            raise SessionError(f"{service}.{method}: the session is not logged in any more")
        if answer.status != 200:
            retry_after = answer.headers.get("retry-after", "")
            raise HTTPStatusError(answer.status, body[:500], service=service, method=method,
                                  retry_after=float(retry_after) if retry_after.isdigit() else None)
        raise NotGwtAnswerError(f"not a GWT answer: {body[:80]!r}", service=service, method=method)


def _is_login_page(answer: RawAnswer) -> bool:
    """Spring Security sends an expired session to the login page (fetch follows the 302)."""
    path = answer.url.split("?", 1)[0]
    return path.endswith("/login/") or 'name="j_password"' in answer.body
