"""Changes: switch trunk devices on/off, create and remove SIP devices — safely.

A created device gets a NEW SIP login and password from the cabinet (a removed one's are gone
for good): the plan warns about it (``PlanItem.warning``), the result shows the new login.

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
from scraper.browser.session import BrowserSession
from scraper.errors import (
    AuditError,
    FlowError,
    HTTPStatusError,
    NotGwtAnswerError,
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
# the captured "add SIP device" request's constants (fixtures/recorded/captures.py)
DEVICE_NAME, DEVICE_TYPE = "SIP-phone", "Generic SIP Phone"


@dataclass
class PlanItem:
    """One requested number: what it is now, and what will be done.

    ``warning``: what applying it does besides reaching its target that a user would not
    expect (new SIP credentials, a trunk marked for deletion) — said before it is applied.
    ``blocked`` / ``marked_for_deletion``: the abonent's flags (``None`` for an unknown number).
    """

    number: str
    action: Action
    status: Literal["apply", "skip", "unknown", "not-a-trunk"]
    reason: str
    abonent_id: int | None = None
    before: Trunk | None = None
    warning: str = ""
    blocked: bool | None = None
    marked_for_deletion: bool | None = None

    @property
    def target(self) -> str:
        return {"enable": "device on", "disable": "device off", "add-device": "device exists",
                "remove-device": "no device"}[self.action]


PLAN_STATUSES = ("apply", "skip", "unknown", "not-a-trunk")


@dataclass
class ItemResult:
    item: PlanItem
    result: Literal["done", "skipped", "failed"]
    detail: str
    after: Trunk | None = None

    @property
    def issued_login(self) -> str | None:
        """The SIP login a done ``add-device`` issued (a new one, never the trunk's old login);
        its password is ``after.sip_password`` (a ``SecretStr``)."""
        if self.item.action != "add-device" or self.result != "done" or self.after is None:
            return None
        return self.after.sip_login


@dataclass
class ChangeReport:
    action: Action
    plan: list[PlanItem]
    results: list[ItemResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if r.result == "failed"]

    @property
    def unmatched(self) -> list[PlanItem]:
        """Named numbers that are no trunk of the account (``unknown``, ``not-a-trunk``)."""
        return [i for i in self.plan if i.status in ("unknown", "not-a-trunk")]

    def counts(self) -> dict[str, int]:
        """What was done: ``done`` / ``skipped`` / ``failed`` (all 0 when nothing was applied)."""
        counts = {"done": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            counts[result.result] += 1
        return counts

    def plan_counts(self) -> dict[str, int]:
        """What the plan says: to ``apply``, to ``skip``, ``unknown``, ``not-a-trunk``."""
        counts = dict.fromkeys(PLAN_STATUSES, 0)
        for item in self.plan:
            counts[item.status] += 1
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
    if action == "disable" and not trunk.has_device:
        return "skip", "no SIP device: nothing to switch off"
    if action == "enable" and not trunk.has_device:
        return "skip", "no SIP device (run add-device first)"
    return "apply", f"{trunk.state} → {action}"


#: said in the plan of every add-device item: a device removed and created again does not get
#: its old credentials back, so whatever used them must be given the new ones
NEW_CREDENTIALS = "a new SIP login and password will be issued (the old ones do not come back)"


def warn(trunk: Trunk, action: Action) -> str:
    """What applying ``action`` to ``trunk`` does that its target does not say."""
    notes = []
    if action == "add-device":
        notes.append(NEW_CREDENTIALS)
    elif action == "remove-device" and trunk.has_device:
        notes.append(f"SIP login {trunk.sip_login or '?'} and its password are deleted for "
                     "good: add-device later issues a new SIP login and password")
    if trunk.marked_for_deletion:
        notes.append("marked for deletion")
    return "; ".join(notes)


#: an inactive trunk ``--all-inactive`` would change, but which is marked for deletion
LEFT_OUT = "marked for deletion: left out (--include-marked takes it in)"


# --- planning --------------------------------------------------------------------------------


async def read_trunk(session: BrowserSession, row: AbonentRow) -> Trunk | None:
    item = trunk_from_form(row, await read_form(session, row.abonent_id), session.enterprise_id,
                           session.live)
    return item if isinstance(item, Trunk) else None


async def make_plan(session: BrowserSession, action: Action, numbers: Iterable[str] = (), *,
                    all_inactive: bool = False, include_marked: bool = False) -> list[PlanItem]:
    """The plan for ``numbers`` (or every inactive trunk), from state read fresh now.

    ``all_inactive``: every inactive trunk instead of named numbers (enable and add-device
    only; naming numbers as well is a ``UsageError``, not a silent narrowing), listed when there
    is something to do. Those marked for deletion are left out unless ``include_marked``:
    listed as skipped, saying so.
    """
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}")
    named = list(numbers)
    if all_inactive and action not in ("enable", "add-device"):
        raise UsageError("--all-inactive only goes with enable and add-device")
    if all_inactive and named:
        raise UsageError("--all-inactive takes no numbers: name the numbers or use "
                         "--all-inactive, not both")
    rows = await list_abonents(session)
    by_phone = {row.phone: row for row in rows if row.phone}
    if all_inactive:
        wanted = [row.phone for row in rows if row.is_trunk and not row.active and row.phone]
    else:
        wanted = list(dict.fromkeys(normalize_phone(n) for n in named))
    if not wanted:
        return []
    await ensure_device_form(session)

    async def one(number: str) -> PlanItem:
        row = by_phone.get(number)
        if row is None:
            return PlanItem(number, action, "unknown", "no abonent with this number")
        blocked, marked = row.blocked, row.marked_for_deletion
        if not row.is_trunk:
            return PlanItem(number, action, "not-a-trunk", "an ordinary abonent, not a SIM trunk",
                            row.abonent_id, blocked=blocked, marked_for_deletion=marked)
        trunk = await read_trunk(session, row)
        if trunk is None:
            return PlanItem(number, action, "not-a-trunk", "no mobsip_ identify line",
                            row.abonent_id, blocked=blocked, marked_for_deletion=marked)
        status, reason = decide(trunk, action)
        if status == "apply" and all_inactive and marked and not include_marked:
            status, reason = "skip", LEFT_OUT
        return PlanItem(number, action, status, reason, row.abonent_id, trunk,
                        warning=warn(trunk, action) if status == "apply" else "",
                        blocked=blocked, marked_for_deletion=marked)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(n)) for n in wanted]
    plan = [task.result() for task in tasks]
    if all_inactive:  # what there is to do, and what was left out of it: the rest is no news
        plan = [item for item in plan if item.status == "apply" or item.reason == LEFT_OUT]
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


class NotStarted(VatsError):
    """The batch stopped before this item's change was sent (e.g. the audit log failed)."""


@dataclass
class Batch:
    """What the items of one bulk change share: the audit log, and whether new mutations may
    still start (they may not once the audit cannot be written: a change nobody can account
    for is worse than one not made)."""

    session: BrowserSession
    audit: AuditLog | None = None
    stopped: AuditError | None = None

    def admit(self) -> None:
        """Raise ``NotStarted`` once the batch is stopped: asked right before a change's first
        send leaves (with its slot: items waiting for one are not yet started)."""
        if self.stopped is not None:
            raise NotStarted(f"not started: {self.stopped}")

    def finish(self, item: PlanItem, result: Literal["done", "failed", "skipped"], detail: str,
               after: Trunk | None, *, settled: bool = False) -> ItemResult:
        """The item's result, audited when its change was attempted (a failed audit stops the
        batch; the result still stands and says it was not audited)."""
        detail = self.session.redactor.text(detail)
        if result == "failed" and after is None and not settled:
            return ItemResult(item, result, detail, after)  # audited once settled (``settle``)
        if self.audit is not None and result != "skipped":
            try:
                self._record(item, result, detail, after)
            except AuditError as exc:
                if self.stopped is None:
                    log.error("the audit log failed; no further change is started",
                              extra={"error": str(exc)})
                    self.stopped = exc
                detail += "; NOT AUDITED: the audit log cannot be written"
        return ItemResult(item, result, detail, after)

    def _record(self, item: PlanItem, result: str, detail: str, after: Trunk | None) -> None:
        assert self.audit is not None
        known = after or item.before
        settings = self.session.settings
        self.audit.record(address=settings.address, account=settings.login or "",
                          number=item.number, abonent_id=item.abonent_id,
                          device_id=known.device_id if known is not None else None,
                          action=item.action, before=_snapshot(item.before),
                          after=_snapshot(after), result=result, detail=detail)


async def apply_item(session: BrowserSession, item: PlanItem, row: AbonentRow, batch: Batch,
                     *, via_ui: bool = False) -> ItemResult:
    """One planned change: send → on a lost answer re-read (send again only if it is not
    there) → read back → finish. Retries, throttling, re-login and re-learn are the session's
    (``RpcCaller``); this says only what to send and how to tell it is done."""
    seen: list[Trunk | None] = []  # what the last read of the trunk showed

    async def applied() -> bool:
        seen.append(await read_trunk(session, row))
        return seen[-1] is not None and reached(seen[-1], item.action)

    try:
        build, returns = await _builder(session, item, row)
        detail, unknown = "", None
        if via_ui:
            batch.admit()
            try:
                await _switch_in_page(session, item, row)
                detail = "switched in the page"
            except (FlowError, TransportError, HTTPStatusError, NotGwtAnswerError) as exc:
                unknown = exc  # the app's call may or may not have switched it: read first
        if not detail:
            sent = await session.mutate(build, applied=applied, unknown=unknown,
                                        admit=batch.admit, returns=returns)
            if sent == "confirmed":
                return batch.finish(item, "done", "confirmed by reading after a lost answer",
                                    seen[-1])
    except NotStarted as exc:
        return batch.finish(item, "skipped", str(exc), None)
    except RemoteException as exc:
        return batch.finish(item, "failed", f"refused: {exc}", seen[-1] if seen else None)
    except VatsError as exc:
        return batch.finish(item, "failed", f"{type(exc).__name__}: {exc}",
                            seen[-1] if seen else None)
    return await _read_back(session, item, row, batch, detail or "applied and read back")


async def _read_back(session: BrowserSession, item: PlanItem, row: AbonentRow, batch: Batch,
                     detail: str) -> ItemResult:
    try:
        after = await read_trunk(session, row)
    except VatsError as exc:
        return batch.finish(item, "failed", f"applied, but the read-back failed: {exc}", None)
    if after is None or not reached(after, item.action):
        return batch.finish(item, "failed", "the read-back does not show the change", after)
    return batch.finish(item, "done", detail, after)


async def _builder(session: BrowserSession, item: PlanItem,
                   row: AbonentRow) -> tuple[Callable[[Learned], Request], str | None]:
    """How to build this item's mutation on whatever build is live when it is sent, and what
    it returns when the answer cannot tell (``void``)."""
    before = item.before
    if before is None:
        raise FlowError("the plan has no state for this item")
    if item.action in ("enable", "disable"):
        device_id = before.device_id
        if device_id is None:
            raise FlowError("no device id to switch")
        on = item.action == "enable"
        # [R] setDeviceEnabled returns void: //OK[[],0,7]
        return (lambda learned: switch_request(learned, session, device_id, on)), "void"
    device: int | None = None
    if item.action == "add-device":  # the form's reserved id for a new device, read fresh
        form = session.live.view(await read_form(session, row.abonent_id), DEVICE_FORM_CLASS)
        device = form.get("reservedDeviceId")
        if device is None:
            raise FlowError("the form names no device id for a new device")

    def build(learned: Learned) -> Request:
        form = device_form(learned, session, abonent_id=row.abonent_id,
                           enterprise_id=before.enterprise_id,
                           identify_line=before.identify_line, device_id=device)
        return update_request(learned, session, form)

    return build, None


async def _switch_in_page(session: BrowserSession, item: PlanItem, row: AbonentRow) -> None:
    """Move the Devices page's switch as a user does; the app's call judged as ours are."""
    async with session.page_turn():
        exchange = await navigate.toggle_device(session, row.abonent_id, item.action == "enable")
    session.check_app_answer(exchange)


def _snapshot(trunk: Trunk | None) -> dict[str, Any] | None:
    return None if trunk is None else trunk.model_dump(mode="json", exclude={"sip_password"})


async def apply_plan(session: BrowserSession, action: Action, plan: list[PlanItem], *,
                     audit: AuditLog | None = None, use_ui_first: bool = True,
                     progress: Callable[[int, int], None] | None = None) -> ChangeReport:
    """Apply every ``apply`` item; every item ends up done, skipped or failed — none lost.

    Raises ``AuditError`` (carrying the full report) when the audit log could not be written:
    from then on no new change was started, those in flight were finished and reported.
    """
    report = ChangeReport(action, plan)
    batch = Batch(session, audit)
    todo = [(i, item) for i, item in enumerate(plan) if item.status == "apply"]
    if todo and audit is not None:
        audit.check_writable()  # before the first mutation, not after it
    rows = {row.abonent_id: row for row in await list_abonents(session)} if todo else {}
    results: dict[int, ItemResult] = {}

    async def run(index: int, item: PlanItem, via_ui: bool) -> None:
        row = rows.get(item.abonent_id or 0)
        if row is None:
            results[index] = ItemResult(item, "failed", "the abonent disappeared before applying")
        else:
            results[index] = await apply_item(session, item, row, batch, via_ui=via_ui)
        if progress:
            progress(len(results), len(todo))

    if todo and use_ui_first and action in ("enable", "disable"):
        await run(*todo.pop(0), True)  # learn the switch from the real page
    async with asyncio.TaskGroup() as group:  # run() never raises: each item ends in a result
        for index, item in todo:
            group.create_task(run(index, item, False))
    await _settle(session, results, rows, batch)
    report.results = [results.get(i) or ItemResult(item, "skipped", item.reason)
                      for i, item in enumerate(plan)]
    if batch.stopped is not None:
        raise AuditError(str(batch.stopped), path=batch.stopped.path, report=report)
    return report


async def _settle(session: BrowserSession, results: dict[int, ItemResult],
                  rows: dict[int, AbonentRow], batch: Batch) -> None:
    """Failed items whose state no read has shown yet: read it now, so the report and the
    audit say what the cabinet shows (a change that did happen is done, whatever failed on the
    way). An item whose state still cannot be read stays failed, audited as such."""
    for index, result in list(results.items()):
        row = rows.get(result.item.abonent_id or 0)
        if result.result != "failed" or result.after is not None or row is None:
            continue
        try:
            now = await read_trunk(session, row)
        except VatsError as exc:
            now, detail = None, f"{result.detail}; its state could not be read: {exc}"
        else:
            detail = result.detail
        if now is not None and reached(now, result.item.action):
            results[index] = batch.finish(result.item, "done",
                                          f"the cabinet shows it done ({detail})", now)
        else:
            results[index] = batch.finish(result.item, "failed", detail, now, settled=True)
