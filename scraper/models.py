"""The typed results vats hands to users: abonents, trunks, filters. All immutable.

Why pydantic at this edge: the cabinet's answers are decoded from an untyped stream through a
reconstructed layout; validating phones, ids and flags here turns a layout drift into a clear
``ValidationError`` naming the field instead of a wrong spreadsheet. Field names are the JSON
keys users get (``vats trunks --format json``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, SerializationInfo, field_serializer

MASK = "***"
#: [R] docs/reconstruction.md: ``abonentType`` 8 = mobile SIP trunk
TRUNK_TYPE = 8
Phone = Field(pattern=r"^7\d{10}$", description="7 + 10 digits")


class AbonentRow(BaseModel):
    """One row of the Abonents tab (AbonentBrowserGwtService.list)."""

    model_config = ConfigDict(frozen=True)

    abonent_id: int = Field(gt=0)
    name: str | None
    phone: str | None
    active: bool
    blocked: bool
    marked_for_deletion: bool
    abonent_type: int
    bound: bool

    @property
    def is_trunk(self) -> bool:
        return self.abonent_type == TRUNK_TYPE


class Trunk(BaseModel):
    """A SIM trunk with its SIP credentials and state — the main job's row."""

    model_config = ConfigDict(frozen=True)

    phone: str = Phone
    abonent_id: int = Field(gt=0)
    enterprise_id: int = Field(gt=0)
    identify_line: str = Field(pattern=r"^mobsip_\d+$")
    sip_login: str | None
    sip_password: SecretStr | None
    has_device: bool
    device_enabled: bool
    device_id: int | None
    active: bool
    blocked: bool
    marked_for_deletion: bool

    @field_serializer("sip_password")
    def _password(self, value: SecretStr | None, info: SerializationInfo) -> str | None:
        if value is None:
            return None
        context: dict[str, Any] = info.context or {}
        return value.get_secret_value() if context.get("show_secrets") else MASK

    @property
    def state(self) -> str:
        """One word for summaries: working / off / no-device."""
        if not self.has_device:
            return "no-device"
        return "working" if self.device_enabled else "off"


class Abonent(BaseModel):
    """An abonent that is not a trunk (no ``mobsip_`` identify line)."""

    model_config = ConfigDict(frozen=True)

    phone: str | None
    abonent_id: int
    enterprise_id: int
    name: str | None
    active: bool
    blocked: bool
    marked_for_deletion: bool


Tri = Literal["all", "no", "yes"]


class Filters(BaseModel):
    """The cabinet's filter panel: deletion mark, blocking, activation (each all/no/yes)."""

    model_config = ConfigDict(frozen=True)

    marked: Tri = "all"
    blocked: Tri = "all"
    active: Tri = "all"

    def matches(self, row: AbonentRow) -> bool:
        """The same test the server applies — used to check answers, never to replace them."""
        return all(
            want == "all" or (want == "yes") == value
            for want, value in ((self.marked, row.marked_for_deletion),
                                (self.blocked, row.blocked), (self.active, row.active))
        )


TRUNK_COLUMNS: tuple[str, ...] = tuple(Trunk.model_fields)
