"""A compiled permutation as one program, parsed where the deriver looks: functions, methods and
interned strings by name, and the places where given names or shapes occur.

Why tree-sitter: a permutation is megabytes of minified JavaScript whose names change with every
build; regular expressions over it break on the first nested call. tree-sitter is a real,
error-tolerant JavaScript parser written in C.

Why by segments: even tree-sitter needs ~0.25 s per MB, and the deriver reads perhaps a tenth of
the program (the tables, the serializers and what they call, the proxies). GWT prints every
top-level function at the start of a line (OBF output is one top-level statement group per
line), so the program is cut before each line that starts with ``function`` or ``var``; a
segment is parsed, with its real byte offsets, the first time something in it is asked for. A
cut that falls inside a statement (a block comment, say) leaves a parse error, and the segment
then grows over the next cuts until it parses cleanly — so every tree used is the tree the whole
program would give there.

Regular expressions only *locate* candidates here (``function NAME(``, ``NAME='…'``, a name's
occurrences); each candidate is accepted only when the parse tree at that place says it is one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Point, Range

_SEGMENT_START = re.compile(rb"\n(?=function[\s(]|var\s)")
#: inside a long line (GWT 2.x puts every class's prototype set-up on one), also before these
_SUBSEGMENT_START = re.compile(rb";(?=_=[\w$]+\.prototype\b|var\s|function\s)")
_LONG_LINE = 8192
_MAX_GROWTH = 64  # pieces a statement may span before the deriver settles for a parse error
_FUNCTION_DECL = re.compile(rb"function\s+([\w$]+)\s*\(")
_ASSIGNED_FUNCTION = re.compile(rb"=\s*function\b")
_ASSIGNED_STRING = re.compile(rb"=\s*(?=['\"])")
_LITERAL = re.compile(rb"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"", re.S)
_OPERATOR_BEFORE_EQ = frozenset(b"=!<>+-*/%&|^")

_ESCAPE = re.compile(r"\\(u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[0-7]{1,3}|\r\n|[\s\S])")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
           "\n": "", "\r\n": "", "\r": "", "\u2028": "", "\u2029": ""}
FUNCTION_TYPES = ("function_declaration", "function_expression", "arrow_function",
                  "generator_function_declaration", "method_definition")


@cache
def _language() -> Language:
    return Language(tree_sitter_javascript.language())


def parse(source: bytes) -> Node:
    """The syntax tree of ``source`` (tree-sitter recovers from errors; callers judge)."""
    return Parser(_language()).parse(source).root_node


def text(node: Node) -> str:
    raw = node.text
    return raw.decode("utf-8", "surrogatepass") if raw is not None else ""


def decode_js_string(body: str) -> str:
    """The value of a JavaScript string literal's body (the text between its quotes)."""
    if "\\" not in body:
        return body

    def repl(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] == "u" and esc[1:2] == "{":
            return chr(int(esc[2:-1], 16))
        if esc[0] in "ux" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567":
            return chr(int(esc, 8))
        return _SIMPLE.get(esc, esc)

    decoded = _ESCAPE.sub(repl, body)
    # join surrogate pairs written as two \\u escapes
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def decode_string(node: Node) -> str:
    """The value of a JavaScript string literal node."""
    return decode_js_string(text(node)[1:-1])


