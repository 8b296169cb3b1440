"""The JSON form of GWT-RPC values (docs/json-form.md), both directions.

Why a separate module: the form is a user-facing contract (``vats gwt decode/encode``, other
tools read it) and must be lossless — identity included — so it has its own rules: plain JSON
where the declared type fixes the class, ``$type`` objects elsewhere, ``$id``/``$ref`` for
objects the stream refers to again.
"""

from __future__ import annotations

import math
from typing import Any

from scraper.errors import EncodeError, SchemaError
from scraper.gwt.builtins import BUILTINS, FINAL_BOXES, OPEN_TYPES, Builtin
from scraper.gwt.request import Param, Request
from scraper.gwt.response import Response
from scraper.gwt.schema import ArrayClass, ClassSchema, EnumSchema, Registry
from scraper.gwt.types import OBJECT, TypeRef, parse_type, strip_crc
from scraper.gwt.values import Boxed, Collection, EnumValue, GwtObject, Instance, MapValue
from scraper.gwt.writer import ValueWriter

_PLAIN_ANYWHERE = frozenset({"java.lang.String", "java.lang.Boolean"})
_ARRAYLIST = "java.util.ArrayList"


# --- values → JSON -------------------------------------------------------------------------


class _Printer:
    def __init__(self, writer: ValueWriter) -> None:
        self.numbers = writer.numbers
        self.repeated = writer.repeated
        self.printed: set[int] = set()
        self.registry = writer.registry

    def value(self, value: Any, declared: TypeRef) -> Any:
        if value is None:
            return None
        kind = declared.kind
        if kind == "string":
            return value
        if kind != "object":
            return _plain_primitive(value)
        assert isinstance(value, GwtObject)
        key = id(value)
        if key in self.printed:
            return {"$ref": self.numbers[key]}
        self.printed.add(key)
        repeated = key in self.repeated
        cls = value.class_name
        if not repeated:
            if isinstance(value, Boxed) and cls in FINAL_BOXES and (
                cls == declared.class_name or cls in _PLAIN_ANYWHERE
            ):
                return _plain_primitive(value.value) if cls != "java.lang.Character" else value.value
            if isinstance(value, Collection) and cls == _ARRAYLIST:
                return [self.value(item, OBJECT) for item in value.items]
        out: dict[str, Any] = {"$type": value.signature}
        out.update(self.content(value))
        if repeated:
            out["$id"] = self.numbers[key]
        return out

    def content(self, value: GwtObject) -> dict[str, Any]:
        entry = self.registry.lookup(value.class_name)
        if isinstance(value, Instance) and isinstance(entry, ClassSchema):
            return {
                spec.name: self.value(value.fields[spec.name], spec.type)
                for spec in self.registry.fields_of(entry.name)
            }
        if isinstance(value, EnumValue):
            out: dict[str, Any] = {"ordinal": value.ordinal}
            if value.name is not None:
                out["name"] = value.name
            return out
        if isinstance(value, Boxed):
            inner = value.value
            out = {"value": inner if isinstance(inner, str) else _plain_primitive(inner)}
            if value.nanos is not None:
                out["nanos"] = value.nanos
            return out
        if isinstance(value, Collection):
            element = entry.component if isinstance(entry, ArrayClass) else OBJECT
            out = {}
            if isinstance(entry, Builtin) and entry.kind == "treeset":
                out["comparator"] = self.value(value.comparator, OBJECT)
            out["items"] = [self.value(item, element) for item in value.items]
            return out
        if isinstance(value, MapValue):
            out = {}
            if value.access_order is not None:
                out["access_order"] = value.access_order
            if isinstance(entry, Builtin) and entry.kind == "treemap":
                out["comparator"] = self.value(value.comparator, OBJECT)
            out["entries"] = [[self.value(k, OBJECT), self.value(v, OBJECT)]
                              for k, v in value.entries]
            return out
        raise EncodeError(f"cannot print {type(value).__name__} of {value.class_name}")


