"""Request payloads (browser → server): ``7|0|<n>|<strings…>|<body…>|``.

Sans-I/O: text in, ``Request`` out, and back. Parsing then building any payload GWT's client
produced gives it back byte for byte (string-table order and back-references included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scraper.errors import DecodeError, EncodeError, UnsupportedVersionError
from scraper.gwt.escapes import format_java_double, quote_request_string, unquote_request_string
from scraper.gwt.reader import ValueReader
from scraper.gwt.schema import Registry, shared_gwt_registry
from scraper.gwt.types import OBJECT, parse_type
from scraper.gwt.writer import LongToken, Token, ValueWriter, declared

VERSION = 7
FLAG_ELIDE_TYPE_NAMES = 1
FLAG_RPC_TOKEN_INCLUDED = 2


@dataclass(slots=True)
class Param:
    """One method parameter: its declared type exactly as on the wire, and its value."""

    type: str
    value: Any


@dataclass(slots=True)
class Request:
    """A decoded (or to-be-built) GWT-RPC call."""

    service: str
    method: str
    params: list[Param] = field(default_factory=list)
    module_base: str = ""
    strong_name: str = ""
    version: int = VERSION
    flags: int = 0
    rpc_token: Any = None
    #: type signatures whose class is known but whose CRC differs from the registry (a redeploy?)
    unknown_signatures: frozenset[str] = frozenset()

    def param(self, index: int) -> Any:
        return self.params[index].value


def _char_offset(tokens: list[str], position: int) -> int:
    return sum(len(tok) + 1 for tok in tokens[:position])


def parse_request(text: str, registry: Registry | None = None) -> Request:
    """Decode a request payload; any malformation raises ``DecodeError`` with its position."""
    if not isinstance(text, str):
        raise DecodeError("a request payload is text", kind="not-gwt")
    tokens = text.split("|")
    try:
        return _parse_tokens(tokens, registry or shared_gwt_registry())
    except DecodeError as exc:
        if exc.position is not None and exc.char_offset is None:
            exc.char_offset = _char_offset(tokens, min(exc.position, len(tokens)))
        raise
    except RecursionError:
        raise DecodeError("object graph nested too deeply to decode", kind="too-deep") from None


def _parse_tokens(tokens: list[str], registry: Registry) -> Request:
    if len(tokens) < 2 or tokens[-1] != "":
        if len(tokens) < 2:
            raise DecodeError("not a GWT-RPC request: no '|' separators", kind="not-gwt",
                              position=0,
                              token=tokens[0][:40])
        raise DecodeError("payload does not end with '|' (truncated?)", kind="unterminated",
                          position=len(tokens) - 1, token=tokens[-1][:40])
    tokens.pop()
    head = ValueReader(tokens, (), registry)
    version = head.read_int()
    if version != VERSION:
        raise UnsupportedVersionError(
            f"protocol version {version} is not supported (vats speaks version {VERSION})",
            position=0, token=tokens[0],
        )
    flags = head.read_int()
    if flags & ~(FLAG_ELIDE_TYPE_NAMES | FLAG_RPC_TOKEN_INCLUDED):
        raise DecodeError(f"unknown flags {flags}", kind="bad-header", position=1,
                          token=tokens[1])
    if flags & FLAG_ELIDE_TYPE_NAMES:
        raise DecodeError("elided type names (flag 1) need the policy file; not supported",
                          kind="bad-header", position=1, token=tokens[1])
    count = head.read_int()
    if count < 0 or 3 + count > len(tokens):
        raise DecodeError(f"string table claims {count} entries, the payload is shorter",
                          kind="truncated", position=2, token=count)
    strings = [unquote_request_string(tokens[3 + i], position=3 + i) for i in range(count)]
    body = ValueReader(tokens[3 + count:], strings, registry, base=3 + count)

    def header_string(what: str) -> str:
        value = body.read_string()
        if value is None:
            raise DecodeError(f"{what} is null", kind="bad-header",
                              position=body.base + body.pos - 1)
        return value

    module_base = header_string("module base")
    strong_name = header_string("policy strong name")
    rpc_token = body.read_object() if flags & FLAG_RPC_TOKEN_INCLUDED else None
    service = header_string("service interface")
    method = header_string("method name")
    param_count = body.read_size()
    types = [header_string("parameter type") for _ in range(param_count)]
    params = []
    for type_name in types:
        try:
            ref = parse_type(type_name)
        except Exception as exc:  # noqa: BLE001 - any bad name is the payload's fault
            raise DecodeError(f"bad parameter type {type_name!r}: {exc}", kind="bad-header",
                              position=body.base + body.pos) from None
        params.append(Param(type_name, body.read(ref)))
    if body.remaining():
        raise DecodeError(f"{body.remaining()} unexpected tokens after the last parameter",
                          kind="trailing-tokens", position=body.base + body.pos,
                          token=tokens[3 + count + body.pos])
    return Request(
        service=service, method=method, params=params, module_base=module_base,
        strong_name=strong_name, version=version, flags=flags, rpc_token=rpc_token,
        unknown_signatures=frozenset(body.unknown_signatures),
    )


def render_request_token(tok: Token) -> str:
    if type(tok) is float:
        return format_java_double(tok)
    if isinstance(tok, LongToken):
        return str.__str__(tok)
    return str(tok)


def build_request(request: Request, registry: Registry | None = None, *, webkit: bool = False,
                  share_booleans: bool = True) -> str:
    """Encode ``request`` exactly as GWT's browser client would (string order, back-refs)."""
    if request.version != VERSION:
        raise EncodeError(f"can only build protocol version {VERSION}, not {request.version}")
    if request.flags & ~FLAG_RPC_TOKEN_INCLUDED:
        raise EncodeError(f"cannot build flags {request.flags}: only 0 or 2 (RPC token)")
    writer = ValueWriter(registry or shared_gwt_registry(), share_booleans=share_booleans)
    writer.write_string(request.module_base, "module base: ")
    writer.write_string(request.strong_name, "strong name: ")
    if request.flags & FLAG_RPC_TOKEN_INCLUDED:
        writer.write_object(request.rpc_token, OBJECT, "rpc token: ")
    writer.write_string(request.service, "service: ")
    writer.write_string(request.method, "method: ")
    writer.tokens.append(len(request.params))
    refs = []
    for i, param in enumerate(request.params):
        refs.append(declared(param.type))
        writer.write_string(param.type, f"param {i} type: ")
    for i, (param, ref) in enumerate(zip(request.params, refs, strict=True)):
        writer.write(param.value, ref, f"param {i}: ")
    strings = "|".join(quote_request_string(s, webkit=webkit) for s in writer.strings)
    body = "|".join(render_request_token(tok) for tok in writer.tokens)
    return f"{request.version}|{request.flags}|{len(writer.strings)}|{strings}|{body}|"


def peek_call(text: str) -> tuple[str, str] | None:
    """``(service interface, method)`` of a payload without decoding its values, or None.

    Why: matching captured traffic by call must not depend on knowing every class layout.
    An RPC token (flag 2) before the service is read as an object: GWT's ``XsrfToken`` is known.
    """
    tokens = text.split("|")
    try:
        if tokens[0] != str(VERSION) or tokens[1] not in ("0", "2"):
            return None
        count = int(tokens[2])
        strings = tokens[3:3 + count]
        body = tokens[3 + count:]
        if tokens[1] == "2":
            table = [unquote_request_string(raw) for raw in strings]
            head = ValueReader(body, table, shared_gwt_registry())
            head.read_string()  # module base
            head.read_string()  # policy strong name
            head.read_object()  # the RPC token
            service, method = head.read_string(), head.read_string()
            return (service, method) if service is not None and method is not None else None
        service = unquote_request_string(strings[int(body[2]) - 1])
        method = unquote_request_string(strings[int(body[3]) - 1])
    except (ValueError, IndexError, DecodeError):
        return None
    return service, method
