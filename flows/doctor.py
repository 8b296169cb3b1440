"""``vats doctor``: hold our reconstruction of the cabinet against the live build.

Everything docs/reconstruction.md says that the live build can confirm or refute — services,
methods and their parameter types, class layouts, type signatures, the enum ordinals the flows
use — is checked and reported as confirmed, differs (how) or not checkable. What the flows need
decides the verdict: a difference there means vats would stop on this build.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from flows import navigate
from flows.trunks import DEVICE_FORM as DEVICE_FORM_ORDINAL
from flows.trunks import ensure_device_form
from scraper import profile
from scraper.browser.capture import Exchange
from scraper.browser.livebuild import LiveBuild
from scraper.browser.session import BrowserSession
from scraper.errors import ProtocolError
from scraper.gwt import EnumValue, Instance, Registry
from scraper.gwt.permutation import DerivedBuild
from scraper.gwt.permutation.overlay import ClassDrift
from scraper.gwt.types import strip_crc

log = logging.getLogger(__name__)

Status = Literal["confirmed", "differs", "not checkable"]


@dataclass(frozen=True)
class Finding:
    """One item of our reconstruction, and what the live build says about it."""

    item: str
    ours: str
    status: Status
    live: str = ""
    needed: bool = False  # a flow depends on it: a difference stops vats on this build


@dataclass(frozen=True)
class Observed:
    """What the app's own calls showed while the doctor walked the UI."""

    list_exchange: Exchange | None
    form_exchange: Exchange | None


async def observe(session: BrowserSession) -> Observed:
    """Walk the Abonents tab and one Devices page: the app's own list and getForm calls."""
    listed = await navigate.abonents_tab(session)
    await ensure_device_form(session, recall=False)  # the app's own getForm, not a note
    form = session.capture.latest(navigate.GET_FORM)
    return Observed(listed, form)


def examine(live: LiveBuild, session_ordinals: dict[str, int], observed: Observed,
            registry: Registry) -> list[Finding]:
    """Every checkable item, in the order of docs/reconstruction.md."""
    derived = live.derived
    if derived is None:
        return [Finding("the live build's layouts", "derived from its permutation",
                        "not checkable", "the permutation could not be derived from", True)]
    findings = _services(derived)
    findings += _classes(live, derived)
    findings += _answers(live, observed, registry)
    findings += _ordinals(session_ordinals, observed, registry)
    return findings


def healthy(findings: list[Finding]) -> bool:
    """Nothing the flows need differs (or cannot be checked)."""
    return not any(f.needed and f.status != "confirmed" for f in findings)


# --- services ---------------------------------------------------------------------------------

def _services(derived: DerivedBuild) -> list[Finding]:
    out: list[Finding] = []
    for path, (interface, methods, basis) in profile.SERVICES.items():
        svc = derived.service(path)
        item = f"service {path}"
        if svc is None:
            out.append(Finding(item, f"servlet path [{basis}]", "differs",
                               "no proxy of the live build uses this path", True))
            continue
        out.append(Finding(f"{item}: interface", f"{interface} [{basis}]",
                           _status(svc.interface == interface, svc.interface),
                           svc.interface or "unknown", True))
        out.append(Finding(f"{item}: policy strong name", "learned live", "confirmed",
                           svc.policy or "", False))
        live_methods = {m.name: m.params for m in svc.methods}
        for method, params in methods.items():
            got = live_methods.get(method)
            mitem = f"{item}: {method}({', '.join(strip_crc(p).rsplit('.', 1)[-1] for p in params)})"
            if got is None:
                out.append(Finding(mitem, f"[{basis}]", "differs" if live_methods else
                                   "not checkable", "no such method" if live_methods
                                   else "the proxy's methods could not be read", True))
                continue
            out.append(Finding(mitem, ", ".join(params) + f" [{basis}]",
                               "confirmed" if _params_agree(params, got) else "differs",
                               ", ".join(got), True))
    return out


def _params_agree(ours: tuple[str, ...], live: tuple[str, ...]) -> bool:
    """Same classes in the same order; CRCs compared where ours gives one."""
    if len(ours) != len(live):
        return False
    return all(o == lv if "/" in o else strip_crc(lv) == o for o, lv in zip(ours, live, strict=True))


def _status(ok: bool, live: object) -> Status:
    if live is None:
        return "not checkable"
    return "confirmed" if ok else "differs"


# --- classes ----------------------------------------------------------------------------------

