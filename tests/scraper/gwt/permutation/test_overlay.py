"""A hand-written schema names derived slots only where that is certain."""

from __future__ import annotations

from scraper.gwt import Instance, build_response, gwt_registry, parse_response
from scraper.gwt.permutation.overlay import apply_overlay
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


def test_invented_class_binds_by_structure_and_decodes_by_our_names():
    build = derive(LIVE, ROWS)
    overlaid = apply_overlay(build, row_schema("p.Invented", ROW_FIELDS, binding="structure"))
    (drift,) = [d for d in overlaid.drift if d.schema_class == "p.Invented"]
    assert drift.live_class == "p.Live" and drift.bound_by == "structure" and drift.same
    assert overlaid.resolved("p.Invented", {"phone", "id", "active"})
    truth = gwt_registry()
    truth.load_schema_dict(row_schema("p.Live", ROW_FIELDS, signature="p.Live/11")
                           | {"p.Rec": REC["p.Rec"]})
    value = Instance("p.Live/11", {"name": "Иван", "phone": "79000000001",
                                             "active": True, "type": 8, "id": 5})
    text = build_response(value, declared_type="java.lang.Object", registry=truth)
    decoded = parse_response(text, overlaid.registry).value
    assert decoded.get("phone") == "79000000001" and decoded.get("type") == 8
    assert decoded.get("id") == 5 and decoded.get("active") is True


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
