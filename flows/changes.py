"""Changes: switch trunk devices on/off, create (restore) and remove SIP devices — safely.

Plan first (state read fresh), then apply with bounded concurrency, read every changed item
back, and audit it. Never duplicate, never guess: a mutation whose answer was lost is re-read
before it is sent again; a stale build is re-learned before anything is sent (the session
does that); an expired session is re-established and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from flows import navigate
from flows.abonents import list_abonents
from flows.trunks import (
    DEVICE_FORM,
    DISPATCHER,
    ensure_device_form,
    normalize_phone,
    read_form,
    trunk_from_form,
)
from scraper.audit import AuditLog
from scraper.browser.learned import Learned
from scraper.browser.rpc import CallPolicy
from scraper.browser.session import BrowserSession
from scraper.errors import (
    FlowError,
    HTTPStatusError,
    ProtocolError,
    RemoteException,
    TransportError,
    UsageError,
    VatsError,
)
from scraper.gwt import Boxed, EnumValue, Instance, Param, Request, parse_request
from scraper.models import AbonentRow, Trunk
from scraper.profile import DEVICE_FORM as DEVICE_FORM_CLASS
from scraper.profile import DEVICE_RECORD, RECORD

log = logging.getLogger(__name__)

Action = Literal["enable", "disable", "add-device", "remove-device"]
ACTIONS: tuple[Action, ...] = ("enable", "disable", "add-device", "remove-device")
SWITCH_SERVICE = "ru.cti.vpbx.shared.services.AbonentDeviceFormGwtService"  # [R]
FORM_CLASS, RECORD_CLASS, RECORD_BASE = DEVICE_FORM_CLASS, DEVICE_RECORD, RECORD
# the captured "add SIP device" request's constants (captures.md §3)
DEVICE_NAME, DEVICE_TYPE = "SIP-phone", "Generic SIP Phone"
THROTTLE_LIMIT = 12  # 429/503 answers tolerated per item before it is reported failed


@dataclass
class PlanItem:
    """One requested number: what it is now, and what will be done."""

    number: str
    action: Action
    status: Literal["apply", "skip", "unknown", "not-a-trunk"]
    reason: str
    abonent_id: int | None = None
    before: Trunk | None = None

    @property
    def target(self) -> str:
        return {"enable": "device on", "disable": "device off", "add-device": "device exists",
                "remove-device": "no device"}[self.action]


@dataclass
class ItemResult:
    item: PlanItem
    result: Literal["done", "skipped", "failed"]
    detail: str
    after: Trunk | None = None


@dataclass
class ChangeReport:
    action: Action
    plan: list[PlanItem]
    results: list[ItemResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if r.result == "failed"]

    def counts(self) -> dict[str, int]:
        counts = {"done": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            counts[result.result] += 1
        return counts


def reached(trunk: Trunk, action: Action) -> bool:
    if action == "enable":
        return trunk.has_device and trunk.device_enabled
    if action == "disable":
        return trunk.has_device and not trunk.device_enabled
    if action == "add-device":
        return trunk.has_device
    return not trunk.has_device


def decide(trunk: Trunk, action: Action) -> tuple[Literal["apply", "skip"], str]:
    if reached(trunk, action):
        return "skip", {"enable": "already on", "disable": "already off",
                        "add-device": "already has a device",
                        "remove-device": "has no device"}[action]
    if action in ("enable", "disable") and not trunk.has_device:
        return "skip", "no SIP device (run add-device first)"
    return "apply", f"{trunk.state} → {action}"


# --- planning --------------------------------------------------------------------------------


async def read_trunk(session: BrowserSession, row: AbonentRow) -> Trunk | None:
    item = trunk_from_form(row, await read_form(session, row.abonent_id), session.enterprise_id,
                           session.live)
    return item if isinstance(item, Trunk) else None


async def make_plan(session: BrowserSession, action: Action, numbers: Iterable[str] = (), *,
                    all_inactive: bool = False) -> list[PlanItem]:
    """The plan for ``numbers`` (or every inactive trunk), from state read fresh now."""
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}")
    if all_inactive and action not in ("enable", "add-device"):
        raise UsageError("--all-inactive only goes with enable and add-device")
    rows = await list_abonents(session)
    by_phone = {row.phone: row for row in rows if row.phone}
    if all_inactive:
        wanted = [row.phone for row in rows if row.is_trunk and not row.active and row.phone]
    else:
        wanted = list(dict.fromkeys(normalize_phone(n) for n in numbers))
    if not wanted:
        return []
    await ensure_device_form(session)

    async def one(number: str) -> PlanItem:
        row = by_phone.get(number)
        if row is None:
            return PlanItem(number, action, "unknown", "no abonent with this number")
        if not row.is_trunk:
            return PlanItem(number, action, "not-a-trunk", "an ordinary abonent, not a SIM trunk",
                            row.abonent_id)
        trunk = await read_trunk(session, row)
        if trunk is None:
            return PlanItem(number, action, "not-a-trunk", "no mobsip_ identify line",
                            row.abonent_id)
        status, reason = decide(trunk, action)
        return PlanItem(number, action, status, reason, row.abonent_id, trunk)

    plan = list(await asyncio.gather(*(one(n) for n in wanted)))
    if all_inactive:  # only what there is to do: the rest is not interesting here
        plan = [item for item in plan if item.status == "apply"]
    return plan


# --- building the mutations (the codec, on the live build's signatures and ordinals) ---------


def switch_request(learned: Learned, session: BrowserSession, device_id: int, on: bool) -> Request:
    """``setDeviceEnabled(deviceId, on)``: from the app's own call when seen, else built."""
    try:
        template = learned.template(SWITCH_SERVICE, "setDeviceEnabled")
        request = parse_request(template.request_body, session.registry)
    except FlowError:
        registry = session.registry
        request = Request(SWITCH_SERVICE, "setDeviceEnabled", [
            Param(learned.signature("java.lang.Long", registry), None),
            Param(learned.signature("java.lang.Boolean", registry), None)],
            learned.module_base or "", "")
    request.params[0].value = device_id
    request.params[1].value = on
    return learned.retarget(request)


