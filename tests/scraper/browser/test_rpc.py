"""Call logic without a browser: MockTransport answers, RpcCaller decides (httpx-style seam)."""

import pytest

from scraper.browser.learned import Learned
from scraper.browser.rpc import CallPolicy, RpcCaller
from scraper.browser.transport import MockTransport, RawAnswer
from scraper.errors import (
    HTTPStatusError,
    IncompatibleClientError,
    NotGwtAnswerError,
    RemoteException,
    SessionError,
    TransportError,
)
from scraper.gwt import build_response, incompatible, parse_request
from scraper.profile import MTS
from vats_fixtures.recorded.captures import GET_FORM, fill

REG = MTS.registry()
BASE = "https://vpbx.mts.ru/vpbxGwt/"
OK = "//OK[0,[],0,7]"


def learned():
    facts = Learned(permutation="4F3A39F8A8855D9244397AB61F97306B", module_base=BASE)
    facts.strong_names["DispatcherGwtService"] = "EAA49B7B1A97DFBDC367A2E2573FB3B7"
    facts.servlets["ru.cti.vpbx.shared.services.DispatcherService"] = "DispatcherGwtService"
    return facts


def build(facts):
    return facts.retarget(parse_request(fill(GET_FORM), REG))


def caller(handler, **kwargs):
    transport = MockTransport(handler)
    policy = CallPolicy(concurrency=2, timeout=1, read_retries=3, backoff=0.001, max_backoff=0.01)
    kwargs.setdefault("is_login_page", MTS.is_login_page)
    return RpcCaller(transport, learned(), REG, policy=policy, **kwargs), transport


def answer(body, status=200, url=BASE + "DispatcherGwtService", headers=None):
    return RawAnswer(status, body, url, headers or {})


async def test_headers_url_and_payload_are_the_live_builds():
    rpc, transport = caller(lambda url, body, headers: answer(OK))
    await rpc.call(build, read_only=True)
    (url, body, headers), = transport.calls
    assert url == BASE + "DispatcherGwtService"
    assert body == fill(GET_FORM)
    assert headers["X-GWT-Permutation"] == "4F3A39F8A8855D9244397AB61F97306B"
    assert headers["X-GWT-Module-Base"] == BASE
    assert headers["Content-Type"].startswith("text/x-gwt-rpc")


@pytest.mark.parametrize("failure", ["reset", 503, 500, 429])
async def test_reads_retry_transient_failures(failure):
    answers = iter([failure, failure, OK])

    def handler(url, body, headers):
        item = next(answers)
        if item == "reset":
            raise TransportError("connection reset")
        if isinstance(item, int):
            return answer("busy", status=item, headers={"retry-after": "0"})
        return answer(item)

    rpc, transport = caller(handler)
    response = await rpc.call(build, read_only=True)
    assert response.kind == "ok" and len(transport.calls) == 3


async def test_mutations_are_never_retried():
    def handler(url, body, headers):
        raise TransportError("timeout")

    rpc, transport = caller(handler)
    with pytest.raises(TransportError):
        await rpc.call(build, read_only=False)
    assert len(transport.calls) == 1


async def test_reads_give_up_after_the_limit():
    rpc, transport = caller(lambda *a: answer("x", status=500))
    with pytest.raises(HTTPStatusError) as info:
        await rpc.call(build, read_only=True)
    assert info.value.status == 500 and len(transport.calls) == 4
    assert info.value.service == "DispatcherService" and info.value.method == "getForm"


async def test_throttling_has_its_own_budget():
    """503s (refused before the service) do not use up a read's retries."""
    answers = iter([503] * 10 + [500, 500, "ok"])

    def handler(url, body, headers):
        item = next(answers)
        return answer(OK) if item == "ok" else answer("x", status=item,
                                                      headers={"retry-after": "0"})

    rpc, transport = caller(handler)
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert len(transport.calls) == 13
    endless, transport2 = caller(lambda *a: answer("busy", status=503))
    with pytest.raises(HTTPStatusError):
        await endless.call(build, read_only=True)
    assert len(transport2.calls) == 1 + endless.policy.throttle_retries


