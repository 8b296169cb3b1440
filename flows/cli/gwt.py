"""``vats gwt decode|encode|schema|services``: GWT-RPC payloads ⇄ their JSON form, and what a
compiled permutation says about its build, for people who debug traffic.

Decode, edit, encode, replay: the JSON form (docs/json-form.md) is lossless, so an edited object
parameter goes back on the wire exactly as GWT's client would have written it. ``schema`` and
``services`` derive every class layout and service method from a ``<strong name>.cache.js``
(file or URL), as GWT's own client would decode with them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.cli.common import VatsCommand, VatsGroup
from flows.cli.hints import hint
from scraper.errors import ProtocolError, UsageError, VatsError
from scraper.gwt import (
    build_request,
    build_response,
    parse_request,
    parse_response,
    request_from_json,
    request_to_json,
    response_to_json,
    value_from_json,
)
from scraper.gwt.permutation import DerivedBuild, derive_permutation
from scraper.gwt.schema import Registry
from scraper.profile import MTS

app = typer.Typer(help="Decode and encode GWT-RPC payloads (the JSON form of docs/json-form.md).",
                  no_args_is_help=True, cls=VatsGroup)

SchemaOption = Annotated[
    list[Path] | None,
    typer.Option("--schema", help="Schema file (docs/schema-format.md); repeatable.",
                 exists=True, dir_okay=False),
]
ReturnsOption = Annotated[
    str | None,
    typer.Option("--returns", help="Declared return type of a response holding a bare "
                 "primitive or string (int, long, boolean, double, void, java.lang.String)."),
]
FileArgument = Annotated[
    str, typer.Argument(help="Input file; '-' or absent reads standard input.")
]
PermutationArgument = Annotated[
    str, typer.Argument(help="A compiled permutation (<strong name>.cache.js or .cache.html): "
                        "a file, an http(s) URL, or '-' for standard input.")
]
PermutationOption = Annotated[
    str | None,
    typer.Option("--permutation", help="Decode with the layouts derived from this compiled "
                 "permutation (file or URL); --schema files still override them."),
]


def _read(file: str) -> str:
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        data = Path(file).read_bytes()
    # bytes, not text mode: a raw CR inside a request string must survive (vector v02)
    return data.decode("utf-8")


def _registry(schemas: list[Path] | None, permutation: str | None = None) -> Registry:
    """GWT's built-ins and our MTS classes, then a permutation's layouts, then ``--schema``."""
    registry = MTS.registry().copy()
    if permutation is not None:
        registry.load_schema_dict(_derive(permutation).to_schema(), source=permutation)
    for path in schemas or []:
        registry.load_schema_file(path)
    return registry


def _read_permutation(where: str) -> str:
    """A permutation's text from a file, stdin or an http(s) URL (TLS verified)."""
    if where.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(where, timeout=60) as answer:  # noqa: S310 - scheme checked
            data: bytes = answer.read()
        return data.decode("utf-8", "replace")
    if "://" in where:
        raise UsageError(f"{where}: only http(s) URLs or files can be read")
    return _read(where)


def _derive(where: str) -> DerivedBuild:
    return derive_permutation(_read_permutation(where))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"vats gwt: {message}", err=True)
    return typer.Exit(2)


def _failed(exc: Exception, *, returns_given: bool = True) -> typer.Exit:
    """An error's message, and for a typed one the advice its kind calls for."""
    advice = hint(exc, returns_given=returns_given) if isinstance(exc, VatsError) else ""
    return _fail(f"{exc}{advice}")


def _emit(text: str) -> None:
    """A payload as it is on the wire: a newline only for a terminal (a pipe gets the exact
    bytes, e.g. for ``curl --data-binary @-``)."""
    sys.stdout.write(text)
    if sys.stdout.isatty():
        sys.stdout.write("\n")
    sys.stdout.flush()


def _emit_json(value: Any) -> None:
    """A JSON document: a text file, so it ends with a newline, also in a pipe or a file."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


@app.command(cls=VatsCommand)
def decode(file: FileArgument = "-", schema: SchemaOption = None,
           returns: ReturnsOption = None, permutation: PermutationOption = None) -> None:
    """Print the JSON form of a request payload or a response body (detected)."""
    answer = False  # a response: its return type may be the trouble
    try:
        text = _read(file)
        registry = _registry(schema, permutation)
        stripped = text.strip()
        form: dict[str, Any]
        if stripped.startswith("//"):
            answer = True
            response = parse_response(stripped, registry, returns=returns)
            form = response_to_json(response, registry, returns=returns)
        else:
            form = request_to_json(parse_request(text.rstrip("\r\n"), registry), registry)
    except (ProtocolError, UsageError, OSError, UnicodeDecodeError) as exc:
        raise _failed(exc, returns_given=returns is not None or not answer) from None
    _emit_json(form)


@app.command(cls=VatsCommand)
def encode(file: FileArgument = "-", schema: SchemaOption = None,
           returns: ReturnsOption = None) -> None:
    """Read a JSON form and print the payload (a request, or a response for ok/ex)."""
    try:
        data = json.loads(_read(file))
        registry = _registry(schema)
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind in ("ok", "ex"):
            declared = "java.lang.Object" if kind == "ex" else (returns or "java.lang.Object")
            value = None if declared == "void" else value_from_json(
                data.get("value"), declared, registry)
            text = build_response(value, declared_type=declared, kind=kind, registry=registry,
                                  flags=int(data.get("flags", 0)))
        else:
            text = build_request(request_from_json(data, registry), registry)
    except (ProtocolError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _failed(exc) from None
    _emit(text)


@app.command(cls=VatsCommand)
def schema(permutation: PermutationArgument) -> None:
    """Print every class layout derived from a compiled permutation, as a schema file
    (docs/schema-format.md; slots are f0, f1, ... where the output is obfuscated)."""
    try:
        build = _derive(permutation)
    except (ProtocolError, UsageError, OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{permutation}: {exc}") from None
    _emit_json(build.to_schema())


@app.command(cls=VatsCommand)
def services(permutation: PermutationArgument) -> None:
    """Print the services (interface, servlet path, policy strong name) and their methods
    with parameter types, derived from a compiled permutation."""
    try:
        build = _derive(permutation)
    except (ProtocolError, UsageError, OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{permutation}: {exc}") from None
    out = {
        "permutation": build.strong_name, "gwt_version": build.gwt_version, "style": build.style,
        "services": [
            {"interface": svc.interface, "path": svc.path, "policy": svc.policy,
             "linked_by": svc.linked_by,
             "methods": [{"name": m.name, "params": list(m.params)} for m in svc.methods]}
            for svc in build.services
        ],
    }
    _emit_json(out)
