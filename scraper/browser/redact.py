"""Keep secrets out of everything vats writes down: logs, Playwright traces, saved captures.

Why so many forms: a password never travels as itself. A login form posts it percent-encoded
(``password=Pa%26ss``, the login's ``+`` as ``%2B``), GWT answers carry secrets (the cabinet's
``CabinetProfile.secret_fields``) in JavaScript literals (``\\x26``, or ``\\u0026`` since GWT
2.8), GWT requests quote ``\\`` and ``|``, Playwright's trace files hold all of these again inside
JSON strings (``__playwright_value_`` of a password field, ``fill()`` parameters, DOM text of an
answer), and resources may be base64.
Masking only the raw value would leave every one of them in the artifact. So each secret is
expanded once into all its known forms, and one compiled alternation (a trie, longest form first)
replaces them all in a single pass, fast enough for multi-megabyte traces.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from scraper.gwt.escapes import escape_response_string, quote_request_string

log = logging.getLogger(__name__)

MASK = "***"
_MASK_BYTES = MASK.encode()

#: Shorter values are not redacted: masking every "1234" in a trace would destroy it, and such a
#: value is no secret anyway.
MIN_SECRET_LENGTH = 4
#: A base64 fragment shorter than this matches random base64 text too often to be worth masking.
_MIN_BASE64_CORE = 5


def mask_secret(value: str | None, show: bool = False) -> str | None:
    """What to print instead of a secret: ``MASK``, or the value itself when the user asked."""
    if value is None or show:
        return value
    return MASK


# --- the forms of one secret --------------------------------------------------------------------


def _percent_forms(secret: str) -> set[str]:
    """Percent-encodings as Python, browsers' form posts and ``encodeURIComponent`` write them."""
    forms = {
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret, safe=""),
        # WHATWG application/x-www-form-urlencoded (what Chromium posts): keeps ``*``, encodes ``~``
        urllib.parse.quote_plus(secret, safe="*").replace("~", "%7E"),
        urllib.parse.quote(secret, safe="-_.!~*'()"),  # encodeURIComponent
    }
    # some clients write lowercase hex digits (%2b)
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in forms}
    return forms


def _html_forms(secret: str) -> set[str]:
    """HTML escapes: Python's ``html.escape`` and what a browser's serializer writes."""
    forms = {html.escape(secret), html.escape(secret, quote=False)}
    for angles in (False, True):
        for dquote in (None, "&quot;", "&#34;"):
            for squote in (None, "&#x27;", "&#39;", "&apos;"):
                text = secret.replace("&", "&amp;")
                if angles:
                    text = text.replace("<", "&lt;").replace(">", "&gt;")
                if dquote:
                    text = text.replace('"', dquote)
                if squote:
                    text = text.replace("'", squote)
                forms.add(text.replace("\xa0", "&nbsp;"))
    return forms


def _gwt_forms(secret: str) -> set[str]:
    """GWT-RPC wire forms: response literals (≤2.7 ``\\xHH``, ≥2.8 ``\\u00HH``), request quoting."""
    response = escape_response_string(secret)
    return {
        response,
        re.sub(r"\\x([0-9A-Fa-f]{2})", r"\\u00\1", response),
        quote_request_string(secret),
        quote_request_string(secret, webkit=True),
    }


def _json_forms(text: str) -> set[str]:
    """JSON string contents (both ``ensure_ascii`` settings, either case of ``\\uXXXX`` hex)."""
    ascii_form = json.dumps(text, ensure_ascii=True)[1:-1]
    return {
        json.dumps(text, ensure_ascii=False)[1:-1],
        ascii_form,
        re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), ascii_form),
    }


def _base64_cores(raw: bytes) -> set[str]:
    """The part of a base64 stream that encodes ``raw`` alone, for each of the three alignments.

    Why cores: a secret inside a larger base64-encoded body starts at any byte offset, and the
    characters at its edges mix in the neighbouring bytes; the middle is the same every time.
    """
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        first = (offset * 8 + 5) // 6  # the first character made only of the secret's bits
        last = ((offset + len(raw)) * 8) // 6  # characters from here on use following bytes
        core = encoded[first:last]
        if len(core) >= _MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.translate(str.maketrans("+/", "-_")))  # base64url
    return cores


