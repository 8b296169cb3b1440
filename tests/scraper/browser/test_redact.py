"""The Redactor masks every form a secret takes on the wire, in text, bytes, JSON, logs and zips.

The expected forms are computed here from their definitions (not from the module's own list),
so a form the module forgets fails a row of this table.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from scraper.browser.redact import MASK, Redactor, mask_secret
from scraper.gwt.escapes import escape_response_string, quote_request_string

SECRET = "Pa&s=w<o>r'd\"\\Пароль"  # every character GWT, HTML, JSON and URLs escape, and Cyrillic
SIP = "s1p&=<>'\"\\пароль"
LOGIN = "+7-9000000000"


def forms_of(secret: str) -> dict[str, str]:
    """Each named wire form of ``secret``, built from the definitions."""
    gwt = escape_response_string(secret)
    return {
        "raw": secret,
        "quote_plus": urllib.parse.quote_plus(secret),
        "quote": urllib.parse.quote(secret, safe=""),
        "quote lowercase hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(),
                                      urllib.parse.quote(secret, safe="")),
        "json": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
        "gwt response": gwt,
        "gwt 2.8 response": re.sub(r"\\x([0-9A-F]{2})", r"\\u00\1", gwt),
        "gwt request": quote_request_string(secret),
        "gwt request webkit": quote_request_string(secret, webkit=True),
        "html": html.escape(secret),
        "html no quotes": html.escape(secret, quote=False),
        "json of gwt response": json.dumps(gwt, ensure_ascii=False)[1:-1],
        "json of gwt request": json.dumps(quote_request_string(secret), ensure_ascii=False)[1:-1],
        "json ascii of gwt request": json.dumps(quote_request_string(secret))[1:-1],
        "repr": repr(secret)[1:-1],
    }


FORMS = sorted(forms_of(SECRET).items())


def test_the_forms_are_what_the_wire_shows():
    forms = forms_of(SECRET)
    assert forms["gwt response"] == "Pa\\x26s\\x3Dw\\x3Co\\x3Er\\x27d\\\"\\\\Пароль"
    assert forms["gwt 2.8 response"].startswith("Pa\\u0026s\\u003Dw")
    assert forms["quote_plus"].startswith("Pa%26s%3Dw%3Co%3Er%27d%22%5C%D0%9F")
    assert len(set(forms.values())) >= 12  # most forms differ from each other


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor([SECRET, SIP, LOGIN])


@pytest.mark.parametrize(("name", "form"), FORMS)
def test_text_masks_each_form(redactor, name, form):
    assert redactor.text(f"before {form} after") == f"before {MASK} after"


@pytest.mark.parametrize(("name", "form"), FORMS)
def test_bytes_mask_each_form(redactor, name, form):
    assert redactor.data(b"<" + form.encode() + b">") == b"<***>"


@pytest.mark.parametrize(("name", "form"), FORMS)
def test_json_masks_each_form_in_keys_and_values(redactor, name, form):
    value = {"a": [form, {"b": f"x{form}y", form: 1}], "n": 5, "t": (form,), "ok": None}
    original = json.loads(json.dumps(value, default=list))
    redacted = redactor.json(value)
    assert redacted == {"a": [MASK, {"b": f"x{MASK}y", MASK: 1}], "n": 5, "t": (MASK,), "ok": None}
    assert json.loads(json.dumps(value, default=list)) == original  # a copy, input untouched


def test_login_form_body_as_chromium_posts_it(redactor):
    body = (f"j_username={urllib.parse.quote_plus(LOGIN)}"
            f"&j_password={urllib.parse.quote_plus(SECRET)}")
    assert "%2B7-9000000000" in body
    assert redactor.text(body) == "j_username=***&j_password=***"
    assert redactor.data(body.encode()) == b"j_username=***&j_password=***"


def test_browser_form_encoding_of_star_and_tilde():
    secret = "a*b~c d!"
    redactor = Redactor([secret])
    # WHATWG urlencoded keeps *, encodes ~; encodeURIComponent keeps both and ! too
    assert redactor.text("p=a*b%7Ec+d%21&") == "p=***&"
    assert redactor.text("p=a*b~c%20d!&") == "p=***&"


def test_gwt_answer_with_sip_password(redactor):
    answer = f'//OK[7,["{escape_response_string(SIP)}","ok"],0,7]'
    assert redactor.text(answer) == '//OK[7,["***","ok"],0,7]'


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4])
def test_base64_of_a_body_holding_the_secret(redactor, offset):
    body = b"x" * offset + SECRET.encode() + b"&tail"
    encoded = base64.b64encode(body)
    out, count = redactor.data_count(encoded)
    assert count == 1 and b"***" in out
    assert redactor.text(encoded.decode()).count(MASK) == 1


def test_latin1_bytes():
    secret = "Grüße§2024"
    redactor = Redactor([secret])
    assert redactor.data(b"pw=" + secret.encode("latin-1") + b";") == b"pw=***;"
    assert redactor.data(b"pw=" + secret.encode("utf-8") + b";") == b"pw=***;"
    # UTF-8 read as Latin-1 somewhere, then written again as UTF-8
    mojibake = secret.encode("utf-8").decode("latin-1")
    assert redactor.text(f"pw={mojibake};") == "pw=***;"


def test_nothing_else_changes(redactor):
    text = "Pa&s=w<o>r'd partial, Пароль alone, +7-900000000 one digit short, plain text"
    assert redactor.text(text) == text
    assert redactor.data(text.encode()) == text.encode()
    assert Redactor().text(SECRET) == SECRET
    assert Redactor().data(SECRET.encode()) == SECRET.encode()


def test_longest_form_wins():
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.text("abcdefgh abcd abcdef") == "*** *** ***ef"


def test_short_and_empty_values_are_ignored():
    redactor = Redactor(["abc", "", None])  # type: ignore[list-item]
    redactor.add(None)
    redactor.add("xy")
    assert redactor.secrets == ()
    assert redactor.text("abc xy") == "abc xy"


def test_adding_a_secret_rebuilds_the_pattern():
    redactor = Redactor(["first-secret"])
    assert redactor.text("first-secret second-secret") == "*** second-secret"
    redactor.add("second-secret")
    redactor.add("second-secret")
    assert redactor.secrets == ("first-secret", "second-secret")
    assert redactor.text("first-secret second-secret") == "*** ***"


def test_mask_secret():
    assert mask_secret(SECRET) == MASK
    assert mask_secret(SECRET, show=True) == SECRET
    assert mask_secret(None) is None


# --- logging ------------------------------------------------------------------------------------


@pytest.fixture
def logged(redactor):
    """A real logger and handler with the filter on the handler; yields the logger and output."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s | %(body)s"))
    handler.addFilter(redactor.logging_filter())
    logger = logging.getLogger("tests.redact.parent")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def assert_clean(output: str, *secrets: str) -> None:
    for secret in secrets:
        for name, form in forms_of(secret).items():
            assert form not in output, (name, output)


