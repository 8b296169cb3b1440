"""The real MTS payloads (fixtures/recorded/captures.py) are golden rows: right service, method and values,
and byte-for-byte rebuilding."""

import pytest

from scraper.errors import DecodeError
from scraper.gwt import (
    Boxed,
    Collection,
    EnumValue,
    Instance,
    build_request,
    parse_request,
    request_from_json,
    request_to_json,
)
from scraper.profile import MTS
from vats_fixtures.recorded.captures import ALL, CREATE_DEVICE, GET_FORM, LIST, REMOVE_DEVICE, fill

REG = MTS.registry()
DISPATCHER = "ru.cti.vpbx.shared.services.DispatcherService"


@pytest.mark.parametrize("name", sorted(ALL))
def test_rebuilds_byte_for_byte(name):
    payload = fill(ALL[name])
    request = parse_request(payload, REG)
    assert build_request(request, REG) == payload
    assert build_request(request_from_json(request_to_json(request, REG), REG), REG) == payload


def test_list_request():
    req = parse_request(fill(LIST), REG)
    assert (req.service, req.method) == ("ru.cti.vpbx.shared.services.AbonentBrowserGwtService", "list")
    assert req.strong_name == "3D7E196DA92A574D98BAC0DEE7D909C8"
    model = req.param(0)
    assert isinstance(model, Instance)
    assert model.get("enterpriseId") == 2585932453
    assert model.get("pageIndex") == 0 and model.get("pageSize") == 100
    # slot 4 is a back-reference to the Boolean FALSE of slot 2
    assert model.fields["deletionMarkFilter"] is model.fields["exactMatch"]
    assert model.get("deletionMarkFilter") is False
    assert isinstance(model.fields["migrationState"], EnumValue)


@pytest.mark.parametrize(("token", "expected"), [("0", None), ("-2", False), ("6|1", True)])
def test_list_filter_slot(token, expected):
    payload = fill(LIST, filter=token)
    model = parse_request(payload, REG).param(0)
    assert model.get("deletionMarkFilter") is expected
    assert build_request(parse_request(payload, REG), REG) == payload


def test_list_filter_minus_one_is_rejected_like_gwt():
    """-1 points at the request object itself; a genuine GWT server rejects it."""
    with pytest.raises(DecodeError, match="cannot fill a slot declared java.lang.Boolean"):
        parse_request(fill(LIST, filter="-1"), REG)


def test_get_form():
    req = parse_request(fill(GET_FORM), REG)
    assert (req.service, req.method) == (DISPATCHER, "getForm")
    assert req.param(0).value == 2583802013
    assert req.param(1).ordinal == 31


def test_create_device():
    req = parse_request(fill(CREATE_DEVICE), REG)
    form = req.param(0)
    assert form.class_name.endswith("AbonentDeviceFormGWTModel")
    (record,) = form.get("devices")
    assert record.get("abonentId") == 2583802013
    assert record.get("deviceId") == 2584867233
    assert record.get("enterpriseId") == 2585932453
    assert record.get("identifyLine") == "mobsip_79990000000"
    assert record.get("enabled") is True
    assert record.get("deviceName") == "SIP-phone"
    assert record.get("deviceTypeName") == "Generic SIP Phone"
    assert record.get("deviceTypeId") == 1
    # the form id is the same Long instance as the record's abonent id (-4)
    assert form.fields["id"] is record.fields["abonentId"]
    assert req.param(1).ordinal == 31


def test_remove_device():
    req = parse_request(fill(REMOVE_DEVICE), REG)
    form = req.param(0)
    assert form.get("devices") == []
    assert isinstance(form.fields["id"], Boxed) and form.get("id") == 2583802013
    assert isinstance(form.fields["unknownList02"], Collection)


def test_newer_build_signature_is_noted():
    req = parse_request(ALL["newer_get_othercrm"], REG)
    assert req.param(1).ordinal == 50
    assert req.unknown_signatures == {f"{DISPATCHER}$DISPATCHER/1933436215"}
    update = parse_request(fill(ALL["newer_update_othercrm"]), REG)
    crm = update.param(0)
    assert crm.get("webhookUrl") == "https://example.invalid/webhook"
    assert crm.get("unknown04") == ""
    assert crm.get("block").get("enterpriseId") == 2613189773
