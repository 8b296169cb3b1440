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
