"""Where an account's inventory runs: in this process (``LocalEngine``) or on workers.

Why a seam here and nowhere else: the watcher owns scheduling, diffing, the snapshot store and
the outbox whatever runs the inventories, so the events are the same with every engine; only
"read this account's trunks" moves. An engine returns what a snapshot needs — each trunk's
state, the phones whose form could not be read, the enterprise — or raises what the account's
cycle failed with.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from flows.trunks import Inventory
from flows.watch.config import AccountEntry
from flows.watch.events import TrunkState
from scraper.browser.host import BrowserHost
from scraper.browser.redact import Redactor
from scraper.errors import VatsError
from scraper.settings import AccountSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountInventory:
    """One account's inventory as the watcher stores it (JSON-able for the workers' results)."""

    trunks: list[TrunkState]
    unread: list[str] = field(default_factory=list)
    enterprise_id: int | None = None

    @classmethod
    def of(cls, inventory: Inventory, enterprise_id: int | None) -> AccountInventory:
        return cls([TrunkState.of(t) for t in inventory.trunks],
                   sorted(set(inventory.unread_phones)), enterprise_id)

    def to_json(self) -> dict[str, Any]:
        return {"trunks": [t.model_dump() for t in self.trunks], "unread": self.unread,
                "enterprise_id": self.enterprise_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountInventory:
        return cls([TrunkState(**t) for t in data["trunks"]], list(data.get("unread") or []),
                   data.get("enterprise_id"))


class AccountJobError(VatsError):
    """An account's job failed where it ran (a worker): its ``kind`` and ``description`` are
    the original error's (``LoginError: ...``), so the failure event is the one the local
    engine would have made."""

    def __init__(self, kind: str, description: str) -> None:
        self.description = description
        super().__init__(description, kind=kind)


def describe(exc: BaseException) -> tuple[str, str]:
    """(kind, "Type: message") of a failed cycle, the same from every engine."""
    if isinstance(exc, AccountJobError):
        return exc.kind, exc.description
    kind = exc.kind if isinstance(exc, VatsError) else type(exc).__name__
    return kind, f"{type(exc).__name__}: {exc}"


class Engine(ABC):
    """Runs inventories; entered once around a watch (``async with engine``)."""

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    @abstractmethod
    async def inventory(self, entry: AccountEntry) -> AccountInventory:
        """The account's trunks now, or the error its cycle failed with."""

    async def forget(self, entry: AccountEntry) -> None:  # noqa: B027 - nothing kept by default
        """After a failed cycle: drop what is kept of the account (its session)."""

    async def release(self, entry: AccountEntry) -> None:  # noqa: B027
        """The account's next cycle is far off: free what it holds (its browser context), keep
        what makes the next one cheap (the saved session)."""

    async def aclose(self) -> None:  # noqa: B027
        """Release everything; never raises."""


class LocalEngine(Engine):
    """In this process: one browser, one context per account, kept open between cycles so each
    account's session is reused."""

    def __init__(self, host: BrowserHost, settings_for: Callable[[AccountEntry], AccountSettings],
                 redactor: Redactor | None = None) -> None:
        self.host = host
        self.settings_for = settings_for
        self.redactor = redactor or Redactor()
        self.clients: dict[str, Any] = {}  # account name → open Vats

    async def __aenter__(self) -> LocalEngine:
        await self.host.start()
        return self

    async def inventory(self, entry: AccountEntry) -> AccountInventory:
        from flows.client import Vats

        client = self.clients.get(entry.name)
        if client is None:
            client = Vats(settings=self.settings_for(entry), host=self.host,
                          redactor=self.redactor)
            await client.__aenter__()
            self.clients[entry.name] = client
        inventory = await client.trunks()
        return AccountInventory.of(inventory, client.session.enterprise_id)

    async def forget(self, entry: AccountEntry) -> None:
        client = self.clients.pop(entry.name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose(failed=True)

    async def release(self, entry: AccountEntry) -> None:
        client = self.clients.pop(entry.name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()  # the session is saved: the next cycle logs in no more

    async def aclose(self) -> None:
        for name in list(self.clients):
            client = self.clients.pop(name)
            with contextlib.suppress(Exception):
                await client.aclose()
        await self.host.close()