async def test_incompatible_relearns_once_and_rebuilds():
    stale = build_response(incompatible("out of date"), kind="ex")
    answers = iter([stale, OK])
    relearned = []

    async def relearn():
        relearned.append(True)
        rpc.learned.strong_names["DispatcherGwtService"] = "NEWNEWNEWNEWNEWNEWNEWNEWNEWNEW00"

    rpc, transport = caller(lambda *a: answer(next(answers)), relearn=relearn)
    await rpc.call(build, read_only=False)
    assert relearned == [True]
    assert "|NEWNEWNEWNEWNEWNEWNEWNEWNEWNEW00|" in transport.calls[1][1]


async def test_incompatible_twice_is_raised():
    stale = build_response(incompatible("out of date"), kind="ex")

    async def relearn():
        pass

    rpc, _ = caller(lambda *a: answer(stale), relearn=relearn)
    with pytest.raises(IncompatibleClientError):
        await rpc.call(build, read_only=True)


async def test_login_page_means_expired_session_and_relogin():
    answers = iter([answer("<html><input name=\"j_password\"></html>", url="http://x/login/"),
                    answer(OK)])
    logins = []

    async def relogin():
        logins.append(1)

    rpc, _ = caller(lambda *a: next(answers), relogin=relogin)
    await rpc.call(build, read_only=True)
    assert logins == [1]


async def test_an_answer_older_than_a_relogin_does_not_log_in_again():
    """A call sent with the old session, answered after another call re-logged in: resent as
    is, no second login (a second one would pull the page from under the calls in flight)."""
    import asyncio

    session = {"valid": False}
    logins = []
    sent = []
    expired = answer("<html><input name=\"j_password\"></html>", url="http://x/login/")

    async def handler(url, body, headers):
        valid = session["valid"]  # the session the request was sent with
        sent.append(valid)
        if len(sent) == 2:
            await asyncio.sleep(0.05)  # this answer arrives after the other call re-logged in
        return answer(OK) if valid else expired

    async def relogin():
        await asyncio.sleep(0.01)
        logins.append(1)
        session["valid"] = True

    rpc, transport = caller(handler, relogin=relogin)
    await asyncio.gather(rpc.call(build, read_only=True), rpc.call(build, read_only=True))
    assert logins == [1]
    assert len(transport.calls) == 4  # each call: once expired, once again after the login


async def test_calls_that_see_the_same_expiry_log_in_once():
    import asyncio

    session = {"valid": False}
    logins = []
    expired = answer("<html><input name=\"j_password\"></html>", url="http://x/login/")

    async def handler(url, body, headers):
        valid = session["valid"]
        await asyncio.sleep(0)
        return answer(OK) if valid else expired

    async def relogin():
        await asyncio.sleep(0.01)
        logins.append(1)
        session["valid"] = True

    rpc, transport = caller(handler, relogin=relogin)
    await asyncio.gather(*(rpc.call(build, read_only=True) for _ in range(2)))
    assert logins == [1] and len(transport.calls) == 4


async def test_login_page_without_relogin_hook():
    rpc, _ = caller(lambda *a: answer("<form>", url="http://x/login/"))
    with pytest.raises(SessionError):
        await rpc.call(build, read_only=True)


async def test_other_200_is_not_a_gwt_answer():
    rpc, _ = caller(lambda *a: answer("<html>maintenance</html>"))
    with pytest.raises(NotGwtAnswerError):
        await rpc.call(build, read_only=True)


