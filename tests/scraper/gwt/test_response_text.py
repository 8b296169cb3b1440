"""The response text layer: .concat chunks, "+"-joined strings, GWT 2.8 forms."""

import math

import pytest

from scraper.gwt import Boxed, Collection, build_response, gwt_registry, parse_response
from scraper.gwt.builtins import ARRAYLIST, INTEGER, STRING
from scraper.gwt.jsarray import render_response, split_response

REG = gwt_registry()


def test_concat_chunking_matches_gwt_head_example():
    """GWT HEAD's server writer with chunk size 4 writes exactly this."""
    text = "//OK[1004,2,1003,2].concat([1002,2,1001,2,1000],[2,5,1,[\"a\"],0],[7])"
    parts = split_response(text)
    assert parts.tokens == [1, 5, 2, 1000, 2, 1001, 2, 1002, 2, 1003, 2, 1004]
    assert parts.strings == ["a"] and (parts.flags, parts.version) == (0, 7)
    assert render_response("ok", parts.tokens, parts.strings, chunk=4) == text


def test_string_table_concat_and_plus_pieces():
    text = '//OK[1,["ab"+"cd","e"].concat(["f"]),0,7]'
    parts = split_response(text)
    assert parts.strings == ["abcd", "e", "f"]


def test_long_string_is_split_like_gwt():
    long_text = "x" * 70000
    value = Boxed(STRING, long_text)
    text = build_response(value, registry=REG)
    assert '"+"' in text
    pieces = text.split('"+"')
    assert len(pieces[0].split('"')[-1]) == 65530
    assert parse_response(text, REG).value.value == long_text


def test_gwt_28_forms_are_accepted():
    text = '//OK["CaAbCd",1,"NaN",2,["java.lang.Long/4227064769","java.lang.Double/858496421"],0,8]'
    # written: 2 (Double) NaN, 1 (Long) CaAbCd — read in reverse
    parts = split_response(text)
    assert parts.version == 8
    assert parts.tokens == [2, "NaN", 1, "CaAbCd"]


def test_bare_nan_and_infinity():
    parts = split_response("//OK[NaN,-Infinity,Infinity,[],0,7]")
    assert math.isinf(parts.tokens[0]) and parts.tokens[1] < 0 and math.isnan(parts.tokens[2])


def test_whitespace_between_elements():
    assert split_response('//OK[ 1 , 2 ,\n[ "a" ] , 0 , 7 ]').tokens == [2, 1]


def test_big_list_round_trip():
    value = Collection(ARRAYLIST, [Boxed(INTEGER, i) for i in range(50000)])
    text = build_response(value, registry=REG)
    assert ".concat(" in text
    back = parse_response(text, REG).value
    assert [b.value for b in back.items] == list(range(50000))
    assert build_response(back, registry=REG) == text


@pytest.mark.parametrize("returns", ["int", "long", "boolean", "double", "java.lang.String"])
def test_bare_returns(returns):
    sample = {"int": -5, "long": 2583802013, "boolean": True, "double": 2.5,
              "java.lang.String": "ok"}[returns]
    text = build_response(sample, declared_type=returns, registry=REG)
    assert parse_response(text, REG, returns=returns).value == sample


def test_ex_becomes_typed_errors():
    from scraper.errors import IncompatibleClientError, RemoteException
    from scraper.gwt import incompatible

    stale = build_response(incompatible("This application is out of date"), kind="ex")
    response = parse_response(stale, REG)
    assert response.kind == "ex"
    with pytest.raises(IncompatibleClientError) as info:
        response.raise_for_exception(service="DispatcherService", method="getForm")
    assert info.value.service == "DispatcherService" and info.value.method == "getForm"
    assert "out of date" in str(info.value)

    other = '//EX[2,1,["java.lang.IllegalStateException/1","boom"],0,7]'
    with pytest.raises(RemoteException) as info2:
        parse_response(other, REG).raise_for_exception()
    assert not isinstance(info2.value, IncompatibleClientError)
    assert info2.value.java_class == "java.lang.IllegalStateException"
    assert info2.value.remote_message == "boom"
    parse_response("//OK[0,[],0,7]", REG).raise_for_exception()  # ok: no error


def test_unknown_exception_class_is_still_a_typed_remote_exception():
    from scraper.errors import RemoteException

    body = '//EX[2,1,["com.acme.NoAccessException/123","Доступ запрещён"],0,7]'
    response = parse_response(body, REG)
    assert response.kind == "ex" and response.partial
    with pytest.raises(RemoteException) as info:
        response.raise_for_exception(service="S", method="m")
    assert info.value.java_class == "com.acme.NoAccessException"
    assert info.value.remote_message == "Доступ запрещён"
    with pytest.raises(Exception, match="unknown class"):
        parse_response('//OK[2,1,["com.acme.Thing/1","x"],0,7]', REG)