def _plain_primitive(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _numbered(registry: Registry, pairs: list[tuple[Any, TypeRef]]) -> _Printer:
    """Number every object as the stream does (a dry-run write), then print."""
    writer = ValueWriter(registry, share_booleans=False)
    for value, ref in pairs:
        writer.write(value, ref)
    return _Printer(writer)


def request_to_json(request: Request, registry: Registry) -> dict[str, Any]:
    refs = [parse_type(p.type) for p in request.params]
    pairs: list[tuple[Any, TypeRef]] = []
    if request.flags & 2:
        pairs.append((request.rpc_token, OBJECT))
    pairs += [(p.value, ref) for p, ref in zip(request.params, refs, strict=True)]
    printer = _numbered(registry, pairs)
    out: dict[str, Any] = {
        "kind": "request", "version": request.version, "flags": request.flags,
        "module_base": request.module_base, "strong_name": request.strong_name,
    }
    if request.flags & 2:
        out["rpc_token"] = printer.value(request.rpc_token, OBJECT)
    out["service"] = request.service
    out["method"] = request.method
    out["params"] = [{"type": p.type, "value": printer.value(p.value, ref)}
                     for p, ref in zip(request.params, refs, strict=True)]
    return out


def response_to_json(
    response: Response, registry: Registry, *, returns: str | None = None
) -> dict[str, Any]:
    if response.kind == "ex" or returns is None:
        ref: TypeRef | None = OBJECT
    elif returns == "void":
        ref = None
    else:
        ref = parse_type(returns)
    value = None
    if ref is not None:
        value = _numbered(registry, [(response.value, ref)]).value(response.value, ref)
    return {"kind": response.kind, "version": response.version, "flags": response.flags,
            "value": value}


# --- JSON → values -------------------------------------------------------------------------


class _Builder:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.ids: dict[int, GwtObject] = {}

    def fail(self, where: str, message: str, kind: str | None = None) -> EncodeError:
        return EncodeError(f"{where or 'value'}: {message}", kind=kind)

    def value(self, data: Any, declared: TypeRef, where: str) -> Any:
        kind = declared.kind
        if data is None:
            return None
        if kind == "string":
            if not isinstance(data, str):
                raise self.fail(where, f"expected a string, got {data!r:.60}")
            return data
        if kind != "object":
            return self._primitive(data, kind, where)
        if isinstance(data, dict):
            if "$ref" in data:
                ref = data["$ref"]
                if set(data) != {"$ref"} or not isinstance(ref, int) or ref not in self.ids:
                    raise self.fail(where, f"$ref {ref!r} names no earlier $id")
                return self.ids[ref]
            if "$type" in data:
                return self._typed(data, where)
            raise self.fail(where, "an object needs \"$type\" (or \"$ref\")")
        return self._plain_object(data, declared, where)

    def _primitive(self, data: Any, kind: str, where: str) -> Any:
        if kind == "Z":
            if not isinstance(data, bool):
                raise self.fail(where, f"expected true/false, got {data!r:.60}")
            return data
        if kind in ("D", "F"):
            if isinstance(data, str) and data in ("NaN", "Infinity", "-Infinity"):
                return float(data)
            if isinstance(data, bool) or not isinstance(data, int | float):
                raise self.fail(where, f"expected a number, got {data!r:.60}")
            return float(data)
        if kind == "C":
            if not isinstance(data, str) or len(data) != 1:
                raise self.fail(where, f"expected a one-character string, got {data!r:.60}")
            return data
        if isinstance(data, bool) or not isinstance(data, int):
            raise self.fail(where, f"expected an integer, got {data!r:.60}")
        return data

    def _plain_object(self, data: Any, declared: TypeRef, where: str) -> GwtObject:
        target = declared.class_name or "java.lang.Object"
        open_slot = target in OPEN_TYPES or target not in FINAL_BOXES
        if isinstance(data, list):
            items = [self.value(item, OBJECT, f"{where}[{i}]") for i, item in enumerate(data)]
            return Collection(BUILTINS[_ARRAYLIST].signature, items)
        if isinstance(data, bool) and (target == "java.lang.Boolean" or open_slot):
            return Boxed(BUILTINS["java.lang.Boolean"].signature, data)
        if isinstance(data, str) and target == "java.lang.Character" and len(data) == 1:
            return Boxed(BUILTINS[target].signature, data)
        if isinstance(data, str) and (target == "java.lang.String" or open_slot):
            return Boxed(BUILTINS["java.lang.String"].signature, data)
        if target in FINAL_BOXES and target not in _PLAIN_ANYWHERE:
            letter = BUILTINS[target].letter
            return Boxed(BUILTINS[target].signature, self._primitive(data, letter, where))
        raise self.fail(where, f"{data!r:.60} needs a \"$type\" in a slot declared {target}")

    def _typed(self, data: dict[str, Any], where: str) -> GwtObject:
        signature = data["$type"]
        if not isinstance(signature, str):
            raise self.fail(where, "\"$type\" must be a type signature string")
        class_name = strip_crc(signature)
        entry = self.registry.lookup(class_name)
        here = f"{where}<{class_name}>"
        if entry is None:
            raise self.fail(here, f"unknown class {class_name!r}", "unknown-class")
        obj = self._shell(entry, signature)
        if "$id" in data:
            ident = data["$id"]
            if isinstance(ident, bool) or not isinstance(ident, int) or ident in self.ids:
                raise self.fail(here, f"bad or duplicate $id {ident!r}")
            self.ids[ident] = obj
        body = {k: v for k, v in data.items() if k not in ("$type", "$id")}
        self._fill(obj, entry, body, here)
        return obj

    def _shell(self, entry: Any, signature: str) -> GwtObject:
        if isinstance(entry, ClassSchema):
            return Instance(signature, {})
        if isinstance(entry, EnumSchema):
            return EnumValue(signature)
        if isinstance(entry, ArrayClass) or (isinstance(entry, Builtin) and entry.kind in (
                "list", "treeset")):
            return Collection(signature)
        if isinstance(entry, Builtin) and entry.kind in ("map", "linkedmap", "treemap"):
            return MapValue(signature)
        return Boxed(signature)

    def _fill(self, obj: GwtObject, entry: Any, body: dict[str, Any], here: str) -> None:
        def take(key: str) -> Any:
            if key not in body:
                raise self.fail(here, f"missing {key!r}")
            return body.pop(key)

        if isinstance(obj, Instance):
            for spec in self.registry.fields_of(entry.name):
                obj.fields[spec.name] = self.value(take(spec.name), spec.type,
                                                   f"{here}.{spec.name}")
        elif isinstance(obj, EnumValue):
            ordinal = take("ordinal")
            body.pop("name", None)
            if isinstance(ordinal, bool) or not isinstance(ordinal, int) or ordinal < 0:
                raise self.fail(here, f"bad ordinal {ordinal!r}")
            obj.ordinal = ordinal
            constants = entry.constants
            obj.name = constants[ordinal] if ordinal < len(constants) else None
        elif isinstance(obj, Collection):
            element = entry.component if isinstance(entry, ArrayClass) else OBJECT
            if isinstance(entry, Builtin) and entry.kind == "treeset":
                obj.comparator = self.value(take("comparator"), OBJECT, f"{here}.comparator")
            items = take("items")
            if not isinstance(items, list):
                raise self.fail(here, "\"items\" must be a list")
            obj.items = [self.value(v, element, f"{here}[{i}]") for i, v in enumerate(items)]
        elif isinstance(obj, MapValue):
            if entry.kind == "linkedmap":
                obj.access_order = self._primitive(take("access_order"), "Z", here)
            if entry.kind == "treemap":
                obj.comparator = self.value(take("comparator"), OBJECT, f"{here}.comparator")
            entries = take("entries")
            if not isinstance(entries, list) or not all(
                isinstance(e, list) and len(e) == 2 for e in entries
            ):
                raise self.fail(here, "\"entries\" must be a list of [key, value] pairs")
            obj.entries = [(self.value(k, OBJECT, f"{here}[{i}].key"),
                            self.value(v, OBJECT, f"{here}[{i}].value"))
                           for i, (k, v) in enumerate(entries)]
        else:
            assert isinstance(obj, Boxed)
            raw = take("value")
            if entry.kind == "boxed":
                obj.value = self._primitive(raw, entry.letter, here)
            elif entry.kind in ("date", "timestamp"):
                obj.value = self._primitive(raw, "J", here)
                if entry.kind == "timestamp":
                    obj.nanos = self._primitive(take("nanos"), "I", here)
            elif not isinstance(raw, str):
                raise self.fail(here, "\"value\" must be a string")
            else:
                obj.value = raw
        if body:
            raise self.fail(here, f"unknown keys: {', '.join(sorted(body))}")


def request_from_json(data: Any, registry: Registry) -> Request:
    """Build a ``Request`` from its JSON form; errors name the offending path."""
    if not isinstance(data, dict) or data.get("kind") != "request":
        raise EncodeError('expected a JSON object with "kind": "request"')
    for key in ("module_base", "strong_name", "service", "method"):
        if not isinstance(data.get(key), str):
            raise EncodeError(f"request: {key!r} must be a string")
    params = data.get("params")
    if not isinstance(params, list):
        raise EncodeError("request: 'params' must be a list")
    builder = _Builder(registry)
    flags = data.get("flags", 0)
    rpc_token = None
    if isinstance(flags, int) and flags & 2:
        rpc_token = builder.value(data.get("rpc_token"), OBJECT, "rpc_token")
    built = []
    for i, param in enumerate(params):
        if not isinstance(param, dict) or not isinstance(param.get("type"), str):
            raise EncodeError(f"params[{i}]: expected {{\"type\": ..., \"value\": ...}}")
        try:
            ref = parse_type(param["type"])
        except SchemaError as exc:
            raise EncodeError(f"params[{i}]: {exc}") from None
        built.append(Param(param["type"], builder.value(param.get("value"), ref, f"params[{i}]")))
    version = data.get("version", 7)
    if not isinstance(version, int) or not isinstance(flags, int):
        raise EncodeError("request: version and flags must be integers")
    return Request(
        service=data["service"], method=data["method"], params=built,
        module_base=data["module_base"], strong_name=data["strong_name"],
        version=version, flags=flags, rpc_token=rpc_token,
    )


def value_from_json(data: Any, declared_type: str, registry: Registry) -> Any:
    """Build one value of ``declared_type`` from its JSON form (used by the sandbox and tests)."""
    return _Builder(registry).value(data, parse_type(declared_type), "value")
