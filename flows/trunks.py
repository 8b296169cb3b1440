"""Each trunk's device form: learned from one Devices page, replayed for every trunk.

The DISPATCHER ordinal of the device form differs between builds (31 in the captured one), so
it is never hard-coded: the UI's own ``getForm`` call when a Devices page opens tells it, and a
redeploy makes the session walk there again (a registered learner). One walk per build is
enough: it is noted by the build's strong name and recalled by every later session on it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flows import navigate
from flows.abonents import list_abonents
from scraper.browser.learned import Learned
from scraper.browser.livebuild import LiveBuild
from scraper.browser.session import BrowserSession
from scraper.errors import DriftError, FlowError, UsageError, VatsError
from scraper.gwt import EnumValue, Instance, Request, parse_request
from scraper.models import Abonent, AbonentRow, Filters, Trunk
from scraper.profile import DEVICE_FORM as DEVICE_FORM_CLASS
from scraper.profile import DEVICE_RECORD

log = logging.getLogger(__name__)

DISPATCHER = "DispatcherService"
DEVICE_FORM = "dispatcher.device_form"


async def walk_device_form(session: BrowserSession) -> None:
    """Open a Devices page in the UI and keep its getForm call and ordinal, for this session
    and (a build note) for every later session on this build."""
    exchange = await navigate.devices_page(session)
    request = exchange.request(session.registry)
    kind = request.param(1)
    if not isinstance(kind, EnumValue):
        raise FlowError("getForm's second parameter is not the DISPATCHER enum any more")
    session.learned.ordinals[DEVICE_FORM] = kind.ordinal
    session.note(DEVICE_FORM, kind.ordinal, exchange)
    log.info("learned the device form", extra={"ordinal": kind.ordinal,
                                               "signature": kind.signature})


async def learn_device_form(session: BrowserSession) -> None:
    """After a redeploy: recalled when another session already walked the new build."""
    if session.recall(DEVICE_FORM) is None:
        await walk_device_form(session)


async def ensure_device_form(session: BrowserSession, *, recall: bool = True) -> None:
    """The device form's ordinal and call known: recalled for a build walked before (unless
    ``recall`` is off: the doctor wants the app's own call), else walked to."""
    session.add_learner(learn_device_form)  # a re-learn walks there again (retried as a whole)
    if DEVICE_FORM in session.learned.ordinals:
        return
    if recall and session.recall(DEVICE_FORM) is not None:
        return
    await session.ui_walk("learn the device form", lambda: walk_device_form(session))


def form_request(learned: Learned, session: BrowserSession, abonent_id: int) -> Request:
    """``getForm(abonentId, <device form>)`` on the live build."""
    template = learned.template(DISPATCHER, "getForm")
    request = parse_request(template.request_body, session.registry)
    kind = request.param(1)
    if DEVICE_FORM not in learned.ordinals or not isinstance(kind, EnumValue):
        raise FlowError("the device form's DISPATCHER ordinal is not known for this build")
    request.params[0].value = abonent_id
    request.params[1].value = EnumValue(kind.signature, learned.ordinals[DEVICE_FORM])
    return learned.retarget(request)


def abonent_of(row: AbonentRow, enterprise_id: int | None) -> Abonent:
    """A list row as a plain (non-trunk) Abonent."""
    return Abonent(phone=row.phone, abonent_id=row.abonent_id, enterprise_id=enterprise_id or 0,
                   name=row.name, active=row.active, blocked=row.blocked,
                   marked_for_deletion=row.marked_for_deletion)


