"""Replaying GWT-RPC calls: the one place with concurrency limits, timeouts and recovery.

Every recovery decision lives here: which failures are retried and how often (``CallPolicy``),
throttling, re-login after expiry, re-learning after a redeploy, a mutation whose answer was
lost (``mutate``: read, then send again only if the change is not there), and the UI walks
that learn the build (``walk``). The flows say *what* to do; this module says how hard to try.

A call is given as a *builder* (learned build → ``Request``) rather than a fixed request, so
that after "the client is out of date" the session can re-learn and the same call is rebuilt
with the new build's strong names and signatures — never sent with stale ones.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

from scraper.browser.learned import Learned
from scraper.browser.redact import Redactor
from scraper.browser.transport import RawAnswer, Transport
from scraper.errors import (
    FlowError,
    HTTPStatusError,
    IncompatibleClientError,
    NotGwtAnswerError,
    RemoteException,
    ServerError,
    SessionError,
    TLSError,
    TransportError,
    VatsError,
)
from scraper.gwt import Registry, Request, Response, build_request, parse_response

log = logging.getLogger(__name__)

Builder = Callable[[Learned], Request]
Hook = Callable[[], Awaitable[None]]
Check = Callable[[], Awaitable[bool]]
T = TypeVar("T")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
THROTTLED = frozenset({429, 503})


@dataclass(frozen=True)
class CallPolicy:
    """Limits for replayed calls; defaults are polite to a shared production cabinet."""

    concurrency: int = 4
    timeout: float = 30.0
    #: a read's transient failures tolerated (no answer, 5xx, //EX): with 1 call in 6 failing
    #: (a bad day: 8 % 500s, 5 % //EX, 3 % resets, 1 % stalls) a read is lost once in ~280,000
    read_retries: int = 6
    throttle_retries: int = 12  # 429/503 answers tolerated per call (the server did nothing)
    #: re-logins per call after which no call was answered (the login itself does not hold);
    #: an expiry after answers is a new one and always gets its re-login (up to 4x this a call)
    relogins: int = 3
    relearns: int = 2  # re-learns per call (a redeploy may follow a redeploy)
    #: a read cut off by our own walk through the page (a re-login, a re-learn navigates the
    #: page its fetch rides in): sent again without counting as a try — the server said
    #: nothing — but not for ever
    interruptions: int = 12
    mutation_attempts: int = 4  # sends of one change, each after a read showed it missing
    #: tries of a UI walk that learns, re-learns or logs in again. A walk is several of the
    #: app's own calls, any of which may fail: on a bad day (1 call in 6 failing) a third of
    #: the tries fail, and 8 tries lose a walk once in ~15,000
    walk_attempts: int = 8
    backoff: float = 0.25  # first retry delay (s), doubled each time, with jitter
    #: longest delay between two tries: a read gives up after at most ~18 s of waiting
    max_backoff: float = 4.0

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
    but only while no direct call (a mutation) is in flight or waiting; a direct call waits
    until fewer than ``limit`` calls are in flight in all. Either way the server sees at most
    ``limit``.

    Waiting calls queue in order; a call that ends wakes the next one that fits (``_wake``).
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
        self._queue: deque[tuple[bool, asyncio.Future[None]]] = deque()
        self._woken = 0  # woken, not yet running: their places are spoken for

    def _admits(self, edge: bool, taken: int | None = None) -> bool:
        taken = self.active if taken is None else taken
        if edge and self.direct == 0 and self.waiting_direct == 0:
            return taken < self.limit + self.ahead
        return taken < self.limit

    @asynccontextmanager
    async def slot(self, *, edge: bool = False) -> AsyncIterator[None]:
        """Hold one call's place; ``edge`` when its transport queues at the edge."""
        edge = edge and self.ahead > 0  # without room at the edge every call is direct
        again = False
        while not self._admits(edge):
            await self._wait(edge, again=again)
            again = True
        self.active += 1
        self.direct += not edge
        self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            self.active -= 1
            self.direct -= not edge
            self._wake()

    async def _wait(self, edge: bool, *, again: bool) -> None:
        """Queue until ``_wake`` says a place may be free. A call that was woken but found the
        place taken (by a call that came in meanwhile: an item's next call goes ahead of new
        items, so items finish one by one) waits again at the front."""
        entry = (edge, asyncio.get_running_loop().create_future())
        if again:
            self._queue.appendleft(entry)
        else:
            self._queue.append(entry)
        self.waiting_direct += not edge
        try:
            await entry[1]
        finally:
            self.waiting_direct -= not edge
            if entry[1].done() and not entry[1].cancelled():  # woken by _wake
                self._woken -= 1
            else:
                self._queue.remove(entry)
            self._wake()  # a wake-up this call will not use goes to the next one

    def _wake(self) -> None:
        """Wake the queued calls, in order, for which a place is free — counting the places of
        calls woken but not yet running. A condition variable woke every queued call to
        re-check on each release: with 200 forms queued, ~85 wake-ups a call on the event
        loop that every account shares; here it is one."""
        while self._queue and self._admits(self._queue[0][0], self.active + self._woken):
            _, future = self._queue.popleft()
            if not future.cancelled():
                future.set_result(None)
                self._woken += 1

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
            self._wake()


