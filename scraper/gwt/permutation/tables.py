"""GWT's generated TypeSerializer tables: type signature → [instantiate, deserialize, serialize].

GWT 2.x compiles each service's ``loadMethodsNative`` into a function that fills an object,
``a['<class>/<crc>']=[inst,deser,ser]`` (the key often an interned string variable), or into an
object literal. A receive-only class has no serializer (``[i,d]``), a send-only one has holes
(``[,,s]``, or ``null``/``undefined`` in their place). Every table of every service is read and
merged: a class may be in several.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from tree_sitter import Node, Query, QueryCursor

from scraper.gwt.permutation.jsindex import Function, JsIndex, _language, function_of

_TABLE_QUERY = """
(assignment_expression left: (subscript_expression index: (_) @key) right: (array) @entry)
(pair key: (_) @key value: (array) @entry)
"""

#: ``name/CRC`` of a class, an array of objects or an array of primitives
SIGNATURE = re.compile(r"^(?:\[+(?:L[\w$.]+;|[ZBCDFIJS])|[A-Za-z_$][\w$]*(?:\.[\w$]+)*)/\d{1,10}$")
_EMPTY = frozenset({"null", "undefined"})


@cache
def _table_query() -> Query:
    return Query(_language(), _TABLE_QUERY)


@dataclass(frozen=True, slots=True)
class Entry:
    """The three functions of one signature (None where the table has none)."""

    signature: str
    instantiate: Function | None
    deserialize: Function | None
    serialize: Function | None


def find_entries(index: JsIndex) -> dict[str, Entry]:
    """Every TypeSerializer entry in the program, merged by signature."""
    merged: dict[str, Entry] = {}
    for root in index.roots:
        for _pattern, caps in QueryCursor(_table_query()).matches(root):
            signature = index.string(caps["key"][0])
            if signature is None or not SIGNATURE.match(signature):
                continue
            functions = _entry_functions(caps["entry"][0], index)
            if functions is None:
                continue
            merged[signature] = _merge(merged.get(signature), Entry(signature, *functions))
    return merged


def _entry_functions(
    array: Node, index: JsIndex,
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
            slots[position] = function_of(child)
            continue
        fn = index.callee(child)
        if fn is None:
            return None
        slots[position] = fn
    if not any(slots):
        return None
    return slots[0], slots[1], slots[2]


def _merge(old: Entry | None, new: Entry) -> Entry:
    if old is None:
        return new
    return Entry(new.signature, old.instantiate or new.instantiate,
                 old.deserialize or new.deserialize, old.serialize or new.serialize)