async def test_declared_exception_is_typed():
    body = '//EX[2,1,["ru.cti.vpbx.shared.exceptions.VpbxGwtException/1","Нет доступа"],0,7]'
    reg = REG.copy()
    reg.load_schema_dict({"ru.cti.vpbx.shared.exceptions.VpbxGwtException": {
        "fields": [], "extends": "java.lang.Exception"}})
    rpc, _ = caller(lambda *a: answer(body))
    rpc.registry = reg
    with pytest.raises(RemoteException, match="Нет доступа") as info:
        await rpc.call(build, read_only=True)
    assert info.value.java_class.endswith("VpbxGwtException")


async def test_concurrency_is_bounded_in_one_place():
    import asyncio

    in_flight = peak = 0

    async def handler(url, body, headers):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return answer(OK)

    rpc, _ = caller(handler)
    await asyncio.gather(*(rpc.call(build, read_only=True) for _ in range(10)))
    assert peak == 2


@pytest.mark.parametrize("ahead", [0, 6])
async def test_a_release_wakes_only_as_many_queued_calls_as_there_are_places(ahead):
    """200 forms queued behind 4 places: each release wakes one of them, not all 200 (waking
    every waiter cost ~85 wake-ups a call on the event loop every account shares)."""
    import asyncio

    from scraper.browser.rpc import AdaptiveLimit

    limit = AdaptiveLimit(4, ahead=ahead)
    waits = 0
    wait = limit._wait

    async def counted(edge, *, again):
        nonlocal waits
        waits += 1  # each wait ends in one wake-up
        await wait(edge, again=again)

    limit._wait = counted  # type: ignore[method-assign]

    async def one():
        async with limit.slot(edge=True):
            await asyncio.sleep(0)

    await asyncio.gather(*(one() for _ in range(200)))
    assert limit.peak == 4 + ahead
    # a woken call may find its place taken by a call that came in meanwhile and waits once
    # more: at most one such miss per call, never a wake-up of every queued call
    assert waits <= 2 * 200, f"{waits} wake-ups for 200 calls"
    assert limit.active == 0 and not limit._queue and limit._woken == 0


async def test_cancelled_calls_leave_no_place_taken():
    """Calls cancelled while queued, or right after a place was handed to them, give it back:
    the limit never shrinks by stealth (a cancelled watch cycle must not slow the next)."""
    import asyncio

    from scraper.browser.rpc import AdaptiveLimit

    limit = AdaptiveLimit(2)
    gate = asyncio.Event()

    async def one():
        async with limit.slot():
            await gate.wait()

    running = [asyncio.ensure_future(one()) for _ in range(2)]
    queued = [asyncio.ensure_future(one()) for _ in range(6)]
    await asyncio.sleep(0)
    assert limit.active == 2 and limit.waiting_direct == 6
    queued[0].cancel()  # cancelled while waiting
    running[0].cancel()  # frees a place: handed to queued[1] ...
    await asyncio.sleep(0)
    queued[1].cancel()  # ... which is cancelled before it ran
    await asyncio.gather(running[0], *queued[:2], return_exceptions=True)
    assert limit.active == 2 and limit.waiting_direct == 3  # running[1] and queued[2] run
    gate.set()
    await asyncio.wait_for(asyncio.gather(running[1], *queued[2:]), timeout=5)
    assert limit.active == 0 and limit.direct == 0 and limit.waiting_direct == 0
    assert not limit._queue


