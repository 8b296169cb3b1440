"""The schema registry: which classes exist and how each one's fields are laid out.

Why declarative: an application's redeploys change its classes without notice. A layout is data
— a JSON object in the format of docs/schema-format.md — so a user can add or correct one without waiting
for a release. This module knows GWT only: its built-ins and exception classes
(``gwt_registry``); an application's own classes are loaded onto a copy by whoever knows them
(vats' cabinet classes: ``scraper.profile``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scraper.errors import SchemaError
from scraper.gwt.builtins import BUILTINS, GWT_SCHEMAS, Builtin
from scraper.gwt.crc import crc_of
from scraper.gwt.types import TypeRef, component_type, parse_type, strip_crc


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One serialized field: its name and declared type."""

    name: str
    type: TypeRef
    type_name: str


@dataclass(frozen=True, slots=True)
class ClassSchema:
    """A field-serialized class: its OWN fields in wire order, and its superclass."""

    name: str
    fields: tuple[FieldSpec, ...]
    extends: str | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class EnumSchema:
    """An enum; ``constants`` may be empty when the names are unknown (only ordinals travel)."""

    name: str
    constants: tuple[str, ...]
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ArrayClass:
    """A JVM array class such as ``[I`` or ``[Ljava.lang.String;``."""

    name: str
    component: TypeRef


Entry = Builtin | ClassSchema | EnumSchema | ArrayClass

#: JRE subclass relations among the built-ins (a LinkedHashMap fills a HashMap slot).
_BUILTIN_PARENTS = {
    "java.util.LinkedHashMap": "java.util.HashMap",
    "java.util.LinkedHashSet": "java.util.HashSet",
    "java.sql.Date": "java.util.Date",
    "java.sql.Time": "java.util.Date",
    "java.sql.Timestamp": "java.util.Date",
}


class Registry:
    """Class name → layout. Copy before changing a shared one (``registry.copy()``)."""

    def __init__(self) -> None:
        self._classes: dict[str, ClassSchema | EnumSchema] = {}
        self._flat: dict[str, tuple[FieldSpec, ...]] = {}

    def copy(self) -> Registry:
        other = Registry()
        other._classes = dict(self._classes)
        return other

    # --- lookups ---------------------------------------------------------------------

    def lookup(self, class_name: str) -> Entry | None:
        """The layout of ``class_name`` (binary name, no CRC), or None when unknown."""
        builtin = BUILTINS.get(class_name)
        if builtin is not None:
            return builtin
        entry = self._classes.get(class_name)
        if entry is not None:
            return entry
        if class_name.startswith("["):
            try:
                return ArrayClass(class_name, component_type(class_name))
            except SchemaError:
                return None
        return None

    def __contains__(self, class_name: str) -> bool:
        return self.lookup(class_name) is not None

    def signature_for(self, class_name: str) -> str | None:
        """The type signature to write for ``class_name`` when the caller gave none."""
        entry = self.lookup(class_name)
        if isinstance(entry, Builtin):
            return entry.signature
        if isinstance(entry, ClassSchema | EnumSchema):
            return entry.signature
        if isinstance(entry, ArrayClass):
            return _array_signature(entry)
        return None

    def fields_of(self, class_name: str) -> tuple[FieldSpec, ...]:
        """All serialized fields in wire order: own fields, then each superclass's."""
        flat = self._flat.get(class_name)
        if flat is not None:
            return flat
        result: list[FieldSpec] = []
        seen: set[str] = set()
        name: str | None = class_name
        while name is not None and name != "java.lang.Object":
            if name in seen:
                raise SchemaError(f"class {class_name!r} has a cyclic superclass chain at {name!r}")
            seen.add(name)
            entry = self._classes.get(name)
            if not isinstance(entry, ClassSchema):
                raise SchemaError(f"superclass {name!r} of {class_name!r} has no schema")
            result.extend(entry.fields)
            name = entry.extends
        flat = tuple(result)
        self._flat[class_name] = flat
        return flat

    def is_assignable(self, class_name: str, declared: str) -> bool:
        """Whether an object of ``class_name`` may fill a slot declared ``declared``.

        Only what the registry can prove false is false: an unknown relation is allowed.
        """
        if class_name == declared or _BUILTIN_PARENTS.get(class_name) == declared:
            return True
        if declared in BUILTINS:
            return False  # final JRE classes and concrete collections need the exact class
        declared_entry = self._classes.get(declared)
        if class_name in BUILTINS or isinstance(declared_entry, EnumSchema):
            return declared_entry is None
        name: str | None = class_name
        seen: set[str] = set()
        while name is not None and name not in seen:
            seen.add(name)
            if name == declared:
                return True
            entry = self._classes.get(name)
            if not isinstance(entry, ClassSchema):
                return declared_entry is None or entry is None
            name = entry.extends
        return declared_entry is None

    # --- registration ---------------------------------------------------------------

    def add(self, entry: ClassSchema | EnumSchema) -> None:
        self._classes[entry.name] = entry
        self._flat.clear()

    def load_schema_dict(self, data: Any, *, source: str = "<schema>") -> None:
        """Add or override classes from the schema-file format (docs/schema-format.md)."""
        if not isinstance(data, dict):
            raise SchemaError(f"{source}: a schema file holds a JSON object of classes")
        for name, spec in data.items():
            if name.startswith("$"):
                continue
            self.add(_parse_entry(name, spec, source))

    def load_schema_file(self, path: str | Path) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SchemaError(f"{path}: cannot read schema file: {exc}") from exc
        self.load_schema_dict(data, source=str(path))


