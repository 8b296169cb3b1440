"""Derive every RPC type layout and service of a build from its compiled permutation.

Order matters: the TypeSerializer tables first (they name every class the client exchanges and
point at its serializer functions), then the anchors (GWT's built-in serializers say what each
reader call is in this build), then every class's serializer bodies, then the proxies.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from functools import cache
from typing import Literal

from tree_sitter import Query, QueryCursor

from scraper.errors import PermutationError
from scraper.gwt.builtins import BUILTINS
from scraper.gwt.permutation.jsindex import Function, JsIndex, _language, text, walk
from scraper.gwt.permutation.layouts import Op, read_ops, walk_serializer
from scraper.gwt.permutation.model import NUMERIC_KINDS, DerivedBuild, DerivedType, Kind, Slot
from scraper.gwt.permutation.proxies import find_services
from scraper.gwt.permutation.source import programs
from scraper.gwt.permutation.streams import Streams
from scraper.gwt.permutation.tables import Entry, find_entries

log = logging.getLogger(__name__)

#: the kind each boxed built-in's instantiate reads (its custom field serializer)
_BOXED: dict[str, Kind] = {
    "java.lang.Long": "long", "java.lang.String": "String", "java.lang.Boolean": "boolean",
    "java.lang.Integer": "int", "java.lang.Short": "short", "java.lang.Byte": "byte",
    "java.lang.Character": "char", "java.lang.Double": "double", "java.lang.Float": "float",
}
#: collections whose deserialize reads a size, then objects
_COLLECTIONS = ("java.util.ArrayList", "java.util.LinkedList", "java.util.HashSet",
                "java.util.Vector", "java.util.HashMap", "java.util.LinkedHashSet",
                "java.util.Arrays$ArrayList")
_PRETTY = re.compile(r"^\$?(?:deserialize|serialize|instantiate)(?:_\d+)?$|^\$clinit_")
_VERSION = re.compile(rb"\$gwt_version\s*=\s*[\"']([\d.]+)[\"']")
_STRONG = re.compile(rb"\$strongName\s*=\s*[\"']([0-9A-F]{32})[\"']")


def derive_permutation(source: str) -> DerivedBuild:
    """Everything the permutation's own client decodes with; a typed error when ``source`` is
    not a GWT permutation whose RPC tables carry type names."""
    if not isinstance(source, str) or not source.strip():
        raise PermutationError("empty input: not a GWT permutation", reason="empty")
    index = JsIndex()
    sources: list[bytes] = []
    for root, data in programs(source):
        index.add(root)
        sources.append(data)
    entries = find_entries(index)
    if not entries:
        raise PermutationError(
            "no GWT-RPC TypeSerializer table found: not a compiled GWT permutation with RPC "
            "services (or one compiled with type names elided)", reason="no-type-table")
    streams = Streams(index)
    _anchor(streams, index, entries)
    build = DerivedBuild(style=_style(index))
    deserializers = {e.deserialize.node.id: sig for sig, e in entries.items() if e.deserialize}
    serializers = {e.serialize.node.id: sig for sig, e in entries.items() if e.serialize}
    ordinal = _ordinal_property(index) if _needs_ordinal(entries) else None
    for signature in sorted(entries):
        entry = entries[signature]
        derived = _derive_type(entry, index, streams, deserializers, serializers, ordinal)
        if build.style == "OBF":  # property and setter names are the obfuscator's, not Java's
            derived = replace(derived, fields=tuple(Slot(s.kind) for s in derived.fields))
        build.types[derived.name] = derived
    build.services = find_services(index, sources)
    joined = b"".join(sources)
    version, strong = _VERSION.search(joined), _STRONG.search(joined)
    build.gwt_version = version.group(1).decode() if version else None
    build.strong_name = strong.group(1).decode() if strong else None
    return build


def _style(index: JsIndex) -> Literal["OBF", "PRETTY"]:
    return "PRETTY" if any(_PRETTY.match(name) for name in index.functions) else "OBF"


def _name(signature: str) -> str:
    return signature.rpartition("/")[0]


# --- anchors ----------------------------------------------------------------------------------

def _anchor(streams: Streams, index: JsIndex, entries: dict[str, Entry]) -> None:
    """Learn this build's reader and writer calls from GWT's serializers of its built-ins."""
    reads: dict[str, set[Kind]] = {}
    writes: dict[str, set[Kind]] = {}
    for signature, entry in entries.items():
        name = _name(signature)
        if name in _BOXED:
            kind = _BOXED[name]
            if entry.instantiate is not None:
                for op in read_ops(index, streams, entry.instantiate)[:1]:
                    reads.setdefault(op.fingerprint, set()).add(kind)
            if entry.serialize is not None:
                for fingerprint in _boxed_write(index, streams, entry.serialize)[:1]:
                    writes.setdefault(fingerprint, set()).add(kind)
        elif name in _COLLECTIONS:
            if entry.deserialize is not None:
                _collection_anchor(_chain_ops(index, streams, entry.deserialize, writing=False), reads)
            if entry.serialize is not None:
                _collection_anchor(_chain_ops(index, streams, entry.serialize, writing=True), writes)
    for fingerprint, kinds in reads.items():
        if fingerprint not in ("raw", "!!raw"):
            streams.read_anchors[fingerprint] = _one_kind(kinds)
    for fingerprint, kinds in writes.items():
        streams.write_anchors[fingerprint] = _one_kind(kinds)


def _boxed_write(index: JsIndex, streams: Streams, fn: Function) -> list[str]:
    """The write of a boxed built-in's serialize. String's writes the instance itself
    (``writeString(w, s)``), which looks like a superclass call, so take the first call of the
    writer whatever its value."""
    ops = _chain_ops(index, streams, fn, writing=True)
    if ops:
        return [ops[0].fingerprint]
    for node in walk(fn.body):
        if node.type == "call_expression":
            callee = node.child_by_field_name("function")
            args = node.child_by_field_name("arguments")
            values = [text(a) for a in args.named_children] if args else []
            if callee is not None and values[:1] == [fn.params[0]] and len(values) == 2:
                return [f"f:{text(callee)}|v"]
            if (callee is not None and callee.type == "member_expression"
                    and text(callee.child_by_field_name("object") or callee) == fn.params[0]):
                return [f"m:{text(callee.child_by_field_name('property') or callee)}|v"]
    return []


def _collection_anchor(ops: list[Op], into: dict[str, set[Kind]]) -> None:
    if len(ops) >= 2:
        into.setdefault(ops[0].fingerprint, set()).add("int")
        for op in ops[1:]:
            into.setdefault(op.fingerprint, set()).add("Object")


def _one_kind(kinds: set[Kind]) -> Kind:
    if len(kinds) == 1:
        return next(iter(kinds))
    return "numeric" if kinds <= NUMERIC_KINDS else "Object"


def _chain_ops(index: JsIndex, streams: Streams, fn: Function, *, writing: bool) -> list[Op]:
    """Ops of a serializer and of every (custom) base serializer it delegates to."""
    ops: list[Op] = []
    seen: set[int] = set()
    current: Function | None = fn
    while current is not None and current.node.id not in seen:
        seen.add(current.node.id)
        walked = walk_serializer(index, streams, current, writing=writing)
        ops.extend(walked.ops)
        current = walked.superclass
    return ops


# --- one entry --------------------------------------------------------------------------------

def _derive_type(
    entry: Entry, index: JsIndex, streams: Streams,
    deserializers: dict[int, str], serializers: dict[int, str], ordinal: str | None,
) -> DerivedType:
    signature = entry.signature
    name = _name(signature)
    receive = entry.instantiate is not None or entry.deserialize is not None
    send = entry.serialize is not None
    if name.startswith("["):
        return DerivedType(signature, receive, send, "array")
    if name in BUILTINS:
        return DerivedType(signature, receive, send, "builtin")
    if _is_enum(entry, index, streams, ordinal):
        return DerivedType(signature, receive, send, "enum")
    if entry.instantiate is not None and read_ops(index, streams, entry.instantiate):
        return DerivedType(signature, receive, send, "opaque",
                           note="a custom field serializer reads in instantiate")
    if entry.deserialize is not None:
        slots, superclass, problem = _layout(entry.deserialize, index, streams, deserializers,
                                             writing=False)
        if entry.serialize is not None and problem is None:
            slots = _refine(slots, _layout(entry.serialize, index, streams, serializers,
                                           writing=True)[0])
    elif entry.serialize is not None:
        slots, superclass, problem = _layout(entry.serialize, index, streams, serializers,
                                             writing=True)
    else:
        return DerivedType(signature, receive, send, "opaque", note="no serializer functions")
    if problem is not None:
        return DerivedType(signature, receive, send, "opaque", note=problem)
    return DerivedType(signature, receive, send, "class", tuple(slots), superclass)


def _layout(
    fn: Function, index: JsIndex, streams: Streams, named: dict[int, str], *, writing: bool,
) -> tuple[list[Slot], str | None, str | None]:
    """Own slots (unnamed superclasses folded in), the named superclass, and a problem."""
    slots: list[Slot] = []
    seen: set[int] = set()
    current: Function | None = fn
    while current is not None and current.node.id not in seen:
        seen.add(current.node.id)
        walked = walk_serializer(index, streams, current, writing=writing)
        for op in walked.ops:
            if op.kind is None:
                return [], None, f"unknown {'writer' if writing else 'reader'} call {op.fingerprint!r}"
            slots.append(Slot(op.kind, op.name))
        current = walked.superclass
        if current is not None and current.node.id in named:
            return slots, _name(named[current.node.id]), None
    return slots, None, None


def _refine(reads: list[Slot], writes: list[Slot]) -> list[Slot]:
    """Where the reader collapsed numeric kinds, the writer may still tell them apart."""
    if len(reads) != len(writes):
        return reads
    out = []
    for r, w in zip(reads, writes, strict=True):
        kind = w.kind if r.kind == "numeric" and w.kind in NUMERIC_KINDS else r.kind
        out.append(Slot(kind, r.name or w.name))
    return out


# --- enums ------------------------------------------------------------------------------------

def _is_enum(entry: Entry, index: JsIndex, streams: Streams, ordinal: str | None) -> bool:
    """Instantiate reads one int and indexes ``values()`` with it; a send-only enum writes
    its ordinal and nothing else."""
    if entry.instantiate is not None:
        ops = read_ops(index, streams, entry.instantiate)
        return len(ops) == 1 and ops[0].kind in NUMERIC_KINDS and not _has_new(entry.instantiate)
    if entry.serialize is None:
        return False
    fn = entry.serialize
    walked = walk_serializer(index, streams, fn, writing=True)
    if len(walked.ops) != 1 or walked.superclass is not None or walked.ops[0].kind not in (
            NUMERIC_KINDS | {None}):
        return False
    prop = walked.ops[0].name
    return prop is not None and prop in ("ordinal", ordinal)


def _needs_ordinal(entries: dict[str, Entry]) -> bool:
    """Only send-only entries need the ordinal property to be told from one-int classes."""
    return any(e.instantiate is None and e.deserialize is None and e.serialize is not None
               and not _name(sig).startswith(("[", "java.")) for sig, e in entries.items())


def _has_new(fn: Function) -> bool:
    return any(node.type == "new_expression" for node in walk(fn.body))


def _ordinal_property(index: JsIndex) -> str | None:
    """The property that holds ``Enum.ordinal`` in this build: the one that enum constants'
    construction (``new X('NAME', 3)``) assigns from its second argument."""
    counts: dict[str, int] = {}
    for root in index.roots:
        for _pattern, caps in QueryCursor(_constant_query()).matches(root):
            prop = _assigned_from_param(index, text(caps["ctor"][0]), 1, depth=3)
            if prop:
                counts[prop] = counts.get(prop, 0) + 1
    return max(counts, key=lambda p: counts[p]) if counts else None


@cache
def _constant_query() -> Query:
    return Query(_language(), "(new_expression constructor: (identifier) @ctor "
                              "arguments: (arguments . (string) . (number)))")


def _assigned_from_param(index: JsIndex, name: str, position: int, depth: int) -> str | None:
    """Which ``this.P`` a constructor sets from its parameter at ``position`` (following
    ``Super.call(this, a, b)`` delegation)."""
    fn = index.function(name)
    if fn is None or depth < 0 or len(fn.params) <= position:
        return None
    param = fn.params[position]
    for node in walk(fn.body):
        if node.type == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if (left is not None and right is not None and left.type == "member_expression"
                    and text(left).startswith("this.") and text(right) == param):
                prop = left.child_by_field_name("property")
                return text(prop) if prop is not None else None
        if node.type == "call_expression":
            callee = node.child_by_field_name("function")
            args = node.child_by_field_name("arguments")
            if callee is None or args is None or not text(callee).endswith(".call"):
                continue
            values = [text(a) for a in args.named_children]
            if values[:1] == ["this"] and param in values[1:]:
                target = text(callee)[: -len(".call")]
                found = _assigned_from_param(index, target, values.index(param) - 1, depth - 1)
                if found:
                    return found
    return None
