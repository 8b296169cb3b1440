"""The session's live build: derived once per strong name, cached, named by our schema."""

from __future__ import annotations

import json
import logging

import pytest

from scraper import profile
from scraper.browser.livebuild import load_live_build
from scraper.errors import DriftError
from scraper.gwt import Instance
from tests.scraper.gwt.permutation.test_shapes import BUILTIN_ROWS, RUNTIME

RECORD = profile.RECORD
# a live build whose list row has our invented layout under another name, plus one extra slot
PROGRAM = (
    RUNTIME + "function Sb(a,b){b.a=Cb(a)}function Rb(a){return new Qb}"
    "function Tb(a){return new Ub}"
    "function Vb(a,b){b.c=Ib(a);b.d=Ib(a);b.e=!!a.c[--a.b];b.f=!!a.c[--a.b];b.g=!!a.c[--a.b];"
    "b.h=!!a.c[--a.b];b.i=!!a.c[--a.b];b.j=!!a.c[--a.b];b.k=!!a.c[--a.b];b.l=Ab(a);b.m=Lg(a);"
    "b.n=!!a.c[--a.b];b.o=!!a.c[--a.b];b.p=!!a.c[--a.b];Sb(a,b)}"
    f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}"
    f"a['x.y.Row/77']=[Tb,Vb];a['{RECORD}/4241958543']=[Rb,Sb];return a}}"
)


def row_instance(names_registry):
    values = ["Приёмная", "79000000001", False, False, False, False, False, False, True, 8,
              123, True, False, False]
    names = [f.name for f in names_registry.fields_of("x.y.Row")]
    fields = dict(zip(names[:-1], values, strict=True))
    fields[names[-1]] = 2500000000
    return Instance("x.y.Row/77", fields)


def test_derived_once_then_read_from_the_cache(tmp_path, caplog):
    live = load_live_build(PROGRAM, "A" * 32, profile=profile.MTS, cache_dir=tmp_path)
    assert live.derived is not None and (tmp_path / f"{'A' * 32}.json").is_file()
    assert json.loads((tmp_path / f"{'A' * 32}.schema.json").read_text())["x.y.Row"]
    again = load_live_build("not even javascript", "A" * 32, profile=profile.MTS, cache_dir=tmp_path)
    assert again.derived is not None and "x.y.Row" in again.derived.types
    assert again.signatures[RECORD] == f"{RECORD}/4241958543"


def test_an_extra_slot_in_the_invented_row_is_named_around_and_logged_once(tmp_path, caplog):
    live = load_live_build(PROGRAM, "B" * 32, profile=profile.MTS, cache_dir=tmp_path)
    row = row_instance(live.registry)
    with caplog.at_level(logging.WARNING):
        first = live.view(row, profile.LIST_RECORD)
        live.view(row, profile.LIST_RECORD)
    assert (first.get("name"), first.get("phone"), first.get("abonentType")) == (
        "Приёмная", "79000000001", 8)
    assert first.get("id") == 2500000000 and first.get("active") is True
    warnings = [r for r in caplog.records if "differs from our schema" in r.getMessage()]
    assert len(warnings) == 1


def test_a_needed_field_that_cannot_be_placed_stops_with_a_report(tmp_path):
    live = load_live_build(PROGRAM, "C" * 32, profile=profile.MTS, cache_dir=tmp_path)
    row = row_instance(live.registry)
    with pytest.raises(DriftError) as info:
        live.view(row, profile.DEVICE_RECORD)  # no such layout in this build
    assert info.value.schema_class == profile.DEVICE_RECORD
    assert str(tmp_path / f"{'C' * 32}.schema.json") in str(info.value)


def test_not_a_permutation_falls_back_to_our_schema(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        live = load_live_build("var x = 1;", "D" * 32, profile=profile.MTS, cache_dir=tmp_path)
    assert live.derived is None and live.binder is None
    assert profile.LIST_RECORD in live.registry
    assert any("cannot derive" in r.getMessage() for r in caplog.records)


def test_a_user_schema_places_what_vats_would_not_guess(tmp_path):
    """The drift report's schema file, with the user's names, passed with --schema."""
    # the extra slot is a boolean before three booleans: which of the four is new is not known
    ambiguous = PROGRAM.replace("b.m=Lg(a);", "b.m=!!a.c[--a.b];")
    live = load_live_build(ambiguous, "G" * 32, profile=profile.MTS, cache_dir=tmp_path)
    row = row_instance(live.registry)
    with pytest.raises(DriftError) as info:
        live.view(row, profile.LIST_RECORD)
    assert info.value.missing == ["bound"]
    schema = json.loads((tmp_path / f"{'G' * 32}.schema.json").read_text())
    names = ["name", "phone", "blocked", "unknown02", "unknown03", "markedForDeletion",
             "unknown05", "inactive", "active", "abonentType", "extraFlag", "bound", "unknown10",
             "unknown11"]
    for slot, name in zip(schema["x.y.Row"]["fields"], names, strict=True):
        slot[0] = name
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"x.y.Row": schema["x.y.Row"]}))
    named = load_live_build(ambiguous, "G" * 32, profile=profile.MTS, cache_dir=tmp_path,
                            extra_schemas=[mine])
    row = row_instance(named.registry)
    viewed = named.view(row, profile.LIST_RECORD)
    assert viewed.get("bound") is True and viewed.get("abonentType") == 8