def device_form(learned: Learned, session: BrowserSession, *, abonent_id: int,
                enterprise_id: int, identify_line: str, device_id: int | None) -> Instance:
    """The device form exactly as captured: one new record (create) or none (remove)."""
    registry = session.registry
    owner = Boxed(learned.signature("java.lang.Long", registry), abonent_id)
    devices: list[Any] = []
    if device_id is not None:
        devices.append(session.live.make(RECORD_CLASS, {
            "abonentId": owner, "enabled": True, "deviceId": device_id,
            "enterpriseId": enterprise_id, "identifyLine": identify_line, "sipLogin": None,
            "sipPassword": None, "deviceName": DEVICE_NAME, "unknown09": None,
            "unknown10": None, "unknown11": None, "deviceTypeId": 1, "unknown13": True,
            "deviceTypeName": DEVICE_TYPE, "id": None},
            learned.signature(RECORD_CLASS, registry)))
    nulls = {name: None for name in ("identifyLine", "phone", "reservedDeviceId",
                                     *(f"unknown{i:02d}" for i in range(6, 17)))}
    return session.live.make(FORM_CLASS, {
        "devices": devices, "unknownList02": [], **nulls,
        # the captured create request shares the record's Long (a back-reference, -4)
        "id": owner if devices else abonent_id,
    }, learned.signature(FORM_CLASS, registry))


def update_request(learned: Learned, session: BrowserSession, form: Instance) -> Request:
    """``updateForm(form, <device form>)`` with the live DISPATCHER signature and ordinal."""
    template = learned.template(DISPATCHER, "getForm")
    kind = parse_request(template.request_body, session.registry).param(1)
    if DEVICE_FORM not in learned.ordinals or not isinstance(kind, EnumValue):
        raise FlowError("the device form's DISPATCHER ordinal is not known for this build")
    registry = session.registry
    request = Request(template.call[0] if template.call else DISPATCHER, "updateForm", [
        Param(learned.signature(RECORD_BASE, registry), form),
        Param(kind.signature, EnumValue(kind.signature, learned.ordinals[DEVICE_FORM]))],
        learned.module_base or "", "")
    return learned.retarget(request)


# --- applying --------------------------------------------------------------------------------


async def _send(session: BrowserSession, item: PlanItem, row: AbonentRow) -> None:
    """One mutation, once. Raises what the call raised; never retries by itself."""
    before = item.before
    assert before is not None
    if item.action in ("enable", "disable"):
        device_id = before.device_id
        if device_id is None:
            raise FlowError("no device id to switch")
        on = item.action == "enable"
        # [R] setDeviceEnabled returns void: //OK[[],0,7]
        await session.call(lambda learned: switch_request(learned, session, device_id, on),
                           read_only=False, returns="void")
        return
    device: int | None = None
    if item.action == "add-device":
        # fresh: its reserved device id
        form = session.live.view(await read_form(session, row.abonent_id), DEVICE_FORM_CLASS)
        device = form.get("reservedDeviceId")
        if device is None:
            raise FlowError("the form names no device id for a new device")

    def build(learned: Learned) -> Request:  # rebuilt per attempt: always the live build
        form = device_form(learned, session, abonent_id=row.abonent_id,
                           enterprise_id=before.enterprise_id,
                           identify_line=before.identify_line, device_id=device)
        return update_request(learned, session, form)

    await session.call(build, read_only=False)


