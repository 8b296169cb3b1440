"""One exception tree for everything vats raises.

Why one tree: a script can catch ``VatsError`` and know it never swallows a bug of its own, and
each branch names its consequence, so a caller knows what to do without reading our code::

    VatsError                          [error]
    ├── UsageError                     [usage] the caller asked for something impossible
    ├── ProtocolError                  [protocol] GWT-RPC text that cannot be read or built
    │   ├── DecodeError                [decode, refined below] the peer sent something we
    │   │   │                          cannot read (carries position, token)
    │   │   ├── UnsupportedVersionError [unsupported-version] a protocol version other than 7
    │   │   └── UnknownClassError      [unknown-class] a class the schema registry does not know
    │   ├── EncodeError                [encode; unknown-class] we were asked to build something
    │   │                              illegal (a class the registry does not know)
    │   ├── SchemaError                [schema] a schema file or registry entry is malformed
    │   ├── PermutationError           [permutation, or its reason: empty, no-type-table]
    │   │                              JavaScript that is not a GWT permutation we can derive from
    │   └── DriftError                 [drift] the live build no longer has a field a flow needs
    ├── ServerError                    [server] the server answered, but with a failure
    │   ├── RemoteException            [remote-exception] a GWT ``//EX``: its Java class, message
    │   │   └── IncompatibleClientError [incompatible-client] IncompatibleRemoteServiceException:
    │   │                              re-learn the build
    │   ├── HTTPStatusError            [http-status] a non-200 answer (500, 503 ...)
    │   └── NotGwtAnswerError          [not-gwt-answer] a 200 that is not ``//OK``/``//EX``
    ├── TransportError                 [transport] the call did not complete (timeout, reset):
    │   │                              state unknown
    │   └── TLSError                   [tls] the server's certificate is not trusted (--ca-cert):
    │                                  not sent
    ├── SessionError                   [session] not logged in any more: triggers one re-login
    ├── LoginError                     [login] the cabinet refused the credentials (its message)
    ├── FlowError                      [flow] a UI flow could not find what it needs
    ├── StorageError                   [storage] a file of ours (saved session) cannot be
    │                                  written or read
    ├── AuditError                     [audit] the audit log cannot be written: no new change
    │                                  is started
    ├── ConfigError                    [config] the accounts file is missing, unreadable or
    │                                  invalid (carries the file and the offending key)
    └── SinkError                      [sink-down, sink-gone, sink-refused] an event sink did
                                       not take an event: retried later, or (gone) disabled

Errors carry the service, method and offending token where they have them, so a user can act.

``kind`` names a failure for code that branches on it (the sandbox, the CLI's hints): each class
has its own (in brackets above), and a raise site may refine it. Branch on ``kind`` and on the
class, never on the message: the message is for people and may change. The codec refines
``DecodeError`` as follows (a small vocabulary, extended only with a new raise site)::

    not-gwt                     not GWT-RPC text at all (no ``|`` separators, no ``//OK``/``//EX``)
    truncated                   the input ends where more was announced (a value, the array's end)
    unterminated                a request payload that does not end with ``|``
    trailing-tokens             tokens left after the last parameter, or after the answer's value
    bad-syntax                  a response's JavaScript array or string table cannot be parsed
    bad-header                  a request header we cannot use (flags, a null name, a type name)
    bad-token                   a token not of the form its slot needs (boolean, long, double,
                                escape sequence)
    bad-integer                 an integer slot holds no integer
    integer-out-of-range        an integer beyond its Java type (byte, short, int, char)
    bad-size                    a collection size that is negative or beyond the rest of the stream
    string-index-out-of-range   a string index past the string table
    type-index-out-of-range     an object's type index past the string table
    back-reference-out-of-range a back-reference to an object not read yet
    ordinal-out-of-range        an enum ordinal past the enum's known constants
    wrong-class                 an object whose class cannot fill the slot it is in
    bad-layout                  a registry layout that cannot read its class (a schema error)
    too-deep                    an object graph nested deeper than we follow
"""

from __future__ import annotations


class VatsError(Exception):
    """Root of every error vats raises on purpose; ``kind`` names the failure (see above)."""

    kind: str = "error"

    def __init__(self, *args: object, kind: str | None = None) -> None:
        super().__init__(*args)
        if kind is not None:
            self.kind = kind


class UsageError(VatsError):
    """The caller asked for something that cannot be done as asked."""

    kind = "usage"


class ProtocolError(VatsError):
    """GWT-RPC text that cannot be read or built."""

    kind = "protocol"


