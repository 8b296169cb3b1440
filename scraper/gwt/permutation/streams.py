"""Which expressions of compiled code read from (or write to) a GWT stream, and of what kind.

Never by name: obfuscated names change with every build. Two sources, in this order:

1. **Anchors** — GWT's own serializers of its built-ins say what their reader calls are:
   ``java.lang.Long``'s instantiate reads a long, ``String``'s a string, ``Boolean``'s a
   boolean, ``ArrayList``'s deserialize an int (the size) and then objects. Whatever shape that
   call has in this build (``a.Xb()``, ``Xb(a)``, ``Yz(a,a.c[--a.b])``) is then known.
2. **Bodies** — ``a.c[--a.b]`` (a raw read: int, short, byte, char, float or double, which
   cannot be told apart: ``numeric``), ``!!a.c[--a.b]`` (boolean), a string-table lookup
   applied to a raw read (String), a base-64 decoder applied to one (long), a function whose
   body checks ``< 0`` for a back-reference (readObject) — and functions that just return one of
   these.

An expression is described by a *fingerprint* relative to the stream variable (``r``):
``raw``, ``!!raw``, ``m:<method>`` for ``r.m()``, ``f:<fn>`` for ``fn(r)``,
``f:<fn>(r,raw)``, ``f:<fn>(raw)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from scraper.gwt.permutation.jsindex import Function, JsIndex, text, walk
from scraper.gwt.permutation.model import Kind

_PENDING = "pending"


def _strip(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _is_var(node: Node | None, var: str) -> bool:
    if node is None:
        return False
    node = _strip(node)
    if var == "this":
        return node.type == "this"
    return node.type == "identifier" and text(node) == var


def is_raw(node: Node, var: str) -> bool:
    """``r.c[--r.b]``: GWT's ``results[--index]``, the one primitive read."""
    node = _strip(node)
    if node.type != "subscript_expression":
        return False
    obj, index = node.child_by_field_name("object"), node.child_by_field_name("index")
    if obj is None or index is None or obj.type != "member_expression":
        return False
    if not _is_var(obj.child_by_field_name("object"), var):
        return False
    index = _strip(index)
    if index.type != "update_expression" or index.children[0].type != "--":
        return False
    target = index.child_by_field_name("argument")
    return target is not None and target.type == "member_expression" and _is_var(
        target.child_by_field_name("object"), var)


