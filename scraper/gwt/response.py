"""Responses (server → browser): decoding what a servlet answers, and building answers.

The return value is read by the method's declared return type; GWT cannot tell a bare int, a
string index and an object reference apart, so the caller names it (``returns``) for primitives
and ``String`` — every object return is self-describing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from scraper.errors import (
    DecodeError,
    EncodeError,
    IncompatibleClientError,
    RemoteException,
    UnknownClassError,
)
from scraper.gwt.builtins import INCOMPATIBLE
from scraper.gwt.jsarray import CHUNK, PIECE, render_response, split_response
from scraper.gwt.reader import ValueReader
from scraper.gwt.schema import Registry, shared_gwt_registry
from scraper.gwt.types import OBJECT, TypeRef, parse_type
from scraper.gwt.values import Instance
from scraper.gwt.writer import ValueWriter, declared


@dataclass(slots=True)
class Response:
    """A decoded answer: ``kind`` is ``ok`` (a return value) or ``ex`` (a thrown object)."""

    kind: Literal["ok", "ex"]
    value: Any
    version: int = 7
    flags: int = 0
    unknown_signatures: frozenset[str] = frozenset()
    #: True when an //EX of an unknown class was read only for its class and message
    partial: bool = False

    @property
    def exception_class(self) -> str | None:
        if self.kind == "ex" and isinstance(self.value, Instance):
            return self.value.class_name
        return None

    def raise_for_exception(self, *, service: str | None = None, method: str | None = None) -> None:
        """Turn an ``//EX`` into ``RemoteException`` (``IncompatibleClientError`` when stale)."""
        if self.kind != "ex":
            return
        java_class = self.exception_class or type(self.value).__name__
        message = self.value.get("detailMessage") if isinstance(self.value, Instance) else None
        error = IncompatibleClientError if java_class == INCOMPATIBLE else RemoteException
        raise error(java_class, message, service=service, method=method, value=self.value)


def _return_type(returns: str | None) -> TypeRef | None:
    if returns is None:
        return OBJECT
    if returns == "void":
        return None
    return parse_type(returns)


def parse_response(
    text: str, registry: Registry | None = None, *, returns: str | None = None
) -> Response:
    """Decode a response body (``returns``: declared return type; default an object)."""
    parts = split_response(text)
    reader = ValueReader(parts.tokens, parts.strings, registry or shared_gwt_registry())
    ref = OBJECT if parts.kind == "ex" else _return_type(returns)
    try:
        value = None if ref is None else reader.read(ref)
    except RecursionError:
        raise DecodeError("object graph nested too deeply to decode", kind="too-deep") from None
    except UnknownClassError as exc:
        if parts.kind != "ex" or exc.position not in (0, None):
            raise
        # A thrown class we have no layout for is still a thrown exception: keep its class and
        # the message GWT writes last (Throwable.detailMessage), so callers see a typed error.
        messages = [s for s in parts.strings if s != exc.signature and "/" not in s]
        value = Instance(exc.signature, {"detailMessage": messages[-1] if messages else None})
        return Response("ex", value, parts.version, parts.flags, frozenset(), partial=True)
    if reader.remaining():
        raise DecodeError(f"{reader.remaining()} unexpected tokens after the value",
                          kind="trailing-tokens", position=reader.pos,
                          token=parts.tokens[reader.pos])
    kind: Literal["ok", "ex"] = "ok" if parts.kind == "ok" else "ex"
    return Response(kind, value, parts.version, parts.flags,
                    frozenset(reader.unknown_signatures))


def build_response(
    value: Any, *, declared_type: str = "java.lang.Object", kind: Literal["ok", "ex"] = "ok",
    registry: Registry | None = None, flags: int = 0, chunk: int = CHUNK, piece: int = PIECE,
) -> str:
    """Encode an answer as GWT 2.7's server writes it (``declared_type`` ``void`` for none)."""
    writer = ValueWriter(registry or shared_gwt_registry())
    if kind == "ex":
        writer.write_object(value, OBJECT)
    elif declared_type == "void":
        if value is not None:
            raise EncodeError("a void method returns nothing")
    else:
        writer.write(value, declared(declared_type))
    return render_response(kind, writer.tokens, writer.strings, flags=flags, chunk=chunk,
                           piece=piece)


def incompatible(message: str) -> Instance:
    """The ``IncompatibleRemoteServiceException`` a GWT servlet throws for a stale client."""
    return Instance(f"{INCOMPATIBLE}/3936916533", {"detailMessage": message})
