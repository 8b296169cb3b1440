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
    """The expression that gives the value: inside parentheses, and the last of a comma
    sequence (``(Nw[e]=ty+Ny, a)`` is how emulated stack traces wrap every value)."""
    while True:
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_children[0]
        elif node.type == "sequence_expression" and node.named_child_count:
            node = _temporary(node) or node.named_children[-1]
        else:
            return node


def _temporary(sequence: Node) -> Node | None:
    """``(Ow=X, Nw[c]=…, Ow)`` evaluates to X: a temporary assigned and then read back."""
    items = _flat_sequence(sequence)
    last = items[-1]
    if last.type != "identifier":
        return None
    name = text(last)
    for item in reversed(items[:-1]):
        item = _unparen(item)
        if item.type == "assignment_expression":
            left = item.child_by_field_name("left")
            if left is not None and left.type == "identifier" and text(left) == name:
                return item.child_by_field_name("right")
    return None


def _unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _flat_sequence(node: Node) -> list[Node]:
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "sequence_expression":
            stack.extend(reversed(current.named_children))
        else:
            out.append(current)
    return out


def returned_value(fn: Function) -> Node | None:
    """What a function returns: its last ``return x``, where a local assigned just before
    (``c=X;…;return c``) stands for X."""
    statements = fn.statements
    returns = [s for s in statements if s.type == "return_statement" and s.named_children]
    if not returns:
        return None
    value = _strip(returns[-1].named_children[0])
    if value.type != "identifier":
        return value
    name = text(value)
    for statement in reversed(statements):
        for node in walk(statement):
            if node.type == "assignment_expression":
                left = node.child_by_field_name("left")
                if left is not None and left.type == "identifier" and text(left) == name:
                    right = node.child_by_field_name("right")
                    return _strip(right) if right is not None else None
    return value


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
    if obj is None or index is None:
        return False
    obj = _strip(obj)
    if obj.type != "member_expression":
        return False
    if not _is_var(obj.child_by_field_name("object"), var):
        return False
    index = _strip(index)
    if index.type != "update_expression" or index.children[0].type != "--":
        return False
    target = index.child_by_field_name("argument")
    if target is not None:
        target = _strip(target)
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


def write_fingerprint(node: Node, stream: str, instance: str) -> tuple[str, Node] | None:
    """``w.m(v)`` or ``f(w, v)``: the fingerprint of a write and its value; None for anything
    else, including ``f(w, instance)`` (a superclass serializer)."""
    if node.type != "call_expression":
        return None
    callee = node.child_by_field_name("function")
    args = _args(node)
    if callee is None:
        return None
    if callee.type == "member_expression" and len(args) == 1 and _is_var(
            callee.child_by_field_name("object"), stream):
        head, value = f"m:{text(callee.child_by_field_name('property') or callee)}", args[0]
    elif callee.type == "identifier" and len(args) == 2 and _is_var(args[0], stream):
        if _is_var(args[1], instance):
            return None
        head, value = f"f:{text(callee)}", args[1]
    else:
        return None
    return f"{head}|{value_shape(value, stream)}", value


def value_shape(value: Node, stream: str) -> str:
    """How a written value is transformed: ``?1:0`` (writeBoolean inlined), ``''+v`` (writeInt
    inlined), ``''+g:F`` (writeString inlined: ``''+addString(w, s)``), ``g:F``, else ``v``."""
    value = _strip(value)
    if value.type == "ternary_expression":
        cons = value.child_by_field_name("consequence")
        alt = value.child_by_field_name("alternative")
        if cons is not None and alt is not None and (text(cons), text(alt)) == ("1", "0"):
            return "?1:0"
    if value.type == "binary_expression":
        left = value.child_by_field_name("left")
        if left is not None and text(left) in ("''", '""'):
            inner = value_shape(value.child_by_field_name("right") or value, stream)
            return "''+" + (inner if inner.startswith("g:") else "v")
    if value.type == "call_expression":
        callee = value.child_by_field_name("function")
        if callee is not None and callee.type == "identifier":
            args = _args(value)
            if args and _is_var(args[0], stream):
                return f"g:{text(callee)}"
    return "v"


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
        if _looks_like_read_object(fn, var):
            return "Object"
        value = returned_value(fn)
        if value is None:
            return None
        fingerprint = read_fingerprint(value, var)
        return self.read_kind(fingerprint) if fingerprint is not None else None

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

    def write_kind(self, fingerprint: str, depth: int = 3) -> Kind | None:
        anchored = self.write_anchors.get(fingerprint)
        if anchored is not None:
            return anchored
        head, _, shape = fingerprint.partition("|")
        if shape == "?1:0":
            return "boolean"
        if shape == "''+v":
            return "numeric"
        if shape != "v" or depth == 0:
            return None
        kind, _, name = head.partition(":")
        writers = ([self.index.function(name)] if kind == "f"
                   else self.index.methods.get(name, []))
        kinds = {self._writer_body_kind(fn, kind == "m", depth) for fn in writers if fn}
        return kinds.pop() if len(kinds) == 1 else None

    def _writer_body_kind(self, fn: Function, method: bool, depth: int) -> Kind | None:
        """A writer function that passes its value on to one known write (``writeString(w,
        s)`` = ``append(w, ''+addString(w, s))``) has that write's kind."""
        stream, value = ("this", fn.params[0]) if method else (fn.params[0], fn.params[1])
        if not fn.params or (not method and len(fn.params) < 2):
            return None
        found: list[str] = []
        stack = [fn.body]
        while stack:  # outermost writes only: ``append(w, ''+addString(w, s))`` is one write
            node = stack.pop()
            got = write_fingerprint(node, stream, "\0")
            if got is not None and value in {text(n) for n in walk(got[1])
                                             if n.type == "identifier"}:
                found.append(got[0])
                continue
            stack.extend(node.named_children)
        if len(found) != 1:
            return None
        return self.write_kind(found[0], depth - 1)


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