def trunk_from_form(row: AbonentRow, form: object, enterprise_id: int | None,
                    live: LiveBuild | None = None) -> Trunk | Abonent:
    """A Trunk when the form carries a ``mobsip_`` identify line, else a plain Abonent."""
    if not isinstance(form, Instance):
        raise FlowError(f"abonent {row.abonent_id}: the device form is not an object")
    if live is not None:
        form = live.view(form, DEVICE_FORM_CLASS)
    devices = [d for d in (form.get("devices") or []) if isinstance(d, Instance)]
    if live is not None:
        devices = [live.view(d, DEVICE_RECORD) for d in devices]
    device = devices[0] if devices else None
    identify = form.get("identifyLine") or (device.get("identifyLine") if device else None)
    enterprise = (device.get("enterpriseId") if device else None) or enterprise_id
    if not identify or not str(identify).startswith("mobsip_"):
        return abonent_of(row, enterprise)
    phone = row.phone or form.get("phone")
    if not enterprise:
        raise FlowError(f"abonent {row.abonent_id}: no enterprise id in the form or the session")
    return Trunk(
        phone=phone, abonent_id=row.abonent_id, enterprise_id=enterprise,
        identify_line=identify,
        sip_login=device.get("sipLogin") if device else None,
        sip_password=device.get("sipPassword") if device else None,
        has_device=device is not None,
        device_enabled=bool(device.get("enabled")) if device else False,
        device_id=device.get("deviceId") if device else None,
        active=row.active, blocked=row.blocked, marked_for_deletion=row.marked_for_deletion,
    )


async def read_form(session: BrowserSession, abonent_id: int) -> Instance:
    response = await session.call(lambda learned: form_request(learned, session, abonent_id),
                                  read_only=True)
    if not isinstance(response.value, Instance):
        raise FlowError(f"abonent {abonent_id}: getForm returned no form")
    return response.value


#: how people write a Russian number: an optional ``+7``, ``8`` or ``7``, ten digits, and
#: spaces, brackets, dashes or dots between them — nothing else (no letters, no ``tel:``)
_PHONE = re.compile(r"(?:\+\s*7|[78])?[\s().\-]*(?:\d[\s().\-]*){10}")
_NOT_DIGITS = re.compile(r"\D+")
PHONE_EXAMPLES = "+7 999 123-45-67, 8 (999) 123 45 67, 79991234567 or 9991234567"


def normalize_phone(text: str) -> str:
    """``+7 (999) 000-00-00``, ``89990000000``, ``9990000000`` → ``79990000000``.

    Taken as written or refused: a letter, a ``tel:`` prefix or a digit too many is a
    ``UsageError`` naming the input, never silently dropped (``7924653652x`` used to become
    ``77924653652``).
    """
    spelled = text.strip()
    if not _PHONE.fullmatch(spelled) or spelled.count("(") != spelled.count(")"):
        raise UsageError(f"not a Russian phone number: {text!r} (write it as {PHONE_EXAMPLES})")
    digits = _NOT_DIGITS.sub("", spelled)
    return "7" + digits[-10:]


@dataclass
class Inventory:
    """What an inventory found: trunks, other abonents, and what could not be read or found."""

    trunks: list[Trunk] = field(default_factory=list)
    abonents: list[Abonent] = field(default_factory=list)
    unknown_numbers: list[str] = field(default_factory=list)
    #: known numbers that the filters leave out
    excluded_numbers: list[str] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)  # abonent id → error
    #: the phones of the trunk rows whose form could not be read (a partial inventory)
    unread_phones: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {"trunks": len(self.trunks), "working": 0, "off": 0, "no-device": 0,
                  "blocked": sum(t.blocked for t in self.trunks),
                  "marked": sum(t.marked_for_deletion for t in self.trunks),
                  "abonents": len(self.abonents), "unknown": len(self.unknown_numbers),
                  "excluded": len(self.excluded_numbers),
                  "failed": len(self.failures)}
        for trunk in self.trunks:
            counts[trunk.state] += 1
        return counts


