"""Garbage in → a typed error with a position; never another exception, never half a value."""

import pytest

from fixtures.recorded.captures import GET_FORM, LIST, fill
from scraper.errors import DecodeError, UnknownClassError, UnsupportedVersionError
from scraper.gwt import default_registry, parse_request, parse_response

REG = default_registry()
GOOD = fill(GET_FORM)

BAD_REQUESTS = [
    ("", "no '|'"),
    ("7", "no '|'"),
    (GOOD[:-1], "does not end with"),
    (GOOD[: GOOD.rindex("|", 0, len(GOOD) - 1) + 1], "truncated"),
    (GOOD + "5|", "unexpected tokens"),
    ("7|0|99|a|", "string table claims"),
    (GOOD.replace("|6|31|", "|6|x|"), "expected an integer"),
    (GOOD.replace("|5|CaAbCd|", "|5|C!bCd|"), "base-64 long"),
    (GOOD.replace("|5|CaAbCd|", "|9|CaAbCd|"), "type index out of range"),
    (GOOD.replace("|5|CaAbCd|", "|-7|CaAbCd|"), "back-reference"),
    (GOOD.replace("|5|CaAbCd|", "|6|CaAbCd|"), "cannot fill"),
    (GOOD.replace("7|0|6|", "7|4|6|", 1), "unknown flags"),
    (GOOD.replace("7|0|6|", "7|1|6|", 1), "elided"),
    (GOOD.replace("getForm", "get\\qForm"), "invalid escape"),
    (GOOD.replace("|1|2|3|4|2|", "|1|2|3|4|-1|"), "collection size"),
    (GOOD.replace("|1|2|3|4|2|", "|0|2|3|4|2|"), "module base is null"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_REQUESTS)
def test_bad_requests(payload, message):
    with pytest.raises(DecodeError, match=message) as info:
        parse_request(payload, REG)
    assert info.value.position is not None or "no '|'" in message


def test_version_other_than_7_is_named():
    with pytest.raises(UnsupportedVersionError, match="version 6"):
        parse_request(GOOD.replace("7|", "6|", 1), REG)


def test_unknown_class_names_class_signature_and_position():
    payload = GOOD.replace("java.lang.Long/4227064769", "com.acme.Thing/123")
    with pytest.raises(UnknownClassError) as info:
        parse_request(payload, REG)
    err = info.value
    assert err.class_name == "com.acme.Thing" and err.signature == "com.acme.Thing/123"
    assert err.position == 16  # 3 header + 6 strings + 7 body tokens
    assert err.char_offset == payload.index("|5|CaAbCd|") + 1


def test_error_carries_character_offset():
    payload = fill(LIST).replace("|8|Bk|", "|8|B?|")
    with pytest.raises(DecodeError) as info:
        parse_request(payload, REG)
    assert payload[info.value.char_offset:].startswith("B?|")


BAD_RESPONSES = [
    ("", "must start with"),
    ("<html>login</html>", "must start with"),
    ("//OK", "not closed"),
    ("//OK[1,2", "not closed"),
    ("//OK[1,[\"a\"],0", "not closed"),
    ("//OK[1,2,0,7]", "string table"),
    ("//OK[1,[],[],0,7]", "unexpected"),
    ("//OK[[\"a\"+],0,7]", "dangling"),
    ("//OK[[\"a\" \"b\"],0,7]", "two strings"),
    ("//OK[[\"\\q\"],0,7]", "invalid escape"),
    ("//OK[1,[],0,7]x", "unexpected text"),
    ("//OK[1,[],0,7].concat(", "not closed"),
    ("//OK[1,[],0,6]", "version 6"),
    ("//OK[1,[],0]", "third element"),
    ("//OK[1,[],0,'x']", "integers"),
    ("//OK[1,[\"java.lang.Long/4227064769\"],0,7]", "truncated"),
    ("//OK[5,1,[\"java.lang.Long/4227064769\"],0,7]", "base-64 long"),
    ("//OK[1,2,[],0,7]", "type index out of range"),
    ("//OK[-1,[],0,7]", "back-reference"),
    ("//OK[{},[],0,7]", "expected an integer"),
    ("//OK[1 2,[],0,7]", "malformed"),
]


@pytest.mark.parametrize(("body", "message"), BAD_RESPONSES)
def test_bad_responses(body, message):
    with pytest.raises(DecodeError, match=message):
        parse_response(body, REG)


def test_deep_nesting_is_a_typed_error():
    """A 20,000-deep chain of Node objects must not escape as RecursionError."""
    from scraper.gwt import gwt_registry
    from tests.paths import VECTORS

    if not VECTORS.is_dir():
        pytest.skip("vectors missing")
    registry = gwt_registry()
    registry.load_schema_file(VECTORS / "schema.json")
    depth = 20000
    written = [1, 0] * depth + [0] + [0] * depth  # type, name; …; last next; every payload
    text = "//OK[" + ",".join(map(str, reversed(written))) + \
        ',["com.example.vectors.Node/3532309981"],0,7]'
    with pytest.raises(DecodeError, match="nested too deeply"):
        parse_response(text, registry)
