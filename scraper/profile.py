"""What vats knows of the MTS cabinet, in one place: the classes the flows read and write, the
fields each flow needs, which fields are secrets, and our schema of them (``mts.json``).

Why one place: the live build is learned from its permutation; this is only what *our* flows
mean by it. Every name here is either fact from the captures or marked as our reconstruction
in docs/reconstruction.md (the two list classes are invented outright and bind by structure).
"""

from __future__ import annotations

from typing import Any

from scraper.gwt.schema import mts_schema_data

_P = "ru.cti.vpbx.shared."
RECORD = _P + "models.codebase.RecordGWTModel"  # [F]
LIST_REQUEST = _P + "models.browser.AbonentBrowserRequestGWTModel"  # [F]
LIST_RESPONSE = _P + "models.browser.AbonentBrowserResponseGWTModel"  # [R] invented
LIST_RECORD = _P + "models.browser.AbonentBrowserRecordGWTModel"  # [R] invented
DEVICE_FORM = _P + "models.form.device.AbonentDeviceFormGWTModel"  # [F]
DEVICE_RECORD = _P + "models.form.device.AbonentDeviceRecordGWTModel"  # [F]
DISPATCHER = _P + "services.DispatcherService$DISPATCHER"  # [F]

#: the fields each flow reads (or writes), by our names: a live build that cannot place one of
#: them without guessing stops the flow with a drift report
NEEDS: dict[str, frozenset[str]] = {
    LIST_REQUEST: frozenset({"searchText", "exactMatch", "blockedFilter", "deletionMarkFilter",
                             "activeFilter", "enterpriseId", "pageIndex", "pageSize"}),
    LIST_RESPONSE: frozenset({"count", "records"}),
    LIST_RECORD: frozenset({"id", "name", "phone", "active", "blocked", "markedForDeletion",
                            "abonentType", "bound"}),
    DEVICE_FORM: frozenset({"devices", "identifyLine", "phone", "reservedDeviceId", "id"}),
    DEVICE_RECORD: frozenset({"abonentId", "enabled", "deviceId", "enterpriseId",
                              "identifyLine", "sipLogin", "sipPassword", "deviceName",
                              "deviceTypeId", "deviceTypeName"}),
}

#: decoded fields whose values are secrets (the device record's SIP password)
SECRET_FIELDS = frozenset({"sipPassword"})


def schema() -> dict[str, Any]:
    """Our schema of the MTS classes (names over the live layouts, never the layouts)."""
    return mts_schema_data()


#: The services and methods as docs/reconstruction.md has them: servlet path → (interface,
#: {method: parameter types}, fact or ours). ``vats doctor`` holds them against the live build.
SERVICES: dict[str, tuple[str, dict[str, tuple[str, ...]], str]] = {
    "AbonentBrowserGwtService": (
        _P + "services.AbonentBrowserGwtService",
        {"list": (f"{LIST_REQUEST}/3482149540",)}, "F"),
    "DispatcherGwtService": (
        _P + "services.DispatcherService",
        {"getForm": ("java.lang.Long/4227064769", DISPATCHER),
         "updateForm": (f"{RECORD}/4241958543", DISPATCHER)}, "F"),
    "AbonentDeviceFormGwtService": (
        _P + "services.AbonentDeviceFormGwtService",
        {"setDeviceEnabled": ("java.lang.Long/4227064769", "java.lang.Boolean/476441737")}, "R"),
    "MenuGwtService": (
        _P + "services.MenuGwtService", {"getMenu": ("java.lang.Long/4227064769",)}, "R"),
}

#: what the list answer's and the device form's classes are expected to be, by the call that
#: returns them (our names; the list classes bind by structure)
RETURNS: dict[tuple[str, str], str] = {
    ("AbonentBrowserGwtService", "list"): LIST_RESPONSE,
    ("DispatcherService", "getForm"): DEVICE_FORM,
}
#: collections inside those answers, and the class their elements are expected to be
ELEMENTS: dict[tuple[str, str], str] = {
    (LIST_RESPONSE, "records"): LIST_RECORD,
    (DEVICE_FORM, "devices"): DEVICE_RECORD,
}
