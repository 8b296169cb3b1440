"""Every error has a machine-readable ``kind``: its class's, or the raise site's refinement."""

from __future__ import annotations

import pytest

from scraper import errors
from scraper.errors import (
    DecodeError,
    EncodeError,
    PermutationError,
    ProtocolError,
    UnknownClassError,
    VatsError,
)
from scraper.gwt import Instance, Param, Request, build_request, gwt_registry, request_from_json
from scraper.gwt.permutation import derive_permutation


def error_classes() -> list[type[VatsError]]:
    return [value for value in vars(errors).values()
            if isinstance(value, type) and issubclass(value, VatsError)]


def test_every_error_class_has_its_own_kind():
    kinds = {cls.__name__: cls.kind for cls in error_classes()}
    assert len(set(kinds.values())) == len(kinds), kinds
    assert kinds["DecodeError"] == "decode" and kinds["UnknownClassError"] == "unknown-class"
    assert kinds["HTTPStatusError"] == "http-status" and kinds["SessionError"] == "session"


def test_every_kind_is_documented_in_the_module_docstring():
    doc = errors.__doc__ or ""
    for cls in error_classes():
        assert f"[{cls.kind}" in doc, cls.__name__


def test_a_raise_site_refines_the_kind_and_the_class_keeps_its_own():
    exc = DecodeError("truncated: ...", kind="truncated", position=3)
    assert exc.kind == "truncated" and DecodeError.kind == "decode"
    assert DecodeError("x").kind == "decode" and ProtocolError("y").kind == "protocol"
    assert str(exc) == "truncated: ... (token 3)" and exc.message == "truncated: ..."


def test_permutation_reason_is_its_kind():
    with pytest.raises(PermutationError) as info:
        derive_permutation("")
    assert info.value.reason == info.value.kind == "empty"


def test_unknown_class_when_encoding_is_an_encode_error_of_kind_unknown_class():
    request = Request("x.S", "m", [Param("com.acme.Thing", Instance("com.acme.Thing/1", {}))],
                      "https://example.invalid/app/", "5A1B2C3D4E5F60718293A4B5C6D7E8F9")
    with pytest.raises(EncodeError) as info:
        build_request(request, gwt_registry())
    assert info.value.kind == "unknown-class"
    form = {"kind": "request", "version": 7, "flags": 0, "module_base": "m", "strong_name": "s",
            "service": "x.S", "method": "m",
            "params": [{"type": "java.lang.Object", "value": {"$type": "com.acme.Thing/1"}}]}
    with pytest.raises(EncodeError) as info:
        request_from_json(form, gwt_registry())
    assert info.value.kind == "unknown-class" and "--" not in str(info.value)


def test_unknown_class_error_states_the_fact_only():
    exc = UnknownClassError("com.acme.Thing", "com.acme.Thing/1", position=4)
    assert exc.kind == "unknown-class"
    assert str(exc) == "unknown class 'com.acme.Thing' (type signature 'com.acme.Thing/1') (token 4)"
