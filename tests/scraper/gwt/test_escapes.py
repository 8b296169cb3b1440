import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.errors import DecodeError
from scraper.gwt.escapes import (
    WEBKIT_RANGES,
    escape_response_string,
    format_java_double,
    parse_java_double,
    quote_request_string,
    unescape_response_string,
    unquote_request_string,
)

REQUEST_QUOTING = [
    ("plain", "plain"),
    ("a|b", "a\\!b"),
    ("back\\slash", "back\\\\slash"),
    ("nul\0", "nul\\0"),
    ("Жж №", "Жж №"),  # Cyrillic and № travel raw under the default rules
    ("\ufeff", "\\ufeff"),
    ("\U0001F600", "\\ud83d\\ude00"),
    ("tab\tcr\r", "tab\tcr\r"),
]


@pytest.mark.parametrize(("text", "wire"), REQUEST_QUOTING)
def test_request_quoting(text, wire):
    assert quote_request_string(text) == wire
    assert unquote_request_string(wire) == text


def test_webkit_quoting_escapes_its_ranges():
    assert quote_request_string("№–", webkit=True) == "\\u2116\\u2013"
    assert unquote_request_string("\\u2116\\u2013") == "№–"


@pytest.mark.parametrize("bad", ["\\x41", "\\", "a\\q", "\\u12"])
def test_request_unquote_rejects_what_gwt_rejects(bad):
    with pytest.raises(DecodeError):
        unquote_request_string(bad)


RESPONSE_ESCAPES = [
    ('say "hi"', 'say \\"hi\\"'),
    ("a\\b", "a\\\\b"),
    ("\b\t\n\f\r", "\\b\\t\\n\\f\\r"),
    ("<a href='x'>&=", "\\x3Ca href\\x3D\\x27x\\x27\\x3E\\x26\\x3D"),
    ("\x0b\x01\x7f\xa0", "\\x0B\\x01\\x7F\\xA0"),
    ("\u2011\u2028\u200b", "\\u2011\\u2028\\u200B"),
    ("\U0001F600", "\\uD83D\\uDE00"),
    ("Привет – €", "Привет – €"),
    ("a|b", "a|b"),
]


@pytest.mark.parametrize(("text", "wire"), RESPONSE_ESCAPES)
def test_response_escaping(text, wire):
    assert escape_response_string(text) == wire
    assert unescape_response_string(wire) == text


def test_response_unescape_accepts_gwt_28_forms():
    assert unescape_response_string("\\u003C\\u0027") == "<'"
    assert unescape_response_string("\\/") == "/"


@given(st.text())
def test_escape_round_trips(text):
    assert unescape_response_string(escape_response_string(text)) == text
    assert unquote_request_string(quote_request_string(text)) == text
    assert unquote_request_string(quote_request_string(text, webkit=True)) == text


DOUBLES = [
    (0.1, "0.1"), (2.5, "2.5"), (1e21, "1.0E21"), (-1.5e-7, "-1.5E-7"), (0.0, "0.0"),
    (-0.0, "-0.0"), (1e7, "1.0E7"), (0.001, "0.001"), (1e-4, "1.0E-4"), (100.0, "100.0"),
    (0.10000000149011612, "0.10000000149011612"), (math.inf, "Infinity"),
    (-math.inf, "-Infinity"), (12345678.9, "1.23456789E7"),
]


@pytest.mark.parametrize(("value", "text"), DOUBLES)
def test_java_double_format(value, text):
    assert format_java_double(value) == text
    assert parse_java_double(text) == value


def test_nan():
    assert format_java_double(math.nan) == "NaN"
    assert math.isnan(parse_java_double("NaN"))


@pytest.mark.parametrize("bad", ["nan", "inf", "1_0", "0x10", "", " 1"])
def test_double_garbage(bad):
    with pytest.raises(DecodeError):
        parse_java_double(bad)


@given(st.floats(allow_nan=False))
def test_double_round_trip(value):
    assert parse_java_double(format_java_double(value)) == value


def test_webkit_quoting_escapes_exactly_the_ranges_at_their_edges() -> None:
    """The quick test for "nothing to escape" agrees with the rule unit by unit: around each
    edge of every WebKit range, and for astral chars (two surrogate units)."""
    def by_the_rule(text: str) -> str:
        data = text.encode("utf-16-le", "surrogatepass")
        units = [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]
        return "".join(f"\\u{u:04x}" if u >= 0xD800 or any(lo <= u <= hi for lo, hi in WEBKIT_RANGES)
                       else chr(u) for u in units)

    edges = sorted({c for lo, hi in WEBKIT_RANGES for c in (lo - 1, lo, hi, hi + 1)})
    for code in [*edges, 0x41, 0x416, 0xD7FF, 0xE000, 0xFFFD, 0x1F600]:
        text = f"ab{chr(code)}cd"
        assert quote_request_string(text, webkit=True) == by_the_rule(text), hex(code)
    assert quote_request_string("https://vpbx.mts.ru/vpbxGwt/", webkit=True) == \
        "https://vpbx.mts.ru/vpbxGwt/"
