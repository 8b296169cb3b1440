"""A hand-written schema names derived slots only where that is certain."""

from __future__ import annotations

import pytest

from scraper.errors import DriftError
from scraper.gwt import Instance, build_response, gwt_registry, parse_response
from scraper.gwt.permutation.overlay import Binder, apply_overlay
from tests.scraper.gwt.permutation.test_shapes import derive

# the live build: Row(String, String, boolean, int) extends Rec(Object id)
LIVE = ("function Sb(a,b){b.a=Cb(a)}function Rb(a){return new Qb}function Tb(a){return new Ub}"
        "function Vb(a,b){b.c=Ib(a);b.d=Ib(a);b.e=!!a.c[--a.b];b.g=Ab(a);Sb(a,b)}")
ROWS = "a['p.Live/11']=[Tb,Vb];a['p.Rec/2']=[Rb,Sb];"
REC = {"p.Rec": {"fields": [["id", "java.lang.Long"]], "signature": "p.Rec/2"}}


def row_schema(name: str, fields, **extra):
    return {**REC, name: {"fields": fields, "extends": "p.Rec", **extra}}


ROW_FIELDS = [["name", "java.lang.String"], ["phone", "java.lang.String"],
              ["active", "boolean"], ["type", "int"]]


def _truth_response(fields=ROW_FIELDS):
    truth = gwt_registry()
    truth.load_schema_dict(row_schema("p.Live", fields, signature="p.Live/11")
                           | {"p.Rec": REC["p.Rec"]})
    value = Instance("p.Live/11", {"name": "Иван", "phone": "79000000001",
                                   "active": True, "type": 8, "id": 5})
    return build_response(value, declared_type="java.lang.Object", registry=truth)


def test_invented_class_binds_by_structure_where_the_answer_carries_it():
    build = derive(LIVE, ROWS)
    schema = row_schema("p.Invented", ROW_FIELDS, binding="structure")
    overlaid = apply_overlay(build, schema)
    assert "p.Live" in overlaid.unknown_live  # nothing binds it before an answer arrives
    seen = []
    binder = Binder(build, schema, overlaid.registry, on_drift=seen.append)
    decoded = parse_response(_truth_response(), overlaid.registry).value
    row = binder.view(decoded, "p.Invented", needs={"phone", "id", "active", "type"})
    assert row.get("phone") == "79000000001" and row.get("type") == 8
    assert row.get("id") == 5 and row.get("active") is True
    assert seen == []  # same layout: no drift to log


def test_view_with_an_added_field_names_what_is_certain_and_refuses_what_is_not():
    build = derive(LIVE, ROWS)
    ours = [["phone", "java.lang.String"], ["active", "boolean"], ["type", "int"]]
    schema = row_schema("p.Invented", ours, binding="structure")
    overlaid = apply_overlay(build, schema)
    seen = []
    binder = Binder(build, schema, overlaid.registry, on_drift=seen.append)
    decoded = parse_response(_truth_response(), overlaid.registry).value
    row = binder.view(decoded, "p.Invented", needs={"active", "type", "id"})
    assert (row.get("active"), row.get("type"), row.get("id")) == (True, 8, 5)
    assert "phone" not in row.fields  # one of two Strings is new: not guessed
    assert len(seen) == 1 and seen[0].unresolved == ["phone"]
    with pytest.raises(DriftError) as info:
        binder.view(decoded, "p.Invented", needs={"phone"})
    assert info.value.missing == ["phone"] and info.value.live_class == "p.Live"
    assert len(seen) == 1  # logged once per binding


def test_make_fills_unnamed_live_slots_with_gwt_defaults():
    build = derive(LIVE, ROWS)
    ours = [["name", "java.lang.String"], ["phone", "java.lang.String"], ["type", "int"]]
    schema = row_schema("p.Live", ours, signature="p.Live/11")
    overlaid = apply_overlay(build, schema)
    binder = Binder(build, schema, overlaid.registry)
    made = binder.make("p.Live", {"name": "x", "phone": "7", "type": 3, "id": 9})
    assert list(made.fields.values()) == ["x", "7", False, 3, 9]
    assert made.signature == "p.Live/11"


def test_a_name_bound_class_keeps_its_names_when_unchanged():
    build = derive(LIVE, ROWS)
    overlaid = apply_overlay(build, row_schema("p.Live", ROW_FIELDS, signature="p.Live/11"))
    (drift,) = [d for d in overlaid.drift if d.schema_class == "p.Live"]
    assert drift.same and drift.bound_by == "name"
    assert [f.name for f in overlaid.registry.fields_of("p.Live")] == [
        "name", "phone", "active", "type", "id"]


def test_a_field_added_in_the_middle_resolves_the_rest_only_where_unambiguous():
    ours = [["name", "java.lang.String"], ["phone", "java.lang.String"], ["type", "int"]]
    overlaid = apply_overlay(derive(LIVE, ROWS), row_schema("p.Live", ours, signature="p.Live/11"))
    (drift,) = [d for d in overlaid.drift if d.schema_class == "p.Live"]
    assert not drift.same and drift.unresolved == []  # the new boolean is of a kind of its own
    assert drift.resolved == {"name": 0, "phone": 1, "type": 3, "id": 4}
    assert "4 slots ours, 5 live" in drift.describe()


def test_an_added_field_of_an_ambiguous_kind_leaves_those_names_unresolved():
    ours = [["phone", "java.lang.String"], ["active", "boolean"], ["type", "int"]]
    overlaid = apply_overlay(derive(LIVE, ROWS), row_schema("p.Live", ours, signature="p.Live/11"))
    (drift,) = [d for d in overlaid.drift if d.schema_class == "p.Live"]
    assert drift.unresolved == ["phone"]  # one of two Strings is new: which one is not known
    assert not overlaid.resolved("p.Live", {"phone"})
    assert overlaid.resolved("p.Live", {"active", "type", "id"})
    assert "f0" in [f.name for f in overlaid.registry.fields_of("p.Live")]


def test_a_retyped_or_removed_field_is_never_guessed():
    retyped = [["name", "java.lang.String"], ["phone", "long"], ["active", "boolean"],
               ["type", "int"]]
    overlaid = apply_overlay(derive(LIVE, ROWS), row_schema("p.Live", retyped,
                                                            signature="p.Live/11"))
    assert [d.unresolved for d in overlaid.drift if d.schema_class == "p.Live"] == [["phone"]]
    removed = [*ROW_FIELDS[:2], ["extra", "java.lang.String"], *ROW_FIELDS[2:]]
    overlaid = apply_overlay(derive(LIVE, ROWS), row_schema("p.Live", removed,
                                                            signature="p.Live/11"))
    (drift,) = [d for d in overlaid.drift if d.schema_class == "p.Live"]
    assert set(drift.unresolved) == {"name", "phone", "extra"}  # three Strings ours, two live
    assert drift.resolved["active"] == 2


def test_signature_change_and_missing_class_are_reported():
    schema = row_schema("p.Live", ROW_FIELDS, signature="p.Live/99") | {
        "p.Gone": {"fields": [["x", "int"]], "signature": "p.Gone/1"}}
    overlaid = apply_overlay(derive(LIVE, ROWS), schema)
    by_class = {d.schema_class: d for d in overlaid.drift}
    assert by_class["p.Live"].signature_changed and "signature changed" in by_class[
        "p.Live"].describe()
    assert by_class["p.Gone"].live_class is None and not overlaid.resolved("p.Gone", {"x"})
