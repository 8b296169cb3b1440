"""Which expressions of compiled code read from (or write to) a GWT stream, and of what kind.

Never by name: obfuscated names change with every build. Two sources, in this order:

1. **Anchors** — GWT's own serializers of its built-ins say what their reader calls are:
   ``java.lang.Long``'s instantiate reads a long, ``String``'s a string, ``Boolean``'s a
   boolean, ``ArrayList``'s deserialize an int (the size) and then objects. Whatever shape that
   call has in this build (``a.Xb()``, ``Xb(a)``, ``Yz(a,a.c[--a.b])``) is then known.
2. **Bodies** — ``a.c[--a.b]`` (a raw read: int, short, byte, char, float or double, which
   cannot be told apart: ``numeric``), ``!!a.c[--a.b]`` (boolean), ``Number(a.c[--a.b])``
   (double or float: GWT 2.8+ readDouble), a string-table lookup applied to a raw read (String),
   a base-64 decoder applied to one (long: ``L(raw)``, or ``(e=raw, L(e))``), a function whose
   body checks ``< 0`` for a back-reference (readObject) — and functions that just return one of
   these. Writes likewise: ``append(w, b?'1':'0')`` (boolean), ``append(w, ''+n)`` (numeric),
   ``append(w, ''+addString(w, s))`` (String), ``append(w, toBase64(l))`` (long), or a
   function that passes its value on to exactly one of these.

An expression is described by a *fingerprint* relative to the stream variable (``r``):
``raw``, ``!!raw``, ``Number(raw)``, ``m:<method>`` for ``r.m()``, ``f:<fn>`` for ``fn(r)``,
``f:<fn>(r,<fingerprint>)`` for ``fn(r, <a read>)``, ``f:<fn>(raw)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from scraper.gwt.permutation.jsindex import Function, Program, text, walk
from scraper.gwt.permutation.model import Kind

_PENDING = "pending"
_LOOPS = ("for_statement", "for_in_statement", "while_statement", "do_statement")
#: GWT's base-64 digit decoder compares with these (``a>=65&&a<=90`` … ``return 63``)
_BASE64_DIGIT_CONSTANTS = frozenset({"65", "90", "97", "26", "48", "57", "52", "36", "62", "63"})
_EMPTY_STRINGS = frozenset({"", })
Locals = dict[str, Node]
#: node types a read can have (anything else is not one, whatever is inside)
_READ_SHAPES = frozenset({"subscript_expression", "unary_expression", "call_expression",
                          "parenthesized_expression", "sequence_expression"})


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


def _sequence_locals(node: Node) -> tuple[Node, Locals]:
    """The value of ``(e=X, …, f(e))`` and the temporaries it assigns on the way."""
    node = _unparen(node)
    if node.type != "sequence_expression":
        return node, {}
    items = _flat_sequence(node)
    assigned: Locals = {}
    for item in items[:-1]:
        item = _unparen(item)
        if item.type == "assignment_expression":
            left, right = item.child_by_field_name("left"), item.child_by_field_name("right")
            if left is not None and right is not None and left.type == "identifier":
                assigned[text(left)] = right
    return _strip(items[-1]), assigned


def function_locals(fn: Function) -> Locals:
    """Locals a function assigns once (``var c=X`` or ``c=X``): what they stand for."""
    assigned: Locals = {}
    seen: set[str] = set()
    for node in walk(fn.body):
        if node.type == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        elif node.type == "variable_declarator":
            left, right = node.child_by_field_name("name"), node.child_by_field_name("value")
        else:
            continue
        if left is None or right is None or left.type != "identifier":
            continue
        name = text(left)
        if name in seen:
            assigned.pop(name, None)
            continue
        seen.add(name)
        assigned[name] = right
    return assigned


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


def _resolve(node: Node, local: Locals | None) -> Node:
    node = _strip(node)
    if local and node.type == "identifier":
        bound = local.get(text(node))
        if bound is not None:
            return _strip(bound)
    return node


def read_fingerprint(node: Node, var: str, local: Locals | None = None) -> str | None:
    """The fingerprint of ``node`` as a read from stream ``var``; None if it is not one.
    ``local`` says what temporaries stand for (``(e=raw, L(e))``, ``var a=raw; return L(a)``)."""
    if node.type not in _READ_SHAPES:
        return None
    node, assigned = _sequence_locals(node)
    if assigned:
        local = {**(local or {}), **assigned}
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
    if len(args) == 1:
        arg = _resolve(args[0], local)
        if is_raw(arg, var):
            return "Number(raw)" if name == "Number" else f"f:{name}(raw)"
    if len(args) == 2 and _is_var(args[0], var):
        second = _resolve(args[1], local)
        if is_raw(second, var):
            return f"f:{name}(r,raw)"
        nested = read_fingerprint(second, var, local)
        if nested is not None:
            return f"f:{name}(r,{nested})"
    return None


def _stream_arg(node: Node, stream: str) -> bool:
    """The stream itself, or its buffer (``w.b`` in ``append(w.b, token)``)."""
    node = _strip(node)
    if _is_var(node, stream):
        return True
    return node.type == "member_expression" and _is_var(node.child_by_field_name("object"), stream)


def write_fingerprint(node: Node, stream: str, instance: str) -> tuple[str, Node] | None:
    """``w.m(v)``, ``f(w, v)`` or ``f(w.buffer, v)``: the fingerprint of a write (without its
    value's shape) and its value; None for anything else, including ``f(w, instance)`` (a
    superclass serializer)."""
    if node.type != "call_expression":
        return None
    callee = node.child_by_field_name("function")
    args = _args(node)
    if callee is None:
        return None
    if callee.type == "member_expression" and len(args) == 1 and _is_var(
            callee.child_by_field_name("object"), stream):
        return f"m:{text(callee.child_by_field_name('property') or callee)}", args[0]
    if callee.type == "identifier" and len(args) == 2 and _stream_arg(args[0], stream):
        if _is_var(args[1], instance):
            return None
        return f"f:{text(callee)}", args[1]
    return None


@dataclass
class Streams:
    """Kinds of read and write fingerprints in one program (anchors first, then bodies)."""

    program: Program
    read_anchors: dict[str, Kind] = field(default_factory=dict)
    write_anchors: dict[str, Kind] = field(default_factory=dict)
    _fn_kinds: dict[str, Kind | str | None] = field(default_factory=dict)
    _shapes: dict[str, bool] = field(default_factory=dict)
    _read_kinds: dict[str, Kind | None] = field(default_factory=dict)
    _write_kinds: dict[tuple[str, int], Kind | None] = field(default_factory=dict)

    def set_anchors(self, reads: dict[str, Kind], writes: dict[str, Kind]) -> None:
        """What the built-ins say; kinds worked out before (to find the anchors) are forgotten."""
        self.read_anchors.update(reads)
        self.write_anchors.update(writes)
        self._read_kinds.clear()
        self._write_kinds.clear()
        self._fn_kinds.clear()

    # --- reads ----------------------------------------------------------------------------

    def read_kind(self, fingerprint: str) -> Kind | None:
        if fingerprint in self._read_kinds:
            return self._read_kinds[fingerprint]
        self._read_kinds[fingerprint] = None  # recursion guard
        kind = self._read_kind(fingerprint)
        self._read_kinds[fingerprint] = kind
        return kind

    def _read_kind(self, fingerprint: str) -> Kind | None:
        anchored = self.read_anchors.get(fingerprint)
        if anchored is not None:
            return anchored
        if fingerprint == "raw":
            return "numeric"
        if fingerprint == "!!raw":
            return "boolean"
        if fingerprint == "Number(raw)":
            return "double"
        kind, _, rest = fingerprint.partition(":")
        if kind == "m":
            return self._methods_kind(rest)
        name, _, shape = rest.partition("(")
        fn = self.program.function(name)
        if fn is None:
            return None
        if shape.startswith("r,"):
            inner = self.read_kind(shape[2:-1])
            if inner in ("numeric", "int") and self._is("string-table", fn):
                return "String"
            return None
        if shape == "raw)":
            return "long" if self._is("long-decoder", fn) else None
        return self._function_kind(fn)

    def _methods_kind(self, method: str) -> Kind | None:
        kinds = {self._body_kind(fn, "this") for fn in self.program.methods(method)}
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
        fingerprint = read_fingerprint(value, var, function_locals(fn))
        return self.read_kind(fingerprint) if fingerprint is not None else None

    def _is(self, shape: str, fn: Function) -> bool:
        key = f"{shape}@{fn.node.id}"
        known = self._shapes.get(key)
        if known is None:
            self._shapes[key] = False  # recursion guard
            known = {"string-table": _looks_like_string_table,
                     "long-decoder": self._looks_like_long_decoder,
                     "long-encoder": _looks_like_long_encoder,
                     "base64-digit": _looks_like_base64_digit}[shape](fn)
            self._shapes[key] = known
        return known

    def _looks_like_long_decoder(self, fn: Function, depth: int = 2) -> bool:
        """GWT's base-64 → long: a loop over the characters of its argument (``charCodeAt``,
        or GWT's base-64 digit function), or a function that only returns such a call."""
        has_loop = has_chars = False
        for node in walk(fn.body):
            if node.type in _LOOPS:
                has_loop = True
            elif node.type == "property_identifier" and text(node) in ("charCodeAt", "charAt"):
                has_chars = True
            elif node.type == "call_expression" and not has_chars:
                callee = node.child_by_field_name("function")
                if callee is not None and callee.type == "identifier":
                    digit = self.program.function(text(callee))
                    has_chars = digit is not None and self._is("base64-digit", digit)
        if has_loop and has_chars:
            return True
        statements = fn.statements
        if depth > 0 and len(statements) == 1 and statements[0].type == "return_statement":
            value = statements[0].named_children[0] if statements[0].named_children else None
            if value is not None and value.type == "call_expression":
                inner = self.program.callee(value.child_by_field_name("function") or value)
                return inner is not None and self._looks_like_long_decoder(inner, depth - 1)
        return False

    # --- writes ---------------------------------------------------------------------------

    def value_shape(self, value: Node, stream: str) -> str:
        """How a written value is transformed: ``?1:0`` (writeBoolean inlined, ``'1'``/``'0'``
        quoted or not), ``''+v`` (writeInt inlined), ``''+g:F`` (writeString inlined:
        ``''+addString(w, s)``), ``g:F`` (a call taking the stream), ``L`` (a long encoder:
        ``toBase64(v)``), else ``v``."""
        value = _strip(value)
        if value.type == "ternary_expression":
            cons = value.child_by_field_name("consequence")
            alt = value.child_by_field_name("alternative")
            if cons is not None and alt is not None and (
                    self._constant(cons), self._constant(alt)) == ("1", "0"):
                return "?1:0"
        if value.type == "binary_expression":
            left = value.child_by_field_name("left")
            if left is not None and self.program.string(_strip(left)) in _EMPTY_STRINGS:
                inner = self.value_shape(value.child_by_field_name("right") or value, stream)
                return "''+" + (inner if inner.startswith("g:") else "v")
        if value.type == "call_expression":
            callee = value.child_by_field_name("function")
            if callee is not None and callee.type == "identifier":
                args = _args(value)
                if args and _is_var(args[0], stream):
                    return f"g:{text(callee)}"
                encoder = self.program.function(text(callee))
                if len(args) == 1 and encoder is not None and self._is("long-encoder", encoder):
                    return "L"
        return "v"

    def _constant(self, node: Node) -> str | None:
        node = _strip(node)
        if node.type == "number":
            return text(node)
        return self.program.string(node)

    def write_kind(self, fingerprint: str, depth: int = 3) -> Kind | None:
        key = (fingerprint, depth)
        if key not in self._write_kinds:
            self._write_kinds[key] = self._write_kind(fingerprint, depth)
        return self._write_kinds[key]

    def _write_kind(self, fingerprint: str, depth: int) -> Kind | None:
        anchored = self.write_anchors.get(fingerprint)
        if anchored is not None:
            return anchored
        head, _, shape = fingerprint.partition("|")
        if shape == "?1:0":
            return "boolean"
        if shape == "''+v":
            return "numeric"
        if shape.startswith("''+g:"):
            return "String"  # append(w, ''+addString(w, s)): a string-table index
        if shape == "L":
            return "long"
        if shape != "v" or depth == 0:
            return None
        kind, _, name = head.partition(":")
        writers = ([self.program.function(name)] if kind == "f" else self.program.methods(name))
        kinds = {"Object" if _looks_like_write_object(fn) else
                 self._writer_body_kind(fn, kind == "m", depth) for fn in writers if fn}
        return kinds.pop() if len(kinds) == 1 else None

    def _writer_body_kind(self, fn: Function, method: bool, depth: int) -> Kind | None:
        """A writer function that passes its value on to one known write (``writeString(w,
        s)`` = ``append(w, ''+addString(w, s))``) has that write's kind."""
        if not fn.params or (not method and len(fn.params) < 2):
            return None
        stream, value = ("this", fn.params[0]) if method else (fn.params[0], fn.params[1])
        found: list[str] = []
        stack = [fn.body]
        while stack:  # outermost writes only: ``append(w, ''+addString(w, s))`` is one write
            node = stack.pop()
            got = write_fingerprint(node, stream, "\0")
            if got is not None and value in {text(n) for n in walk(got[1])
                                             if n.type == "identifier"}:
                found.append(f"{got[0]}|{self.value_shape(got[1], stream)}")
                continue
            stack.extend(node.named_children)
        if len(set(found)) != 1:
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


