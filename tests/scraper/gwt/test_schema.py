import json

import pytest

from scraper.errors import SchemaError, UnknownClassError
from scraper.gwt import gwt_registry, parse_response
from scraper.gwt.builtins import BUILTINS
from scraper.gwt.crc import enum_crc
from scraper.profile import MTS
from tests.paths import VECTORS

# CRCs that the vectors (GWT's own output) and the captures quote, against GWT's rule as computed
# by builtins.py
KNOWN = {
    "java.lang.Long": 4227064769, "java.lang.Integer": 3438268394, "java.lang.Boolean": 476441737,
    "java.lang.String": 2004016611, "java.lang.Double": 858496421,
    "java.util.ArrayList": 4159755760, "java.util.HashMap": 1797211028,
    "java.util.Date": 3385151746, "java.util.HashSet": 3273092938,
    "java.util.LinkedList": 3953877921,
}


@pytest.mark.parametrize(("name", "crc"), sorted(KNOWN.items()))
def test_builtin_signatures(name, crc):
    assert BUILTINS[name].signature == f"{name}/{crc}"


def test_enum_crc_rule():
    assert enum_crc("com.example.vectors.Color", ["RED", "GREEN", "BLUE"]) == 3034187294


def test_array_signatures_are_computed():
    reg = gwt_registry()
    assert reg.signature_for("[I") == "[I/2970817851"
    assert reg.signature_for("[Ljava.lang.String;") == "[Ljava.lang.String;/2600011424"
    assert reg.signature_for("[Ljava.lang.Object;") == "[Ljava.lang.Object;/945118441"


def test_fields_follow_superclass_order():
    reg = gwt_registry()
    reg.load_schema_file(VECTORS / "schema.json")
    names = [f.name for f in reg.fields_of("com.example.vectors.Derived")]
    assert names == ["Beta2", "aardvark", "beta", "Zulu", "alpha", "zeta"]


def test_mts_record_layout_has_inherited_id_last():
    names = [f.name for f in MTS.registry().fields_of(
        "ru.cti.vpbx.shared.models.form.device.AbonentDeviceRecordGWTModel")]
    assert len(names) == 15 and names[-1] == "id" and names[5:7] == ["sipLogin", "sipPassword"]


def test_user_schema_overrides_without_code(tmp_path):
    reg = MTS.registry().copy()
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"com.acme.Thing": {"fields": [["n", "int"]],
                                                   "signature": "com.acme.Thing/1"}}))
    text = '//OK[7,1,["com.acme.Thing/1"],0,7]'
    with pytest.raises(UnknownClassError):
        parse_response(text, reg)
    reg.load_schema_file(path)
    assert parse_response(text, reg).value.get("n") == 7
    assert "com.acme.Thing" not in MTS.registry()  # the shared default is untouched


@pytest.mark.parametrize("bad", [
    [],
    {"a.B": []},
    {"a.B": {"fields": [["x"]]}},
    {"a.B": {"fields": [["x", "int"], ["x", "int"]]}},
    {"a.B": {"fields": [["x", "has space"]]}},
    {"a.B": {"enum": "RED"}},
    {"a.B/12": {"fields": []}},
    {"a.B": {"fields": [], "signature": "c.D/1"}},
])
def test_bad_schema_is_a_typed_error(bad):
    with pytest.raises(SchemaError):
        gwt_registry().load_schema_dict(bad)


def test_unreadable_schema_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{nope")
    with pytest.raises(SchemaError, match="broken.json"):
        gwt_registry().load_schema_file(path)


def test_reconstructed_mts_classes_carry_gwt_rule_crcs():
    """The classes we invented (docs/reconstruction.md) get the CRC a GWT server would compute
    from their (invented) fields; the captured classes keep their captured CRCs."""
    from scraper.gwt.crc import crc_of

    data = MTS.schema()
    jni = {"boolean": "Z", "int": "I"}

    def sequence(name):  # GWT's rule: name, own fields, then the superclass's sequence
        parts = [name]
        while name in data:
            for field, type_name in data[name].get("fields", []):
                parts += [field, jni.get(type_name, type_name)]
            name = data[name].get("extends", "java.lang.Object")
            parts.append(name)
        return parts

    for name in ("ru.cti.vpbx.shared.exceptions.VpbxGwtException",
                 "ru.cti.vpbx.shared.models.form.abonent.AbonentFormGWTModel",
                 "ru.cti.vpbx.shared.models.browser.AbonentBrowserRecordGWTModel"):
        assert data[name]["signature"] == f"{name}/{crc_of(sequence(name))}", name


def test_the_codec_registry_knows_gwt_only():
    """The codec ships no application's classes: ours come with the cabinet profile."""
    from scraper.gwt.schema import shared_gwt_registry

    record = "ru.cti.vpbx.shared.models.codebase.RecordGWTModel"
    assert record not in gwt_registry() and record not in shared_gwt_registry()
    assert "java.util.ArrayList" in gwt_registry()
    assert record in MTS.registry()
    with pytest.raises(UnknownClassError):  # a registry-less decode is a GWT-only decode
        parse_response(f'//OK[0,1,["{record}/4241958543"],0,7]')
