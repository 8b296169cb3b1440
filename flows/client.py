"""The library API: ``async with Vats(address, login, password) as vats: await vats.trunks()``.

One ``Vats`` is one account: its own settings, browser context, session and results — the unit
a multi-account runner will hand to a worker. ``VatsSync`` is the thin facade for scripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from flows import changes
from flows import trunks as trunks_flow
from flows.abonents import list_abonents
from flows.login import CodeProvider, make_authenticate
from scraper.audit import AuditLog
from scraper.browser.host import BrowserHost
from scraper.browser.redact import Redactor
from scraper.browser.session import BrowserSession
from scraper.models import AbonentRow, Filters
from scraper.settings import DEFAULT_ADDRESS, AccountSettings

T = TypeVar("T")


class Vats:
    """One logged-in MTS VATS account."""

    def __init__(self, address: str = DEFAULT_ADDRESS, login: str | None = None,
                 password: str | None = None, *, settings: AccountSettings | None = None,
                 code_provider: CodeProvider | None = None, redactor: Redactor | None = None,
                 host: BrowserHost | None = None, **options: Any) -> None:
        if settings is None:
            values: dict[str, Any] = {"address": address, **options}
            if login is not None:
                values["login"] = login
            if password is not None:
                values["password"] = password
            settings = AccountSettings(**values)
        self.settings = settings
        self.redactor = redactor or Redactor()
        self._own_host = host is None
        self.host = host or BrowserHost.for_settings(settings)
        self.session = BrowserSession(self.host, settings,
                                      authenticate=make_authenticate(code_provider),
                                      redactor=self.redactor)

    async def __aenter__(self) -> Vats:
        if self._own_host:
            await self.host.start()
        try:
            await self.session.start()
            await self.session.open_app()
        except BaseException:
            await self.aclose(failed=True)
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose(failed=exc is not None)

    async def aclose(self, *, failed: bool = False) -> None:
        try:
            await self.session.close(failed=failed)
        finally:
            if self._own_host:
                await self.host.close()

    async def abonents(self, filters: Filters | None = None) -> list[AbonentRow]:
        return await list_abonents(self.session, filters)

    async def trunks(self, filters: Filters | None = None, *, numbers: Iterable[str] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> trunks_flow.Inventory:
        return await trunks_flow.inventory(self.session, filters, numbers=numbers,
                                           progress=progress)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.settings.audit_db)

    async def plan(self, action: changes.Action, numbers: Iterable[str] = (), *,
                   all_inactive: bool = False) -> list[changes.PlanItem]:
        """What ``action`` would do for each number, from state read fresh (changes nothing)."""
        return await changes.make_plan(self.session, action, numbers, all_inactive=all_inactive)

    async def apply(self, action: changes.Action, plan: list[changes.PlanItem], *,
                    progress: Callable[[int, int], None] | None = None) -> changes.ChangeReport:
        """Apply a plan; every item ends done, skipped or failed, and is audited."""
        return await changes.apply_plan(self.session, action, plan, audit=self.audit,
                                        progress=progress)

    async def change(self, action: changes.Action, numbers: Iterable[str] = (), *,
                     all_inactive: bool = False, dry_run: bool = False) -> changes.ChangeReport:
        plan = await self.plan(action, numbers, all_inactive=all_inactive)
        if dry_run:
            return changes.ChangeReport(action, plan)
        return await self.apply(action, plan)

    async def enable(self, numbers: Iterable[str] = (), **kw: Any) -> changes.ChangeReport:
        return await self.change("enable", numbers, **kw)

    async def disable(self, numbers: Iterable[str] = (), **kw: Any) -> changes.ChangeReport:
        return await self.change("disable", numbers, **kw)

    async def add_device(self, numbers: Iterable[str] = (), **kw: Any) -> changes.ChangeReport:
        return await self.change("add-device", numbers, **kw)

    async def remove_device(self, numbers: Iterable[str] = (), **kw: Any) -> changes.ChangeReport:
        return await self.change("remove-device", numbers, **kw)


class VatsSync:
    """The same API for scripts without asyncio: ``with VatsSync(...) as vats: vats.trunks()``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self._args, self._kwargs = args, kwargs
        self._vats: Vats | None = None

    def _run(self, coro: Any) -> Any:
        return self._runner.run(coro)

    def __enter__(self) -> VatsSync:
        async def open_() -> Vats:
            return await Vats(*self._args, **self._kwargs).__aenter__()

        try:
            self._vats = self._run(open_())
        except BaseException:
            # __exit__ is not called when __enter__ raises (a wrong password, say): close the
            # loop here, or every failed login in a script leaks an event loop and its fds.
            self._runner.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._vats is not None:
                self._run(self._vats.aclose(failed=exc is not None))
        finally:
            self._runner.close()

    @property
    def vats(self) -> Vats:
        if self._vats is None:
            raise RuntimeError("use 'with VatsSync(...) as vats'")
        return self._vats

    def abonents(self, filters: Filters | None = None) -> list[AbonentRow]:
        result: list[AbonentRow] = self._run(self.vats.abonents(filters))
        return result

    def trunks(self, filters: Filters | None = None, *, numbers: Iterable[str] | None = None
               ) -> trunks_flow.Inventory:
        result: trunks_flow.Inventory = self._run(self.vats.trunks(filters, numbers=numbers))
        return result

    def change(self, action: changes.Action, numbers: Iterable[str] = (), **kw: Any
               ) -> changes.ChangeReport:
        result: changes.ChangeReport = self._run(self.vats.change(action, numbers, **kw))
        return result
