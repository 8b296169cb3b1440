"""A compiled permutation, parsed once and indexed: functions, methods and constant strings.

Why tree-sitter: a permutation is megabytes of minified JavaScript whose names change with every
build; regular expressions over it break on the first nested call. tree-sitter is a real,
error-tolerant JavaScript parser written in C (a 2 MB permutation parses in a fraction of a
second), and its queries run in C too, so Python only touches the nodes the deriver asks about.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Query, QueryCursor

_INDEX_QUERY = """
(function_declaration name: (identifier) @name) @fn
(variable_declarator name: (identifier) @name value: (function_expression) @fn)
(assignment_expression left: (identifier) @name right: (function_expression) @fn)
(assignment_expression left: (member_expression property: (property_identifier) @method)
                       right: (function_expression) @mfn)
(variable_declarator name: (identifier) @sname value: (string) @sval)
(assignment_expression left: (identifier) @sname right: (string) @sval)
"""

_ESCAPE = re.compile(r"\\(u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[0-7]{1,3}|\r\n|[\s\S])")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
           "\n": "", "\r\n": "", "\r": "", "\u2028": "", "\u2029": ""}


@cache
def _language() -> Language:
    return Language(tree_sitter_javascript.language())


@cache
def _index_query() -> Query:
    return Query(_language(), _INDEX_QUERY)


def parse(source: bytes) -> Node:
    """The syntax tree of ``source`` (tree-sitter recovers from errors; callers judge)."""
    return Parser(_language()).parse(source).root_node


def text(node: Node) -> str:
    raw = node.text
    return raw.decode("utf-8", "surrogatepass") if raw is not None else ""


def decode_string(node: Node) -> str:
    """The value of a JavaScript string literal node."""
    body = text(node)[1:-1]
    if "\\" not in body:
        return body

    def repl(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] == "u" and esc[1] == "{":
            return chr(int(esc[2:-1], 16))
        if esc[0] in "ux" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567":
            return chr(int(esc, 8))
        return _SIMPLE.get(esc, esc)

    decoded = _ESCAPE.sub(repl, body)
    # join surrogate pairs written as two \\u escapes
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16")


@dataclass(frozen=True, slots=True)
class Function:
    """A function as the deriver sees it: its name (or None), parameter names and body."""

    name: str | None
    params: tuple[str, ...]
    body: Node
    node: Node

    @property
    def statements(self) -> list[Node]:
        return [c for c in self.body.named_children if c.type != "comment"]


def function_of(node: Node, name: str | None = None) -> Function:
    params_node = node.child_by_field_name("parameters")
    params = tuple(text(p) for p in params_node.named_children) if params_node else ()
    body = node.child_by_field_name("body")
    assert body is not None
    own = node.child_by_field_name("name")
    return Function(name or (text(own) if own is not None else None), params, body, node)


@dataclass(slots=True)
class JsIndex:
    """Names → functions and constant strings, over one or more parsed programs."""

    roots: list[Node] = field(default_factory=list)
    functions: dict[str, Function] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)  # names bound to two different functions
    methods: dict[str, list[Function]] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    _bad_strings: set[str] = field(default_factory=set)

    def add(self, root: Node) -> None:
        self.roots.append(root)
        for _pattern, caps in QueryCursor(_index_query()).matches(root):
            if "fn" in caps:
                self._add_function(text(caps["name"][0]), caps["fn"][0])
            elif "mfn" in caps:
                fn = function_of(caps["mfn"][0])
                self.methods.setdefault(text(caps["method"][0]), []).append(fn)
            elif "sval" in caps:
                self._add_string(text(caps["sname"][0]), decode_string(caps["sval"][0]))

    def _add_function(self, name: str, node: Node) -> None:
        known = self.functions.get(name)
        if known is not None and known.node.id != node.id:
            self.ambiguous.add(name)
            return
        self.functions[name] = function_of(node, name)

    def _add_string(self, name: str, value: str) -> None:
        if name in self._bad_strings:
            return
        known = self.strings.get(name)
        if known is not None and known != value:
            del self.strings[name]
            self._bad_strings.add(name)
            return
        self.strings[name] = value

    def function(self, name: str) -> Function | None:
        return None if name in self.ambiguous else self.functions.get(name)

    def string(self, node: Node | None) -> str | None:
        """The constant string an expression stands for: a literal, an interned variable,
        or a concatenation of those; else None."""
        if node is None:
            return None
        kind = node.type
        if kind == "string":
            return decode_string(node)
        if kind == "identifier":
            return self.strings.get(text(node))
        if kind == "parenthesized_expression" and node.named_child_count == 1:
            return self.string(node.named_children[0])
        if kind == "binary_expression" and text(node.child_by_field_name("operator") or node) == "+":
            left = self.string(node.child_by_field_name("left"))
            right = self.string(node.child_by_field_name("right"))
            if left is not None and right is not None:
                return left + right
        return None

    def callee(self, node: Node) -> Function | None:
        """The function an expression names (an identifier or an inline function)."""
        if node.type == "identifier":
            return self.function(text(node))
        if node.type in ("function_expression", "arrow_function"):
            return function_of(node)
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            return self.callee(node.named_children[0])
        return None


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node``, pre-order (source order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))
