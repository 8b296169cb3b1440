"""Names over derived layouts: a hand-written schema as an overlay, never as the truth.

The live build's layouts come from its permutation (``derive``); a schema file written by hand
(names, declared types) only *names* slots of them, and only where that is certain:

* a class is bound by its name (when the schema's name is fact) or, for a schema class marked
  ``"binding": "structure"`` (its name is our invention), to the live class an answer carries
  where the flow expects that schema class (``Binder.view``);
* a name applies to a live slot when the class, the slot's position and its kind agree. When the
  live class gained or lost fields, GWT's field order (sorted by name) keeps the others in order,
  so a name still applies where the schema's slots embed into the live ones in exactly one way
  at that slot; anything else stays unnamed (``f<i>``) and is reported as drift — never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scraper.errors import DriftError
from scraper.gwt.builtins import GWT_SCHEMAS
from scraper.gwt.permutation.model import (
    CODEC_KNOWS,
    NUMERIC_KINDS,
    DerivedBuild,
    Kind,
    Slot,
    declared_type,
)
from scraper.gwt.schema import ClassSchema, FieldSpec, Registry, gwt_registry
from scraper.gwt.types import parse_type
from scraper.gwt.values import Instance


@dataclass(frozen=True, slots=True)
class OverlaySlot:
    name: str
    type_name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class ClassDrift:
    """How one schema class compares with the live build."""

    schema_class: str
    live_class: str | None  # None: no live class matches
    bound_by: str  # "name", "structure" or "none"
    ours: tuple[OverlaySlot, ...]
    live: tuple[Slot, ...]
    resolved: dict[str, int] = field(default_factory=dict)  # our name → live slot position
    signature_changed: bool = False

    @property
    def unresolved(self) -> list[str]:
        return [s.name for s in self.ours if s.name not in self.resolved]

    @property
    def same(self) -> bool:
        return (self.live_class is not None and not self.signature_changed
                and len(self.ours) == len(self.live) and not self.unresolved)

    def report(self) -> str:
        """Our layout next to the live one, slot by slot (what a drift report shows)."""
        lines = [self.describe()]
        by_position = {pos: name for name, pos in self.resolved.items()}
        width = max(len(self.ours), len(self.live))
        lines.append(f"  {'#':>3}  {'ours':32} live")
        for i in range(width):
            ours = f"{self.ours[i].name}: {self.ours[i].kind}" if i < len(self.ours) else ""
            live = self.live[i].kind if i < len(self.live) else ""
            named = f"  ← {by_position[i]}" if i in by_position else ("  (unnamed)" if live else "")
            lines.append(f"  {i:>3}  {ours:32} {live}{named}")
        return "\n".join(lines)

    def describe(self) -> str:
        """One line: what differs, for logs and drift reports."""
        if self.live_class is None:
            return f"{self.schema_class}: no class of the live build matches it"
        if self.same:
            return f"{self.schema_class}: same as live {self.live_class} (bound by {self.bound_by})"
        parts = [f"{self.schema_class} ~ live {self.live_class} (bound by {self.bound_by})"]
        if self.signature_changed:
            parts.append("type signature changed")
        if len(self.live) != len(self.ours):
            parts.append(f"{len(self.ours)} slots ours, {len(self.live)} live")
        if self.unresolved:
            parts.append("not resolved: " + ", ".join(self.unresolved))
        return "; ".join(parts)


@dataclass(slots=True)
class Overlaid:
    """The registry to decode the live build with, and how each schema class fared."""

    registry: Registry
    drift: list[ClassDrift]
    unknown_live: list[str]  # live classes no schema class names

    def resolved(self, schema_class: str, names: set[str]) -> bool:
        """Whether every name of ``names`` resolves on every live class bound to it."""
        bound = [d for d in self.drift if d.schema_class == schema_class]
        return bool(bound) and all(
            d.live_class is not None and names <= d.resolved.keys() for d in bound)


def kind_of(type_name: str) -> Kind:
    """The slot kind a declared type is read with."""
    ref = parse_type(type_name)
    if ref.kind == "string":
        return "String"
    if ref.kind == "object":
        return "Object"
    return {"Z": "boolean", "B": "byte", "C": "char", "S": "short", "I": "int", "J": "long",
            "F": "float", "D": "double"}[ref.kind]  # type: ignore[return-value]


def compatible(ours: Kind, live: Kind) -> bool:
    if ours == live:
        return True
    return "numeric" in (ours, live) and ours in NUMERIC_KINDS and live in NUMERIC_KINDS


def _flat_overlay(schema: dict[str, Any], name: str) -> tuple[OverlaySlot, ...]:
    """Our slots of ``name``, own then inherited (GWT's own classes, such as Throwable's
    ``detailMessage``, from the codec's built-in schemas)."""
    out: list[OverlaySlot] = []
    seen: set[str] = set()
    current: str | None = name
    while current and current not in seen:
        entry: Any = schema.get(current)
        if not isinstance(entry, dict):
            entry = GWT_SCHEMAS.get(current)
        if not isinstance(entry, dict):
            break
        seen.add(current)
        for field_name, type_name in entry.get("fields", []):
            out.append(OverlaySlot(field_name, type_name, kind_of(type_name)))
        current = entry.get("extends")
    return tuple(out)


def _positions(ours: tuple[OverlaySlot, ...], live: tuple[Slot, ...]) -> dict[str, int]:
    """Our name → live position, where every order-keeping match agrees on it."""
    if len(ours) == len(live):  # same count: positions are fixed; a kind that differs is retyped
        return {o.name: i for i, (o, s) in enumerate(zip(ours, live, strict=True))
                if compatible(o.kind, s.kind)}
    if len(ours) < len(live):
        options = _embeddings([o.kind for o in ours], [s.kind for s in live])
        return {ours[i].name: next(iter(opts)) for i, opts in enumerate(options) if len(opts) == 1}
    # fields removed: each live slot takes one of ours; ours that no embedding uses are gone
    options = _embeddings([s.kind for s in live], [o.kind for o in ours])
    return {ours[next(iter(opts))].name: i for i, opts in enumerate(options) if len(opts) == 1}


def _embeddings(small: list[Kind], big: list[Kind]) -> list[set[int]]:
    """For each item of ``small``, the positions of ``big`` it takes in some order-keeping
    embedding of ``small`` into ``big`` (kind-compatible)."""
    n, m = len(small), len(big)
    # can[i][j]: small[i:] embeds into big[j:]
    can = [[False] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        can[n][j] = True
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            can[i][j] = can[i][j + 1] or (compatible(small[i], big[j]) and can[i + 1][j + 1])
    # reach[i][j]: small[:i] embeds into big[:j] (ends anywhere before j)
    reach = [[False] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        reach[0][j] = True
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            reach[i][j] = reach[i][j - 1] or (compatible(small[i - 1], big[j - 1])
                                              and reach[i - 1][j - 1])
    return [{j for j in range(m) if reach[i][j] and compatible(small[i], big[j])
             and can[i + 1][j + 1]} for i in range(n)]


def apply_overlay(build: DerivedBuild, schema: dict[str, Any]) -> Overlaid:
    """The registry to decode the live build with: every derived class, its slots named by
    ``schema`` where the class is bound by name and the name is certain (others ``f<i>``).
    Classes bound by structure are named later, when an answer carries them (``Binder``)."""
    registry = gwt_registry()
    for entry in build.types.values():
        if entry.form in ("class", "enum") and not entry.name.startswith(CODEC_KNOWS):
            registry.load_schema_dict({entry.name: _plain(build, entry.name)}, source="<derived>")
    drift: list[ClassDrift] = []
    named: set[str] = set()
    for name in sorted(n for n in schema if not n.startswith("$")):
        spec = schema[name]
        if not isinstance(spec, dict) or "enum" in spec or spec.get("binding") == "structure":
            continue
        ours = _flat_overlay(schema, name)
        live_entry = build.types.get(name)
        if live_entry is None or live_entry.form != "class":
            drift.append(ClassDrift(name, None, "none", ours, ()))
            continue
        live = build.flat_fields(name)
        positions = _positions(ours, live)
        changed = bool(spec.get("signature")) and spec["signature"] != live_entry.signature
        drift.append(ClassDrift(name, name, "name", ours, live, positions, changed))
        registry.add(_named_class(build, name, ours, positions))
        named.add(name)
    unknown = sorted(t.name for t in build.types.values() if t.form == "class"
                     and t.name not in named and not t.name.startswith(CODEC_KNOWS))
    return Overlaid(registry, drift, unknown)


def _plain(build: DerivedBuild, name: str) -> dict[str, Any]:
    entry = build.types[name]
    if entry.form == "enum":
        return {"enum": [], "signature": entry.signature}
    spec: dict[str, Any] = {
        "fields": [[f"f{i}", declared_type(s.kind)] for i, s in enumerate(entry.fields)],
        "signature": entry.signature}
    if entry.superclass:
        spec["extends"] = entry.superclass
    return spec


def _named_class(build: DerivedBuild, target: str, ours: tuple[OverlaySlot, ...],
                 positions: dict[str, int]) -> ClassSchema:
    """The live class's own slots with our names and declared types where resolved (its
    superclass's slots are named by that class's own binding)."""
    entry = build.types[target]
    by_position = {pos: name for name, pos in positions.items()}
    types = {o.name: o.type_name for o in ours}
    fields = []
    for i, slot in enumerate(entry.fields):
        name = by_position.get(i)
        type_name = types[name] if name is not None else declared_type(slot.kind)
        fields.append(FieldSpec(name or f"f{i}", parse_type(type_name), type_name))
    return ClassSchema(target, tuple(fields), entry.superclass, entry.signature)


def _default(kind: Kind) -> object:
    if kind == "boolean":
        return False
    if kind in NUMERIC_KINDS or kind == "long":
        return 0
    return None


class Binder:
    """Our names on live objects, bound once per (live class, schema class) pair.

    Why lazily: a schema class whose name is our invention can only be bound "where the answer
    carries it" — the flow says what it expects (the list answer, a row), the answer says which
    live class it is, and the two layouts must agree on every slot the flow needs.
    """

    def __init__(self, build: DerivedBuild, schema: dict[str, Any], registry: Registry,
                 on_drift: Callable[[ClassDrift], None] | None = None) -> None:
        self.build = build
        self.schema = schema
        self.registry = registry
        self.on_drift = on_drift
        self._bindings: dict[tuple[str, str], ClassDrift] = {}
        self._views: dict[tuple[str, str, frozenset[str]], tuple[tuple[str, str], ...]] = {}

    def bind(self, live_class: str, schema_class: str) -> ClassDrift:
        key = (live_class, schema_class)
        found = self._bindings.get(key)
        if found is None:
            ours = _flat_overlay(self.schema, schema_class)
            entry = self.build.types.get(live_class)
            spec = self.schema.get(schema_class) or {}
            by_name = live_class == schema_class
            if entry is None or entry.form != "class":
                found = ClassDrift(schema_class, None, "none", ours, ())
            else:
                live = self.build.flat_fields(live_class)
                changed = by_name and bool(spec.get("signature")) and (
                    spec["signature"] != entry.signature)
                found = ClassDrift(schema_class, live_class, "name" if by_name else "structure",
                                   ours, live, _positions(ours, live), changed)
            self._bindings[key] = found
            if not found.same and self.on_drift is not None:
                self.on_drift(found)
        return found

    def _require(self, drift: ClassDrift, needs: Iterable[str]) -> None:
        missing = [n for n in needs if n not in drift.resolved]
        if drift.live_class is None or missing:
            raise DriftError(
                f"the live build's {drift.live_class or 'classes'} no longer carry what vats "
                f"reads as {drift.schema_class}: {', '.join(missing) or 'no such class'} "
                "cannot be placed without guessing",
                schema_class=drift.schema_class, live_class=drift.live_class, missing=missing,
                report=drift.report())

    def view(self, value: Instance, schema_class: str, needs: Iterable[str] = ()) -> Instance:
        """``value`` with our names on the slots they certainly denote (others unchanged).

        A name the registry already gives a slot of the live class (a ``--schema`` file where
        the user named it) counts as placed: the user said so, we did not guess. The renaming
        is worked out once per (live class, schema class, needs): views are on the hot path."""
        key = (value.class_name, schema_class, frozenset(needs))
        pairs = self._views.get(key)
        if pairs is None:
            pairs = self._views[key] = self._renaming(value.class_name, schema_class, key[2])
        fields = value.fields
        return Instance(value.signature, {ours: fields.get(live) for live, ours in pairs})

    def _renaming(self, live_class: str, schema_class: str,
                  needs: frozenset[str]) -> tuple[tuple[str, str], ...]:
        """(registry name, our name) per slot of ``live_class``; raises when a need is unmet."""
        drift = self.bind(live_class, schema_class)
        names = [spec.name for spec in self.registry.fields_of(live_class)]
        user = {name for name in names if name not in drift.resolved}
        self._require(drift, [n for n in needs if n not in user])
        by_position = {pos: name for name, pos in drift.resolved.items()}
        return tuple((name, by_position.get(i, name)) for i, name in enumerate(names))

    def make(self, schema_class: str, values: dict[str, Any]) -> Instance:
        """A live object of ``schema_class`` (bound by name) from our names: every slot the
        live class has is filled, slots we cannot name get GWT's defaults (null, 0, false).
        Every name given a value (not None) must be placed, or nothing is built."""
        drift = self.bind(schema_class, schema_class)
        self._require(drift, [name for name, value in values.items() if value is not None])
        by_position = {pos: name for name, pos in drift.resolved.items()}
        names = [spec.name for spec in self.registry.fields_of(schema_class)]
        fields: dict[str, Any] = {}
        for i, (name, slot) in enumerate(zip(names, drift.live, strict=True)):
            ours = by_position.get(i)
            fields[name] = values.get(ours) if ours is not None else _default(slot.kind)
        return Instance(self.build.types[schema_class].signature, fields)