def test_log_message_args_and_extras(logged):
    _logger, stream = logged
    child = logging.getLogger("tests.redact.parent.child")  # propagated: the handler filter sees it
    body = f"j_username={urllib.parse.quote_plus(LOGIN)}&j_password={urllib.parse.quote_plus(SECRET)}"
    child.info("login %s with %r", LOGIN, SECRET, extra={"body": body})
    child.debug(f"answer {escape_response_string(SIP)}", extra={"body": {"sip": SIP}})
    output = stream.getvalue()
    assert_clean(output, SECRET, SIP, LOGIN)
    assert "INFO login *** with '***' | j_username=***&j_password=***" in output
    assert "DEBUG answer *** | {'sip': '***'}" in output


def test_log_exception_text(logged):
    logger, stream = logged
    try:
        raise ValueError(f"refused {SECRET}")
    except ValueError:
        logger.exception("login failed for %s", LOGIN, extra={"body": ""})
    output = stream.getvalue()
    assert_clean(output, SECRET, LOGIN)
    assert "ValueError: refused ***" in output
    assert "Traceback" in output


# --- zips ---------------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            method = zipfile.ZIP_STORED if name.endswith(".jpeg") else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)


def test_zip_file_rewrites_every_member(tmp_path, redactor):
    forms = forms_of(SECRET)
    members = {
        "trace.trace": json.dumps({"params": {"value": SECRET}}).encode(),
        "trace.network": json.dumps({"postData": {"text": forms["gwt request"]}}).encode(),
        "resources/a.dat": f"j_password={forms['quote_plus']}".encode(),
        "resources/b.json": f'//OK[["{escape_response_string(SIP)}"]]'.encode(),
        "resources/c.bin": base64.b64encode(b"xx" + SECRET.encode()),
        "screencast/untouched.jpeg": bytes(range(256)) * 40,
    }
    path = tmp_path / "trace.zip"
    make_zip(path, members)
    before = {i.filename: i.compress_type for i in zipfile.ZipFile(path).infolist()}

    assert redactor.zip_file(path) == 5

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert {i.filename: i.compress_type for i in archive.infolist()} == before
        got = {name: archive.read(name) for name in archive.namelist()}
    assert got["screencast/untouched.jpeg"] == members["screencast/untouched.jpeg"]
    assert got["resources/a.dat"] == b"j_password=***"
    for name, data in got.items():
        for form in [*forms_of(SECRET).values(), *forms_of(SIP).values()]:
            assert form.encode() not in data, name
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_zip_without_secrets_is_left_alone(tmp_path, redactor):
    path = tmp_path / "clean.zip"
    make_zip(path, {"a.txt": b"nothing to see"})
    stat_before = path.stat()
    assert redactor.zip_file(path) == 0
    assert path.stat().st_ino == stat_before.st_ino
    assert path.stat().st_mtime_ns == stat_before.st_mtime_ns