class DecodeError(ProtocolError):
    """Input we cannot read; ``position`` is the token index, ``char_offset`` where known,
    ``message`` the fact without them, ``kind`` what was wrong (see the module docstring)."""

    kind = "decode"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        position: int | None = None,
        token: object = None,
        char_offset: int | None = None,
    ) -> None:
        self.message = message
        self.position = position
        self.token = token
        self.char_offset = char_offset
        super().__init__(message, kind=kind)

    def __str__(self) -> str:
        where = []
        if self.position is not None:
            where.append(f"token {self.position}")
        if self.char_offset is not None:
            where.append(f"char {self.char_offset}")
        if self.token is not None:
            where.append(f"near {repr(self.token)[:60]}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class UnsupportedVersionError(DecodeError):
    """The payload speaks a protocol version we do not implement (we speak 7)."""

    kind = "unsupported-version"


class UnknownClassError(DecodeError):
    """A type signature whose class the schema registry does not know (a user adds its layout
    with a schema file: the CLI says how)."""

    kind = "unknown-class"

    def __init__(self, class_name: str, signature: str, *, position: int | None = None) -> None:
        self.class_name = class_name
        self.signature = signature
        super().__init__(f"unknown class {class_name!r} (type signature {signature!r})",
                         position=position)


class EncodeError(ProtocolError):
    """We were asked to build a payload that GWT would not produce or accept."""

    kind = "encode"


class SchemaError(ProtocolError):
    """A schema (built-in or from a file) is malformed."""

    kind = "schema"


class PermutationError(ProtocolError):
    """JavaScript from which no GWT-RPC layout can be derived; ``reason`` says why in one word
    (``empty``, ``no-type-table``, ...) for callers that branch on it. It is the ``kind`` too."""

    kind = "permutation"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, kind=reason)

    @property
    def reason(self) -> str:
        return self.kind


class DriftError(ProtocolError):
    """The live build's layout of ``schema_class`` leaves a field a flow needs unresolved.

    ``report`` is the whole comparison (ours next to the live layout); ``schema_file`` the
    derived schema a user can name slots in and pass with ``--schema``.
    """

    kind = "drift"

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

    kind = "server"

    def __init__(self, message: str, *, service: str | None = None, method: str | None = None) -> None:
        self.service = service
        self.method = method
        prefix = f"{service}.{method}: " if service and method else ""
        super().__init__(prefix + message)


class RemoteException(ServerError):
    """A GWT ``//EX`` answer: the server threw ``java_class`` with ``remote_message``."""

    kind = "remote-exception"

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

    kind = "incompatible-client"


class HTTPStatusError(ServerError):
    """A non-200 HTTP answer to a GWT call; ``retry_after`` in seconds when the server said."""

    kind = "http-status"

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

    kind = "not-gwt-answer"


class TransportError(VatsError):
    """The call did not complete (timeout, reset); whether the server applied it is unknown —
    unless ``not_sent``: it failed while connecting, so nothing reached the server.
    ``interrupted``: the page it rode in navigated away (our own walk), so the server gave no
    verdict on it — not a sign that the server is failing."""

    kind = "transport"

    def __init__(self, message: str, *, not_sent: bool = False,
                 interrupted: bool = False) -> None:
        self.not_sent = not_sent
        self.interrupted = interrupted
        super().__init__(message)


class TLSError(TransportError):
    """The server's certificate is not one vats trusts (the public roots and ``--ca-cert``).

    Its own class because retrying cannot help and the fix is the user's: trust the right
    certificate. The handshake failed, so nothing was sent (``not_sent``).
    """

    kind = "tls"

    def __init__(self, message: str) -> None:
        super().__init__(message, not_sent=True)


class SessionError(VatsError):
    """The session is gone (expired or logged out); triggers one re-login."""

    kind = "session"


class LoginError(VatsError):
    """The cabinet refused the credentials; ``page_message`` is its own words."""

    kind = "login"

    def __init__(self, message: str, *, page_message: str | None = None) -> None:
        self.page_message = page_message
        super().__init__(message if page_message is None else f"{message}: {page_message}")


class FlowError(VatsError):
    """A UI flow could not find what it needs (the markup or traffic changed)."""

    kind = "flow"


class StorageError(VatsError):
    """A file vats keeps (a saved session) cannot be written; ``path`` names it."""

    kind = "storage"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class AuditError(VatsError):
    """The audit log cannot be written. A bulk change stops starting mutations, lets the ones
    in flight finish and reports every item: ``report`` is that report when there is one."""

    kind = "audit"

    def __init__(self, message: str, *, path: str | None = None, report: object = None) -> None:
        self.path = path
        self.report = report
        super().__init__(message)


class ConfigError(VatsError):
    """The accounts file (``vats --config``) cannot be used; ``path`` names the file, ``where``
    the offending key (``accounts[1].password``) when there is one."""

    kind = "config"

    def __init__(self, message: str, *, path: str | None = None, where: str | None = None) -> None:
        self.path = path
        self.where = where
        prefix = f"{path}: " if path else ""
        at = f"{where}: " if where else ""
        super().__init__(prefix + at + message)


class SinkError(VatsError):
    """An event sink did not take an event. ``kind`` says what the deliverer does:

    ``sink-down``    the sink is unreachable or failed (timeout, 5xx, broker down): retried with
                     backoff, or after ``retry_after`` seconds when the sink said so;
    ``sink-refused`` the sink answered that it will not take this event (a 4xx other than 410):
                     retried with backoff too, as the fix is on the receiver's side;
    ``sink-gone``    the endpoint is gone for good (webhook 410): the sink is disabled.
    """

    kind = "sink-down"

    def __init__(self, message: str, *, sink: str, kind: str = "sink-down",
                 retry_after: float | None = None, status: int | None = None) -> None:
        self.sink = sink
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"sink {sink}: {message}", kind=kind)