def _classes(live: LiveBuild, derived: DerivedBuild) -> list[Finding]:
    out: list[Finding] = []
    assert live.overlaid is not None
    declared = live.signatures
    for drift in live.overlaid.drift:
        needs = profile.NEEDS.get(drift.schema_class, frozenset())
        if drift.live_class is None and drift.schema_class in declared:
            # declared by a proxy but without a table entry: abstract, so its slots travel
            # only inside its subclasses, where they are checked
            out.append(Finding(f"layout of {_short(drift.schema_class)}",
                               ", ".join(f"{s.name}:{s.kind}" for s in drift.ours),
                               "not checkable", "no table entry of its own (abstract); its "
                               "slots are checked in its subclasses", False))
            continue
        out.append(_class_finding(drift, needs))
        entry = derived.types.get(drift.schema_class)
        ours = profile.schema().get(drift.schema_class, {}).get("signature")
        if entry is not None and ours:
            out.append(Finding(f"type signature of {_short(drift.schema_class)}", ours,
                               "confirmed" if entry.signature == ours else "differs",
                               entry.signature, False))
    return out


def _class_finding(drift: ClassDrift, needs: frozenset[str]) -> Finding:
    ours = ", ".join(f"{s.name}:{s.kind}" for s in drift.ours)
    item = f"layout of {_short(drift.schema_class)}" + (
        "" if drift.bound_by in ("name", "none") else f" (bound by {drift.bound_by} to "
        f"{drift.live_class})")
    if drift.live_class is None:
        return Finding(item, ours, "differs", "no such class in the live build", bool(needs))
    live = ", ".join(s.kind for s in drift.live)
    if drift.same:
        return Finding(item, ours, "confirmed", live, bool(needs))
    missing = needs - drift.resolved.keys()
    how = drift.describe()
    return Finding(item, ours, "differs", f"{live} — {how}", bool(missing))


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


# --- answers: classes bound by structure, where the answer carries them -----------------------

def _answers(live: LiveBuild, observed: Observed, registry: Registry) -> list[Finding]:
    out: list[Finding] = []
    pairs = [(observed.list_exchange, ("AbonentBrowserGwtService", "list")),
             (observed.form_exchange, ("DispatcherService", "getForm"))]
    for exchange, call in pairs:
        expected = profile.RETURNS[call]
        value = _answer(exchange, registry)
        if not isinstance(value, Instance) or live.binder is None:
            out.append(Finding(f"answer of {call[0]}.{call[1]}", _short(expected),
                               "not checkable", "no answer seen", False))
            continue
        out += _bound(live, value, expected)
    return out


def _bound(live: LiveBuild, value: Instance, expected: str) -> list[Finding]:
    assert live.binder is not None
    drift = live.binder.bind(value.class_name, expected)
    needs = profile.NEEDS.get(expected, frozenset())
    findings = [_class_finding(drift, needs)] if drift.bound_by == "structure" else []
    for (outer, field_name), element in profile.ELEMENTS.items():
        if outer != expected or field_name not in drift.resolved:
            continue
        position = drift.resolved[field_name]
        names = [spec.name for spec in live.registry.fields_of(value.class_name)]
        items = value.get(names[position]) or []
        first = next((i for i in items if isinstance(i, Instance)), None)
        if first is not None:
            findings += _bound(live, first, element)
        elif profile.schema().get(element, {}).get("binding") == "structure":
            findings.append(Finding(f"layout of {_short(element)}", "", "not checkable",
                                    f"the answer's {field_name} was empty", False))
    return findings


def _answer(exchange: Exchange | None, registry: Registry) -> object:
    if exchange is None or exchange.response_body is None:
        return None
    try:
        return exchange.response(registry).value
    except ProtocolError as exc:
        log.warning("cannot decode the app's answer", extra={"error": str(exc)})
        return None


# --- ordinals ---------------------------------------------------------------------------------

def _ordinals(ordinals: dict[str, int], observed: Observed, registry: Registry) -> list[Finding]:
    out: list[Finding] = []
    learned = ordinals.get(DEVICE_FORM_ORDINAL)
    out.append(Finding("DISPATCHER ordinal of the device form",
                       "31 in the captured build (/4095484021) [F], learned live by vats",
                       "confirmed" if learned is not None else "not checkable",
                       str(learned) if learned is not None else "not learned", True))
    request = None
    if observed.list_exchange is not None:
        try:
            request = observed.list_exchange.request(registry)
        except ProtocolError:
            request = None
    state = None
    if request is not None and isinstance(request.param(0), Instance):
        state = next((v for v in request.param(0).fields.values() if isinstance(v, EnumValue)),
                     None)
    out.append(Finding("MIGRATION_STATE_TYPE ordinal in the list call", "0 [F]",
                       _status(state is not None and state.ordinal == 0,
                               state.ordinal if state else None),
                       str(state.ordinal) if state else "", False))
    return out