async def test_overload_halves_concurrency_then_recovers():
    import asyncio

    busy = {"left": 3}
    in_flight = peak_after_503 = 0
    seen_503 = False

    async def handler(url, body, headers):
        nonlocal in_flight, peak_after_503, seen_503
        in_flight += 1
        if seen_503:
            peak_after_503 = max(peak_after_503, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        if busy["left"] > 0:
            busy["left"] -= 1
            seen_503 = True
            return answer("busy", status=503, headers={"retry-after": "0"})
        return answer(OK)

    transport = MockTransport(handler)
    policy = CallPolicy(concurrency=8, timeout=1, read_retries=5, backoff=0.001, max_backoff=0.01)
    rpc = RpcCaller(transport, learned(), REG, policy=policy)
    await asyncio.gather(*(rpc.call(build, read_only=True) for _ in range(40)))
    assert rpc.limit.limit <= 8
    assert peak_after_503 <= 8
    # after the overload the limit dropped, and successes let it grow again
    assert rpc.limit.peak == 8


def test_adaptive_limit_arithmetic():
    from scraper.browser.rpc import AdaptiveLimit

    limit = AdaptiveLimit(16)
    limit.overloaded()
    assert limit.limit == 8
    limit.overloaded()
    limit.overloaded()
    limit.overloaded()
    limit.overloaded()
    assert limit.limit == 1  # never below one call in flight
    for _ in range(7):
        limit.succeeded()
    assert limit.limit == 1  # one success at a time must not double the load
    limit.succeeded()
    assert limit.limit == 2
    for _ in range(1000):
        limit.succeeded()
    assert limit.limit == 16  # back to the configured maximum, not beyond


async def test_fallback_transport_only_for_requests_never_sent():
    from scraper.browser.transport import FallbackTransport

    def refused(url, body, headers):
        raise TransportError("request failed: connect ECONNREFUSED", not_sent=True)

    def lost(url, body, headers):
        raise TransportError("request failed: read ECONNRESET")  # sent: the state is unknown

    page = MockTransport(lambda *a: answer(OK))
    transport = FallbackTransport(MockTransport(refused), page)
    assert (await transport.post("u", "b", {}, 1)).body == OK
    assert transport.use_fallback and len(page.calls) == 1
    never = FallbackTransport(MockTransport(lost), MockTransport(lambda *a: answer(OK)))
    with pytest.raises(TransportError):
        await never.post("u", "b", {}, 1)
    assert not never.use_fallback


class EdgeQueue(MockTransport):
    """Like the page's queue: runs at most ``limit()`` calls at once, queues the rest."""

    def __init__(self, handler):
        super().__init__(handler)
        self.limit = lambda: 6
        self.running = self.peak = 0

    async def post(self, url, body, headers, timeout):
        import asyncio

        while self.running >= self.limit():
            await asyncio.sleep(0.001)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await super().post(url, body, headers, timeout)
        finally:
            self.running -= 1


class Server:
    """Counts the calls it is working on at once, like the sandbox's per-session limit."""

    def __init__(self):
        self.now = self.peak = 0

    async def handle(self, url, body, headers):
        import asyncio

        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.005)
        self.now -= 1
        return answer(OK)


@pytest.mark.parametrize("limit, page_peak, overflow_used", [(4, 4, False), (6, 6, False),
                                                             (16, 6, True)])
async def test_lane_transport_never_lets_the_server_see_more_than_the_limit(
        limit, page_peak, overflow_used):
    import asyncio

    from scraper.browser.transport import LaneTransport

    server = Server()
    page, other = EdgeQueue(server.handle), MockTransport(server.handle)
    lanes = LaneTransport(page, other, page_lanes=6)
    policy = CallPolicy(concurrency=limit, timeout=1)
    rpc = RpcCaller(lanes, learned(), REG, policy=policy)
    assert rpc.ahead == 6  # the caller hands the page up to one more round than the limit
    await asyncio.gather(*(rpc.call(build, read_only=True) for _ in range(120)))
    assert server.peak == limit  # full use of the limit, never beyond it
    assert rpc.limit.peak == limit + 6  # ... while the next calls waited in the page
    assert page.peak == page_peak
    assert bool(other.calls) is overflow_used
    assert len(page.calls) + len(other.calls) == 120


