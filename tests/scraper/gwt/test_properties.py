"""Property tests: generated object graphs round-trip; garbage and mutated real payloads only
ever raise typed errors, and whatever of them decodes encodes again canonically.
``VATS_FUZZ_EXAMPLES`` raises the example count for long runs."""

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scraper.errors import ProtocolError
from scraper.gwt import (
    Boxed,
    Collection,
    MapValue,
    Param,
    Request,
    build_request,
    build_response,
    parse_request,
    parse_response,
    request_from_json,
    request_to_json,
    response_to_json,
)
from scraper.gwt.builtins import BUILTINS
from scraper.gwt.longs import LONG_MAX, LONG_MIN
from scraper.profile import MTS
from vats_fixtures.recorded.captures import ALL, fill

REG = MTS.registry()
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


def shape(value):
    """A graph as plain data, to compare a decoded graph with the generated one: decoding boxes
    what the writer accepted plain (a ``str`` or ``bool`` in an Object slot), so a String or
    Boolean box compares as its value; sharing is checked by the byte-for-byte re-encoding."""
    if isinstance(value, Boxed):
        if value.class_name in ("java.lang.String", "java.lang.Boolean"):
            return value.value
        return value.class_name, value.value, value.nanos
    if isinstance(value, Collection):
        return value.class_name, [shape(item) for item in value.items]
    if isinstance(value, MapValue):
        return value.class_name, [(shape(k), shape(v)) for k, v in value.entries]
    assert value is None or type(value) in (str, bool), value
    return value


def header(request):
    return (request.service, request.method, request.module_base, request.strong_name,
            request.version, request.flags, [p.type for p in request.params])


@FUZZ
@given(shared_graphs())
def test_request_round_trip(graph):
    request = Request("com.example.Svc", "echo", [Param("java.lang.Object", graph)],
                      "https://example.invalid/app/", "5A1B2C3D4E5F60718293A4B5C6D7E8F9")
    text = build_request(request, REG)
    again = parse_request(text, REG)
    assert header(again) == header(request)
    assert shape(again.param(0)) == shape(graph)
    assert build_request(again, REG) == text
    assert build_request(request_from_json(request_to_json(again, REG), REG), REG) == text


@FUZZ
@given(shared_graphs())
def test_response_round_trip(graph):
    text = build_response(graph, registry=REG)
    again = parse_response(text, REG)
    assert (again.kind, again.version, again.flags) == ("ok", 7, 0)
    assert shape(again.value) == shape(graph)
    assert build_response(again.value, registry=REG) == text


def typed_outcome(call, payload):
    """``call(payload, REG)``, or None when it raised a ``ProtocolError``; any other exception
    is a bug and fails the test (chained to it, so the traceback shows where it came from)."""
    try:
        return call(payload, REG)
    except ProtocolError:
        return None
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}, not a ProtocolError, for {payload!r}") from exc


def assert_request_re_encodes(request):
    """A decoded request encodes again, canonically: its text decodes to the same JSON form
    and encodes to itself. (Not to the input text: a mutated payload need not be canonical.)"""
    text = build_request(request, REG)
    again = parse_request(text, REG)
    assert request_to_json(again, REG) == request_to_json(request, REG)
    assert build_request(again, REG) == text


def assert_response_re_encodes(response):
    """The same for a decoded response, its kind and flags included; the version written is 7
    (GWT 2.7's server) whatever was read (7, or 8 of GWT 2.8)."""
    text = build_response(response.value, kind=response.kind, flags=response.flags, registry=REG)
    again = parse_response(text, REG)
    assert response_to_json(again, REG) == response_to_json(response, REG) | {"version": 7}
    assert build_response(again.value, kind=again.kind, flags=again.flags, registry=REG) == text


@FUZZ_BOUNDED
@example("07|0|5|m/|s|x.S|m|unused|1|2|3|4|0|")  # decodes, but is not the canonical text
@given(st.text(max_size=200))
def test_garbage_requests(text):
    request = typed_outcome(parse_request, text)
    if request is not None:
        assert_request_re_encodes(request)


@FUZZ_BOUNDED
@given(st.text(max_size=200).map(lambda t: "//OK[" + t))
def test_garbage_responses(text):
    response = typed_outcome(parse_response, text)
    if response is not None:
        assert_response_re_encodes(response)


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
    request = typed_outcome(parse_request, text)
    if request is not None:
        assert_request_re_encodes(request)  # whatever decodes must encode again


@FUZZ_BOUNDED
@example('//OK[2,1,["java.lang.String/2004016611","abc"],0,8]')  # version 8 is read, 7 written
@given(mutated(REAL_RESPONSES))
def test_mutated_real_responses(text):
    response = typed_outcome(parse_response, text)
    if response is not None:
        assert_response_re_encodes(response)


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
    """The JSON form read by ``vats gwt encode``: garbage → EncodeError/ProtocolError only, and
    what it accepts encodes to a payload that decodes back to the same request."""
    form = {"kind": "request", "version": 7, "flags": 0, "module_base": "m",
            "strong_name": "s", "service": "x.S", "method": "m",
            "params": [{"type": declared, "value": data}]}

    def encode(form, registry):
        request = request_from_json(form, registry)
        return request, build_request(request, registry)

    encoded = typed_outcome(encode, form)
    if encoded is not None:
        request, text = encoded
        again = parse_request(text, REG)
        assert request_to_json(again, REG) == request_to_json(request, REG)
        assert build_request(again, REG) == text