def _args(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    return [a for a in args.named_children if a.type != "comment"] if args else []


def _not_not(node: Node) -> Node | None:
    """The operand of ``!!x``."""
    node = _strip(node)
    if node.type == "unary_expression" and text(node.children[0]) == "!":
        inner = _strip(node.children[1])
        if inner.type == "unary_expression" and text(inner.children[0]) == "!":
            return inner.children[1]
    return None


def read_fingerprint(node: Node, var: str) -> str | None:
    """The fingerprint of ``node`` as a read from stream ``var``; None if it is not one."""
    node = _strip(node)
    if is_raw(node, var):
        return "raw"
    inner = _not_not(node)
    if inner is not None and is_raw(inner, var):
        return "!!raw"
    if node.type != "call_expression":
        return None
    callee = node.child_by_field_name("function")
    args = _args(node)
    if callee is None:
        return None
    if callee.type == "member_expression" and _is_var(callee.child_by_field_name("object"), var):
        prop = callee.child_by_field_name("property")
        return f"m:{text(prop)}" if prop is not None and not args else None
    if callee.type != "identifier":
        return None
    name = text(callee)
    if len(args) == 1 and _is_var(args[0], var):
        return f"f:{name}"
    if len(args) == 2 and _is_var(args[0], var) and is_raw(args[1], var):
        return f"f:{name}(r,raw)"
    if len(args) == 1 and is_raw(args[0], var):
        return f"f:{name}(raw)"
    return None


@dataclass
class Streams:
    """Kinds of read and write fingerprints in one program (anchors first, then bodies)."""

    index: JsIndex
    read_anchors: dict[str, Kind] = field(default_factory=dict)
    write_anchors: dict[str, Kind] = field(default_factory=dict)
    _fn_kinds: dict[str, Kind | str | None] = field(default_factory=dict)

    # --- reads ----------------------------------------------------------------------------

    def read_kind(self, fingerprint: str) -> Kind | None:
        anchored = self.read_anchors.get(fingerprint)
        if anchored is not None:
            return anchored
        if fingerprint == "raw":
            return "numeric"
        if fingerprint == "!!raw":
            return "boolean"
        kind, _, rest = fingerprint.partition(":")
        if kind == "m":
            return self._methods_kind(rest)
        name, _, shape = rest.partition("(")
        fn = self.index.function(name)
        if fn is None:
            return None
        if shape == "r,raw)":
            return "String" if _looks_like_string_table(fn) else None
        if shape == "raw)":
            return "long" if self._looks_like_long_decoder(fn, 2) else None
        return self._function_kind(fn)

    def _methods_kind(self, method: str) -> Kind | None:
        kinds = {self._body_kind(fn, "this") for fn in self.index.methods.get(method, [])}
        return kinds.pop() if len(kinds) == 1 else None

    def _function_kind(self, fn: Function) -> Kind | None:
        key = f"{fn.name}@{fn.node.id}"
        known = self._fn_kinds.get(key)
        if known == _PENDING:
            return None
        if key in self._fn_kinds:
            return known  # type: ignore[return-value]
        self._fn_kinds[key] = _PENDING
        kind = self._body_kind(fn, fn.params[0]) if fn.params else None
        self._fn_kinds[key] = kind
        return kind

    def _body_kind(self, fn: Function, var: str) -> Kind | None:
        """The kind a reader function returns: one returned read, or readObject's shape."""
        statements = fn.statements
        if len(statements) == 1 and statements[0].type == "return_statement":
            value = statements[0].named_children[0] if statements[0].named_children else None
            if value is None:
                return None
            value = _last_of_sequence(value)
            fingerprint = read_fingerprint(value, var)
            if fingerprint is not None:
                return self.read_kind(fingerprint)
            return None
        if _looks_like_read_object(fn, var):
            return "Object"
        return None

    def _looks_like_long_decoder(self, fn: Function, depth: int) -> bool:
        """GWT's base-64 → long: a loop over the characters of its argument."""
        body = fn.body
        has_loop = has_chars = False
        for node in walk(body):
            if node.type in ("for_statement", "while_statement", "do_statement"):
                has_loop = True
            elif node.type == "property_identifier" and text(node) in ("charCodeAt", "charAt"):
                has_chars = True
        if has_loop and has_chars:
            return True
        statements = fn.statements
        if depth > 0 and len(statements) == 1 and statements[0].type == "return_statement":
            value = statements[0].named_children[0] if statements[0].named_children else None
            if value is not None and value.type == "call_expression":
                inner = self.index.callee(value.child_by_field_name("function") or value)
                return inner is not None and self._looks_like_long_decoder(inner, depth - 1)
        return False

    # --- writes ---------------------------------------------------------------------------

    def write_kind(self, fingerprint: str) -> Kind | None:
        anchored = self.write_anchors.get(fingerprint)
        if anchored is not None:
            return anchored
        shape = fingerprint.rpartition("|")[2]
        if shape == "?1:0":
            return "boolean"
        if shape == "''+v":
            return "numeric"
        return None


def _last_of_sequence(node: Node) -> Node:
    """``(clinit(), x)`` evaluates to ``x``."""
    node = _strip(node)
    while node.type == "sequence_expression" and node.named_children:
        node = _strip(node.named_children[-1])
    return node


def _looks_like_string_table(fn: Function) -> bool:
    """GWT's ``getString(index)``: ``index > 0 ? table[index - 1] : null``."""
    if len(fn.params) != 2:
        return False
    index = fn.params[1]
    for node in walk(fn.body):
        if node.type == "subscript_expression":
            idx = node.child_by_field_name("index")
            if idx is not None and index in {text(n) for n in walk(idx) if n.type == "identifier"}:
                return True
    return False


def _looks_like_read_object(fn: Function, var: str) -> bool:
    """AbstractSerializationStreamReader.readObject: reads a token, checks ``< 0`` for a
    back-reference, and otherwise goes on by the type signature."""
    has_read = has_negative_check = False
    for node in walk(fn.body):
        if not has_read and read_fingerprint(node, var) is not None:
            has_read = True
        if node.type == "binary_expression":
            op = node.child_by_field_name("operator")
            right = node.child_by_field_name("right")
            if op is not None and text(op) == "<" and right is not None and text(right) == "0":
                has_negative_check = True
    return has_read and has_negative_check
