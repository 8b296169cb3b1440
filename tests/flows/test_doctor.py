"""``vats doctor``'s verdicts on a live build (the pure part; the walk is tested in a browser)."""

from __future__ import annotations

from flows import doctor
from scraper import profile
from scraper.browser.livebuild import load_live_build
from tests.scraper.gwt.permutation.test_shapes import BUILTIN_ROWS, RUNTIME

IFACE = profile.SERVICES["DispatcherGwtService"][0]
DISPATCHER_SIG = f"{profile.DISPATCHER}/4095484021"
# a build with the Dispatcher service only, its getForm as ours, updateForm with another param,
# and RecordGWTModel as captured
PROGRAM = (
    RUNTIME + "var jb='DispatcherGwtService',kb='EAA49B7B1A97DFBDC367A2E2573FB3B7';"
    f"var lb='{IFACE}',mb='{DISPATCHER_SIG}';"
    "function pc(){qc.call(this,rc(),jb,kb,new sc)}"
    "function tc(b,c,d){var a,e;e=new uc(b,'DispatcherService_Proxy','getForm');"
    "a=vc(e,lb,2);wc(a,ab);wc(a,mb);xc(a,c);xc(a,d)}"
    "function tu(b,c,d){var a,e;e=new uc(b,'DispatcherService_Proxy','updateForm');"
    "a=vc(e,lb,2);wc(a,ab);wc(a,mb);xc(a,c);xc(a,d)}"
    "function Sb(a,b){b.a=Cb(a)}function Rb(a){return new Qb}"
    f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}a['{profile.RECORD}/4241958543']=[Rb,Sb];"
    "return a}"
)


def test_findings_name_what_is_confirmed_what_differs_and_what_cannot_be_checked(tmp_path):
    live = load_live_build(PROGRAM, "E" * 32, profile=profile.MTS, cache_dir=tmp_path)
    findings = doctor.examine(live, {"dispatcher.device_form": 31},
                              doctor.Observed(None, None), live.registry)
    by_item = {f.item: f for f in findings}
    assert by_item["service DispatcherGwtService: interface"].status == "confirmed"
    assert by_item["service DispatcherGwtService: getForm(Long, DispatcherService$DISPATCHER)"
                   ].status == "confirmed"
    update = by_item["service DispatcherGwtService: updateForm(RecordGWTModel, "
                     "DispatcherService$DISPATCHER)"]
    assert update.status == "differs" and "java.lang.Long/4227064769" in update.live
    assert by_item["service MenuGwtService"].status == "differs"
    assert by_item["layout of RecordGWTModel"].status == "confirmed"
    assert by_item["type signature of RecordGWTModel"].status == "confirmed"
    assert by_item["layout of AbonentDeviceFormGWTModel"].status == "differs"  # not in the build
    assert by_item["answer of AbonentBrowserGwtService.list"].status == "not checkable"
    assert by_item["DISPATCHER ordinal of the device form"].live == "31"
    assert not doctor.healthy(findings)


def test_an_underivable_build_is_not_healthy(tmp_path):
    live = load_live_build("var x;", "F" * 32, profile=profile.MTS, cache_dir=tmp_path)
    findings = doctor.examine(live, {}, doctor.Observed(None, None), live.registry)
    assert [f.status for f in findings] == ["not checkable"] and not doctor.healthy(findings)
