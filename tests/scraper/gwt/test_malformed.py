"""Garbage in → a typed error with a position; never another exception, never half a value."""

import pytest

from scraper.errors import DecodeError, UnknownClassError, UnsupportedVersionError
from scraper.gwt import parse_request, parse_response
from scraper.profile import MTS
from vats_fixtures.recorded.captures import GET_FORM, LIST, fill

REG = MTS.registry()
GOOD = fill(GET_FORM)

BAD_REQUESTS = [
    ("", "no '|'", "not-gwt"),
    ("7", "no '|'", "not-gwt"),
    (GOOD[:-1], "does not end with", "unterminated"),
    (GOOD[: GOOD.rindex("|", 0, len(GOOD) - 1) + 1], "truncated", "truncated"),
    (GOOD + "5|", "unexpected tokens", "trailing-tokens"),
    ("7|0|99|a|", "string table claims", "truncated"),
    (GOOD.replace("|6|31|", "|6|x|"), "expected an integer", "bad-integer"),
    (GOOD.replace("|5|CaAbCd|", "|5|C!bCd|"), "base-64 long", "bad-token"),
    (GOOD.replace("|5|CaAbCd|", "|9|CaAbCd|"), "type index out of range", "type-index-out-of-range"),
    (GOOD.replace("|5|CaAbCd|", "|-7|CaAbCd|"), "back-reference", "back-reference-out-of-range"),
    (GOOD.replace("|5|CaAbCd|", "|6|CaAbCd|"), "cannot fill", "wrong-class"),
    (GOOD.replace("7|0|6|", "7|4|6|", 1), "unknown flags", "bad-header"),
    (GOOD.replace("7|0|6|", "7|1|6|", 1), "elided", "bad-header"),
    (GOOD.replace("getForm", "get\\qForm"), "invalid escape", "bad-token"),
    (GOOD.replace("|1|2|3|4|2|", "|1|2|3|4|-1|"), "collection size", "bad-size"),
    (GOOD.replace("|1|2|3|4|2|", "|0|2|3|4|2|"), "module base is null", "bad-header"),
    (GOOD.replace("|6|31|", "|6|-1|"), "ordinal -1 out of range", "ordinal-out-of-range"),
    (GOOD.replace("|6|31|", "|6|99999999999|"), "integer out of range", "integer-out-of-range"),
    (GOOD.replace("|1|2|3|4|2|", "|1|99|3|4|2|"), "string index out of range",
     "string-index-out-of-range"),
]


@pytest.mark.parametrize(("payload", "message", "kind"), BAD_REQUESTS)
def test_bad_requests(payload, message, kind):
    with pytest.raises(DecodeError, match=message) as info:
        parse_request(payload, REG)
    assert info.value.position is not None or "no '|'" in message
    assert info.value.kind == kind  # what callers branch on, never the message


def test_version_other_than_7_is_named():
    with pytest.raises(UnsupportedVersionError, match="version 6") as info:
        parse_request(GOOD.replace("7|", "6|", 1), REG)
    assert info.value.kind == "unsupported-version"


def test_unknown_class_names_class_signature_and_position():
    payload = GOOD.replace("java.lang.Long/4227064769", "com.acme.Thing/123")
    with pytest.raises(UnknownClassError) as info:
        parse_request(payload, REG)
    err = info.value
    assert err.kind == "unknown-class"
    assert err.class_name == "com.acme.Thing" and err.signature == "com.acme.Thing/123"
    assert err.position == 16  # 3 header + 6 strings + 7 body tokens
    assert err.char_offset == payload.index("|5|CaAbCd|") + 1


def test_error_carries_character_offset():
    payload = fill(LIST).replace("|8|Bk|", "|8|B?|")
    with pytest.raises(DecodeError) as info:
        parse_request(payload, REG)
    assert payload[info.value.char_offset:].startswith("B?|")


BAD_RESPONSES = [
    ("", "must start with", "not-gwt"),
    ("<html>login</html>", "must start with", "not-gwt"),
    ("//OK", "not closed", "truncated"),
    ("//OK[1,2", "not closed", "truncated"),
    ("//OK[1,[\"a\"],0", "not closed", "truncated"),
    ("//OK[1,2,0,7]", "string table", "bad-syntax"),
    ("//OK[1,[],[],0,7]", "unexpected", "bad-syntax"),
    ("//OK[[\"a\"+],0,7]", "dangling", "bad-syntax"),
    ("//OK[[\"a\" \"b\"],0,7]", "two strings", "bad-syntax"),
    ("//OK[[\"\\q\"],0,7]", "invalid escape", "bad-token"),
    ("//OK[1,[],0,7]x", "unexpected text", "bad-syntax"),
    ("//OK[1,[],0,7].concat(", "not closed", "truncated"),
    ("//OK[1,[],0,6]", "version 6", "unsupported-version"),
    ("//OK[1,[],0]", "third element", "bad-syntax"),
    ("//OK[1,[],0,'x']", "integers", "bad-syntax"),
    ("//OK[1,[\"java.lang.Long/4227064769\"],0,7]", "truncated", "truncated"),
    ("//OK[5,1,[\"java.lang.Long/4227064769\"],0,7]", "base-64 long", "bad-token"),
    ("//OK[1,2,[],0,7]", "type index out of range", "type-index-out-of-range"),
    ("//OK[-1,[],0,7]", "back-reference", "back-reference-out-of-range"),
    ("//OK[{},[],0,7]", "expected an integer", "bad-integer"),
    ("//OK[1 2,[],0,7]", "malformed", "bad-syntax"),
    ("//OK[0,0,[],0,7]", "unexpected tokens after the value", "trailing-tokens"),
    ('//OK[0,1,["java.lang.String/2004016611"],0,7]', "cannot be null", "bad-token"),
]


@pytest.mark.parametrize(("body", "message", "kind"), BAD_RESPONSES)
def test_bad_responses(body, message, kind):
    with pytest.raises(DecodeError, match=message) as info:
        parse_response(body, REG)
    assert info.value.kind == kind


def test_codec_messages_state_facts_and_cite_no_cli_option():
    """Advice naming an option (``--schema``, ``--returns``) is the CLI's, chosen by kind."""
    with pytest.raises(UnknownClassError) as info:
        parse_response('//OK[1,["com.acme.Thing/1"],0,7]', REG)
    assert info.value.kind == "unknown-class" and "--" not in str(info.value)
    with pytest.raises(DecodeError) as info:
        parse_response("//OK[0,0,[],0,7]", REG)
    assert info.value.kind == "trailing-tokens" and "--" not in str(info.value)


def test_deep_nesting_is_a_typed_error():
    """A 20,000-deep chain of Node objects must not escape as RecursionError."""
    from scraper.gwt import gwt_registry
    from tests.paths import VECTORS

    registry = gwt_registry()
    registry.load_schema_file(VECTORS / "schema.json")
    depth = 20000
    written = [1, 0] * depth + [0] + [0] * depth  # type, name; …; last next; every payload
    text = "//OK[" + ",".join(map(str, reversed(written))) + \
        ',["com.example.vectors.Node/3532309981"],0,7]'
    with pytest.raises(DecodeError, match="nested too deeply") as info:
        parse_response(text, registry)
    assert info.value.kind == "too-deep"