def _parse_entry(name: str, spec: Any, source: str) -> ClassSchema | EnumSchema:
    where = f"{source}: class {name!r}"
    if not isinstance(spec, dict):
        raise SchemaError(f"{where}: expected an object")
    if strip_crc(name) != name or not name or any(c in name for c in " |/"):
        raise SchemaError(f"{where}: give the binary class name without '/CRC'")
    signature = spec.get("signature")
    if signature is not None and (
        not isinstance(signature, str) or strip_crc(signature) != name or "/" not in signature
    ):
        raise SchemaError(f"{where}: signature {signature!r} must be '{name}/<CRC>'")
    if "enum" in spec:
        constants = spec["enum"]
        if not isinstance(constants, list) or not all(isinstance(c, str) for c in constants):
            raise SchemaError(f"{where}: 'enum' must be a list of constant names")
        return EnumSchema(name, tuple(constants), signature)
    fields = spec.get("fields", [])
    if not isinstance(fields, list):
        raise SchemaError(f"{where}: 'fields' must be a list of [name, type] pairs")
    parsed: list[FieldSpec] = []
    names: set[str] = set()
    for i, item in enumerate(fields):
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not all(isinstance(x, str) for x in item)
        ):
            raise SchemaError(f"{where}: field #{i} must be [name, type], got {item!r}")
        field_name, type_name = item
        if field_name in names:
            raise SchemaError(f"{where}: field {field_name!r} listed twice")
        names.add(field_name)
        try:
            parsed.append(FieldSpec(field_name, parse_type(type_name), type_name))
        except SchemaError as exc:
            raise SchemaError(f"{where}: field {field_name!r}: {exc}") from None
    extends = spec.get("extends")
    if extends is not None and not isinstance(extends, str):
        raise SchemaError(f"{where}: 'extends' must be a class name")
    if extends == "java.lang.Object":
        extends = None
    return ClassSchema(name, tuple(parsed), extends, signature)


def _array_signature(entry: ArrayClass) -> str | None:
    """Arrays of primitives, String and JRE finals have computable CRCs (GWT's rule)."""
    component = entry.component
    if component.kind not in ("object", "string"):
        return f"{entry.name}/{crc_of([entry.name, component.kind])}"
    if component.kind == "string" or component.class_name in ("java.lang.Object",):
        return f"{entry.name}/{crc_of([entry.name, component.java_name])}"
    return None


def gwt_registry() -> Registry:
    """A new registry of GWT's built-ins only (no application classes): add yours to it."""
    registry = Registry()
    registry.load_schema_dict(GWT_SCHEMAS, source="<gwt built-ins>")
    return registry


_SHARED: Registry | None = None


def shared_gwt_registry() -> Registry:
    """One lazily built ``gwt_registry()``, what the codec reads and writes with when a caller
    gives no registry. Shared: never add to it (``.copy()`` first)."""
    global _SHARED  # noqa: PLW0603 - one lazily built, read-only default
    if _SHARED is None:
        _SHARED = gwt_registry()
    return _SHARED