async def test_lane_transport_follows_a_lowered_limit():
    import asyncio

    from scraper.browser.transport import LaneTransport

    server = Server()
    page, other = EdgeQueue(server.handle), MockTransport(server.handle)
    lanes = LaneTransport(page, other, page_lanes=6)
    rpc = RpcCaller(lanes, learned(), REG, policy=CallPolicy(concurrency=16, timeout=1))
    rpc.limit.limit = rpc.limit.maximum = 3  # as after 503s (and no growing back here)
    await asyncio.gather(*(rpc.call(build, read_only=True) for _ in range(60)))
    assert server.peak == 3 and not other.calls


async def test_mutations_wait_for_a_real_slot_while_reads_queue_at_the_edge():
    import asyncio

    from scraper.browser.rpc import AdaptiveLimit

    limit = AdaptiveLimit(2, ahead=3)
    held: list[asyncio.Event] = []
    order: list[str] = []

    async def hold(name, edge):
        release = asyncio.Event()
        held.append(release)
        async with limit.slot(edge=edge):
            order.append(name)
            await release.wait()

    reads = [asyncio.create_task(hold(f"r{i}", True)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert limit.active == 5  # 2 + 3 ahead: they wait at the edge, not here
    mutation = asyncio.create_task(hold("m", False))
    late_read = asyncio.create_task(hold("r5", True))
    await asyncio.sleep(0.01)
    assert "m" not in order and "r5" not in order  # the mutation waits, and reads wait behind it
    for release in held[:4]:
        release.set()
    await asyncio.sleep(0.01)
    assert "m" in order and limit.direct == 1
    assert limit.active <= 2  # while a direct call is in flight nothing runs ahead
    for release in held:
        release.set()
    await asyncio.gather(*reads, mutation, late_read)
    assert limit.active == 0 and limit.direct == 0


# --- one recovery policy: server exceptions, throttled mutations, lost answers, walks ---------


EX = '//EX[2,1,["java.lang.RuntimeException/515124647","boom"],0,7]'


async def test_a_read_answered_by_a_server_exception_is_retried():
    answers = iter([EX, EX, OK])
    rpc, transport = caller(lambda *a: answer(next(answers)))
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert len(transport.calls) == 3


async def test_a_mutation_answered_by_a_server_exception_is_not_retried():
    rpc, transport = caller(lambda *a: answer(EX))
    with pytest.raises(RemoteException, match="boom"):
        await rpc.mutate(build, applied=never_applied())
    assert len(transport.calls) == 1


async def test_a_throttled_mutation_is_sent_again_by_the_caller():
    """429/503 come before the service runs: the caller resends, nobody else counts them."""
    answers = iter([503, 429, "ok"])

    def handler(url, body, headers):
        item = next(answers)
        return answer(OK) if item == "ok" else answer("x", status=item, headers={"retry-after": "0"})

    rpc, transport = caller(handler)
    assert await rpc.mutate(build, applied=never_applied()) == "sent"
    assert len(transport.calls) == 3


def never_applied(reads=None):
    async def applied():
        if reads is not None:
            reads.append(True)
        return False
    return applied


async def test_a_lost_answer_is_read_before_anything_is_sent_again():
    sent = []

    def handler(url, body, headers):
        sent.append(body)
        raise TransportError("reset after the request was sent")

    reads = []

    async def applied():
        reads.append(True)
        return True  # the first send went through: the state shows it

    rpc, _ = caller(handler)
    assert await rpc.mutate(build, applied=applied) == "confirmed"
    assert len(sent) == 1 and reads == [True]


async def test_a_change_not_there_after_a_lost_answer_is_sent_again_up_to_the_budget():
    rpc, transport = caller(lambda *a: answer("x", status=500))
    reads = []
    with pytest.raises(HTTPStatusError):
        await rpc.mutate(build, applied=never_applied(reads))
    attempts = rpc.policy.mutation_attempts
    assert len(transport.calls) == attempts  # each send after a read showed it missing
    assert len(reads) == attempts  # and a last read after the last send


async def test_an_earlier_unknown_outcome_reads_first():
    rpc, transport = caller(lambda *a: answer(OK))

    async def applied():
        return True

    outcome = await rpc.mutate(build, applied=applied, unknown=TransportError("page walk failed"))
    assert outcome == "confirmed" and transport.calls == []


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_a_refused_mutation_is_not_resent(status):
    rpc, transport = caller(lambda *a: answer("no", status=status))
    with pytest.raises(HTTPStatusError) as info:
        await rpc.mutate(build, applied=never_applied())
    assert info.value.status == status and len(transport.calls) == 1


async def test_an_expiry_that_comes_back_during_one_call_logs_in_again():
    """A long call may outlive more than one session: each expiry gets its own re-login."""
    login_page = answer("<form>", url="https://vpbx.mts.ru/login/")
    answers = iter([login_page, login_page, answer(OK)])
    relogins = []

    async def relogin():
        relogins.append(True)

    rpc, transport = caller(lambda *a: next(answers), relogin=relogin)
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert len(relogins) == 2 and len(transport.calls) == 3


async def test_a_walk_is_retried_and_gives_up_after_its_budget():
    from scraper.errors import FlowError, LoginError

    rpc, _ = caller(lambda *a: answer(OK))
    tries = []

    async def flaky(number):
        tries.append(number)
        if number < 3:
            raise FlowError("the app's call failed")
        return "there"

    assert await rpc.walk("learn", flaky) == "there" and tries == [1, 2, 3]

    async def broken(number):
        raise HTTPStatusError(500, service="DispatcherService", method="getForm")

    with pytest.raises(HTTPStatusError):
        await rpc.walk("learn", broken)

    refused = []

    async def wrong_password(number):
        refused.append(number)
        raise LoginError("refused")

    with pytest.raises(LoginError):
        await rpc.walk("log in", wrong_password)
    assert refused == [1]  # credentials are not retried


async def test_the_apps_own_failed_call_is_judged_like_ours():
    rpc, _ = caller(lambda *a: answer(OK))
    rpc.check_app_answer(200, OK, BASE + "X", None, service="S", method="m")  # fine
    with pytest.raises(HTTPStatusError):
        rpc.check_app_answer(500, "err", BASE + "X", None, service="S", method="m")
    with pytest.raises(RemoteException, match="boom"):
        rpc.check_app_answer(200, EX, BASE + "X", None, service="S", method="m")
    with pytest.raises(TransportError):
        rpc.check_app_answer(None, None, BASE + "X", "net::ERR_CONNECTION_RESET",
                             service="S", method="m")


async def test_a_forgotten_build_is_learned_before_the_next_call_is_built():
    """A re-learn whose walk ran out of tries leaves the build forgotten: the next call
    re-learns first instead of failing to build from nothing."""
    relearned = []

    async def relearn():
        relearned.append(True)
        rpc.learned.stale = False  # what a successful re-learn leaves

    rpc, transport = caller(lambda *a: answer(OK), relearn=relearn)
    rpc.learned.stale = True
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert relearned == [True] and len(transport.calls) == 1

    # re-learns that come back with the build still forgotten count, up to the budget
    left_forgotten = []

    async def forgetful_relearn():
        left_forgotten.append(True)  # the build stays stale

    rpc.relearn = forgetful_relearn
    rpc.learned.stale = True
    rpc.policy = CallPolicy(relearns=2, backoff=0.001)
    from scraper.errors import FlowError

    with pytest.raises(FlowError, match="could not be learned again"):
        await rpc.call(build, read_only=True)
    assert len(left_forgotten) == 3 and len(transport.calls) == 1


async def test_waiting_for_another_calls_re_learn_is_not_this_calls_failure():
    """A bad day: a read is cut off by the re-learn walk, a re-login lets the calls go while
    the re-learn is still under way, the read finds the build forgotten and waits for it —
    five times over. Re-learns that came back with the build learned use up nothing."""
    relearns = 0

    async def relearn():
        nonlocal relearns
        relearns += 1
        rpc.learned.stale = False  # the re-learn under way finished

    def handler(url, body, headers):
        if len(transport.calls) <= 5:
            rpc.learned.stale = True  # a re-learn starts; its navigation cuts this read off
            raise TransportError("in-page fetch failed", interrupted=True)
        return answer(OK)

    rpc, transport = caller(handler, relearn=relearn)
    rpc.policy = CallPolicy(relearns=2, read_retries=0, backoff=0.001, max_backoff=0.001)
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert relearns == 5 > rpc.policy.relearns and len(transport.calls) == 6


async def test_a_login_that_does_not_hold_is_given_up_but_new_expiries_are_not():
    """Re-logins that no answer follows count against the call; an expiry after answers is a
    new one (short-lived sessions on a slow day) and gets its re-login."""
    login_page = answer("<form>", url="https://vpbx.mts.ru/login/")
    relogins = []

    async def relogin():
        relogins.append(True)

    rpc, _ = caller(lambda *a: login_page, relogin=relogin)
    with pytest.raises(SessionError):
        await rpc.call(build, read_only=True)
    assert len(relogins) == rpc.policy.relogins  # the login never held: give up

    relogins.clear()
    answers = iter([login_page] * 5 + ["ok"])

    def expiring(url, body, headers):
        item = next(answers)
        if item == "ok":
            return answer(OK)
        rpc.answered += 1  # other calls were answered by the last session before it ended
        return item

    rpc, transport = caller(expiring, relogin=relogin)
    assert (await rpc.call(build, read_only=True)).kind == "ok"  # 5 expiries > relogins (3)
    assert len(relogins) == 5 and len(transport.calls) == 6


async def test_a_read_cut_off_by_a_navigation_is_not_a_try():
    """A re-login navigating the page kills the fetches riding in it: the server said nothing,
    so those do not use up the read's tries (3 here) — but their own budget is bounded."""
    answers = iter(["navigated"] * 5 + [500, 500, 500, "ok"])

    def handler(url, body, headers):
        item = next(answers)
        if item == "navigated":
            raise TransportError("in-page fetch failed", interrupted=True)
        return answer(OK) if item == "ok" else answer("x", status=item)

    rpc, transport = caller(handler)
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert len(transport.calls) == 9

    def always_cut_off(url, body, headers):
        raise TransportError("in-page fetch failed", interrupted=True)

    rpc, transport = caller(always_cut_off)
    with pytest.raises(TransportError) as info:
        await rpc.call(build, read_only=True)
    assert info.value.interrupted
    assert len(transport.calls) == rpc.policy.interruptions + rpc.policy.read_retries + 1


async def test_a_read_lost_while_a_walk_ran_is_not_a_try():
    """A fetch cut off by a navigation may fail without Playwright's words for it: a read that
    lost its answer while a walk of ours was under way is not counted either."""
    rpc, _ = caller(lambda *a: answer(OK))
    lost = 0

    async def relogin_walk(number):
        return "in"  # the page navigated meanwhile: every read out lost its answer

    async def handler(url, body, headers):
        nonlocal lost
        if lost < 5:
            lost += 1
            await rpc.walk("log in again", relogin_walk)  # a walk starts while it is out
            raise TransportError("no answer: TypeError: Failed to fetch")
        return answer(OK)

    rpc.transport = MockTransport(handler)
    assert (await rpc.call(build, read_only=True)).kind == "ok"
    assert lost == 5 > rpc.policy.read_retries


async def test_a_mutation_cut_off_by_a_navigation_is_not_resent_blindly():
    def handler(url, body, headers):
        raise TransportError("in-page fetch failed", interrupted=True)

    rpc, transport = caller(handler)
    with pytest.raises(TransportError):
        await rpc.call(build, read_only=False)
    assert len(transport.calls) == 1  # mutate() reads the state before any second send