def _looks_like_base64_digit(fn: Function) -> bool:
    """GWT's base-64 digit → value (``if(a>=65&&a<=90){return a-65}…return 63``): compares
    and subtracts exactly GWT's alphabet boundaries."""
    numbers = {text(n) for n in walk(fn.body) if n.type == "number"}
    return len(fn.params) == 1 and numbers >= _BASE64_DIGIT_CONSTANTS


def _looks_like_long_encoder(fn: Function) -> bool:
    """GWT's long → base 64: the value cut into 6-bit groups (``x>>6&63`` …)."""
    masks = 0
    for node in walk(fn.body):
        if node.type == "binary_expression":
            op = node.child_by_field_name("operator")
            right = node.child_by_field_name("right")
            if op is not None and text(op) == "&" and right is not None and text(right) == "63":
                masks += 1
    return masks >= 5


def _looks_like_write_object(fn: Function) -> bool:
    """AbstractSerializationStreamWriter.writeObject: an object seen before is written as the
    back-reference ``-(index + 1)``; nothing else in the stream is negated like that."""
    for node in walk(fn.body):
        if node.type == "unary_expression" and text(node.children[0]) == "-":
            operand = _strip(node.children[1])
            if operand.type == "binary_expression" and text(
                    operand.child_by_field_name("operator") or operand) == "+" and text(
                    operand.child_by_field_name("right") or operand) == "1":
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


def in_loop(node: Node, stop: Node) -> bool:
    """Whether ``node`` sits in a loop body (a variable number of reads) below ``stop``."""
    current = node.parent
    while current is not None and current.id != stop.id:
        if current.type in _LOOPS:
            return True
        current = current.parent
    return False
