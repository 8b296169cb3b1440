"""From two snapshots of an account to CloudEvents 1.0 — pure functions, no I/O.

Why pure: what an integrator's PBX does with a line depends on these rules alone (a dropped
line, a new password), so they are tested as tables of before/after without a browser, and the
local and distributed engines produce the same events from the same snapshots.

Rules an integrator relies on:

* the first snapshot of an account says ``vats.trunk.appeared`` for each trunk; an unchanged
  account says nothing;
* a trunk whose form could not be read this cycle ("unread") keeps its last known state and says
  nothing — only a trunk missing from a complete listing has disappeared, and a failed inventory
  makes no snapshot at all;
* an event's ``id`` is a UUID made from (account, phone, type, snapshot number): the same event
  has the same id in every sink, after a restart and when re-emitted.

SIP passwords are carried in ``data`` as ``sip_password`` with, beside them, a keyed fingerprint
(``sip_password_fingerprint``, HMAC-SHA256 under the store's own key): ``render`` drops the
passwords for sinks without ``include_secrets``, the fingerprint still shows that one changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from scraper.models import Trunk

SPEC_VERSION = "1.0"
#: the namespace of event ids (uuid5): fixed forever, or ids change between versions
ID_NAMESPACE = uuid.UUID("6f1c2a4e-9b7d-5e3f-8a21-7c4d0e9b1f35")

APPEARED = "vats.trunk.appeared"
DISAPPEARED = "vats.trunk.disappeared"
DEVICE_CREATED = "vats.device.created"
DEVICE_REMOVED = "vats.device.removed"
DEVICE_ENABLED = "vats.device.enabled"
DEVICE_DISABLED = "vats.device.disabled"
CREDENTIALS_CHANGED = "vats.credentials.changed"
FLAGS_CHANGED = "vats.flags.changed"
ACCOUNT_FAILED = "vats.account.failed"
ACCOUNT_RECOVERED = "vats.account.recovered"
EVENT_TYPES = (APPEARED, DISAPPEARED, DEVICE_CREATED, DEVICE_REMOVED, DEVICE_ENABLED,
               DEVICE_DISABLED, CREDENTIALS_CHANGED, FLAGS_CHANGED, ACCOUNT_FAILED,
               ACCOUNT_RECOVERED)

FLAGS = ("active", "blocked", "marked_for_deletion")
CREDENTIALS = ("sip_login", "sip_password")
SECRET_FIELDS = ("sip_password",)


class TrunkState(BaseModel):
    """What a snapshot keeps of one trunk: everything an integrator's PBX reacts to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phone: str
    abonent_id: int
    identify_line: str
    sip_login: str | None
    sip_password: str | None
    has_device: bool
    device_enabled: bool
    device_id: int | None
    active: bool
    blocked: bool
    marked_for_deletion: bool

    @classmethod
    def of(cls, trunk: Trunk) -> TrunkState:
        password = trunk.sip_password.get_secret_value() if trunk.sip_password else None
        return cls(phone=trunk.phone, abonent_id=trunk.abonent_id,
                   identify_line=trunk.identify_line, sip_login=trunk.sip_login,
                   sip_password=password, has_device=trunk.has_device,
                   device_enabled=trunk.device_enabled, device_id=trunk.device_id,
                   active=trunk.active, blocked=trunk.blocked,
                   marked_for_deletion=trunk.marked_for_deletion)


States = Mapping[str, TrunkState]


@dataclass(frozen=True)
class Change:
    """One event before it is dated and numbered: what happened to which phone."""

    type: str
    phone: str | None
    before: TrunkState | None
    after: TrunkState | None
    changed: tuple[str, ...] = ()
    detail: Mapping[str, Any] | None = None


def merge_unread(before: States | None, read: States, unread: Iterable[str]) -> dict[str, TrunkState]:
    """This cycle's states: what was read, plus the last known state of each unread trunk (a
    trunk never seen before and unread now has none yet: it appears when it is read)."""
    states = dict(read)
    for phone in unread:
        if before is not None and phone in before and phone not in states:
            states[phone] = before[phone]
    return states


