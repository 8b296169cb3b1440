"""What vats knows of the MTS cabinet, in one place: how its web app is laid out (the GWT
servlet path, the login page, where the enterprise id shows), the classes the flows read and
write, the fields each flow needs, which fields are secrets, and our schema of them
(``schemas/mts.json``).

Why one place: the codec (``scraper.gwt``) knows GWT only and the browser layer
(``scraper.browser``) knows GWT and Chromium only. A ``BrowserSession`` is given a
``CabinetProfile`` (``MTS`` unless told otherwise) and hands each of its pieces what that piece
needs; tests/scraper/browser/test_profile_boundary.py keeps MTS names out of those layers.

The live build is learned from its permutation; this is only what *our* flows mean by it. Every
name here is either fact from the captures or marked as our reconstruction in
docs/reconstruction.md (the two list classes are invented outright and bind by structure).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from scraper.gwt.schema import Registry, gwt_registry

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


@dataclass(frozen=True, eq=False)
class CabinetProfile:
    """One cabinet product as the browser layer meets it: every fact of it that the session
    and its pieces (capture, learned build, live build, replays) need. Frozen: one per product,
    shared by every session (``dataclasses.replace`` makes a variant)."""

    name: str
    #: the path every GWT servlet is served under (``https://host/vpbxGwt/<servlet>``)
    gwt_path: str
    #: the login page's path: an app that lands there must log in first
    login_path: str
    #: text only the login page holds: an answer carrying it is that page (an expired session)
    login_markers: tuple[str, ...]
    #: where the app's address carries the enterprise id (its first group)
    enterprise_url: re.Pattern[str]
    #: decoded fields whose values are secrets, added to the redactor as soon as they are read
    secret_fields: frozenset[str]
    #: text an answer holds when it may carry such a field: only those answers are decoded
    secret_markers: tuple[str, ...]
    #: how a service interface's servlet is named when traffic has not shown it yet: its simple
    #: name, or for each (suffix, replacement) that name minus the suffix plus the replacement
    servlet_renames: tuple[tuple[str, str], ...]
    #: our schema of the application's classes: (package, file) of a schema file
    #: (docs/schema-format.md)
    schema_resource: tuple[str, str]
    #: the fields each flow reads or writes, by our class name (see ``NEEDS``)
    needs: Mapping[str, frozenset[str]]

    def schema(self) -> dict[str, Any]:
        """Our schema of the application's classes (names over the live layouts), read afresh."""
        return _read_schema(*self.schema_resource)

    def registry(self) -> Registry:
        """GWT's built-ins + our schema. Shared: ``.copy()`` before adding to it."""
        return _registry(self.schema_resource)

    def is_login_url(self, url: str) -> bool:
        """Whether the page at ``url`` is the login page (the app sent us there)."""
        return self.login_path in url.split("?", 1)[0]

    def is_login_page(self, url: str, body: str) -> bool:
        """Whether an answer to a GWT call is the login page: Spring Security sends an expired
        session there, and fetch follows the redirect."""
        return url.split("?", 1)[0].endswith(self.login_path) or any(
            marker in body for marker in self.login_markers)

    def enterprise_id(self, url: str) -> int | None:
        """The enterprise id the app's address names, if it does."""
        match = self.enterprise_url.search(url)
        return int(match.group(1)) if match else None


def _read_schema(package: str, name: str) -> dict[str, Any]:
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def _registry(resource: tuple[str, str]) -> Registry:
    registry = gwt_registry()
    registry.load_schema_dict(_read_schema(*resource), source="/".join(resource))
    return registry


#: the MTS Virtual PBX cabinet (vpbx.mts.ru)
MTS = CabinetProfile(
    name="MTS Virtual PBX",
    gwt_path="/vpbxGwt/",
    login_path="/login/",
    login_markers=('name="j_password"',),  # Spring Security's login form
    enterprise_url=re.compile(r"/gwt/enterprise/(\d+)/"),
    secret_fields=SECRET_FIELDS,
    # identify lines (``sip_…``, ``mobsip_…``) come with the devices that carry SIP passwords
    secret_markers=("sip_", "mobsip_"),
    # DispatcherService is served at DispatcherGwtService [captured]
    servlet_renames=(("Service", "GwtService"),),
    schema_resource=("scraper", "schemas/mts.json"),
    needs=NEEDS,
)


def schema() -> dict[str, Any]:
    """Our schema of the MTS classes (names over the live layouts, never the layouts)."""
    return MTS.schema()


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
