"""From the bytes a server sends to parsed JavaScript programs.

A permutation comes in three wrappings: plain script (``.cache.js`` of the ``sso``/``xsiframe``
linkers), the same program embedded as string literals in ``<module>.onScriptDownloaded([...])``
(``xsiframe`` when it installs the code itself), or ``<script>`` blocks of an HTML page
(``.cache.html`` of the older ``std``/``iframe`` linkers).
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser

from tree_sitter import Node, Query, QueryCursor

from scraper.gwt.permutation.jsindex import _language, decode_string, parse

#: string literals passed in an array to a call: ``m.onScriptDownloaded(["…", "…"])``
_EMBEDDED_QUERY = "(call_expression arguments: (arguments (array (string) @code)))"
_HTML_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype|html|head|body|script)\b", re.I | re.S)
_MIN_EMBEDDED = 200


@cache
def _embedded_query() -> Query:
    return Query(_language(), _EMBEDDED_QUERY)


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data


def script_texts(source: str) -> list[str]:
    """The JavaScript programs in ``source``: itself, or its ``<script>`` blocks."""
    if not _HTML_START.match(source):
        return [source]
    parser = _Scripts()
    parser.feed(source)
    parser.close()
    out = []
    for script in parser.scripts:
        body = script.strip()
        if body.startswith("<!--"):
            body = body[4:]
        if body.endswith("-->"):
            body = body[:-3]
        if body.strip():
            out.append(body)
    return out


def programs(source: str) -> list[tuple[Node, bytes]]:
    """Parsed roots with the bytes they were parsed from: each script, and each program
    embedded in one as string literals."""
    roots: list[tuple[Node, bytes]] = []
    for script in script_texts(source):
        data = script.encode("utf-8", "surrogatepass")
        root = parse(data)
        roots.append((root, data))
        embedded = _embedded_code(root)
        if embedded:
            inner = embedded.encode("utf-8", "surrogatepass")
            roots.append((parse(inner), inner))
    return roots


def _embedded_code(root: Node) -> str | None:
    """The program a loader call carries as strings (joined as the linker joins them)."""
    best: list[str] = []
    seen: set[int] = set()
    for _pattern, caps in QueryCursor(_embedded_query()).matches(root):
        node = caps["code"][0]
        array = node.parent
        if node.end_byte - node.start_byte < _MIN_EMBEDDED or array is None or array.id in seen:
            continue
        seen.add(array.id)
        pieces = [decode_string(s) for s in array.named_children if s.type == "string"]
        joined = "".join(pieces)
        if "function" in joined and len(joined) > sum(len(p) for p in best):
            best = pieces
    return "".join(best) or None
