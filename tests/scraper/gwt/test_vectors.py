"""Golden tests: every vector of tests/data/gwt-vectors decodes to its expected JSON form and
encodes back to its exact bytes (genuine GWT 2.7.0 output)."""

import json

import pytest

from scraper.gwt import (
    build_request,
    build_response,
    gwt_registry,
    parse_request,
    parse_response,
    request_from_json,
    request_to_json,
    response_to_json,
    value_from_json,
)
from tests.paths import VECTORS


def _names(suffix):
    return sorted(p.name[: -len(suffix)] for p in VECTORS.glob(f"*{suffix}"))


def _meta(name):
    path = VECTORS / f"{name}.meta.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _registry(name):
    registry = gwt_registry()
    for schema in _meta(name).get("schemas", ["schema.json"]):
        registry.load_schema_file(VECTORS / schema)
    return registry


def _text(path):
    return path.read_bytes().decode("utf-8")  # bytes: v02 holds a raw CR


def _plain(form):
    """A JSON form as it reads back from a file (tuples become lists), to compare with ``==`` so
    that a failure shows the difference."""
    return json.loads(json.dumps(form))


def test_all_vectors_present():
    assert len(_names(".request.txt")) >= 17
    assert len(_names(".response.txt")) >= 19


@pytest.mark.parametrize("name", _names(".request.txt"))
def test_request_decodes_to_expected(name):
    registry = _registry(name)
    request = parse_request(_text(VECTORS / f"{name}.request.txt"), registry)
    expected = json.loads((VECTORS / f"{name}.expected-request.json").read_text())
    assert _plain(request_to_json(request, registry)) == expected


@pytest.mark.parametrize("name", _names(".request.txt"))
def test_request_encodes_byte_for_byte(name):
    registry = _registry(name)
    expected = json.loads((VECTORS / f"{name}.expected-request.json").read_text())
    text = _text(VECTORS / f"{name}.request.txt")
    assert build_request(request_from_json(expected, registry), registry) == text
    assert build_request(parse_request(text, registry), registry) == text


@pytest.mark.parametrize("name", _names(".response.txt"))
def test_response_decodes_to_expected(name):
    registry = _registry(name)
    returns = _meta(name).get("returns")
    response = parse_response(_text(VECTORS / f"{name}.response.txt"), registry, returns=returns)
    expected = json.loads((VECTORS / f"{name}.expected-response.json").read_text())
    assert _plain(response_to_json(response, registry, returns=returns)) == expected


@pytest.mark.parametrize("name", _names(".response.txt"))
def test_response_rebuilds_byte_for_byte(name):
    """Our server-side writer reproduces GWT 2.7.0's server output exactly (sandbox fidelity)."""
    registry = _registry(name)
    returns = _meta(name).get("returns") or "java.lang.Object"
    text = _text(VECTORS / f"{name}.response.txt")
    response = parse_response(text, registry, returns=None if returns == "java.lang.Object" else returns)
    built = build_response(response.value, declared_type=returns, kind=response.kind,
                           registry=registry)
    assert built == text
    expected = json.loads((VECTORS / f"{name}.expected-response.json").read_text())
    declared = "java.lang.Object" if response.kind == "ex" else returns
    if declared != "void":
        value = value_from_json(expected["value"], declared, registry)
        assert build_response(value, declared_type=declared, kind=response.kind,
                              registry=registry) == text
