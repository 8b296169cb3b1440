"""From the bytes a server sends to the one JavaScript program of a permutation.

A permutation comes in three wrappings: plain script (``.cache.js`` of the ``sso``/``xsiframe``
linkers, and SuperDevMode output), the same program embedded as string literals in
``<module>.onScriptDownloaded(["…", "…"])`` (``xsiframe`` when it installs the code itself), or
the ``<script>`` blocks of an HTML page (``.cache.html`` of the older ``std``/``iframe``
linkers). Either way it is one program: the linkers split it only between top-level statements
(the iframe linker into ~30 KB ``<script>`` blocks, xsiframe into ~30 KB strings), so the pieces
are joined back in order and parsed as one (by segments, see ``jsindex.Program``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from scraper.gwt.permutation.jsindex import decode_js_string

_HTML_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype|html|head|body|script)\b", re.I | re.S)
#: where a loader call's array of code strings may begin: ``onScriptDownloaded(["`` …
_ARRAY_START = re.compile(r"\(\s*\[\s*(?=[\"'])")
#: … and, from there, one string literal and what follows it (the array is read strictly)
_LITERAL = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'", re.S)
_SEPARATOR = re.compile(r"\s*(,|\])\s*")
_MIN_EMBEDDED = 200


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[list[str]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._inside = True
            self.scripts.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1].append(data)


def script_texts(source: str) -> list[str]:
    """The JavaScript of ``source``: itself, or the bodies of its ``<script>`` blocks."""
    if not _HTML_START.match(source):
        return [source]
    parser = _Scripts()
    parser.feed(source)
    parser.close()
    out = []
    for parts in parser.scripts:
        body = "".join(parts).strip()
        if body.startswith("<!--"):
            body = body[4:]
        if body.endswith("-->"):
            body = body[:-3]
        if body.strip():
            out.append(body)
    return out


def program_text(source: str) -> str:
    """The permutation's program: the scripts joined in order (each on its own lines), or the
    code a loader call carries as strings."""
    joined = "\n".join(script_texts(source))
    embedded = embedded_code(joined)
    return embedded if embedded is not None else joined


def program_bytes(source: str) -> bytes:
    return program_text(source).encode("utf-8", "surrogatepass")


def embedded_code(text: str) -> str | None:
    """The program a loader call carries as an array of string literals (joined as the linker
    joins them), if ``text`` holds such an array of code; the largest one wins.

    The array is read strictly — string literals separated by commas up to ``]`` — so a
    ``f(['a', b])`` in ordinary code is simply not one."""
    best: str | None = None
    for start in _ARRAY_START.finditer(text):
        pieces = _string_array(text, start.end())
        if not pieces:
            continue
        joined = "".join(pieces)
        if len(joined) >= _MIN_EMBEDDED and "function" in joined and (
                best is None or len(joined) > len(best)):
            best = joined
    return best


def _string_array(text: str, pos: int) -> list[str] | None:
    pieces: list[str] = []
    while True:
        literal = _LITERAL.match(text, pos)
        if literal is None:
            return None
        pieces.append(decode_js_string(literal.group()[1:-1]))
        separator = _SEPARATOR.match(text, literal.end())
        if separator is None:
            return None
        pos = separator.end()
        if separator.group(1) == "]":
            return pieces
