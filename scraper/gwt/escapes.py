"""String escaping on both sides of the wire, and Java's double formatting.

Requests (browser → server) quote only ``\\``, ``|``, NUL and selected UTF-16 units as
``\\uxxxx``; responses (server → browser) are JavaScript string literals with GWT 2.7's
HTML-sniffing protection (``\\x3C`` for ``<``...). Both are here because the sandbox writes what
the client reads.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

from scraper.errors import DecodeError, EncodeError

# --- requests -----------------------------------------------------------------------------

_REQ_UNESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|[0!\\]|.|$)", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")

# WebKit user agents also escape these ranges (GWT's client does so); Chromium is WebKit here.
WEBKIT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0300, 0x03FF), (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0730, 0x074A), (0x07EB, 0x07F3),
    (0x0940, 0x0963), (0x0980, 0x09FF), (0x0A00, 0x0A7F), (0x0B00, 0x0B7F), (0x0E00, 0x0E7F),
    (0x0F00, 0x0FFF), (0x1900, 0x194F), (0x1A00, 0x1A1F), (0x1B00, 0x1B7F), (0x1CDA, 0x1CDC),
    (0x1DC0, 0x1DFF), (0x1F00, 0x1FFF), (0x2000, 0x206F), (0x20D0, 0x20FF), (0x2100, 0x214F),
    (0x2300, 0x23FF), (0x2A00, 0x2AFF), (0x3000, 0x303F), (0xAAB2, 0xAAB4),
)


def _join_surrogates(text: str) -> str:
    """Recombine UTF-16 surrogate pairs into code points; lone surrogates stay as they are."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def unquote_request_string(raw: str, *, position: int | None = None) -> str:
    """Undo the browser's quoting of one string-table entry (only what GWT's server accepts)."""
    if "\\" not in raw:
        return raw

    def repl(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "0":
            return "\0"
        if code == "!":
            return "|"
        if code == "\\":
            return "\\"
        if len(code) == 5 and code[0] == "u":
            return chr(int(code[1:], 16))
        raise DecodeError(f"invalid escape {match.group(0)!r} in request string",
                          kind="bad-token", position=position, token=raw)

    return _join_surrogates(_REQ_UNESCAPE.sub(repl, raw))


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def _needs_webkit_escape(unit: int) -> bool:
    return any(lo <= unit <= hi for lo, hi in WEBKIT_RANGES)


_REQ_SIMPLE = re.compile(r"[\\|\0]")
_REQ_WIDE = re.compile("[\ud800-\U0010ffff]")
#: a char WebKit's rules escape (``WEBKIT_RANGES``, all in the BMP): most strings have none,
#: and then need no walk unit by unit (the module base, class names: every string of a call)
_REQ_WEBKIT = re.compile("[" + "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in WEBKIT_RANGES)
                         + "]")


def quote_request_string(text: str, *, webkit: bool = False) -> str:
    """Quote one string-table entry as GWT's browser client does (default or WebKit rules)."""
    if not isinstance(text, str):
        raise EncodeError(f"string-table entry must be str, got {type(text).__name__}")
    plain = _REQ_SIMPLE.sub(lambda m: {"\\": "\\\\", "|": "\\!", "\0": "\\0"}[m.group(0)], text)
    if not _REQ_WIDE.search(plain) and not (webkit and _REQ_WEBKIT.search(plain)):
        return plain
    out: list[str] = []
    for unit in _utf16_units(plain):
        if unit >= 0xD800 or (webkit and _needs_webkit_escape(unit)):
            out.append(f"\\u{unit:04x}")
        else:
            out.append(chr(unit))
    return "".join(out)


# --- responses ----------------------------------------------------------------------------

_SIMPLE_JS = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Mn", "Mc", "Me"})


@lru_cache(maxsize=1)
def _response_escape_table() -> dict[int, str]:
    """``str.translate`` table for every BMP char GWT 2.7's server escapes (built once)."""
    table: dict[int, str] = {}
    for cp in range(0x10000):
        ch = chr(cp)
        if ch in _SIMPLE_JS:
            table[cp] = _SIMPLE_JS[ch]
            continue
        cat = unicodedata.category(ch)
        if (
            cp < 0x20
            or ch in "'&<=>"
            or cp == 0x2011
            or cat in _ESCAPED_CATEGORIES
            or (cat == "Zs" and cp != 0x20)
        ):
            table[cp] = f"\\x{cp:02X}" if cp < 0x100 else f"\\u{cp:04X}"
    return table


_NON_BMP = re.compile("[\U00010000-\U0010ffff]")


def _split_non_bmp(match: re.Match[str]) -> str:
    cp = ord(match.group(0)) - 0x10000
    return chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF))


def escape_response_string(text: str) -> str:
    """Escape a string's content for a GWT 2.7 response literal (without the quotes)."""
    if _NON_BMP.search(text):
        text = _NON_BMP.sub(_split_non_bmp, text)  # Java sees two surrogate chars: both escaped
    return text.translate(_response_escape_table())


_RESP_UNESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|[\"\\/bfnrtv'0]|.|$)", re.DOTALL)
_JS_SIMPLE_BACK = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0"}


def unescape_response_string(body: str, *, char_offset: int | None = None) -> str:
    """Read the content of a JS string literal as GWT (≤2.7 ``\\xHH`` or ≥2.8 ``\\u00HH``) wrote it."""
    if "\\" not in body:
        return body

    def repl(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) >= 3 and code[0] in "xu":
            return chr(int(code[1:], 16))
        if code in _JS_SIMPLE_BACK:
            return _JS_SIMPLE_BACK[code]
        if code in "\"\\/'" and code:
            return code
        raise DecodeError(
            f"invalid escape {match.group(0)!r} in response string", kind="bad-token",
            char_offset=char_offset,
            token=body[:40],
        )

    return _join_surrogates(_RESP_UNESCAPE.sub(repl, body))


# --- doubles ------------------------------------------------------------------------------

_JAVA_DOUBLE = re.compile(r"-?(?:NaN|Infinity|\d+\.\d+(?:E-?\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


def format_java_double(value: float) -> str:
    """``Double.toString``: plain between 1e-3 and 1e7, else ``d.dddE±n``, shortest digits."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    shortest = repr(magnitude)
    if 1e-3 <= magnitude < 1e7:
        if "e" in shortest:  # repr never uses an exponent in this range; be safe anyway
            shortest = format(magnitude, "f")
        return sign + (shortest if "." in shortest else shortest + ".0")
    if "e" in shortest:
        base, _, exp_text = shortest.partition("e")
        digits, exp = base.replace(".", ""), int(exp_text)
    else:
        int_part, _, frac = shortest.partition(".")
        if int_part != "0":
            digits, exp = int_part + frac, len(int_part) - 1
        else:
            stripped = frac.lstrip("0")
            digits, exp = stripped, -(len(frac) - len(stripped) + 1)
    digits = digits.rstrip("0") or "0"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exp}"


def parse_java_double(token: str, *, position: int | None = None) -> float:
    """Read a double token as the GWT server would (Java syntax only, no ``inf``/``1_0``)."""
    if not _JAVA_DOUBLE.fullmatch(token):
        raise DecodeError("not a double", kind="bad-token", position=position, token=token)
    return float(token)
