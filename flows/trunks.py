"""Each trunk's device form: learned from one Devices page, replayed for every trunk.

The DISPATCHER ordinal of the device form differs between builds (31 in the captured one), so
it is never hard-coded: the UI's own ``getForm`` call when a Devices page opens tells it, and a
redeploy makes the session walk there again (a registered learner).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flows import navigate
from flows.abonents import list_abonents
from scraper.browser.learned import Learned
from scraper.browser.session import BrowserSession
from scraper.errors import FlowError, UsageError, VatsError
from scraper.gwt import EnumValue, Instance, Request, parse_request
from scraper.models import Abonent, AbonentRow, Filters, Trunk

log = logging.getLogger(__name__)

DISPATCHER = "DispatcherService"
DEVICE_FORM = "dispatcher.device_form"


async def learn_device_form(session: BrowserSession) -> None:
    """Open a Devices page in the UI and keep its getForm call and ordinal."""
    exchange = await navigate.devices_page(session)
    request = exchange.request(session.registry)
    kind = request.param(1)
    if not isinstance(kind, EnumValue):
        raise FlowError("getForm's second parameter is not the DISPATCHER enum any more")
    session.learned.ordinals[DEVICE_FORM] = kind.ordinal
    log.info("learned the device form", extra={"ordinal": kind.ordinal,
                                               "signature": kind.signature})


async def ensure_device_form(session: BrowserSession) -> None:
    session.add_learner(learn_device_form)
    if DEVICE_FORM not in session.learned.ordinals:
        await learn_device_form(session)


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


def trunk_from_form(row: AbonentRow, form: object, enterprise_id: int | None) -> Trunk | Abonent:
    """A Trunk when the form carries a ``mobsip_`` identify line, else a plain Abonent."""
    if not isinstance(form, Instance):
        raise FlowError(f"abonent {row.abonent_id}: the device form is not an object")
    devices = [d for d in (form.get("devices") or []) if isinstance(d, Instance)]
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


_DIGITS = re.compile(r"\D+")


def normalize_phone(text: str) -> str:
    """``+7 (999) 000-00-00``, ``89990000000``, ``9990000000`` → ``79990000000``."""
    digits = _DIGITS.sub("", text)
    if len(digits) == 10:
        digits = "7" + digits
    elif len(digits) == 11 and digits[0] in "78":
        digits = "7" + digits[1:]
    else:
        raise UsageError(f"not a Russian phone number: {text!r} (want 7 + 10 digits)")
    return digits


@dataclass
class Inventory:
    """What an inventory found: trunks, other abonents, and what could not be read or found."""

    trunks: list[Trunk] = field(default_factory=list)
    abonents: list[Abonent] = field(default_factory=list)
    unknown_numbers: list[str] = field(default_factory=list)
    #: known numbers that the filters leave out
    excluded_numbers: list[str] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)  # abonent id → error

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
    """Every trunk (and non-trunk abonent) matching ``filters`` and, if given, ``numbers``."""
    result = Inventory()
    if numbers is None:
        rows = await list_abonents(session, filters)
    else:
        # every abonent, so that a number the filter leaves out is told apart from an unknown one
        wanted = {normalize_phone(n) for n in numbers}
        everyone = await list_abonents(session)
        by_phone = {row.phone: row for row in everyone}
        result.unknown_numbers = sorted(wanted - by_phone.keys())
        chosen = filters or Filters()
        rows = [row for row in everyone if row.phone in wanted and chosen.matches(row)]
        result.excluded_numbers = sorted(
            row.phone for row in everyone if row.phone in wanted and not chosen.matches(row)
            and row.phone is not None)
    trunk_rows = [row for row in rows if row.is_trunk]
    result.abonents = [abonent_of(row, session.enterprise_id) for row in rows if not row.is_trunk]
    if trunk_rows:
        await ensure_device_form(session)
    done = 0

    async def one(row: AbonentRow) -> Trunk | Abonent | None:
        nonlocal done
        try:
            form = await read_form(session, row.abonent_id)
            return trunk_from_form(row, form, session.enterprise_id)
        except VatsError as exc:
            result.failures[row.abonent_id] = f"{type(exc).__name__}: {exc}"
            log.warning("could not read a trunk", extra={"abonent_id": row.abonent_id,
                                                         "error": str(exc)})
            return None
        finally:
            done += 1
            if progress:
                progress(done, len(trunk_rows))

    # the session bounds the calls in flight (scraper/browser/rpc.py): gather them all
    for item in await asyncio.gather(*(one(row) for row in trunk_rows)):
        if isinstance(item, Trunk):
            result.trunks.append(item)
        elif isinstance(item, Abonent):
            result.abonents.append(item)
    return result
