"""What a compiled permutation says about its build: types, layouts and services.

Why a model of its own (not the schema registry): a derived layout knows less than a schema —
slot kinds instead of declared types, no field names in obfuscated output — and says where each
fact came from. ``to_schema`` turns it into the schema-file format the codec reads (docs/schema-format.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from scraper.gwt.schema import Registry, gwt_registry

#: What one wire slot holds, as far as the compiled reader call tells. ``numeric`` where the
#: compiler inlined the readers so that int, short, byte, char, float and double look alike.
Kind = Literal["boolean", "byte", "char", "short", "int", "long", "float", "double",
               "String", "Object", "numeric"]
NUMERIC_KINDS = frozenset({"byte", "char", "short", "int", "float", "double", "numeric"})
PRIMITIVE_KINDS = frozenset({"boolean", "byte", "char", "short", "int", "long", "float", "double"})

#: What a table entry is: a field-serialized class, an enum, an array, a GWT built-in with a
#: custom field serializer (recognised, not derived), or a class we could not derive.
Form = Literal["class", "enum", "array", "builtin", "opaque"]


@dataclass(frozen=True, slots=True)
class Slot:
    """One serialized field: its kind and, where the output keeps it, its Java name."""

    kind: Kind
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DerivedType:
    """One TypeSerializer entry, merged over every service's table."""

    signature: str
    receive: bool  # the client can decode it (instantiate + deserialize)
    send: bool  # the client can encode it (serialize)
    form: Form
    fields: tuple[Slot, ...] = ()  # OWN fields in wire order (unnamed superclasses folded in)
    superclass: str | None = None  # the nearest superclass with a table entry of its own
    note: str | None = None  # why ``opaque``, or what else is worth knowing
    constants: int | None = None  # an enum's number of constants, where its values array says

    @property
    def name(self) -> str:
        return self.signature.rpartition("/")[0]

    @property
    def crc(self) -> int:
        return int(self.signature.rpartition("/")[2])


@dataclass(frozen=True, slots=True)
class DerivedMethod:
    """One proxy method: its name and the declared parameter types as the proxy writes them."""

    name: str
    params: tuple[str, ...]
    returns: str | None = None  # GWT's ResponseReader kind where readable (OBJECT, VOID, ...)


@dataclass(frozen=True, slots=True)
class DerivedService:
    """One service proxy: interface, servlet path and serialization-policy strong name."""

    interface: str | None
    path: str | None
    policy: str | None
    methods: tuple[DerivedMethod, ...] = ()
    linked_by: str | None = None  # how interface and path were tied together


@dataclass(slots=True)
class DerivedBuild:
    """Everything derived from one permutation."""

    style: Literal["OBF", "PRETTY"]
    types: dict[str, DerivedType] = field(default_factory=dict)  # class name → entry
    services: list[DerivedService] = field(default_factory=list)
    gwt_version: str | None = None
    strong_name: str | None = None

    def flat_fields(self, class_name: str) -> tuple[Slot, ...]:
        """Every slot in wire order: own fields, then each superclass's."""
        out: list[Slot] = []
        seen: set[str] = set()
        name: str | None = class_name
        while name is not None and name not in seen:
            seen.add(name)
            entry = self.types.get(name)
            if entry is None:
                break
            out.extend(entry.fields)
            name = entry.superclass
        return tuple(out)

    def service(self, interface_or_path: str) -> DerivedService | None:
        for svc in self.services:
            if interface_or_path in (svc.interface, svc.path) or (
                svc.interface or "").endswith("." + interface_or_path):
                return svc
        return None

    def to_schema(self) -> dict[str, Any]:
        """The derived classes in the schema-file format (built-ins and arrays left
        out: the codec knows them). Unnamed slots are ``f0``, ``f1``…; a ``numeric`` slot is
        declared ``double`` (reads any number), Object slots ``java.lang.Object``."""
        schema: dict[str, Any] = {"$comment": (
            "Derived from a compiled GWT permutation" + (f" {self.strong_name}" if self.strong_name
                                                          else "")
            + f" ({self.style}). Name the slots you need; keep order and types.")}
        # unnamed superclasses are folded into their subclasses, so every "extends" names a
        # class of this schema or one the codec knows
        for name in sorted(self.types):
            entry = self.types[name]
            if name.startswith(CODEC_KNOWS):
                continue
            if entry.form == "enum":
                schema[name] = {"enum": [], "signature": entry.signature}
            elif entry.form == "class":
                schema[name] = _class_schema(entry)
        return schema


#: GWT's and the JRE's classes: the codec knows their layouts (with their real field names)
CODEC_KNOWS = ("java.", "javax.", "com.google.gwt.")


def declared_type(kind: Kind) -> str:
    """The schema type that reads a slot of ``kind``."""
    if kind == "String":
        return "java.lang.String"
    if kind == "Object":
        return "java.lang.Object"
    if kind == "numeric":
        return "double"
    return kind


def _class_schema(entry: DerivedType) -> dict[str, Any]:
    names: list[str] = []
    for i, slot in enumerate(entry.fields):
        name = slot.name if slot.name and slot.name not in names else f"f{i}"
        names.append(name)
    spec: dict[str, Any] = {
        "fields": [[n, declared_type(s.kind)] for n, s in zip(names, entry.fields, strict=True)],
        "signature": entry.signature,
        "kinds": [s.kind for s in entry.fields],
    }
    if entry.superclass:
        spec["extends"] = entry.superclass
    return spec


def derived_registry(build: DerivedBuild) -> Registry:
    """GWT's built-ins plus every class derived from the permutation (a fresh registry)."""
    registry = gwt_registry()
    registry.load_schema_dict(build.to_schema(), source="<derived from the permutation>")
    return registry


def build_to_json(build: DerivedBuild) -> dict[str, Any]:
    """A derived build as plain JSON (the cache file of a strong name)."""
    return {
        "style": build.style, "gwt_version": build.gwt_version, "strong_name": build.strong_name,
        "types": [{"signature": t.signature, "receive": t.receive, "send": t.send, "form": t.form,
                   "fields": [[s.kind, s.name] for s in t.fields], "superclass": t.superclass,
                   "note": t.note, "constants": t.constants} for t in build.types.values()],
        "services": [{"interface": s.interface, "path": s.path, "policy": s.policy,
                      "linked_by": s.linked_by,
                      "methods": [[m.name, list(m.params), m.returns] for m in s.methods]}
                     for s in build.services],
    }


def build_from_json(data: dict[str, Any]) -> DerivedBuild:
    """The inverse of ``build_to_json``; a malformed file raises KeyError/TypeError/ValueError."""
    build = DerivedBuild(style=data["style"], gwt_version=data.get("gwt_version"),
                         strong_name=data.get("strong_name"))
    for t in data["types"]:
        entry = DerivedType(t["signature"], bool(t["receive"]), bool(t["send"]), t["form"],
                            tuple(Slot(kind, name) for kind, name in t["fields"]),
                            t.get("superclass"), t.get("note"), t.get("constants"))
        build.types[entry.name] = entry
    build.services = [
        DerivedService(s["interface"], s["path"], s["policy"],
                       tuple(DerivedMethod(n, tuple(p), r) for n, p, r in s["methods"]),
                       s.get("linked_by"))
        for s in data["services"]]
    return build