def _decode_literal(raw: bytes) -> str:
    return decode_js_string(raw[1:-1].decode("utf-8", "surrogatepass"))


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
    if params_node is None and node.type == "arrow_function":
        single = node.child_by_field_name("parameter")
        params: tuple[str, ...] = (text(single),) if single is not None else ()
    else:
        params = tuple(text(p) for p in params_node.named_children) if params_node else ()
    body = node.child_by_field_name("body")
    assert body is not None
    own = node.child_by_field_name("name")
    return Function(name or (text(own) if own is not None else None), params, body, node)


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node``, pre-order (source order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _segment_starts(data: bytes) -> list[int]:
    """Where top-level statements may start: each line that starts with ``function`` or
    ``var``, and inside long lines each ``;`` before a prototype set-up, ``var`` or
    ``function``."""
    lines = [0] + [m.end() for m in _SEGMENT_START.finditer(data)] + [len(data)]
    starts: list[int] = []
    for start, end in pairwise(lines):
        starts.append(start)
        if end - start > _LONG_LINE:
            starts += [m.end() for m in _SUBSEGMENT_START.finditer(data, start, end)]
    starts.append(len(data))
    return starts


def _trie(words: list[bytes]) -> bytes:
    """One regular expression for a set of words, as a trie (``ab(?:c)?|d``): the regex engine
    then tries a position once, not once per word."""
    root: dict[int | None, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for byte in word:
            node = node.setdefault(byte, {})
        node[None] = {}

    def emit(node: dict) -> bytes:  # type: ignore[type-arg]
        branches = [re.escape(bytes([k])) + emit(v) for k, v in sorted(
            ((k, v) for k, v in node.items() if k is not None), key=lambda kv: kv[0])]
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        return b"(?:" + body + b")?" if None in node else body

    return emit(root)


_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")


def name_before(data: bytes, end: int) -> tuple[str, int, int] | None:
    """The identifier that ends just before ``end`` (spaces allowed): its text, its start
    offset and the byte before it (``.`` for a property)."""
    stop = end
    while stop > 0 and data[stop - 1] in b" \t":
        stop -= 1
    start = stop
    while start > 0 and data[start - 1] in _IDENT_BYTES and stop - start < 128:
        start -= 1
    if start == stop or data[start] in b"0123456789":
        return None
    before = data[start - 1] if start else 0
    return data[start:stop].decode("ascii", "replace"), start, before


class Program:
    """One permutation's program: its bytes, segment trees parsed on demand, and indexes of
    where names are defined (built by one pass each, the first time they are needed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._parser = Parser(_language())
        self._starts = _segment_starts(data)
        self._roots: dict[int, Node] = {}  # segment index → root of the tree that covers it
        self._functions: dict[bytes, list[int]] | None = None
        self._methods: dict[bytes, list[int]] | None = None
        self._string_sites: dict[str, list[tuple[int, bytes]]] | None = None
        self._function_cache: dict[str, Function | None] = {}
        self._method_cache: dict[str, list[Function]] = {}
        self._string_cache: dict[str, str | None] = {}
        self._raw_values: list[tuple[str, set[str]]] | None = None

    # --- trees ----------------------------------------------------------------------------

    def root_at(self, offset: int) -> Node:
        """The root of the (segment) tree that covers ``offset``: the piece it is in, grown
        over its neighbours (never over pieces already parsed) until it parses cleanly."""
        starts, roots = self._starts, self._roots
        index = min(max(bisect_right(starts, offset) - 1, 0), len(starts) - 2)
        root = roots.get(index)
        if root is not None:
            return root
        last = len(starts) - 1
        low, high, step = index, index + 1, 1
        first = root = self._parse(starts[low], starts[high])
        while root.has_error and high - low <= _MAX_GROWTH:
            grown = False
            for _ in range(step):
                if low > 0 and low - 1 not in roots:
                    low, grown = low - 1, True
                if high < last and high not in roots:
                    high, grown = high + 1, True
            if not grown:
                break
            step *= 2
            root = self._parse(starts[low], starts[high])
        if root.has_error:  # not a split statement: keep the smallest tree, errors and all
            root, low, high = first, index, index + 1
        for i in range(low, high):
            roots[i] = root
        return root

    def _parse(self, start: int, end: int) -> Node:
        self._parser.included_ranges = [Range(Point(0, start), Point(0, end), start, end)]
        tree = self._parser.parse(self.data)
        return tree.root_node

    def node_at(self, start: int, end: int | None = None) -> Node | None:
        """The smallest node that covers ``data[start:end]``."""
        end = start + 1 if end is None else end
        root = self.root_at(start)
        if end > root.end_byte:
            return None
        node: Node | None = root.descendant_for_byte_range(start, end)
        while node is not None and node.end_byte < end:
            node = node.parent
        return node

    # --- functions and methods ------------------------------------------------------------

    def _index_functions(self) -> None:
        functions: dict[bytes, list[int]] = {}
        methods: dict[bytes, list[int]] = {}
        data = self.data
        for match in _FUNCTION_DECL.finditer(data):
            functions.setdefault(match.group(1), []).append(match.start())
        for match in _ASSIGNED_FUNCTION.finditer(data):
            named = name_before(data, match.start())
            if named is None:
                continue
            name, _start, before = named
            if before == ord("."):
                methods.setdefault(name.encode(), []).append(match.start())
            elif before != ord("\\"):
                functions.setdefault(name.encode(), []).append(match.start())
        self._functions, self._methods = functions, methods

    def any_function_named(self, pattern: re.Pattern[bytes]) -> bool:
        """Whether some function's name matches ``pattern`` (PRETTY output keeps Java's)."""
        if self._functions is None:
            self._index_functions()
        assert self._functions is not None
        return any(pattern.search(name) for name in self._functions)

    def function(self, name: str) -> Function | None:
        """The one function bound to ``name`` at top level (``function NAME(…)``, ``NAME =
        function``); None if there is none or several different ones."""
        if name in self._function_cache:
            return self._function_cache[name]
        if self._functions is None:
            self._index_functions()
        assert self._functions is not None
        found: dict[int, Function] = {}
        for offset in self._functions.get(name.encode(), ()):
            fn = self._function_at(offset, name)
            if fn is not None:
                found[fn.node.id] = fn
        result = next(iter(found.values())) if len(found) == 1 else None
        self._function_cache[name] = result
        return result

    def _function_at(self, offset: int, name: str) -> Function | None:
        node = self.node_at(offset, offset + 8)
        if node is None:
            return None
        if self.data.startswith(b"=", offset):  # NAME = function …
            assignment = node
            if assignment.type not in ("assignment_expression", "variable_declarator"):
                return None
            left = assignment.child_by_field_name(
                "left" if assignment.type == "assignment_expression" else "name")
            right = assignment.child_by_field_name(
                "right" if assignment.type == "assignment_expression" else "value")
            if left is None or right is None or left.type != "identifier" or text(left) != name:
                return None
            if right.type not in ("function_expression", "arrow_function"):
                return None
            return function_of(right, name)
        while node is not None and node.type not in ("function_declaration",
                                                      "function_expression"):
            node = node.parent if node.type in ("function", "identifier") else None
        if node is None or node.type != "function_declaration" or node.start_byte != offset:
            return None
        return function_of(node)

    def methods(self, name: str) -> list[Function]:
        """Every function assigned to a property ``NAME`` (``_.NAME = function …``)."""
        cached = self._method_cache.get(name)
        if cached is not None:
            return cached
        if self._methods is None:
            self._index_functions()
        assert self._methods is not None
        out: list[Function] = []
        for offset in self._methods.get(name.encode(), ()):
            node = self.node_at(offset, offset + 1)
            assignment = node.parent if node is not None and node.type == "=" else node
            if assignment is None or assignment.type != "assignment_expression":
                continue
            left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
            prop = left.child_by_field_name("property") if left is not None else None
            if (prop is None or text(prop) != name or right is None
                    or right.type not in ("function_expression", "arrow_function")):
                continue
            out.append(function_of(right))
        self._method_cache[name] = out
        return out

    def callee(self, node: Node) -> Function | None:
        """The function an expression names (an identifier or an inline function)."""
        if node.type == "identifier":
            return self.function(text(node))
        if node.type in ("function_expression", "arrow_function"):
            return function_of(node)
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            return self.callee(node.named_children[0])
        return None

    # --- interned strings -----------------------------------------------------------------

    def _index_strings(self) -> None:
        sites: dict[str, list[tuple[int, bytes]]] = {}
        data = self.data
        for match in _ASSIGNED_STRING.finditer(data):
            eq = match.start()
            if eq and data[eq - 1] in _OPERATOR_BEFORE_EQ:
                continue
            named = name_before(data, eq)
            if named is None or named[2] in b".\\":
                continue
            literal = _LITERAL.match(data, match.end())
            if literal is None:
                continue
            sites.setdefault(named[0], []).append((named[1], literal.group()))
        self._string_sites = sites

    def _sites(self) -> dict[str, list[tuple[int, bytes]]]:
        if self._string_sites is None:
            self._index_strings()
        assert self._string_sites is not None
        return self._string_sites

    def string_value(self, name: str) -> str | None:
        """The constant string a variable holds: ``var NAME='…'`` or ``NAME='…'`` (GWT's
        interned strings); None if it is never assigned one, or assigned different ones."""
        if name in self._string_cache:
            return self._string_cache[name]
        sites = self._sites().get(name, [])
        verified: set[bytes] = set()
        one_value = len({raw for _offset, raw in sites}) == 1
        for offset, raw in sites:
            if raw in verified or not self._is_string_binding(offset, name):
                continue
            verified.add(raw)
            if one_value or len(verified) > 1:  # settled: one value, or two that disagree
                break
        value = _decode_literal(verified.pop()) if len(verified) == 1 else None
        self._string_cache[name] = value
        return value

    def _is_string_binding(self, offset: int, name: str) -> bool:
        node = self.node_at(offset, offset + len(name.encode()))
        if node is None or node.type != "identifier" or node.parent is None:
            return False
        parent = node.parent
        if parent.type == "variable_declarator":
            value = parent.child_by_field_name("value")
            return parent.child_by_field_name("name") == node and value is not None \
                and value.type == "string"
        if parent.type == "assignment_expression":
            value = parent.child_by_field_name("right")
            return parent.child_by_field_name("left") == node and value is not None \
                and value.type == "string"
        return False

    def string_names(self, wanted: re.Pattern[str]) -> dict[str, str]:
        """Every interned-string variable whose value matches ``wanted`` → that value."""
        if self._raw_values is None:
            self._raw_values = [(name, {_decode_literal(raw) for _offset, raw in sites})
                                for name, sites in self._sites().items()]
        out: dict[str, str] = {}
        for name, values in self._raw_values:
            if not any(wanted.search(value) for value in values):
                continue
            value = self.string_value(name)
            if value is not None and wanted.search(value):
                out[name] = value
        return out

    def string(self, node: Node | None) -> str | None:
        """The constant string an expression stands for: a literal, an interned variable,
        or a concatenation of those; else None."""
        if node is None:
            return None
        kind = node.type
        if kind == "string":
            return decode_string(node)
        if kind == "identifier":
            return self.string_value(text(node))
        if kind == "parenthesized_expression" and node.named_child_count == 1:
            return self.string(node.named_children[0])
        if kind == "binary_expression" and text(node.child_by_field_name("operator") or node) == "+":
            left = self.string(node.child_by_field_name("left"))
            right = self.string(node.child_by_field_name("right"))
            if left is not None and right is not None:
                return left + right
        return None

    # --- locating -------------------------------------------------------------------------

    def occurrences(self, names: Iterable[str]) -> dict[str, list[int]]:
        """Where each of ``names`` is passed as an argument or a property value (``f(a,N)``,
        ``{k:N}``) — where GWT's code uses its interned strings — in one pass."""
        wanted = sorted({n.encode() for n in names})
        out: dict[str, list[int]] = {}
        if not wanted:
            return out
        pattern = re.compile(rb"[,(:] ?(" + _trie(wanted) + rb")(?= ?[,)}])")
        for match in pattern.finditer(self.data):
            out.setdefault(match.group(1).decode(), []).append(match.start(1))
        return out

    def locate(self, pattern: re.Pattern[bytes]) -> Iterator[re.Match[bytes]]:
        return pattern.finditer(self.data)

    def string_literal_at(self, offset: int) -> str | None:
        """The value of the string literal that starts at ``offset`` (read, not parsed)."""
        literal = _LITERAL.match(self.data, offset)
        return _decode_literal(literal.group()) if literal else None