class RpcCaller:
    """Sends calls through a transport, bounded by one ``AdaptiveLimit``, and interprets the
    answers (an expired session is the login page ``is_login_page`` recognizes)."""

    def __init__(self, transport: Transport, learned: Learned, registry: Registry, *,
                 policy: CallPolicy | None = None, redactor: Redactor | None = None,
                 relearn: Hook | None = None, relogin: Hook | None = None,
                 on_response: Callable[[Response], None] | None = None,
                 mutation_transport: Transport | None = None,
                 ready: Callable[[], Awaitable[object]] | None = None,
                 is_login_page: Callable[[str, str], bool] | None = None) -> None:
        self.transport = transport
        #: (url, body) → whether a non-GWT answer is the cabinet's login page, i.e. an expired
        #: session (``CabinetProfile.is_login_page``); without it none is recognized
        self.is_login_page = is_login_page
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
        self.on_response = on_response  # e.g. harvest secret fields into the redactor
        #: a read transport that queues at the edge follows our limit (see AdaptiveLimit)
        bind = getattr(transport, "bind_limit", None)
        self.ahead: int = bind(self._current_limit) if bind is not None else 0
        self.limit = AdaptiveLimit(self.policy.concurrency, ahead=self.ahead)
        self.calls = 0
        self.logins = 0  # re-logins done through this caller: answers older than one are stale
        self.answered = 0  # GWT answers (//OK, //EX) so far
        self._answered_at_login = 0  # ... when the last re-login finished
        self._relogging = asyncio.Lock()
        self.walks_started = 0  # walks through the page so far (they may navigate it) ...
        self.walking = 0  # ... and how many are under way
        #: payloads being replayed now, so the page capture can tell them from the app's calls
        self.in_flight: Counter[str] = Counter()

    def _current_limit(self) -> int:
        return self.limit.limit

    async def call(self, build: Builder, *, read_only: bool, returns: str | None = None,
                   admit: Callable[[], None] | None = None) -> Response:
        """Send one call and recover as the policy says; raise only what recovery cannot mend.

        Every attempt is built afresh from the learned build, so a retry after a re-learn (ours
        or another call's) never carries stale strong names. What is retried:

        - throttling (429/503: the server refused before doing anything), reads and mutations
          alike, within ``throttle_retries``;
        - an expired session: one re-login per expiry, however many calls see it; a call gives
          up after ``relogins`` re-logins that no answer followed (logging in does not help);
        - "the client is out of date": re-learn, at most ``relearns`` per call;
        - a read's transient failure — no answer, a 5xx, a server exception (``//EX``), a 200
          that is not GWT — within ``read_retries``; a mutation only when nothing was sent.

        A mutation whose answer was lost is never resent here: see ``mutate``. ``admit`` is
        called once the call has its slot, right before it leaves; raising there stops it.
        """
        relearns = relogins = expiries = attempt = throttled = interrupted = 0
        while True:
            if self.ready is not None:
                await self.ready()  # a re-login or re-learn in progress must finish first
            if self.learned.stale and self.relearn is not None:
                # a re-learn failed (its walk ran out of tries) or is under way while a re-login
                # let the calls go: learn, or wait for it, before building on nothing. Only a
                # re-learn that left the build forgotten counts: waiting for another call's
                # is not this call's failure (a bad day re-logs in every 3 s, mid-re-learn)
                await self.relearn()
                if self.learned.stale:
                    relearns += 1
                    if relearns > self.policy.relearns:
                        raise FlowError("the build is forgotten and could not be learned again")
                continue
            request = build(self.learned)
            logins, walks = self.logins, self.walks_started
            try:
                return await self._send(request, returns=returns, read_only=read_only,
                                        admit=admit)
            except IncompatibleClientError:
                relearns += 1
                if relearns > self.policy.relearns or self.relearn is None:
                    raise
                log.warning("server says the client is out of date; re-learning",
                            extra={"service": request.service, "method": request.method})
                await self.relearn()
            except SessionError:
                expiries += 1
                relogins += self.answered == self._answered_at_login  # none since the last one
                if self.relogin is None or relogins > self.policy.relogins \
                        or expiries > 4 * self.policy.relogins:
                    raise
                await self._relogin_once(logins, request)
            except (TransportError, ServerError) as exc:
                if read_only and self._cut_off(exc, walks) \
                        and interrupted < self.policy.interruptions:
                    interrupted += 1
                    step = min(interrupted, 3)
                elif _throttled(exc) and throttled < self.policy.throttle_retries:
                    throttled += 1
                    step = min(throttled, 6)
                elif not _throttled(exc) and attempt < self.policy.read_retries \
                        and _transient(exc, read_only=read_only):
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
                                "interrupted": interrupted,
                                "delay_s": round(delay, 2), "error": str(exc)})
                await asyncio.sleep(delay)

    def _cut_off(self, exc: VatsError, walks: int) -> bool:
        """No answer because a walk of ours moved the page under the call, not the server's
        doing: Playwright says so, or a walk started or ran while the call was out (a fetch
        cut off by a navigation may also just fail)."""
        if not isinstance(exc, TransportError) or isinstance(exc, TLSError):
            return False
        return exc.interrupted or walks != self.walks_started or self.walking > 0

    async def _relogin_once(self, logins: int, request: Request) -> None:
        """One re-login per expiry: a call that saw the expiry before another call's re-login
        finished is just sent again."""
        assert self.relogin is not None
        async with self._relogging:
            if self.logins != logins:
                return
            log.warning("session expired; logging in again",
                        extra={"service": request.service, "method": request.method})
            await self.relogin()
            self.logins += 1
            self._answered_at_login = self.answered

    async def mutate(self, build: Builder, *, applied: Check, returns: str | None = None,
                     unknown: VatsError | None = None,
                     admit: Callable[[], None] | None = None) -> Literal["sent", "confirmed"]:
        """Apply a change at most once, however its answers get lost.

        ``applied`` reads the cabinet's state fresh (a read, retried as reads are) and says
        whether the change is already there. After a lost answer (no answer, a 5xx, a 200 that
        is not GWT) it is asked first, and the change is sent again only if it is not there,
        up to ``mutation_attempts`` sends. ``unknown`` is an earlier attempt's error (e.g. the
        app's own call from the page): the state is read before the first send.

        ``admit`` is asked right before the first send leaves (when the call has its slot): a
        batch that must stop starting changes raises there.

        Returns ``"sent"`` (answered OK) or ``"confirmed"`` (an answer was lost, the state shows
        the change); raises the server's refusal (``RemoteException``, a 4xx) at once, and the
        last error when the attempts are used up and the state still does not show the change.
        """
        sent = 0
        while True:
            if unknown is not None:
                if await applied():
                    log.info("the lost answer's change is there", extra={"error": str(unknown)})
                    return "confirmed"
                if sent >= self.policy.mutation_attempts:
                    raise unknown
            sent += 1
            try:
                await self.call(build, read_only=False, returns=returns,
                                admit=admit if sent == 1 and unknown is None else None)
                return "sent"
            except RemoteException:
                raise
            except (TransportError, ServerError) as exc:
                if _refused(exc):
                    raise
                delay = self.policy.delay(sent)
                log.warning("mutation outcome unknown; reading the state before sending again",
                            extra={"attempt": sent, "delay_s": round(delay, 2),
                                   "error": str(exc)})
                unknown = exc
                # a lost answer is trouble on the way: give it a moment before the read and
                # any resend, as reads are given (back to back, a burst took every send)
                await asyncio.sleep(delay)

    async def walk(self, what: str, attempt: Callable[[int], Awaitable[T]]) -> T:
        """A walk through the app's UI (to learn or re-learn), retried like a read.

        ``attempt(n)`` is called with n = 1, 2, ...; from the second on it must start from a
        known place (the session reloads the app). The app's own calls in a walk fail as ours
        do — a 500, a reset, a stall, a failed page — so the walk is retried on those, within
        ``walk_attempts``; a refused login, drift or bad input are not retried.
        """
        for number in range(1, self.policy.walk_attempts + 1):
            try:
                return await self._walk_once(attempt, number)
            except (FlowError, TransportError, ServerError, SessionError) as exc:
                if number == self.policy.walk_attempts or isinstance(exc, TLSError):
                    raise
                delay = self.policy.delay(number)
                log.warning("a UI walk failed; trying again",
                            extra={"walk": what, "attempt": number, "delay_s": round(delay, 2),
                                   "error": self.redactor.text(str(exc))})
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _walk_once(self, attempt: Callable[[int], Awaitable[T]], number: int) -> T:
        """One try, counted: reads that lose their answer meanwhile are not the server's
        failures (``_cut_off``)."""
        self.walks_started += 1
        self.walking += 1
        try:
            return await attempt(number)
        finally:
            self.walking -= 1

    def check_app_answer(self, status: int | None, body: str | None, url: str,
                         failure: str | None, *, service: str, method: str) -> None:
        """The app's own call, seen in the page, judged as our calls are: nothing when it was
        answered ``//OK`` (its value is the app's business), else the typed error."""
        if status is None or body is None:
            raise TransportError(f"{service}.{method}: the app's call got no answer: {failure}")
        if status == 200 and body.startswith("//OK"):
            return
        self._interpret(RawAnswer(status, body, url), service, method, None)

    async def _send(self, request: Request, *, returns: str | None, read_only: bool = True,
                    admit: Callable[[], None] | None = None) -> Response:
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
            async with self.limit.slot(edge=read_only):  # the limit knows its room
                started = time.perf_counter()  # the wire time excludes the wait for a slot
                if admit is not None:
                    admit()
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
            if status in THROTTLED:
                self.limit.overloaded()
            elif status == 200:
                self.limit.succeeded()
            response = self._interpret(answer, short, request.method, returns)
            self.answered += 1  # a GWT answer: the session held for this call
            return response
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
        if self.is_login_page is not None and self.is_login_page(answer.url, body):
            raise SessionError(f"{service}.{method}: the session is not logged in any more")
        if answer.status != 200:
            retry_after = answer.headers.get("retry-after", "")
            raise HTTPStatusError(answer.status, body[:500], service=service, method=method,
                                  retry_after=float(retry_after) if retry_after.isdigit() else None)
        raise NotGwtAnswerError(f"not a GWT answer: {body[:80]!r}", service=service, method=method)


def _throttled(exc: VatsError) -> bool:
    """429/503: the server (or its edge) refused before the service ran."""
    return isinstance(exc, HTTPStatusError) and exc.status in THROTTLED


def _transient(exc: VatsError, *, read_only: bool) -> bool:
    """Worth another try: for a read any failure that may pass; for a mutation only one that
    never left (a resend could apply it twice otherwise)."""
    if isinstance(exc, TLSError):
        return False  # an untrusted certificate stays untrusted
    if not read_only:
        return isinstance(exc, TransportError) and exc.not_sent
    if isinstance(exc, HTTPStatusError):
        return exc.status in RETRYABLE_STATUS
    return isinstance(exc, TransportError | RemoteException | NotGwtAnswerError)


def _refused(exc: VatsError) -> bool:
    """A 4xx other than a timeout or throttling: the request itself was refused, not lost."""
    return isinstance(exc, HTTPStatusError) and 400 <= exc.status < 500 \
        and exc.status not in (408, 429)
