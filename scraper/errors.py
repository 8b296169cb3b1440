"""One exception tree for everything vats raises.

Why one tree: a script can catch ``VatsError`` and know it never swallows a bug of its own, and
each branch names its consequence, so a caller knows what to do without reading our code::

    VatsError
    ├── UsageError              — the caller asked for something impossible (bad number, bad option)
    ├── ProtocolError           — GWT-RPC text that cannot be read or built
    │   ├── DecodeError         — the peer sent something we cannot read (carries position, token)
    │   │   ├── UnsupportedVersionError — a protocol version other than 7 (5..8 named)
    │   │   └── UnknownClassError       — a class the schema registry does not know
    │   ├── EncodeError         — we were asked to build something illegal
    │   ├── SchemaError         — a schema file or registry entry is malformed
    │   ├── PermutationError    — JavaScript that is not a GWT permutation we can derive from
    │   └── DriftError          — the live build no longer has a field a flow needs (a report)
    ├── ServerError             — the server answered, but with a failure
    │   ├── RemoteException     — a GWT ``//EX``: carries the Java class and message
    │   │   └── IncompatibleClientError — IncompatibleRemoteServiceException: re-learn the build
    │   ├── HTTPStatusError     — a non-200 answer (500, 503 ...)
    │   └── NotGwtAnswerError   — a 200 that is not ``//OK``/``//EX`` (e.g. a login page)
    ├── TransportError          — the call did not complete (timeout, reset): state unknown
    ├── SessionError            — not logged in any more: triggers one re-login
    ├── LoginError              — the cabinet refused the credentials (carries its message)
    └── FlowError               — a UI flow could not find what it needs (markup changed)

Errors carry the service, method and offending token where they have them, so a user can act.
"""

from __future__ import annotations


class VatsError(Exception):
    """Root of every error vats raises on purpose."""


class UsageError(VatsError):
    """The caller asked for something that cannot be done as asked."""


class ProtocolError(VatsError):
    """GWT-RPC text that cannot be read or built."""


class DecodeError(ProtocolError):
    """Input we cannot read; ``position`` is the token index, ``char_offset`` where known."""

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        token: object = None,
        char_offset: int | None = None,
    ) -> None:
        self.reason = message
        self.position = position
        self.token = token
        self.char_offset = char_offset
        super().__init__(message)

    def __str__(self) -> str:
        where = []
        if self.position is not None:
            where.append(f"token {self.position}")
        if self.char_offset is not None:
            where.append(f"char {self.char_offset}")
        if self.token is not None:
            where.append(f"near {repr(self.token)[:60]}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason


class UnsupportedVersionError(DecodeError):
    """The payload speaks a protocol version we do not implement (we speak 7)."""


class UnknownClassError(DecodeError):
    """A type signature whose class the schema registry does not know."""

    def __init__(self, class_name: str, signature: str, *, position: int | None = None) -> None:
        self.class_name = class_name
        self.signature = signature
        super().__init__(
            f"unknown class {class_name!r} (type signature {signature!r}); "
            "add its layout with a schema file (--schema)",
            position=position,
        )


class EncodeError(ProtocolError):
    """We were asked to build a payload that GWT would not produce or accept."""


class SchemaError(ProtocolError):
    """A schema (built-in or from a file) is malformed."""


class PermutationError(ProtocolError):
    """JavaScript from which no GWT-RPC layout can be derived; ``reason`` says why in one word
    (``empty``, ``no-type-table``, ...) for callers that branch on it."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class DriftError(ProtocolError):
    """The live build's layout of ``schema_class`` leaves a field a flow needs unresolved.

    ``report`` is the whole comparison (ours next to the live layout); ``schema_file`` the
    derived schema a user can name slots in and pass with ``--schema``.
    """

    def __init__(self, message: str, *, schema_class: str, live_class: str | None,
                 missing: list[str], report: str, schema_file: str | None = None) -> None:
        self.schema_class = schema_class
        self.live_class = live_class
        self.missing = missing
        self.report = report
        self.schema_file = schema_file
        super().__init__(message)


class ServerError(VatsError):
    """The server answered, but with a failure."""

    def __init__(self, message: str, *, service: str | None = None, method: str | None = None) -> None:
        self.service = service
        self.method = method
        prefix = f"{service}.{method}: " if service and method else ""
        super().__init__(prefix + message)


class RemoteException(ServerError):
    """A GWT ``//EX`` answer: the server threw ``java_class`` with ``remote_message``."""

    def __init__(
        self,
        java_class: str,
        remote_message: str | None,
        *,
        service: str | None = None,
        method: str | None = None,
        value: object = None,
    ) -> None:
        self.java_class = java_class
        self.remote_message = remote_message
        self.value = value
        super().__init__(f"server threw {java_class}: {remote_message}", service=service, method=method)


class IncompatibleClientError(RemoteException):
    """IncompatibleRemoteServiceException: our strong names/signatures are stale; re-learn."""


class HTTPStatusError(ServerError):
    """A non-200 HTTP answer to a GWT call; ``retry_after`` in seconds when the server said."""

    def __init__(
        self, status: int, body: str = "", *, service: str | None = None, method: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}", service=service, method=method)


class NotGwtAnswerError(ServerError):
    """A 200 answer that is neither ``//OK`` nor ``//EX`` — typically a login page."""


class TransportError(VatsError):
    """The call did not complete (timeout, reset); whether the server applied it is unknown —
    unless ``not_sent``: it failed while connecting, so nothing reached the server."""

    def __init__(self, message: str, *, not_sent: bool = False) -> None:
        self.not_sent = not_sent
        super().__init__(message)


class SessionError(VatsError):
    """The session is gone (expired or logged out); triggers one re-login."""


class LoginError(VatsError):
    """The cabinet refused the credentials; ``page_message`` is its own words."""

    def __init__(self, message: str, *, page_message: str | None = None) -> None:
        self.page_message = page_message
        super().__init__(message if page_message is None else f"{message}: {page_message}")


class FlowError(VatsError):
    """A UI flow could not find what it needs (the markup or traffic changed)."""
