"""Writing values as GWT tokens, with the string table and the identity object table.

Why one writer for both directions: the sandbox answers with the same object-table rules the
browser uses for requests; only the text framing differs (request.py, response.py). Tokens stay
typed here (``int``, ``float``, ``LongToken``) and are rendered by the framing.
"""

from __future__ import annotations

from typing import Any

from scraper.errors import EncodeError, SchemaError
from scraper.gwt.builtins import (
    BOOLEAN,
    BUILTINS,
    LIST_INTERFACES,
    MAP_INTERFACES,
    OPEN_TYPES,
    SET_INTERFACES,
    Builtin,
)
from scraper.gwt.longs import encode_long
from scraper.gwt.schema import ArrayClass, ClassSchema, EnumSchema, Registry
from scraper.gwt.types import OBJECT, TypeRef, parse_type
from scraper.gwt.values import Boxed, Collection, EnumValue, GwtObject, Instance, MapValue

_LIMITS = {"B": 1 << 7, "S": 1 << 15, "I": 1 << 31}


class LongToken(str):
    """A long already in GWT base-64: bare in requests, quoted in responses."""

    __slots__ = ()


Token = int | float | LongToken


class ValueWriter:
    """Accumulates tokens and the string table for one stream.

    ``share_booleans``: plain Python ``bool`` values in object slots become the stream's single
    ``Boolean.TRUE``/``FALSE`` objects, as GWT's client and server both do; wrappers are always
    written by identity.
    """

    def __init__(self, registry: Registry, *, share_booleans: bool = True) -> None:
        self.registry = registry
        self.share_booleans = share_booleans
        self.tokens: list[Token] = []
        self.strings: list[str] = []
        self._string_index: dict[str, int] = {}
        self.numbers: dict[int, int] = {}  # id(object) -> object-table number
        self.repeated: set[int] = set()  # ids of objects referenced more than once
        self._alive: list[object] = []  # keeps ids stable while the writer lives
        self._booleans: dict[bool, Boxed] = {}

    # --- primitives ----------------------------------------------------------------

    def string_index(self, text: str) -> int:
        index = self._string_index.get(text)
        if index is None:
            self.strings.append(text)
            index = self._string_index[text] = len(self.strings)
        return index

    def write_string(self, value: Any, where: str = "") -> None:
        if value is None:
            self.tokens.append(0)
        elif isinstance(value, str):
            self.tokens.append(self.string_index(value))
        else:
            raise EncodeError(f"{where}expected a string or null, got {type(value).__name__}")

    def write_primitive(self, letter: str, value: Any, where: str = "") -> None:
        if letter == "Z":
            if not isinstance(value, bool):
                raise EncodeError(f"{where}expected a boolean, got {value!r}")
            self.tokens.append(1 if value else 0)
        elif letter == "J":
            if isinstance(value, bool) or not isinstance(value, int):
                raise EncodeError(f"{where}expected an integer for long, got {value!r}")
            self.tokens.append(LongToken(encode_long(value)))
        elif letter in ("D", "F"):
            if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                value = float(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EncodeError(f"{where}expected a number, got {value!r}")
            self.tokens.append(float(value))
        elif letter == "C":
            if isinstance(value, str) and len(value) == 1 and ord(value) <= 0xFFFF:
                self.tokens.append(ord(value))
            elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF:
                self.tokens.append(value)
            else:
                raise EncodeError(f"{where}expected one UTF-16 character, got {value!r}")
        else:
            limit = _LIMITS[letter]
            if isinstance(value, bool) or not isinstance(value, int) or not -limit <= value < limit:
                raise EncodeError(f"{where}expected an integer fitting {letter}, got {value!r}")
            self.tokens.append(value)

    # --- values ----------------------------------------------------------------------

    def write(self, value: Any, declared: TypeRef, where: str = "") -> None:
        kind = declared.kind
        if kind == "object":
            self.write_object(value, declared, where)
        elif kind == "string":
            self.write_string(value, where)
        else:
            self.write_primitive(kind, value, where)

    def write_object(self, value: Any, declared: TypeRef = OBJECT, where: str = "") -> None:
        if value is None:
            self.tokens.append(0)
            return
        obj = value if isinstance(value, GwtObject) else self.box(value, declared, where)
        key = id(obj)
        number = self.numbers.get(key)
        if number is not None:
            self.repeated.add(key)
            self.tokens.append(-number)
            return
        target = declared.class_name
        if target and not self.registry.is_assignable(obj.class_name, target):
            raise EncodeError(f"{where}a {obj.class_name} cannot fill a slot declared {target}")
        self._alive.append(obj)
        self.numbers[key] = len(self.numbers) + 1
        self.tokens.append(self.string_index(obj.signature))
        entry = self.registry.lookup(obj.class_name)
        if entry is None:
            raise EncodeError(f"{where}unknown class {obj.class_name!r}", kind="unknown-class")
        try:
            self._write_content(obj, entry, where)
        except SchemaError as exc:
            raise EncodeError(f"{where}{exc}") from None

    def box(self, value: Any, declared: TypeRef, where: str = "") -> GwtObject:
        """Wrap a plain Python value as the object its declared slot expects."""
        target = declared.class_name or "java.lang.Object"
        open_slot = target in OPEN_TYPES
        if isinstance(value, bool):
            if target == "java.lang.Boolean" or open_slot:
                if not self.share_booleans:
                    return Boxed(BOOLEAN, value)
                box = self._booleans.get(value)
                if box is None:
                    box = self._booleans[value] = Boxed(BOOLEAN, value)
                return box
        elif isinstance(value, int | float) and target in BUILTINS:
            boxed = BUILTINS[target]
            if boxed.kind == "boxed" and target not in ("java.lang.Boolean", "java.lang.Character"):
                if boxed.letter == "D" or isinstance(value, int):
                    return Boxed(boxed.signature, value)
            if boxed.kind == "date" and isinstance(value, int):
                return Boxed(boxed.signature, value)
        elif isinstance(value, int) and isinstance(self.registry.lookup(target), EnumSchema):
            return EnumValue(self._signature(target, where), value)
        elif isinstance(value, str):
            if target == "java.lang.Character" and len(value) == 1:
                return Boxed(BUILTINS[target].signature, value)
            if target == "java.lang.String" or open_slot:
                return Boxed(BUILTINS["java.lang.String"].signature, value)
        elif isinstance(value, list | tuple):
            if declared.is_array:
                return Collection(self._signature(target, where), list(value))
            if target in LIST_INTERFACES or open_slot:
                target = "java.util.ArrayList"
            elif target in SET_INTERFACES:
                target = "java.util.HashSet"
            builtin = BUILTINS.get(target)
            if builtin is not None and builtin.kind == "list":
                return Collection(builtin.signature, list(value))
        elif isinstance(value, dict):
            if target in MAP_INTERFACES or open_slot:
                target = "java.util.HashMap"
            builtin = BUILTINS.get(target)
            if builtin is not None and builtin.kind in ("map", "linkedmap"):
                return MapValue(
                    builtin.signature,
                    list(value.items()),
                    access_order=False if builtin.kind == "linkedmap" else None,
                )
        raise EncodeError(
            f"{where}cannot send {type(value).__name__} {value!r:.60} in a slot declared {target};"
            " wrap it (Boxed/Instance/Collection) with an explicit type signature"
        )

    def _signature(self, class_name: str, where: str) -> str:
        signature = self.registry.signature_for(class_name)
        if signature is None:
            raise EncodeError(f"{where}no known type signature for {class_name}; give one")
        return signature

    def _write_content(
        self, obj: GwtObject, entry: Builtin | ClassSchema | EnumSchema | ArrayClass, where: str
    ) -> None:
        here = f"{where}{obj.class_name}"
        if isinstance(entry, ClassSchema):
            if not isinstance(obj, Instance):
                raise EncodeError(f"{here}: expected an Instance, got {type(obj).__name__}")
            specs = self.registry.fields_of(entry.name)
            names = {spec.name for spec in specs}
            extra = [name for name in obj.fields if name not in names]
            if extra:
                raise EncodeError(f"{here}: fields not in the schema: {', '.join(extra)}")
            for spec in specs:
                if spec.name not in obj.fields:
                    raise EncodeError(f"{here}: missing field {spec.name!r}")
                self.write(obj.fields[spec.name], spec.type, f"{here}.{spec.name}: ")
        elif isinstance(entry, EnumSchema):
            if not isinstance(obj, EnumValue):
                raise EncodeError(f"{here}: expected an EnumValue, got {type(obj).__name__}")
            self.write_primitive("I", obj.ordinal, f"{here}: ")
        elif isinstance(entry, ArrayClass):
            items = _items(obj, here)
            self.tokens.append(len(items))
            for i, item in enumerate(items):
                self.write(item, entry.component, f"{here}[{i}]: ")
        else:
            self._write_builtin(obj, entry, here)

    def _write_builtin(self, obj: GwtObject, entry: Builtin, here: str) -> None:
        kind = entry.kind
        if kind in ("boxed", "string", "date", "timestamp", "bignum"):
            if not isinstance(obj, Boxed):
                raise EncodeError(f"{here}: expected a Boxed value, got {type(obj).__name__}")
            if kind == "boxed":
                value = obj.value
                if entry.letter == "D" and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                self.write_primitive(entry.letter, value, f"{here}: ")
            elif kind == "string" or kind == "bignum":
                if not isinstance(obj.value, str):
                    raise EncodeError(f"{here}: expected text, got {obj.value!r}")
                self.tokens.append(self.string_index(obj.value))
            else:
                self.write_primitive("J", obj.value, f"{here}: ")
                if kind == "timestamp":
                    self.write_primitive("I", obj.nanos or 0, f"{here}.nanos: ")
            return
        if kind in ("list", "treeset"):
            items = _items(obj, here)
            if kind == "treeset":
                assert isinstance(obj, Collection)
                self.write_object(obj.comparator, OBJECT, f"{here}.comparator: ")
            self.tokens.append(len(items))
            for i, item in enumerate(items):
                self.write_object(item, OBJECT, f"{here}[{i}]: ")
            return
        if not isinstance(obj, MapValue):
            raise EncodeError(f"{here}: expected a MapValue, got {type(obj).__name__}")
        if kind == "linkedmap":
            self.write_primitive("Z", bool(obj.access_order), f"{here}.access_order: ")
        elif kind == "treemap":
            self.write_object(obj.comparator, OBJECT, f"{here}.comparator: ")
        self.tokens.append(len(obj.entries))
        for i, pair in enumerate(obj.entries):
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise EncodeError(f"{here}: entry {i} is not a (key, value) pair")
            self.write_object(pair[0], OBJECT, f"{here}[{i}].key: ")
            self.write_object(pair[1], OBJECT, f"{here}[{i}].value: ")


def _items(obj: GwtObject, here: str) -> list[Any]:
    if not isinstance(obj, Collection):
        raise EncodeError(f"{here}: expected a Collection, got {type(obj).__name__}")
    return obj.items


def declared(type_name: str) -> TypeRef:
    """Parse a declared type name, turning a bad name into an ``EncodeError``."""
    try:
        return parse_type(type_name)
    except SchemaError as exc:
        raise EncodeError(str(exc)) from None

