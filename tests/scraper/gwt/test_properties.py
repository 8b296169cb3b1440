"""Property tests: generated object graphs round-trip; garbage and mutated real payloads only
ever raise typed errors. ``VATS_FUZZ_EXAMPLES`` raises the example count for long runs."""

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fixtures.recorded.captures import ALL, fill
from scraper.errors import ProtocolError
from scraper.gwt import (
    Boxed,
    Collection,
    MapValue,
    Param,
    Request,
    build_request,
    build_response,
    default_registry,
    parse_request,
    parse_response,
    request_from_json,
    request_to_json,
)
from scraper.gwt.builtins import BUILTINS
from scraper.gwt.longs import LONG_MAX, LONG_MIN

REG = default_registry()
#: the CI profile runs a modest count; ``VATS_FUZZ_EXAMPLES=100000`` is the long profile
EXAMPLES = int(os.environ.get("VATS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: garbage and mutated payloads: bounded time per input — a hang detector, not a benchmark
#: (generous, so a noisy shared machine never trips it)
FUZZ_BOUNDED = settings(FUZZ, deadline=timedelta(seconds=5))
# the long profile needs more than pytest-timeout's default per test
pytestmark = pytest.mark.timeout(300 + EXAMPLES // 10)


def sig(name):
    return BUILTINS[f"java.{name}"].signature


scalars = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.booleans(),
    st.integers(LONG_MIN, LONG_MAX).map(lambda v: Boxed(sig("lang.Long"), v)),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: Boxed(sig("lang.Integer"), v)),
    st.floats(allow_nan=False).map(lambda v: Boxed(sig("lang.Double"), v)),
    st.integers(0, 2**40).map(lambda v: Boxed(sig("util.Date"), v)),
    st.characters(max_codepoint=0xFFFF).map(lambda c: Boxed(sig("lang.Character"), c)),
)


def containers(children):
    lists = st.tuples(st.sampled_from(["util.ArrayList", "util.LinkedList", "util.HashSet"]),
                      st.lists(children, max_size=5)).map(lambda t: Collection(sig(t[0]), t[1]))
    maps = st.lists(st.tuples(children, children), max_size=4).map(
        lambda e: MapValue(sig("util.HashMap"), e))
    return st.one_of(lists, maps)


graphs = st.recursive(scalars, containers, max_leaves=25)


@st.composite
def shared_graphs(draw):
    """A list whose later items repeat earlier objects by identity → back-references."""
    items = draw(st.lists(graphs, min_size=1, max_size=6))
    repeats = draw(st.lists(st.integers(0, len(items) - 1), max_size=4))
    return Collection(sig("util.ArrayList"), items + [items[i] for i in repeats])


@FUZZ
@given(shared_graphs())
def test_request_round_trip(graph):
    request = Request("com.example.Svc", "echo", [Param("java.lang.Object", graph)],
                      "https://example.invalid/app/", "5A1B2C3D4E5F60718293A4B5C6D7E8F9")
    text = build_request(request, REG)
    again = parse_request(text, REG)
    assert build_request(again, REG) == text
    assert build_request(request_from_json(request_to_json(again, REG), REG), REG) == text


@FUZZ
@given(shared_graphs())
def test_response_round_trip(graph):
    text = build_response(graph, registry=REG)
    assert build_response(parse_response(text, REG).value, registry=REG) == text


@FUZZ_BOUNDED
@given(st.text(max_size=200))
def test_garbage_requests(text):
    try:
        parse_request(text, REG)
    except ProtocolError:
        pass


@FUZZ_BOUNDED
@given(st.text(max_size=200).map(lambda t: "//OK[" + t))
def test_garbage_responses(text):
    try:
        parse_response(text, REG)
    except ProtocolError:
        pass


REAL = [fill(t) for t in ALL.values()]
REAL_RESPONSES = [build_response(parse_request(p, REG).param(0), registry=REG) for p in REAL]


@st.composite
def mutated(draw, corpus):
    text = draw(st.sampled_from(corpus))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        i = draw(st.integers(0, max(0, len(text) - 1)))
        ch = draw(st.sampled_from(list("|0123456789-AZaz_$[]\",'.\\+()x")))
        if op == "delete":
            text = text[:i] + text[i + 1:]
        elif op == "insert":
            text = text[:i] + ch + text[i:]
        elif op == "replace":
            text = text[:i] + ch + text[i + 1:]
        else:
            text = text[:i]
    return text


@FUZZ_BOUNDED
@given(mutated(REAL))
def test_mutated_real_requests(text):
    try:
        request = parse_request(text, REG)
    except ProtocolError:
        return
    build_request(request, REG)  # whatever decodes must encode again


@FUZZ_BOUNDED
@given(mutated(REAL_RESPONSES))
def test_mutated_real_responses(text):
    try:
        parse_response(text, REG)
    except ProtocolError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["$type", "$id", "$ref", "value", "items", "ordinal",
                                       "entries", "x"]), children, max_size=4),
    max_leaves=15)


@FUZZ_BOUNDED
@example({"$ref": []}, "java.lang.Object")  # found by this test: a TypeError before the fix
@given(json_values, st.sampled_from(["java.lang.Object", "java.lang.Long", "int", "java.util.List",
                                     "ru.cti.vpbx.shared.models.codebase.RecordGWTModel"]))
def test_garbage_json_form_is_a_typed_error(data, declared):
    """The JSON form read by ``vats gwt encode``: garbage → EncodeError/ProtocolError only."""
    request = {"kind": "request", "version": 7, "flags": 0, "module_base": "m",
               "strong_name": "s", "service": "x.S", "method": "m",
               "params": [{"type": declared, "value": data}]}
    try:
        build_request(request_from_json(request, REG), REG)
    except ProtocolError:
        pass
