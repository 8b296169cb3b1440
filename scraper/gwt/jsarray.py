"""The text of a GWT response: ``//OK[...]`` / ``//EX[...]`` as GWT 2.5–2.8 writes it.

Why not ``json.loads`` on the whole text, and never ``eval``: the body uses single-quoted longs,
``\\xHH`` escapes, bare ``NaN``/``Infinity``, ``[...].concat([...])`` chunks and ``"a"+"b"``
string pieces. We find the structure with one C-speed regex scan (it only stops at string
literals, brackets and ``.concat``), hand the numeric body to ``json.loads`` in one call, and
read the string literals one by one — so decoding keeps a good fraction of ``json.loads`` speed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scraper.errors import DecodeError, UnsupportedVersionError
from scraper.gwt.escapes import escape_response_string, format_java_double, unescape_response_string
from scraper.gwt.writer import LongToken, Token

CHUNK = 32768  # elements per array literal before GWT switches to .concat
PIECE = 65530  # escaped characters after which GWT closes a string piece with "+"
_MAX_PIECE = 65535
SUPPORTED_VERSIONS = (7, 8)

# string literals written as an unrolled loop: much faster in ``re`` than (?:[^"\\]|\\.)*
_LITERAL = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_LITERAL_AT = re.compile(_LITERAL, re.DOTALL)
_CONCAT = ".concat"


class _Events:
    """The structural events of a response: string literals, brackets, ``.concat(`` and ``)``.

    Found with ``str.find`` per character (memchr speed) rather than a regex that would step
    through every digit of a megabyte body; each character's next position is cached.
    """

    __slots__ = ("next_at", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.next_at = dict.fromkeys('"[]()', -1)

    def next(self, pos: int) -> tuple[str, int, int] | None:
        text, next_at = self.text, self.next_at
        best_char, best = "", len(text)
        for char, at in next_at.items():
            if at < pos:
                found = text.find(char, pos)
                at = next_at[char] = found if found >= 0 else len(text)
            if at < best:
                best_char, best = char, at
        if not best_char:
            return None
        if best_char == '"':
            literal = _LITERAL_AT.match(text, best)
            if literal is None:
                raise DecodeError("unterminated string literal", kind="bad-syntax", char_offset=best,
                                  token=text[best:best + 30])
            return literal.group(), best, literal.end()
        if best_char == "(" and text.startswith(_CONCAT, best - len(_CONCAT)):
            if pos < best - len(_CONCAT) + 1:
                return _CONCAT, best - len(_CONCAT), best
        return best_char, best, best + 1
_TABLE = "null"  # stands in for the string table in the body handed to json.loads


@dataclass(slots=True)
class ResponseParts:
    """A response split into its parts; ``tokens`` are in the order the server wrote them."""

    kind: str
    tokens: list[Any]
    strings: list[str]
    flags: int
    version: int


class _ArrayList:
    """``[..]`` optionally followed by ``.concat([..],[..])``: the grammar of both the outer
    array and the string table. States: start, in, first_closed, concat, args, arg_closed,
    comma, done."""

    __slots__ = ("first", "state")

    def __init__(self) -> None:
        self.state = "start"
        self.first = True

    def open(self) -> None:
        if self.state not in ("start", "args", "comma"):
            raise ValueError("unexpected '['")
        self.state = "in"

    def close(self) -> None:
        if self.state != "in":
            raise ValueError("unexpected ']'")
        self.state = "first_closed" if self.first else "arg_closed"
        self.first = False

    def step(self, event: str) -> None:
        allowed = {".concat": ("first_closed", "concat"), "(": ("concat", "args"),
                   ",": ("arg_closed", "comma"), ")": ("arg_closed", "done")}[event]
        if self.state != allowed[0]:
            raise ValueError(f"unexpected {event!r}")
        self.state = allowed[1]

    @property
    def in_concat(self) -> bool:
        return self.state in ("concat", "args", "arg_closed", "comma")

    @property
    def finished(self) -> bool:
        return self.state in ("first_closed", "done")


@dataclass(slots=True)
class _Scan:
    text: str
    depth: int = 0
    outer: _ArrayList = field(default_factory=_ArrayList)
    table: _ArrayList = field(default_factory=_ArrayList)
    chunks: list[list[str]] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    piece: list[str] | None = None
    expect_string: bool = True
    table_end: int = 0

    def fail(self, message: str, offset: int, kind: str = "bad-syntax") -> DecodeError:
        return DecodeError(message, kind=kind, char_offset=offset,
                           token=self.text[offset:offset + 30])


def split_response(text: str) -> ResponseParts:
    """Parse the text of a response into tokens, string table, flags and version."""
    if not isinstance(text, str):
        raise DecodeError("a response body is text", kind="not-gwt")
    if text.startswith("//OK"):
        kind = "ok"
    elif text.startswith("//EX"):
        kind = "ex"
    else:
        raise DecodeError("not a GWT response: it must start with //OK or //EX", kind="not-gwt",
                          char_offset=0,
                          token=text[:30])
    text = _json_escapes(text)  # error offsets below refer to this normalized text
    scan = _Scan(text)
    last = 4
    events = _Events(text)
    event = events.next(4)
    while event is not None:
        tok, start, end = event
        try:
            _gap(scan, last, start)
            if tok == "[" and scan.depth == 1 and _bulk_table(scan, start):
                end = scan.table_end
            else:
                _event(scan, tok, start)
        except ValueError as exc:
            raise scan.fail(str(exc), start) from None
        last = end
        event = events.next(last)
    try:
        _gap(scan, last, len(text))
    except ValueError as exc:
        raise scan.fail(str(exc), last) from None
    if not scan.outer.finished or scan.depth:
        raise scan.fail("truncated: the response array is not closed", len(text), "truncated")
    if scan.table.state == "start":
        raise scan.fail("no string table in the response", len(text))
    body = ",".join(text for text in ("".join(chunk).strip() for chunk in scan.chunks) if text)
    try:
        values = json.loads(f"[{body}]")
    except json.JSONDecodeError as exc:
        raise DecodeError(f"malformed response body: {exc.msg}", kind="bad-syntax",
                          token=body[max(0, exc.pos - 20):exc.pos + 20]) from None
    # a stray ``null`` elsewhere cannot pass: the reader accepts only numbers and strings
    if len(values) < 3 or values[-3] is not None:
        raise DecodeError("the string table must be the third element from the end",
                          kind="bad-syntax")
    version, flags = values[-1], values[-2]
    if type(version) is not int or type(flags) is not int:
        raise DecodeError("version and flags must be integers", kind="bad-syntax",
                          token=(flags, version))
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"response protocol version {version} is not supported (7, or 8 of GWT >= 2.8)",
            token=version,
        )
    tokens = values[:-3]
    tokens.reverse()
    return ResponseParts(kind, tokens, scan.strings, flags, version)


def _gap(scan: _Scan, start: int, end: int) -> None:
    if start >= end:
        return
    gap = scan.text[start:end]
    stripped = gap.strip()
    if scan.depth == 1 and not scan.table.in_concat:
        scan.chunks[-1].append(gap.replace("'", '"'))
    elif scan.depth == 2:
        if stripped == "+" and scan.piece is not None and not scan.expect_string:
            scan.expect_string = True
        elif stripped == "," and not scan.expect_string:
            _finish_string(scan)
            scan.expect_string = True
        elif stripped:
            raise ValueError("unexpected text in the string table")
    elif stripped:
        owner = scan.table if scan.depth == 1 else scan.outer
        if stripped != "," or owner.state != "arg_closed":
            raise ValueError("unexpected text outside the arrays")
        owner.step(",")


_BACKSLASH_RUN_X = re.compile(r"(\\+)x")
_TABLE_DECODER = json.JSONDecoder(strict=False)


def _json_escapes(text: str) -> str:
    """Rewrite GWT 2.7's ``\\xHH`` as JSON's ``\\u00HH`` (only backslashes inside strings exist,
    so the whole text can be rewritten; a run of backslashes escapes ``x`` only when odd)."""
    if "\\x" not in text:
        return text
    if "\\\\" not in text:
        return text.replace("\\x", "\\u00")

    def repl(match: re.Match[str]) -> str:
        run = match.group(1)
        return run + ("u00" if len(run) % 2 else "x")

    return _BACKSLASH_RUN_X.sub(repl, text)


def _bulk_table(scan: _Scan, start: int) -> bool:
    """Read a whole string-table chunk with ``json`` at C speed; False → the event path.

    After ``_json_escapes`` GWT's table is JSON unless it holds ``"a"+"b"`` pieces (strings over
    64K), ``\\'`` or garbage — those take the slow path, which reports errors precisely.
    """
    try:
        strings, end = _TABLE_DECODER.raw_decode(scan.text, start)
    except ValueError:
        return False
    if not isinstance(strings, list) or (strings and set(map(type, strings)) != {str}):
        return False
    if scan.table.state == "start":
        scan.chunks[-1].append(_TABLE)
    scan.table.open()
    scan.table.close()
    scan.strings.extend(strings)
    scan.table_end = end
    return True


def _finish_string(scan: _Scan) -> None:
    if scan.piece is not None:
        scan.strings.append("".join(scan.piece))
        scan.piece = None


def _event(scan: _Scan, tok: str, offset: int) -> None:
    depth = scan.depth
    if tok[0] == '"':
        if depth == 2:
            if not scan.expect_string:
                raise ValueError("two strings without a separator")
            content = unescape_response_string(tok[1:-1], char_offset=offset)
            if scan.piece is None:
                scan.piece = [content]
            else:
                scan.piece.append(content)
            scan.expect_string = False
        elif depth == 1 and not scan.table.in_concat:
            scan.chunks[-1].append(tok)  # a double-quoted long (GWT >= 2.8)
        else:
            raise ValueError("a string outside the response array")
    elif tok == "[":
        if depth == 0:
            scan.outer.open()
            scan.chunks.append([])
        elif depth == 1:
            if scan.table.state == "start":
                scan.chunks[-1].append(_TABLE)
            scan.table.open()
            scan.expect_string = True
        else:
            raise ValueError("arrays nested too deeply")
        scan.depth += 1
    elif tok == "]":
        if depth == 2:
            if scan.expect_string and scan.piece is not None:
                raise ValueError("dangling '+' or ',' at the end of the string table")
            _finish_string(scan)
            scan.table.close()
        elif depth == 1:
            if scan.table.in_concat:
                raise ValueError("unfinished .concat of the string table")
            scan.outer.close()
        else:
            raise ValueError("unexpected ']'")
        scan.depth -= 1
    else:  # .concat ( )
        if depth > 1:
            raise ValueError(f"unexpected {tok!r}")
        (scan.table if depth == 1 else scan.outer).step(tok)


# --- rendering (the server side: the sandbox answers with this) ----------------------------


def _render_token(tok: Token) -> str:
    if isinstance(tok, LongToken):
        return f"'{str.__str__(tok)}'"
    if type(tok) is float:
        return format_java_double(tok)
    return str(tok)


def _array(elements: Sequence[str], chunk: int) -> str:
    """GWT's LengthConstrainedArray: the head holds ``chunk`` elements and every later
    ``.concat`` argument ``chunk + 1`` (its counter restarts after the element that overflowed;
    vector v13 shows 32768, 32769, rest)."""
    if len(elements) <= chunk:
        return "[" + ",".join(elements) + "]"
    parts = ["[" + ",".join(elements[:chunk]) + "]"]
    for i in range(chunk, len(elements), chunk + 1):
        parts.append("[" + ",".join(elements[i:i + chunk + 1]) + "]")
    return parts[0] + ".concat(" + ",".join(parts[1:]) + ")"


def _literal(text: str, piece: int) -> str:
    escaped = escape_response_string(text)
    if len(escaped) <= _MAX_PIECE:
        return f'"{escaped}"'
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        unit = escape_response_string(ch)
        current.append(unit)
        size += len(unit)
        if size >= piece:
            pieces.append("".join(current))
            current, size = [], 0
    if current:
        pieces.append("".join(current))
    return "+".join(f'"{p}"' for p in pieces)


def render_response(
    kind: str, tokens: Sequence[Token], strings: Sequence[str], *, flags: int = 0,
    version: int = 7, chunk: int = CHUNK, piece: int = PIECE,
) -> str:
    """Write a response exactly as GWT 2.7's server does (tokens given in writing order)."""
    table = _array([_literal(s, piece) for s in strings], chunk)
    elements = [_render_token(t) for t in reversed(tokens)]
    elements += [table, str(flags), str(version)]
    prefix = "//OK" if kind == "ok" else "//EX"
    return prefix + _array(elements, chunk)