async def inventory(session: BrowserSession, filters: Filters | None = None, *,
                    numbers: Iterable[str] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Inventory:
    """Every trunk (and non-trunk abonent) matching ``filters`` and, if given, ``numbers``.

    Device forms are read as the list pages arrive, not after the last one: the first page's
    trunks share the calls in flight with the other pages, and the Devices page is walked (to
    learn the form's ordinal) while those pages are on the wire. Progress is reported once the
    number of trunks is known, in order, each step exactly once.
    """
    result = Inventory()
    chosen = filters or Filters()
    wanted = None if numbers is None else {normalize_phone(n) for n in numbers}
    reader = _FormReader(session, result, progress)

    def take(row: AbonentRow) -> bool:
        return wanted is None or (row.phone in wanted and chosen.matches(row))

    def on_rows(rows: list[AbonentRow]) -> None:
        for row in rows:
            if row.is_trunk and take(row):
                reader.start(row)

    try:
        # with numbers: every abonent, so that a number the filter leaves out is told apart
        # from an unknown one
        rows = await list_abonents(session, filters if wanted is None else None,
                                   on_rows=on_rows, after_first=reader.learned)
        if wanted is not None:
            by_phone = {row.phone: row for row in rows}
            result.unknown_numbers = sorted(wanted - by_phone.keys())
            result.excluded_numbers = sorted(
                row.phone for row in rows if row.phone in wanted and not chosen.matches(row)
                and row.phone is not None)
        chosen_rows = [row for row in rows if take(row)]
        result.abonents = [abonent_of(row, session.enterprise_id)
                           for row in chosen_rows if not row.is_trunk]
        items = await reader.finish([row for row in chosen_rows if row.is_trunk])
    finally:
        await reader.cancel()
    for item in items:
        if isinstance(item, Trunk):
            result.trunks.append(item)
        elif isinstance(item, Abonent):
            result.abonents.append(item)
    return result


class _FormReader:
    """Reads device forms as trunk rows turn up; learns the form's ordinal once, first."""

    def __init__(self, session: BrowserSession, result: Inventory,
                 progress: Callable[[int, int], None] | None) -> None:
        self.session = session
        self.result = result
        self.progress = progress
        self.tasks: dict[int, asyncio.Task[Trunk | Abonent | None]] = {}
        self.learning: asyncio.Task[None] | None = None
        self.walking = asyncio.Event()  # the walk holds its slot
        self.done = 0
        self.reported = 0
        self.total: int | None = None

    def start(self, row: AbonentRow) -> None:
        if row.abonent_id in self.tasks:
            return  # the list changed while paging: list_abonents reports it
        if self.learning is None:
            self.learning = asyncio.ensure_future(self.learn())
        self.tasks[row.abonent_id] = asyncio.ensure_future(self.one(row, self.learning))

    async def learn(self) -> None:
        # the Devices page's own getForm counts against the cabinet's limit: it takes a slot
        async with self.session.ui_turn():
            self.walking.set()
            await ensure_device_form(self.session)

    async def learned(self) -> None:
        """After the first page, before the others go out: if it had a trunk, let the Devices
        page walk take its slot first (nothing of ours is in flight yet, so it gets one at
        once); the other pages then share the remaining slots with the walk."""
        if self.learning is not None:
            walking = asyncio.ensure_future(self.walking.wait())
            try:
                await asyncio.wait({walking, self.learning}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                walking.cancel()

    async def one(self, row: AbonentRow, learning: asyncio.Future[None]) -> Trunk | Abonent | None:
        await learning  # a failure to learn fails the whole inventory, not each trunk
        item: Trunk | Abonent | None = None
        try:
            form = await read_form(self.session, row.abonent_id)
            item = trunk_from_form(row, form, self.session.enterprise_id, self.session.live)
        except DriftError:
            raise  # the build, not this trunk: every other trunk would fail the same way
        except VatsError as exc:
            self.result.failures[row.abonent_id] = f"{type(exc).__name__}: {exc}"
            if row.phone is not None:
                self.result.unread_phones.append(row.phone)
            log.warning("could not read a trunk", extra={"abonent_id": row.abonent_id,
                                                         "error": str(exc)})
        self.done += 1
        self.report()
        return item

    def report(self) -> None:
        if self.progress is None or self.total is None:
            return
        while self.reported < self.done:
            self.reported += 1
            self.progress(self.reported, self.total)

    async def finish(self, trunk_rows: list[AbonentRow]) -> list[Trunk | Abonent | None]:
        """Every trunk row's item, in the list's order (rows seen only now are started now)."""
        for row in trunk_rows:
            self.start(row)
        self.total = len(trunk_rows)
        self.report()
        # the session bounds the calls in flight (scraper/browser/rpc.py): gather them all
        return list(await asyncio.gather(*(self.tasks[row.abonent_id] for row in trunk_rows)))

    async def cancel(self) -> None:
        """On any way out, no read is left running (a failed listing, a cancelled run)."""
        tasks: list[asyncio.Task[Any]] = list(self.tasks.values())
        if self.learning is not None:
            tasks.append(self.learning)
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: a failure already raised elsewhere is not logged twice
