"""The value model: what decoding produces and what encoding accepts.

Why wrappers rather than plain Python values: GWT's object table works by identity. A ``Long``
sent twice as the same instance becomes a back-reference (``-4`` in the captured "add device"
request), and ``Boolean.FALSE`` is written once then referenced (``-2`` in the list request). A
decoded graph keeps one wrapper per wire object, so encoding it again gives back the same bytes.
Plain Python values are accepted when building and are boxed by the slot's declared type.

All wrappers compare by identity (``eq=False``), which is what the object table needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from scraper.gwt.types import strip_crc


@dataclass(eq=False, slots=True)
class GwtObject:
    """Any object on the wire; ``signature`` is its type signature exactly as on the wire."""

    signature: str

    @property
    def class_name(self) -> str:
        return strip_crc(self.signature)


@dataclass(eq=False, slots=True)
class Instance(GwtObject):
    """An object serialized field by field (a generated field serializer or reflection)."""

    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        """A field's value with boxing removed (Boxed → value, Collection → its list)."""
        return unwrap(self.fields.get(name, default))

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


@dataclass(eq=False, slots=True)
class EnumValue(GwtObject):
    """An enum constant: only the ordinal travels; ``name`` is filled from the schema if known."""

    ordinal: int = 0
    name: str | None = None


@dataclass(eq=False, slots=True)
class Boxed(GwtObject):
    """A JRE value object: boxed primitives, String/Character objects, dates, big numbers.

    ``value`` is an ``int``/``float``/``bool``/``str``; dates are epoch milliseconds;
    ``java.sql.Timestamp`` adds ``nanos``.
    """

    value: Any = None
    nanos: int | None = None


@dataclass(eq=False, slots=True)
class Collection(GwtObject):
    """Lists, sets and arrays (``items`` in wire order); ``TreeSet`` adds a comparator."""

    items: list[Any] = field(default_factory=list)
    comparator: Any = None


@dataclass(eq=False, slots=True)
class MapValue(GwtObject):
    """Maps, entries in wire order; ``LinkedHashMap`` adds ``access_order``, ``TreeMap`` a comparator."""

    entries: list[tuple[Any, Any]] = field(default_factory=list)
    access_order: bool | None = None
    comparator: Any = None


def unwrap(value: Any) -> Any:
    """One level of boxing removed: Boxed → its value, Collection → its items list."""
    if isinstance(value, Boxed):
        return value.value
    if isinstance(value, Collection):
        return value.items
    return value


def walk(*values: Any) -> Iterator[GwtObject]:
    """Every object reachable from ``values``, once each, in wire (pre-)order — the order GWT
    numbers them. One walk for everyone who inspects a decoded graph (signatures, secrets,
    the sandbox's type checks)."""
    seen: set[int] = set()
    stack: list[Any] = list(reversed(values))
    while stack:
        value = stack.pop()
        if not isinstance(value, GwtObject) or id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        if isinstance(value, Instance):
            stack.extend(reversed(list(value.fields.values())))
        elif isinstance(value, Collection):
            stack.extend(reversed([value.comparator, *value.items]))
        elif isinstance(value, MapValue):
            stack.extend(reversed([x for pair in value.entries for x in pair]))