async def apply_item(session: BrowserSession, item: PlanItem, row: AbonentRow,
                     audit: AuditLog | None, *, first_via_ui: bool = False) -> ItemResult:
    """Apply one planned change, confirm it by reading back, and audit it."""
    detail = ""
    sent = throttled = 0
    via_ui = first_via_ui
    while True:
        try:
            if via_ui:
                via_ui = False
                exchange = await navigate.toggle_device(session, row.abonent_id,
                                                        item.action == "enable")
                body = exchange.response_body or ""
                if exchange.status == 200 and body.startswith("//EX"):
                    exchange.response(session.registry).raise_for_exception(
                        service="AbonentDeviceFormGwtService", method="setDeviceEnabled")
                if exchange.status != 200 or not body.startswith("//OK"):
                    raise HTTPStatusError(exchange.status or 0, "", service="AbonentDeviceForm",
                                          method="setDeviceEnabled")
                detail = "switched in the page"
            else:
                sent += 1
                await _send(session, item, row)
            break
        except (TransportError, HTTPStatusError, FlowError, ProtocolError) as exc:
            if isinstance(exc, FlowError) and sent:
                return _finish(session, item, "failed", str(exc), None, audit)
            if getattr(exc, "status", None) in (429, 503) and throttled < THROTTLE_LIMIT:
                # refused before the service ran (throttling): does not count as an attempt,
                # but the state is still read before anything is sent again
                throttled += 1
                sent = max(0, sent - 1)
                policy = session.rpc.policy if session.rpc is not None else CallPolicy()
                await asyncio.sleep(policy.delay(min(throttled, 6)))
            # the answer was lost, the server failed, or the page misbehaved: the change may or
            # may not have happened. Read the truth first; send again only if it did not.
            log.warning("mutation outcome unknown; re-reading", extra={
                "number": item.number, "action": item.action, "error": str(exc)})
            try:
                current = await read_trunk(session, row)
            except VatsError as read_error:
                return _finish(session, item, "failed", f"{exc}; re-read failed: {read_error}",
                               None, audit)
            if current is not None and reached(current, item.action):
                return _finish(session, item, "done", f"confirmed after: {exc}", current, audit)
            if sent >= 2:
                return _finish(session, item, "failed", f"not applied after {sent} attempts: {exc}",
                               current, audit)
        except RemoteException as exc:
            return _finish(session, item, "failed", f"refused: {exc}", None, audit)
        except VatsError as exc:
            return _finish(session, item, "failed", f"{type(exc).__name__}: {exc}", None, audit)
    try:
        after = await read_trunk(session, row)
    except VatsError as exc:
        return _finish(session, item, "failed", f"applied, but the read-back failed: {exc}",
                       None, audit)
    if after is None or not reached(after, item.action):
        return _finish(session, item, "failed", "the read-back does not show the change",
                       after, audit)
    return _finish(session, item, "done", detail or "applied and read back", after, audit)


def _snapshot(trunk: Trunk | None) -> dict[str, Any] | None:
    return None if trunk is None else trunk.model_dump(mode="json", exclude={"sip_password"})


def _finish(session: BrowserSession, item: PlanItem, result: Literal["done", "failed"],
            detail: str, after: Trunk | None, audit: AuditLog | None) -> ItemResult:
    if audit is not None:
        known = after or item.before
        audit.record(address=session.settings.address, account=session.settings.login or "",
                     number=item.number, abonent_id=item.abonent_id,
                     device_id=known.device_id if known is not None else None,
                     action=item.action, before=_snapshot(item.before), after=_snapshot(after),
                     result=result, detail=session.redactor.text(detail))
    return ItemResult(item, result, session.redactor.text(detail), after)


async def apply_plan(session: BrowserSession, action: Action, plan: list[PlanItem], *,
                     audit: AuditLog | None = None, use_ui_first: bool = True,
                     progress: Callable[[int, int], None] | None = None) -> ChangeReport:
    """Apply every ``apply`` item; every item ends up done, skipped or failed — none lost."""
    report = ChangeReport(action, plan)
    rows = {row.abonent_id: row for row in await list_abonents(session)}
    todo = [item for item in plan if item.status == "apply"]
    results: dict[int, ItemResult] = {}
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(todo))

    async def run(index: int, item: PlanItem, via_ui: bool) -> None:
        row = rows.get(item.abonent_id or 0)
        if row is None:
            results[index] = ItemResult(item, "failed", "the abonent disappeared before applying")
        else:
            try:
                results[index] = await apply_item(session, item, row, audit, first_via_ui=via_ui)
            except VatsError as exc:  # anything unforeseen is a failed item, never a lost one
                results[index] = _finish(session, item, "failed", f"{type(exc).__name__}: {exc}",
                                         None, audit)
        tick()

    indexed = list(enumerate(plan))
    pending = [(i, item) for i, item in indexed if item.status == "apply"]
    if pending and use_ui_first and action in ("enable", "disable"):
        first_index, first_item = pending.pop(0)
        await run(first_index, first_item, True)  # learn the switch from the real page
    await asyncio.gather(*(run(i, item, False) for i, item in pending))
    for index, item in indexed:
        if item.status != "apply":
            results[index] = ItemResult(item, "skipped", item.reason)
    report.results = [results[i] for i, _ in indexed]
    return report
