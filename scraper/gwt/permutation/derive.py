"""Derive every RPC type layout and service of a build from its compiled permutation.

Order matters: the TypeSerializer tables first (they name every class the client exchanges and
point at its serializer functions), then the anchors (GWT's built-in serializers say what each
reader call is in this build), then every class's serializer bodies, then the proxies.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Literal

from tree_sitter import Node

from scraper.errors import PermutationError
from scraper.gwt.builtins import BUILTINS
from scraper.gwt.permutation.jsindex import Function, Program, name_before, text, walk
from scraper.gwt.permutation.layouts import Op, Walked, java_property, read_ops, walk_serializer
from scraper.gwt.permutation.model import NUMERIC_KINDS, DerivedBuild, DerivedType, Kind, Slot
from scraper.gwt.permutation.proxies import find_services
from scraper.gwt.permutation.source import program_bytes
from scraper.gwt.permutation.streams import (
    Streams,
    _args,
    _strip,
    _unparen,
    function_locals,
    returned_value,
)
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
#: built-ins whose content has no fixed length: a class that extends one has no fixed layout
_VARIABLE = frozenset({"list", "treeset", "map", "linkedmap", "treemap"})
#: PRETTY names (``deserialize_1``, ``$clinit_120``) and SuperDevMode's (``nzc_g$``)
_PRETTY = re.compile(rb"^\$?(?:deserialize|serialize|instantiate)(?:_\d+)?$|^\$clinit_|_g\$$")
_VERSION = re.compile(rb"\$gwt_version\s*=\s*[\"']([\d.]+)[\"']")
_STRONG = re.compile(rb"\$strongName\s*=\s*[\"']([0-9A-F]{32})[\"']")
#: an enum constant's construction: ``new X('NAME', 3`` or ``X.call(this, 'NAME', 3``
_ENUM_NEW = re.compile(rb"new\s+([\w$]+)\s*\(\s*(['\"])[A-Z_$][\w$]*\2\s*,\s*\d+\s*[,)]")
_ENUM_CALL = re.compile(rb"\.call\(\s*this\s*,\s*(['\"])[A-Z_$][\w$]*\1\s*,\s*\d+\s*[,)]")
_ENUM_SAMPLE = 40


def derive_permutation(source: str) -> DerivedBuild:
    """Everything the permutation's own client decodes with; a typed error when ``source`` is
    not a GWT permutation whose RPC tables carry type names."""
    if not isinstance(source, str) or not source.strip():
        raise PermutationError("empty input: not a GWT permutation", reason="empty")
    program = Program(program_bytes(source))
    entries = find_entries(program)
    if not entries:
        raise PermutationError(
            "no GWT-RPC TypeSerializer table found: not a compiled GWT permutation with RPC "
            "services (or one compiled with type names elided)", reason="no-type-table")
    streams = Streams(program)
    _anchor(streams, program, entries)
    build = DerivedBuild(style=_style(program))
    deserializers = {e.deserialize.node.id: sig for sig, e in entries.items() if e.deserialize}
    serializers = {e.serialize.node.id: sig for sig, e in entries.items() if e.serialize}
    ordinal = _ordinal_property(program) if _needs_ordinal(entries) else None
    for signature in sorted(entries):
        entry = entries[signature]
        derived = _derive_type(entry, program, streams, deserializers, serializers, ordinal)
        if build.style == "OBF":  # property and setter names are the obfuscator's, not Java's
            derived = replace(derived, fields=tuple(Slot(s.kind) for s in derived.fields))
        build.types[derived.name] = derived
    version, strong = _VERSION.search(program.data), _STRONG.search(program.data)
    build.gwt_version = version.group(1).decode() if version else None
    build.strong_name = strong.group(1).decode() if strong else None
    build.services = find_services(program, build.strong_name)
    return build


def _style(program: Program) -> Literal["OBF", "PRETTY"]:
    return "PRETTY" if program.any_function_named(_PRETTY) else "OBF"


def _name(signature: str) -> str:
    return signature.rpartition("/")[0]


# --- anchors ----------------------------------------------------------------------------------

def _anchor(streams: Streams, program: Program, entries: dict[str, Entry]) -> None:
    """Learn this build's reader and writer calls from GWT's serializers of its built-ins.
    Anchors that disagree (a call that reads an int for one built-in and a String for another)
    anchor nothing, unless they only disagree on which number it is."""
    reads: dict[str, set[Kind]] = {}
    writes: dict[str, set[Kind]] = {}
    for signature, entry in entries.items():
        name = _name(signature)
        if name in _BOXED:
            kind = _BOXED[name]
            if entry.instantiate is not None:
                for op in read_ops(program, streams, entry.instantiate)[:1]:
                    reads.setdefault(op.fingerprint, set()).add(kind)
            if entry.serialize is not None:
                for fingerprint in _boxed_write(program, streams, entry.serialize)[:1]:
                    writes.setdefault(fingerprint, set()).add(kind)
        elif name in _COLLECTIONS:
            if entry.deserialize is not None:
                _collection_anchor(_chain_ops(program, streams, entry.deserialize, writing=False),
                                   reads)
            if entry.serialize is not None:
                _collection_anchor(_chain_ops(program, streams, entry.serialize, writing=True),
                                   writes)
    read_anchors: dict[str, Kind] = {}
    write_anchors: dict[str, Kind] = {}
    for fingerprint, kinds in reads.items():
        agreed = _one_kind(kinds)
        if fingerprint not in ("raw", "!!raw", "Number(raw)") and agreed is not None:
            read_anchors[fingerprint] = agreed
    for fingerprint, kinds in writes.items():
        agreed = _one_kind(kinds)
        if agreed is not None:
            write_anchors[fingerprint] = agreed
    streams.set_anchors(read_anchors, write_anchors)


def _boxed_write(program: Program, streams: Streams, fn: Function) -> list[str]:
    """The write of a boxed built-in's serialize. String's writes the instance itself
    (``writeString(w, s)``), which looks like a superclass call, so take the first call of the
    writer whatever its value."""
    ops = _chain_ops(program, streams, fn, writing=True)
    if ops:
        return [ops[0].fingerprint]
    for node in walk(fn.body):
        if node.type == "call_expression":
            callee = node.child_by_field_name("function")
            values = [text(_strip(a)) for a in _args(node)]
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


def _one_kind(kinds: set[Kind]) -> Kind | None:
    if len(kinds) == 1:
        return next(iter(kinds))
    return "numeric" if kinds <= NUMERIC_KINDS else None


def _serializer_chain(program: Program, streams: Streams, fn: Function, *, writing: bool,
                      stop: dict[int, str] | None = None) -> Iterator[Walked]:
    """Walk a serializer, then every base serializer it delegates to, up the chain (once each;
    before any function in ``stop``, a superclass with a table entry of its own)."""
    seen: set[int] = set()
    current: Function | None = fn
    while current is not None and current.node.id not in seen and (
            current is fn or stop is None or current.node.id not in stop):
        seen.add(current.node.id)
        walked = walk_serializer(program, streams, current, writing=writing)
        yield walked
        current = walked.superclass


def _chain_ops(program: Program, streams: Streams, fn: Function, *, writing: bool) -> list[Op]:
    """Ops of a serializer and of every (custom) base serializer it delegates to."""
    return [op for walked in _serializer_chain(program, streams, fn, writing=writing)
            for op in walked.ops]


# --- one entry --------------------------------------------------------------------------------

def _derive_type(
    entry: Entry, program: Program, streams: Streams,
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
    if _is_enum(entry, program, streams, ordinal):
        count = _enum_constants(entry.instantiate, program) if entry.instantiate else None
        return DerivedType(signature, receive, send, "enum", constants=count)
    if entry.instantiate is not None and read_ops(program, streams, entry.instantiate):
        return DerivedType(signature, receive, send, "opaque",
                           note="a custom field serializer reads in instantiate")
    if entry.deserialize is not None:
        slots, superclass, problem = _layout(entry.deserialize, program, streams, deserializers,
                                             writing=False)
        if entry.serialize is not None and problem is None:
            slots = _refine(slots, _layout(entry.serialize, program, streams, serializers,
                                           writing=True)[0])
    elif entry.serialize is not None:
        slots, superclass, problem = _layout(entry.serialize, program, streams, serializers,
                                             writing=True)
    else:
        return DerivedType(signature, receive, send, "opaque", note="no serializer functions")
    if problem is None and superclass in BUILTINS and BUILTINS[superclass].kind in _VARIABLE:
        problem = f"extends {superclass}, whose content has no fixed length"
    if problem is not None:
        return DerivedType(signature, receive, send, "opaque", note=problem)
    return DerivedType(signature, receive, send, "class", tuple(slots), superclass)


def _layout(
    fn: Function, program: Program, streams: Streams, named: dict[int, str], *, writing: bool,
) -> tuple[list[Slot], str | None, str | None]:
    """Own slots (unnamed superclasses folded in), the named superclass, and a problem."""
    slots: list[Slot] = []
    walked: Walked | None = None
    for walked in _serializer_chain(program, streams, fn, writing=writing, stop=named):
        if walked.looped:
            return [], None, "reads in a loop: a custom serializer with no fixed layout"
        for op in walked.ops:
            if op.kind is None:
                return [], None, f"unknown {'writer' if writing else 'reader'} call {op.fingerprint!r}"
            slots.append(Slot(op.kind, op.name))
    last = walked.superclass if walked is not None else None
    return slots, (_name(named[last.node.id]) if last is not None and last.node.id in named
                   else None), None


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

def _is_enum(entry: Entry, program: Program, streams: Streams, ordinal: str | None) -> bool:
    """Instantiate reads one int and returns that element of the constants (``values()[c]``,
    ``(clinit(), VALUES)[c]``); a send-only enum writes its ordinal and nothing else."""
    if entry.instantiate is not None:
        ops = read_ops(program, streams, entry.instantiate)
        return (len(ops) == 1 and ops[0].kind in NUMERIC_KINDS
                and not _has_new(entry.instantiate) and _indexed_values(entry.instantiate) is not None)
    if entry.serialize is None:
        return False
    fn = entry.serialize
    walked = walk_serializer(program, streams, fn, writing=True)
    if len(walked.ops) != 1 or walked.superclass is not None or walked.ops[0].kind not in (
            NUMERIC_KINDS | {None}):
        return False
    prop = walked.ops[0].name
    return prop is not None and prop in ("ordinal", ordinal)


def _indexed_values(fn: Function) -> Node | None:
    """What instantiate indexes with the ordinal: the ``X`` of ``return X[c]``."""
    value = returned_value(fn)
    if value is None or value.type != "subscript_expression":
        return None
    array = value.child_by_field_name("object")
    if array is None:
        return None
    array = _strip(array)
    if array.type == "identifier":
        bound = function_locals(fn).get(text(array))
        if bound is not None:
            return bound
    return array


def _enum_constants(fn: Function, program: Program) -> int | None:
    """How many constants the enum has: the length of the array its values come from —
    ``(clinit(), VALUES)`` with the clinit assigning ``VALUES = init(…, [A, B, C])``, or
    ``values()`` returning such an array."""
    values = _indexed_values(fn)
    if values is None:
        return None
    return _array_length(values, program, depth=2)


def _array_length(node: Node, program: Program, depth: int) -> int | None:
    node = _unparen(node)
    clinits: list[str] = []
    if node.type == "sequence_expression":
        items = [_unparen(n) for n in node.named_children]
        for item in items[:-1]:
            callee = item.child_by_field_name("function") if item.type == "call_expression" else None
            if callee is not None and callee.type == "identifier":
                clinits.append(text(callee))
        node = items[-1]
    literal = _array_literal(node)
    if literal is not None:
        return literal
    if node.type == "call_expression" and depth > 0:  # values()
        callee = node.child_by_field_name("function")
        values_fn = program.callee(callee) if callee is not None else None
        returned = returned_value(values_fn) if values_fn is not None else None
        return _array_length(returned, program, depth - 1) if returned is not None else None
    if node.type == "identifier":
        for clinit in clinits:
            fn = program.function(clinit)
            for child in walk(fn.body) if fn is not None else ():
                if child.type == "assignment_expression" and text(
                        child.child_by_field_name("left") or child) == text(node):
                    right = child.child_by_field_name("right")
                    found = _array_literal(right) if right is not None else None
                    if found is not None:
                        return found
    return None


def _array_literal(node: Node) -> int | None:
    """The length of the one array literal an expression builds (``[A,B,C]`` or
    ``initValues(lit, castMap, id, [A,B,C])``)."""
    node = _unparen(node)
    if node.type == "array":
        return len([c for c in node.named_children if c.type != "comment"])
    if node.type == "call_expression":
        arrays = [a for a in _args(node) if a.type == "array"]
        if len(arrays) == 1:
            return len([c for c in arrays[0].named_children if c.type != "comment"])
    return None


def _needs_ordinal(entries: dict[str, Entry]) -> bool:
    """Only send-only entries need the ordinal property to be told from one-int classes."""
    return any(e.instantiate is None and e.deserialize is None and e.serialize is not None
               and not _name(sig).startswith(("[", "java.")) for sig, e in entries.items())


def _has_new(fn: Function) -> bool:
    return any(node.type == "new_expression" for node in walk(fn.body))


def _ordinal_property(program: Program) -> str | None:
    """The property that holds ``Enum.ordinal`` in this build: the one that enum constants'
    construction (``new X('NAME', 3)``, ``Y.call(this, 'NAME', 3)``) assigns from its second
    argument — a majority over a sample of constants."""
    counts: dict[str, int] = {}
    ctors: dict[str, int] = {}
    for match in program.locate(_ENUM_NEW):
        ctor = match.group(1).decode("ascii", "replace")
        ctors[ctor] = ctors.get(ctor, 0) + 1
        if len(ctors) >= _ENUM_SAMPLE:
            break
    for match in program.locate(_ENUM_CALL):
        if len(ctors) >= 2 * _ENUM_SAMPLE:
            break
        named = name_before(program.data, match.start())
        if named is not None:
            ctors[named[0]] = ctors.get(named[0], 0) + 1
    for ctor in ctors:
        prop = _assigned_from_param(program, ctor, 1, depth=3)
        if prop:
            counts[prop] = counts.get(prop, 0) + 1
    return java_property(max(counts, key=lambda p: counts[p])) if counts else None


def _assigned_from_param(program: Program, name: str, position: int, depth: int,
                         receiver: str = "this") -> str | None:
    """Which ``this.P`` a constructor sets from its parameter at ``position``, following
    delegation to the superclass's: ``Super.call(this, a, b)``, or a static initializer that
    takes the instance first (``init(this, a, b)`` sets ``a.P = …``)."""
    fn = program.function(name)
    if fn is None or depth < 0 or len(fn.params) <= position:
        return None
    param = fn.params[position]
    for node in walk(fn.body):
        if node.type == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            target = left.child_by_field_name("object") if left is not None and \
                left.type == "member_expression" else None
            if (target is not None and right is not None and text(_strip(target)) == receiver
                    and text(_strip(right)) == param):
                prop = left.child_by_field_name("property") if left is not None else None
                return text(prop) if prop is not None else None
        if node.type == "call_expression":
            callee = node.child_by_field_name("function")
            values = [text(_strip(a)) for a in _args(node)]
            if callee is None or values[:1] != [receiver] or param not in values[1:]:
                continue
            if text(callee).endswith(".call"):  # Super.call(this, a, b)
                found = _assigned_from_param(program, text(callee)[: -len(".call")],
                                             values.index(param) - 1, depth - 1)
            elif callee.type == "identifier":  # init(this, a, b)
                init = program.function(text(callee))
                found = _assigned_from_param(
                    program, text(callee), values.index(param), depth - 1,
                    receiver=init.params[0]) if init is not None and init.params else None
            else:
                found = None
            if found:
                return found
    return None