def diff(before: States | None, after: States, unread: Iterable[str] = ()) -> list[Change]:
    """The changes from ``before`` (None: the account's first snapshot) to ``after``.

    ``after`` is the merged state (``merge_unread``); phones in ``unread`` never change and
    never disappear. Ordered by phone, then by type, so the outbox order is stable.
    """
    skipped = set(unread)
    changes: list[Change] = []
    old = before or {}
    for phone in sorted(set(old) | set(after)):
        if phone in skipped:
            continue
        was, now = old.get(phone), after.get(phone)
        if was is None and now is not None:
            changes.append(Change(APPEARED, phone, None, now))
        elif was is not None and now is None:
            changes.append(Change(DISAPPEARED, phone, was, None))
        elif was is not None and now is not None and was != now:
            changes.extend(_trunk_changes(was, now))
    return changes


def _trunk_changes(was: TrunkState, now: TrunkState) -> list[Change]:
    phone = now.phone
    found: list[Change] = []
    if was.has_device != now.has_device:
        kind = DEVICE_CREATED if now.has_device else DEVICE_REMOVED
        found.append(Change(kind, phone, was, now, ("has_device",)))
    elif now.has_device:
        if was.device_enabled != now.device_enabled:
            kind = DEVICE_ENABLED if now.device_enabled else DEVICE_DISABLED
            found.append(Change(kind, phone, was, now, ("device_enabled",)))
        fields = _changed(was, now, CREDENTIALS)
        if fields or was.device_id != now.device_id:
            found.append(Change(CREDENTIALS_CHANGED, phone, was, now, fields))
    flags = _changed(was, now, FLAGS)
    if flags:
        found.append(Change(FLAGS_CHANGED, phone, was, now, flags))
    return found


def _changed(was: TrunkState, now: TrunkState, fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in fields if getattr(was, f) != getattr(now, f))


def event_id(account: str, phone: str | None, type_: str, snapshot: int) -> str:
    """Deterministic: the same (account, phone, type, snapshot) is the same id everywhere."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{account}\n{phone or ''}\n{type_}\n{snapshot}"))


def source_of(account: str) -> str:
    """The CloudEvents ``source`` of an account's events (a URN naming it)."""
    return f"urn:vats:account:{account}"


def fingerprint(key: bytes, secret: str | None) -> str | None:
    """A keyed fingerprint: equal passwords look equal, and nothing is learnt from it without
    the key (a plain hash of a short SIP password can be brute-forced)."""
    if secret is None:
        return None
    digest = hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:24]}"


def _state_data(state: TrunkState | None, key: bytes) -> dict[str, Any] | None:
    if state is None:
        return None
    data = state.model_dump()
    data["sip_password_fingerprint"] = fingerprint(key, state.sip_password)
    return data


def change_data(change: Change, key: bytes) -> dict[str, Any]:
    """``before``, ``after`` and ``changed`` of a change's event data; ``vats diff`` summarises
    its changes from the same shape as ``vats history`` its events (fingerprints included)."""
    data: dict[str, Any] = {"before": _state_data(change.before, key),
                            "after": _state_data(change.after, key)}
    if change.changed:
        data["changed"] = list(change.changed)
    return data


def cloud_event(change: Change, *, account: str, snapshot: int, time: datetime,
                key: bytes) -> dict[str, Any]:
    """The CloudEvent of a change, with secrets (the outbox keeps this; ``render`` per sink)."""
    data: dict[str, Any] = {"account": account, "phone": change.phone, "snapshot": snapshot,
                            **change_data(change, key)}
    if change.detail:
        data.update(change.detail)
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id(account, change.phone, change.type, snapshot),
        "source": source_of(account),
        "type": change.type,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    if change.phone is not None:
        event["subject"] = change.phone
    event["data"] = data
    return event


def render(event: Mapping[str, Any], *, include_secrets: bool) -> bytes:
    """The event as one sink gets it: without SIP passwords unless the sink asked for them."""
    if not include_secrets:
        event = _without_secrets(event)
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _without_secrets(event: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(event.get("data") or {})
    for side in ("before", "after"):
        state = data.get(side)
        if isinstance(state, dict):
            data[side] = {k: v for k, v in state.items() if k not in SECRET_FIELDS}
    return {**event, "data": data}
