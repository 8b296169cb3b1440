"""GWT's generated TypeSerializer tables: type signature → [instantiate, deserialize, serialize].

Every era writes one row per class, keyed by ``'<class>/<crc>'`` (a literal or an interned
string variable):

- 2.1+: ``a[key]=[inst,deser,ser]`` in a loader function or a comma expression in the clinit;
- 2.0: the same, and leftover ``registerMethods(map, key, [inst,deser,ser])`` calls;
- 1.x: an object literal ``{key: [inst,deser,ser], …}`` (1.4 wraps each function in a lambda
  that only forwards its arguments: ``function(a){return f(a);}``).

A receive-only class has no serializer (``[i,d]``), a send-only one has holes (``[,,s]``, or
``null``/``undefined`` in their place). Every table of every service is read and merged: a
class may be in several, with different holes.

The rows are located by their key (``[KEY]=[``, ``KEY,[``, ``KEY:[`` where KEY is a signature)
and accepted only where the parse tree has that shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from scraper.gwt.permutation.jsindex import Function, Program, function_of, name_before, text

#: what follows a row's key: ``M[KEY]=[`` · ``registerMethods(M, 'KEY', [`` · ``{'KEY': [``
_AFTER_KEY = (b"]=[", b"] = [", b"',[", b"', [", b'",[', b'", [', b"':[", b"': [", b'":[', b'": [')

#: ``name/CRC`` of a class, an array of objects or an array of primitives
SIGNATURE = re.compile(r"^(?:\[+(?:L[\w$.]+;|[ZBCDFIJS])|[A-Za-z_$][\w$]*(?:\.[\w$]+)*)/\d{1,10}$")
_EMPTY = frozenset({"null", "undefined"})


@dataclass(frozen=True, slots=True)
class Entry:
    """The three functions of one signature (None where the table has none)."""

    signature: str
    instantiate: Function | None
    deserialize: Function | None
    serialize: Function | None


def find_entries(program: Program) -> dict[str, Entry]:
    """Every TypeSerializer entry in the program, merged by signature."""
    merged: dict[str, Entry] = {}
    seen: set[int] = set()
    for start, end, shape in _row_keys(program.data):
        raw = program.data[start:end]
        signature = (program.string_literal_at(start) if raw[:1] in b"'\""
                     else program.string_value(raw.decode("ascii", "replace")))
        if signature is None or not SIGNATURE.match(signature):
            continue
        key = program.node_at(start, end)
        array = _row_array(key, shape) if key is not None else None
        if array is None or array.id in seen:
            continue
        seen.add(array.id)
        functions = _entry_functions(array, program)
        if functions is not None:
            merged[signature] = _merge(merged.get(signature), Entry(signature, *functions))
    return merged


def _row_keys(data: bytes) -> list[tuple[int, int, str]]:
    """Where a row's key may be — (start, end, shape) — found by what follows it."""
    out = []
    for needle in _AFTER_KEY:
        position = data.find(needle)
        while position >= 0:
            if needle[0] == ord("]"):
                key = _key_before(data, position)
                shape = "key"
            else:
                key = _literal_before(data, position + 1)
                shape = "arg" if b"," in needle else "prop"
            if key is not None:
                out.append((key[0], key[1], shape))
            position = data.find(needle, position + 1)
    return out


def _key_before(data: bytes, end: int) -> tuple[int, int] | None:
    """The key of ``[KEY]`` whose ``]`` is at ``end``: a string literal or an identifier."""
    while end > 0 and data[end - 1] in b" \t":
        end -= 1
    if end and data[end - 1] in b"'\"":
        return _literal_before(data, end)
    named = name_before(data, end)
    return (named[1], end) if named is not None else None


def _literal_before(data: bytes, end: int) -> tuple[int, int] | None:
    """The string literal that ends at ``end`` (its closing quote at ``end - 1``)."""
    quote = data[end - 1:end]
    start = data.rfind(quote, max(0, end - 4096), end - 1)
    while start > 0 and data[start - 1] == ord("\\"):
        start = data.rfind(quote, max(0, end - 4096), start)
    return (start, end) if start >= 0 else None


def _row_array(key: Node, group: str) -> Node | None:
    """The ``[…]`` of a table row whose key is ``key``, if the tree has a row's shape there."""
    parent = key.parent
    if parent is None:
        return None
    if group == "key":  # M[key] = [...]
        assignment = parent.parent
        if (parent.type != "subscript_expression" or assignment is None
                or assignment.type != "assignment_expression"
                or assignment.child_by_field_name("left") != parent):
            return None
        right = assignment.child_by_field_name("right")
    elif group == "arg":  # registerMethods(M, key, [...])
        args = [a for a in parent.named_children if a.type != "comment"]
        if parent.type != "arguments" or len(args) != 3 or args[1] != key:
            return None
        right = args[2]
    else:  # {key: [...]}
        if parent.type != "pair" or parent.child_by_field_name("key") != key:
            return None
        right = parent.child_by_field_name("value")
    return right if right is not None and right.type == "array" else None


def _entry_functions(
    array: Node, program: Program,
) -> tuple[Function | None, Function | None, Function | None] | None:
    """``[i, d, s]`` with holes as None; None when the array is not a table entry."""
    slots: list[Function | None] = [None, None, None]
    position = 0
    for child in array.children:
        if child.type == ",":
            position += 1
            continue
        if child.type in ("[", "]", "comment"):
            continue
        if position > 2:
            return None
        if child.type in _EMPTY or (child.type == "identifier" and child.text == b"undefined"):
            continue
        if child.type in ("function_expression", "arrow_function"):
            slots[position] = _unwrapped(function_of(child), program)
            continue
        fn = program.callee(child)
        if fn is None:
            return None
        slots[position] = fn
    if not any(slots):
        return None
    return slots[0], slots[1], slots[2]


def _unwrapped(fn: Function, program: Program) -> Function:
    """GWT 1.4 wraps each table function in a lambda that only forwards its arguments
    (``function(a,b){Y(a,b);}``): the function it forwards to."""
    statements = fn.statements
    if len(statements) != 1:
        return fn
    only = statements[0]
    expr = only.named_children[0] if only.named_children else None
    if expr is None or expr.type != "call_expression":
        return fn
    callee = expr.child_by_field_name("function")
    args = expr.child_by_field_name("arguments")
    values = [text(a) for a in args.named_children if a.type != "comment"] if args else []
    if callee is None or callee.type != "identifier" or tuple(values) != fn.params:
        return fn
    target = program.function(text(callee))
    return target if target is not None else fn


def _merge(old: Entry | None, new: Entry) -> Entry:
    if old is None:
        return new
    return Entry(new.signature, old.instantiate or new.instantiate,
                 old.deserialize or new.deserialize, old.serialize or new.serialize)
