"""The mutations vats builds are the captured MTS payloads, byte for byte (fixtures/recorded/captures.py)."""

from types import SimpleNamespace

from flows.changes import device_form, switch_request, update_request
from flows.trunks import DEVICE_FORM
from scraper.browser.capture import Exchange
from scraper.browser.learned import Learned
from scraper.browser.livebuild import LiveBuild
from scraper.gwt import build_request
from scraper.profile import MTS
from vats_fixtures.recorded.captures import CREATE_DEVICE, GET_FORM, MODULE_BASE, REMOVE_DEVICE, fill

REG = MTS.registry()
SESSION = SimpleNamespace(registry=REG, live=LiveBuild(REG, MTS.needs))  # our schema alone
ABONENT, DEVICE, ENTERPRISE = 2583802013, 2584867233, 2585932453  # CaAbCd, CaEfGh, CaIjKl


def learned_from_captures() -> Learned:
    learned = Learned(permutation="4F3A39F8A8855D9244397AB61F97306B", module_base=MODULE_BASE)
    exchange = Exchange("DispatcherGwtService", MODULE_BASE + "DispatcherGwtService",
                        {}, fill(GET_FORM), 200, "//OK[0,[],0,7]", 0.0, 1.0)
    learned.learn_exchange(exchange, REG)
    learned.ordinals[DEVICE_FORM] = 31
    learned.strong_names["AbonentDeviceFormGwtService"] = "0123456789ABCDEF0123456789ABCDEF"
    return learned


def test_create_device_is_the_captured_payload():
    learned = learned_from_captures()
    form = device_form(learned, SESSION, abonent_id=ABONENT, enterprise_id=ENTERPRISE,
                       identify_line="mobsip_79990000000", device_id=DEVICE)
    assert build_request(update_request(learned, SESSION, form), REG) == fill(CREATE_DEVICE)


def test_remove_device_is_the_captured_payload():
    learned = learned_from_captures()
    form = device_form(learned, SESSION, abonent_id=ABONENT, enterprise_id=ENTERPRISE,
                       identify_line="mobsip_79990000000", device_id=None)
    assert build_request(update_request(learned, SESSION, form), REG) == fill(REMOVE_DEVICE)


def test_switch_ends_as_captured():
    learned = learned_from_captures()
    for on, tail in ((True, "|5|CaEfGh|6|1|"), (False, "|5|CaEfGh|6|0|")):
        payload = build_request(switch_request(learned, SESSION, DEVICE, on), REG)
        assert payload.endswith(tail)  # the captured tail: "<deviceId>|6|<1 or 0>|"
        assert "|ru.cti.vpbx.shared.services.AbonentDeviceFormGwtService|setDeviceEnabled|" in payload
        assert payload.startswith(f"7|0|6|{MODULE_BASE}|0123456789ABCDEF0123456789ABCDEF|")
