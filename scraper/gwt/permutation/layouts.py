"""A class's wire layout from its compiled field serializer.

GWT's ``X_FieldSerializer.deserialize(reader, instance)`` reads the class's own fields in wire
order, one typed reader call per field, then calls the superclass's deserialize — unless the
compiler inlined that call. ``serialize(writer, instance)`` writes them in the same order. So
walking the body in evaluation order gives the layout: each read is a slot, each call of another
function with ``(reader, instance)`` is the superclass. A read whose value the client never uses
is a bare call, and still a slot. A read inside a loop (a custom serializer of a collection, or
a class that extends one) means the layout has no fixed length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from scraper.gwt.permutation.jsindex import Function, Program, text
from scraper.gwt.permutation.model import Kind
from scraper.gwt.permutation.streams import (
    Streams,
    _args,
    _strip,
    in_loop,
    read_fingerprint,
    returned_value,
    write_fingerprint,
)

_SETTER = re.compile(r"^\$?set([A-Z0-9_$][\w$]*?)(?:_\d+)?$")
_GETTER = re.compile(r"^\$?(?:get|is)([A-Z0-9_$][\w$]*?)(?:_\d+)?$")
#: ``phone_0`` (PRETTY), ``change_1_g$`` (SuperDevMode): the Java name and a disambiguator
_SUFFIX = re.compile(r"(?:_\d+)?(?:_g\$)?$")


@dataclass(frozen=True, slots=True)
class Op:
    """One slot found in a body: its fingerprint, kind (None = unknown reader) and name."""

    fingerprint: str
    kind: Kind | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Walked:
    """What one serializer body does: its slots, the superclass serializer it calls, and
    whether some slot is read in a loop."""

    ops: tuple[Op, ...]
    superclass: Function | None
    looped: bool = False


def _java_name(stem: str) -> str:
    return stem[:1].lower() + stem[1:]


def java_property(prop: str) -> str:
    return _SUFFIX.sub("", prop) or prop


def _property_name(target: Node, instance: str) -> str | None:
    """``instance.phone_0 = …`` → ``phone`` (a property of the instance being filled)."""
    target = _strip(target)
    if target.type != "member_expression":
        return None
    obj = target.child_by_field_name("object")
    prop = target.child_by_field_name("property")
    if obj is None or prop is None or text(_strip(obj)) != instance:
        return None
    return java_property(text(prop))


def _own_statements(fn: Function) -> list[Node]:
    """A body's statements without the class-initializer calls SuperDevMode puts first
    (``yzc_g$();``)."""
    out = []
    for statement in fn.statements:
        expr = statement.named_children[0] if statement.named_children else None
        if (statement.type == "expression_statement" and expr is not None
                and expr.type == "call_expression" and not _args(expr)):
            continue
        out.append(statement)
    return out


class _Walker:
    """Evaluation-order walk of one serializer body."""

    def __init__(self, program: Program, streams: Streams, fn: Function, *, writing: bool) -> None:
        self.program = program
        self.streams = streams
        self.fn = fn
        self.stream, self.instance = fn.params[0], fn.params[1]
        self.writing = writing
        self.ops: list[Op] = []
        self.superclass: Function | None = None
        self.looped = False

    def visit(self, node: Node, name: str | None = None) -> None:
        op = self._write_op(node) if self.writing else self._read_op(node, name)
        if op is not None:
            self.ops.append(op)
            if in_loop(node, self.fn.body):
                self.looped = True
            return
        if node.type == "call_expression" and self._is_super_call(node):
            return
        if node.type == "assignment_expression" and not self.writing:
            right = node.child_by_field_name("right")
            left = node.child_by_field_name("left")
            if right is not None and left is not None:
                self.visit(right, _property_name(left, self.instance))
                return
        if node.type == "call_expression" and not self.writing:
            setter = self._setter_name(node)
            if setter is not None:
                for arg in _args(node):
                    self.visit(arg, setter)
                return
        for child in node.named_children:
            if child.type not in ("function_expression", "function_declaration", "comment"):
                self.visit(child, name)

    def _read_op(self, node: Node, name: str | None) -> Op | None:
        fingerprint = read_fingerprint(node, self.stream)
        if fingerprint is None:
            return None
        return Op(fingerprint, self.streams.read_kind(fingerprint), name)

    def _write_op(self, node: Node) -> Op | None:
        got = write_fingerprint(node, self.stream, self.instance)
        if got is None:
            return None
        head, value = got
        fingerprint = f"{head}|{self.streams.value_shape(value, self.stream)}"
        return Op(fingerprint, self.streams.write_kind(fingerprint), self._value_name(value))

    def _value_name(self, value: Node) -> str | None:
        value = _strip(value)
        if value.type == "member_expression":
            return _property_name(value, self.instance)
        if value.type == "call_expression":
            callee = value.child_by_field_name("function")
            match = _GETTER.match(text(callee)) if callee is not None else None
            if match:
                return _java_name(match.group(1))
            args = _args(value)
            if callee is not None and callee.type == "identifier" and len(args) == 1 \
                    and text(_strip(args[0])) == self.instance:
                getter = self.program.function(text(callee))
                returned = returned_value(getter) if getter is not None and getter.params else None
                if returned is not None and getter is not None:
                    return _property_name(returned, getter.params[0])
            for arg in args:
                found = self._value_name(arg)
                if found:
                    return found
        return None

    def _is_super_call(self, node: Node) -> bool:
        args = _args(node)
        if len(args) != 2 or text(_strip(args[0])) != self.stream or text(_strip(args[1])) != self.instance:
            return False
        callee = node.child_by_field_name("function")
        fn = self.program.callee(callee) if callee is not None else None
        if fn is None:
            return False
        if self.superclass is None:
            self.superclass = fn
        return True

    def _setter_name(self, node: Node) -> str | None:
        """``setPhone(instance, v)`` (PRETTY) → ``phone``; an obfuscated setter whose body is
        ``a.x = b`` → its property; None if this call is not a setter of the instance."""
        args = _args(node)
        if len(args) != 2 or text(_strip(args[0])) != self.instance:
            return None
        callee = node.child_by_field_name("function")
        if callee is None or callee.type != "identifier":
            return None
        match = _SETTER.match(text(callee))
        if match:
            return _java_name(match.group(1))
        fn = self.program.function(text(callee))
        if fn is None or len(fn.params) != 2:
            return None
        statements = _own_statements(fn)
        if len(statements) != 1:
            return None
        expr = statements[0].named_children[0] if statements[0].named_children else None
        if expr is None or expr.type != "assignment_expression":
            return None
        left = expr.child_by_field_name("left")
        return _property_name(left, fn.params[0]) if left is not None else None


def walk_serializer(program: Program, streams: Streams, fn: Function, *, writing: bool) -> Walked:
    """The slots of a deserialize (``writing=False``) or serialize function, in wire order."""
    if len(fn.params) < 2:
        return Walked((), None)
    walker = _Walker(program, streams, fn, writing=writing)
    for statement in fn.statements:
        walker.visit(statement)
    return Walked(tuple(walker.ops), walker.superclass, walker.looped)


def read_ops(program: Program, streams: Streams, fn: Function) -> list[Op]:
    """Every read in a function that takes the stream first (instantiate, custom serializers)."""
    if not fn.params:
        return []
    stream = fn.params[0]
    out: list[Op] = []

    def visit(node: Node) -> None:
        fingerprint = read_fingerprint(node, stream)
        if fingerprint is not None:
            out.append(Op(fingerprint, streams.read_kind(fingerprint), None))
            return
        for child in node.named_children:
            visit(child)

    visit(fn.body)
    return out