def test_long_secret():
    token = "0123456789abcdef" * 200  # a 3 kB token: no recursion limit, still one pass
    redactor = Redactor([token])
    assert redactor.text(f'{{"v": "{token}"}}') == '{"v": "***"}'
    assert redactor.data(base64.b64encode(b"x" + token.encode())).count(b"***") == 1


def test_the_filter_survives_the_redactors_own_debug_records():
    """Building a pattern logs at DEBUG; through our own filter that must not deadlock."""
    redactor = Redactor([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor.logging_filter())
    logger = logging.getLogger("scraper.browser.redact")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        assert redactor.data(SECRET.encode()) == b"***"
        assert redactor.text(SECRET) == "***"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert "pattern built" in stream.getvalue()


def test_short_texts_are_scanned_with_the_same_result_as_the_pattern():
    """Log lines take the scan (no compile), traces the pattern: both mask alike."""
    import random

    from scraper.browser import redact

    rng = random.Random(5)
    secrets = ["".join(rng.choice("ab&%+|\\\"' xyzА1") for _ in range(rng.randint(4, 12)))
               for _ in range(300)]
    redactor = redact.Redactor(secrets)
    forms = sorted({f for s in secrets[:40] for f in redact.text_forms(s)})
    for _ in range(300):
        text = "".join(rng.choice([*forms, "a", "b", " ", "&", "xy", "%2"])
                       for _ in range(rng.randint(1, 30)))
        assert len(text) <= redact._SCAN_LIMIT
        pattern, recent = redactor._text_parts()
        expected, count = pattern.subn(redact.MASK, text) if pattern else (text, 0)
        for form in recent:
            count += expected.count(form)
            expected = expected.replace(form, redact.MASK)
        assert redactor.text_count(text) == (expected, count)