def text_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may appear in text (see the module docstring).

    Base64 fragments are included here too, not only in the bytes view: a capture or log may
    hold a base64 body as text.
    """
    inner = {secret}
    mojibake = secret.encode("utf-8").decode("latin-1")  # UTF-8 read as Latin-1 somewhere
    inner.add(mojibake)
    inner |= _percent_forms(secret)
    inner |= _gwt_forms(secret)
    inner |= _html_forms(secret)
    inner |= {repr(secret)[1:-1], ascii(secret)[1:-1], repr(secret.encode("utf-8"))[2:-1]}
    forms = set(inner)
    for form in inner:
        for once in _json_forms(form):
            forms.add(once)
            forms |= _json_forms(once)  # a JSON string inside a JSON string (trace of a JSON body)
    for wire in {secret, *_percent_forms(secret), quote_request_string(secret)}:
        forms |= _base64_cores(wire.encode("utf-8"))
    return {form for form in forms if form}


def bytes_forms(secret: str) -> set[bytes]:
    """Every form of ``secret`` in bytes: each text form as UTF-8 and, where it can be, Latin-1."""
    forms: set[bytes] = set()
    for form in text_forms(secret):
        forms.add(form.encode("utf-8"))
        try:
            forms.add(form.encode("latin-1"))
        except UnicodeEncodeError:
            pass
    return forms


# --- one pattern for all forms ------------------------------------------------------------------


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex source matching any of ``words``, the longest one at a given position first.

    Why a trie: Python's ``re`` tries the branches of a flat alternation one after another at
    every position; sharing prefixes makes a miss cost one character comparison.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word

    def render(node: dict[str, Any]) -> str:
        # follow single-child chains in a loop: recursion only at branch points, so a long
        # secret (a 2 kB token doubly JSON-escaped) does not exhaust Python's stack
        chain: list[str] = []
        while len(node) == 1 and "" not in node:
            (char, node), = node.items()
            chain.append(re.escape(char))
        ends = "" in node
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return "".join(chain)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:  # a longer word first, this shorter one only when none of them matches
            body = "(?:" + body + ")?"
        return "".join(chain) + body

    return render(trie)


def _bytes_trie_pattern(words: Iterable[bytes]) -> bytes:
    """``_trie_pattern`` for bytes (each byte mapped to one Latin-1 character and back)."""
    return _trie_pattern(word.decode("latin-1") for word in words).encode("latin-1")


_MERGE_AFTER = 64  # secrets in the small pattern before it is merged into the big one
#: texts up to this long are scanned (``Redactor._scan``), longer ones (traces, captures) go
#: through the compiled pattern, whose cost is its compile, not the text
_SCAN_LIMIT = 4096
_KEY = MIN_SECRET_LENGTH  # every form is at least as long as the shortest secret


class Redactor:
    """Replaces every known form of every registered secret by ``MASK``.

    Register the account password, the session cookie and each SIP password as soon as they are
    known; every writer of logs, traces and captures then passes its output through here.
    Thread-safe: logging handlers may run in other threads while secrets are being added.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._lock = threading.RLock()
        # built on first use of each view, dropped when a secret is added
        self._text_pattern: re.Pattern[str] | None = None
        self._recent_forms: list[str] = []
        self._settled = 0  # secrets covered by _text_pattern
        self._forms: dict[str, set[str]] = {}
        self._data_pattern: re.Pattern[bytes] | None = None
        self._known: set[str] = set()
        # the short-text view: every form by its first characters (``_scan_index``)
        self._index: dict[str, list[str]] = {}
        self._indexed = 0
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a secret; ``None``, empty and very short values are ignored."""
        if not secret:
            return
        if len(secret) < MIN_SECRET_LENGTH:
            log.debug("value too short to redact safely: ignored (length %d)", len(secret))
            return
        with self._lock:
            if secret not in self._known:
                self._known.add(secret)
                self._secrets.append(secret)
                self._recent_forms = []
                self._data_pattern = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The registered secrets, in the order they were added."""
        return tuple(self._secrets)

    def _text_parts(self) -> tuple[re.Pattern[str] | None, list[str]]:
        """The compiled pattern of the settled secrets, and the plain forms of those added
        since (longest first). Why two: an inventory adds hundreds of SIP passwords one by
        one; recompiling one pattern of every form of every secret after each costs ~0.5 s.
        New secrets are matched with plain ``str.replace`` until they are as many as the
        settled ones, then merged (so compiles happen O(log n) times)."""
        built = 0
        with self._lock:
            count = len(self._secrets)
            recent = count - self._settled
            if count and (self._text_pattern is None or recent > max(_MERGE_AFTER, self._settled)):
                self._settled = count
                self._text_pattern = self._compile(self._secrets)
                self._recent_forms = []
                built = count
            elif recent and not self._recent_forms:
                forms: set[str] = set()
                for secret in self._secrets[self._settled:]:
                    forms |= self._forms_of(secret)
                self._recent_forms = sorted(forms, key=len, reverse=True)
            pattern, recent_forms = self._text_pattern, self._recent_forms
        if built:
            # outside the lock: this very record may come back through our logging filter
            log.debug("redaction pattern built for %d secrets", built)
        return pattern, recent_forms

    def _forms_of(self, secret: str) -> set[str]:
        cached = self._forms.get(secret)
        if cached is None:
            cached = self._forms[secret] = text_forms(secret)
        return cached

    def _compile(self, secrets: list[str]) -> re.Pattern[str]:
        forms: set[str] = set()
        for secret in secrets:
            forms |= self._forms_of(secret)
        return re.compile(_trie_pattern(forms))

    def _data_re(self) -> re.Pattern[bytes] | None:
        pattern = self._data_pattern
        if pattern is None and self._secrets:
            with self._lock:
                if self._data_pattern is None:
                    forms: set[bytes] = set()
                    for secret in self._secrets:
                        forms |= bytes_forms(secret)
                    self._data_pattern = re.compile(_bytes_trie_pattern(forms))
                pattern = self._data_pattern
            log.debug("byte redaction pattern built for %d secrets", len(self._secrets))
        return pattern

    def _scan_index(self) -> dict[str, list[str]]:
        """Every form of every secret under its first ``_KEY`` characters, longest first; grown
        as secrets are added (never rebuilt: a watch adds thousands of SIP passwords)."""
        with self._lock:
            for secret in self._secrets[self._indexed:]:
                for form in self._forms_of(secret):
                    bucket = self._index.setdefault(form[:_KEY], [])
                    if form not in bucket:
                        bucket.append(form)
                        bucket.sort(key=len, reverse=True)
            self._indexed = len(self._secrets)
            return self._index

    def _scan(self, value: str) -> tuple[str, int]:
        """Short texts (log lines, messages): a slide over the text with a dictionary lookup
        per position — no pattern to compile, so a log line costs microseconds however many
        secrets there are. Same result as the pattern: the longest form at the leftmost place."""
        index = self._scan_index()
        parts: list[str] = []
        start = position = total = 0
        end = len(value) - _KEY
        while position <= end:
            for form in index.get(value[position:position + _KEY], ()):
                if value.startswith(form, position):
                    parts += (value[start:position], MASK)
                    position = start = position + len(form)
                    total += 1
                    break
            else:
                position += 1
        if not total:
            return value, 0
        parts.append(value[start:])
        return "".join(parts), total

    def text_count(self, value: str) -> tuple[str, int]:
        """``text`` plus the number of replacements made."""
        if not value or not self._secrets:
            return value, 0
        if len(value) <= _SCAN_LIMIT:
            return self._scan(value)
        pattern, recent_forms = self._text_parts()
        total = 0
        if pattern is not None:
            value, total = pattern.subn(MASK, value)
        for form in recent_forms:
            if form in value:
                total += value.count(form)
                value = value.replace(form, MASK)
        return value, total

    def data_count(self, value: bytes) -> tuple[bytes, int]:
        """``data`` plus the number of replacements made."""
        pattern = self._data_re()
        if pattern is None or not value:
            return value, 0
        return pattern.subn(_MASK_BYTES, value)

    def text(self, value: str) -> str:
        """``value`` with every form of every secret replaced by ``MASK``."""
        return self.text_count(value)[0]

    def data(self, value: bytes) -> bytes:
        """``value`` with every form of every secret (UTF-8, Latin-1, base64) replaced."""
        return self.data_count(value)[0]

    def json(self, value: Any) -> Any:
        """A redacted deep copy of a JSON-like value: strings (keys too) and bytes are masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray):
            return self.data(bytes(value))
        if isinstance(value, dict):
            return {
                (self.text(key) if isinstance(key, str) else key): self.json(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.json(item) for item in value)
        return value

    def zip_file(self, path: Path) -> int:
        """Redact every member (and member name) of a zip in place; the number of replacements.

        The new archive is written next to the old one and moved over it, so a crash never
        leaves a half-written trace; when nothing matched, the file is left untouched.
        """
        path = Path(path)
        total = 0
        members: list[tuple[zipfile.ZipInfo, bytes]] = []
        with zipfile.ZipFile(path) as source:
            for info in source.infolist():
                data, count = self.data_count(source.read(info))
                name, renamed = self.text_count(info.filename)
                total += count + renamed
                members.append((_copy_info(info, name), data))
        if total == 0:
            return 0
        _atomic_write(path, lambda target: _write_zip(target, members))
        log.debug("redacted %d secret occurrences in %s", total, path)
        return total

    def logging_filter(self) -> logging.Filter:
        """A filter that redacts records in place; attach it to handlers (see ``_RedactingFilter``)."""
        return _RedactingFilter(self)


def _copy_info(info: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    """A fresh ``ZipInfo`` with the member's name, time, compression and attributes."""
    copy = zipfile.ZipInfo(name, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.create_system = info.create_system
    copy.comment = info.comment
    return copy


def _write_zip(target: Path, members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
    with zipfile.ZipFile(target, "w") as out:
        for info, data in members:
            out.writestr(info, data)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same directory, fsync, then replace ``path``."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        shutil.copymode(path, tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- logging --------------------------------------------------------------------------------------

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    [*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "taskName"]
)


class _RedactingFilter(logging.Filter):
    """Redacts a record's message, extras, exception text and stack in place; never drops one.

    Attach it to handlers, not loggers: a logger's filters do not see records propagated from
    its children. The message is formatted here (``args`` cleared), and a traceback is rendered
    to ``exc_text`` and ``exc_info`` cleared, because handlers that render ``exc_info``
    themselves (rich's) would otherwise print exception messages unredacted.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report; mask its parts
            record.msg = redactor.text(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(redactor.text(repr(arg)) for arg in record.args)
            elif record.args is not None:
                record.args = (redactor.text(repr(record.args)),)
        else:
            record.msg = redactor.text(message)
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.text(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD_ATTRS and key != "message":
                continue
            if isinstance(value, str):
                setattr(record, key, redactor.text(value))
            elif isinstance(value, dict | list | tuple | bytes):
                setattr(record, key, redactor.json(value))
        return True
