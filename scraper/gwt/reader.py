"""Reading values from a token stream, driven by declared types.

One reader serves both directions: request tokens arrive as text (split on ``|``), response
tokens already typed by the response tokenizer (ints, floats, and strings for quoted longs).
Every malformed token raises ``DecodeError`` with its position and kind (scraper/errors.py);
nothing half-read escapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from scraper.errors import DecodeError, SchemaError, UnknownClassError
from scraper.gwt.builtins import Builtin
from scraper.gwt.escapes import parse_java_double
from scraper.gwt.longs import decode_long
from scraper.gwt.schema import ArrayClass, ClassSchema, EnumSchema, Registry
from scraper.gwt.types import OBJECT, TypeRef, strip_crc
from scraper.gwt.values import Boxed, Collection, EnumValue, GwtObject, Instance, MapValue

_INT = re.compile(r"-?[0-9]{1,20}")
_RANGES = {"B": (-(1 << 7), (1 << 7) - 1), "S": (-(1 << 15), (1 << 15) - 1),
           "I": (-(1 << 31), (1 << 31) - 1), "C": (0, 0xFFFF)}


class ValueReader:
    """Reads values from ``tokens`` (in writing order) with a shared string and object table."""

    __slots__ = ("_assignable", "_plans", "base", "objects", "pos", "registry", "strings",
                 "tokens", "unknown_signatures")

    def __init__(
        self, tokens: Sequence[Any], strings: Sequence[str], registry: Registry, *, base: int = 0
    ) -> None:
        self.tokens = tokens
        self.strings = strings
        self.registry = registry
        self.base = base  # added to positions in errors, so they index the whole payload
        self.pos = 0
        self.objects: list[GwtObject] = []
        #: signatures whose class is known but whose CRC differs from the registry's
        self.unknown_signatures: set[str] = set()
        self._assignable: dict[tuple[str, str], bool] = {}
        self._plans: dict[str, list[tuple[str, Callable[[TypeRef], Any], TypeRef]]] = {}

    # --- tokens ----------------------------------------------------------------------

    def _fail(self, kind: str, message: str, token: Any = None, *,
              at: int | None = None) -> DecodeError:
        return DecodeError(message, kind=kind,
                           position=self.base + (self.pos - 1 if at is None else at), token=token)

    def _next(self) -> Any:
        try:
            tok = self.tokens[self.pos]
        except IndexError:
            raise DecodeError(
                "truncated: the stream ended where a value was expected", kind="truncated",
                position=self.base + self.pos,
            ) from None
        self.pos += 1
        return tok

    def remaining(self) -> int:
        return len(self.tokens) - self.pos

    def read_int(self, letter: str = "I") -> int:
        tok = self._next()
        if type(tok) is int:
            value = tok
        elif type(tok) is str and _INT.fullmatch(tok):
            value = int(tok)
        else:
            raise self._fail("bad-integer", "expected an integer", tok)
        lo, hi = _RANGES[letter]
        if not lo <= value <= hi:
            raise self._fail("integer-out-of-range", f"integer out of range for {letter}", tok)
        return value

    def read_bool(self) -> bool:
        tok = self._next()
        if tok in (0, 1) and type(tok) is int:
            return tok == 1
        if tok == "1":
            return True
        if tok == "0":
            return False
        raise self._fail("bad-token", "expected a boolean (0 or 1)", tok)

    def read_long(self) -> int:
        tok = self._next()
        if type(tok) is not str:
            raise self._fail("bad-token", "expected a base-64 long", tok)
        return decode_long(tok, position=self.base + self.pos - 1)

    def read_double(self) -> float:
        tok = self._next()
        if type(tok) is float or type(tok) is int:
            return float(tok)
        if type(tok) is str:
            return parse_java_double(tok, position=self.base + self.pos - 1)
        raise self._fail("bad-token", "expected a double", tok)

    def read_string(self) -> str | None:
        """A declared ``String``: one string-table index (0 = null)."""
        index = self.read_int()
        if index == 0:
            return None
        if not 0 < index <= len(self.strings):
            raise self._fail("string-index-out-of-range",
                             f"string index out of range (table has {len(self.strings)})", index)
        return self.strings[index - 1]

    def read_size(self, per_item: int = 1) -> int:
        size = self.read_int()
        if size < 0 or size * per_item > self.remaining():
            raise self._fail("bad-size",
                             "collection size is negative or larger than the rest of the stream",
                             size)
        return size

    # --- values ----------------------------------------------------------------------

    def read(self, declared: TypeRef) -> Any:
        return self._reader(declared.kind)(declared)

    def _reader(self, kind: str) -> Callable[[TypeRef], Any]:
        """The bound method that reads a slot of ``kind`` (one uniform signature, no if-chain)."""
        if kind == "object":
            return self.read_object
        if kind == "string":
            return lambda _ref: self.read_string()
        if kind == "Z":
            return lambda _ref: self.read_bool()
        if kind == "J":
            return lambda _ref: self.read_long()
        if kind in ("D", "F"):
            return lambda _ref: self.read_double()
        if kind == "C":
            return lambda _ref: chr(self.read_int("C"))
        return lambda _ref: self.read_int(kind)

    def _plan(self, class_name: str) -> list[tuple[str, Callable[[TypeRef], Any], TypeRef]]:
        plan = self._plans.get(class_name)
        if plan is None:
            plan = self._plans[class_name] = [
                (spec.name, self._reader(spec.type.kind), spec.type)
                for spec in self.registry.fields_of(class_name)
            ]
        return plan

    def read_object(self, declared: TypeRef = OBJECT) -> Any:
        start = self.pos
        tok = self.read_int()
        if tok == 0:
            return None
        if tok < 0:
            if -tok > len(self.objects):
                raise self._fail("back-reference-out-of-range",
                                 f"back-reference to object {-tok}, only {len(self.objects)} seen",
                                 tok)
            obj = self.objects[-tok - 1]
            self._check_assignable(obj.class_name, declared, start, tok)
            return obj
        if tok > len(self.strings):
            raise self._fail("type-index-out-of-range",
                             f"type index out of range (table has {len(self.strings)})", tok)
        signature = self.strings[tok - 1]
        class_name = strip_crc(signature)
        entry = self.registry.lookup(class_name)
        if entry is None:
            raise UnknownClassError(class_name, signature, position=self.base + start)
        self._check_assignable(class_name, declared, start, signature)
        try:
            return self._read_content(entry, signature)
        except SchemaError as exc:
            raise DecodeError(f"cannot read {signature}: {exc}", kind="bad-layout",
                              position=self.base + start) from None

    def _check_assignable(self, class_name: str, declared: TypeRef, at: int, tok: Any) -> None:
        target = declared.class_name
        if not target or target == class_name or target == "java.lang.Object":
            return
        key = (class_name, target)
        ok = self._assignable.get(key)
        if ok is None:
            ok = self._assignable[key] = self.registry.is_assignable(class_name, target)
        if not ok:
            raise self._fail("wrong-class", f"a {class_name} cannot fill a slot declared {target}",
                             tok, at=at)

    def _new(self, obj: GwtObject) -> None:
        self.objects.append(obj)

    def _read_content(
        self, entry: Builtin | ClassSchema | EnumSchema | ArrayClass, signature: str
    ) -> GwtObject:
        if isinstance(entry, ClassSchema):
            self._note_signature(entry.signature, signature)
            fields: dict[str, Any] = {}
            inst = Instance(signature, fields)
            self.objects.append(inst)
            for name, reader, ref in self._plan(entry.name):
                fields[name] = reader(ref)
            return inst
        if isinstance(entry, EnumSchema):
            self._note_signature(entry.signature, signature)
            enum = EnumValue(signature)
            self._new(enum)
            ordinal = self.read_int()
            if ordinal < 0 or (entry.constants and ordinal >= len(entry.constants)):
                raise self._fail("ordinal-out-of-range",
                                 f"ordinal {ordinal} out of range for {entry.name}", ordinal)
            enum.ordinal = ordinal
            enum.name = entry.constants[ordinal] if ordinal < len(entry.constants) else None
            return enum
        if isinstance(entry, ArrayClass):
            array = Collection(signature)
            self._new(array)
            component = entry.component
            size = self.read_size()
            array.items = [self.read(component) for _ in range(size)]
            return array
        return self._read_builtin(entry, signature)

    def _note_signature(self, known: str | None, seen: str) -> None:
        if known is not None and known != seen:
            self.unknown_signatures.add(seen)

    def _read_builtin(self, entry: Builtin, signature: str) -> GwtObject:
        kind = entry.kind
        if kind == "boxed" or kind == "string":
            box = Boxed(signature)
            self._new(box)
            if kind == "string":
                value = self.read_string()
                if value is None:
                    raise self._fail("bad-token", "a String object cannot be null inside", 0)
                box.value = value
            else:
                box.value = self.read(TypeRef(entry.letter))
            return box
        if kind == "date" or kind == "timestamp":
            box = Boxed(signature)
            self._new(box)
            box.value = self.read_long()
            if kind == "timestamp":
                box.nanos = self.read_int()
            return box
        if kind == "bignum":
            box = Boxed(signature)
            self._new(box)
            box.value = self.read_string()
            return box
        if kind in ("list", "treeset"):
            coll = Collection(signature)
            self._new(coll)
            if kind == "treeset":
                coll.comparator = self.read_object()
            size = self.read_size()
            coll.items = [self.read_object() for _ in range(size)]
            return coll
        mapping = MapValue(signature)
        self._new(mapping)
        if kind == "linkedmap":
            mapping.access_order = self.read_bool()
        elif kind == "treemap":
            mapping.comparator = self.read_object()
        size = self.read_size(2)
        mapping.entries = [(self.read_object(), self.read_object()) for _ in range(size)]
        return mapping

