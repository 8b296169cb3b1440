"""The library API: ``async with Vats(address, login, password) as vats: await vats.trunks()``.

One ``Vats`` is one account: its own settings, browser context, session and results — the unit
a multi-account runner will hand to a worker. ``VatsSync`` is the thin facade for scripts.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

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
R = TypeVar("R")
P = ParamSpec("P")


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
        """The local audit log of applied changes (``settings.audit_db``)."""
        return AuditLog(self.settings.audit_db)

    async def plan(self, action: changes.Action, numbers: Iterable[str] = (), *,
                   all_inactive: bool = False, include_marked: bool = False
                   ) -> list[changes.PlanItem]:
        """What ``action`` would do for each number, from state read fresh (changes nothing).

        ``all_inactive``: every inactive trunk instead of numbers (enable and add-device only),
        leaving those marked for deletion out unless ``include_marked``. Each item's
        ``warning`` says what the change does besides its target (add-device: new SIP
        credentials)."""
        return await changes.make_plan(self.session, action, numbers, all_inactive=all_inactive,
                                       include_marked=include_marked)

    async def apply(self, action: changes.Action, plan: list[changes.PlanItem], *,
                    progress: Callable[[int, int], None] | None = None) -> changes.ChangeReport:
        """Apply a plan; every item ends done, skipped or failed, and is audited."""
        return await changes.apply_plan(self.session, action, plan, audit=self.audit,
                                        progress=progress)

    async def change(self, action: changes.Action, numbers: Iterable[str] = (), *,
                     all_inactive: bool = False, include_marked: bool = False,
                     dry_run: bool = False) -> changes.ChangeReport:
        """Plan and apply in one step (``dry_run``: the plan only, in a report without
        results: ``report.plan_counts()`` says what would be done)."""
        plan = await self.plan(action, numbers, all_inactive=all_inactive,
                               include_marked=include_marked)
        if dry_run:
            return changes.ChangeReport(action, plan)
        return await self.apply(action, plan)

    async def enable(self, numbers: Iterable[str] = (), *, all_inactive: bool = False,
                     include_marked: bool = False, dry_run: bool = False) -> changes.ChangeReport:
        """Switch the trunks' SIP devices on (``change("enable", ...)``)."""
        return await self.change("enable", numbers, all_inactive=all_inactive,
                                 include_marked=include_marked, dry_run=dry_run)

    async def disable(self, numbers: Iterable[str] = (), *,
                      dry_run: bool = False) -> changes.ChangeReport:
        """Switch the trunks' SIP devices off (``change("disable", ...)``)."""
        return await self.change("disable", numbers, dry_run=dry_run)

    async def add_device(self, numbers: Iterable[str] = (), *, all_inactive: bool = False,
                         include_marked: bool = False,
                         dry_run: bool = False) -> changes.ChangeReport:
        """Create the trunks' SIP devices (``change("add-device", ...)``): each gets a NEW SIP
        login and password (``ItemResult.issued_login``, ``after.sip_password``)."""
        return await self.change("add-device", numbers, all_inactive=all_inactive,
                                 include_marked=include_marked, dry_run=dry_run)

    async def remove_device(self, numbers: Iterable[str] = (), *,
                            dry_run: bool = False) -> changes.ChangeReport:
        """Remove the trunks' SIP devices (``change("remove-device", ...)``): their SIP
        credentials are gone for good; add-device issues new ones."""
        return await self.change("remove-device", numbers, dry_run=dry_run)


def _sync(method: Callable[Concatenate[Vats, P], Coroutine[Any, Any, R]]
          ) -> Callable[Concatenate[VatsSync, P], R]:
    """``Vats.<method>`` for ``VatsSync``: the same signature and doc, run on the facade's loop
    (one loop for the whole ``with`` block: the browser lives on it)."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: VatsSync, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = self._run(getattr(self.vats, name)(*args, **kwargs))
        return result

    return wrapper  # its signature is the method's (``inspect`` follows ``__wrapped__``)


class VatsSync:
    """The same API for scripts without asyncio: ``with VatsSync(...) as vats: vats.trunks()``.

    Every public method of ``Vats`` is here, with the same signature, made with ``_sync`` (a
    test compares the two classes); ``aclose`` is ``close``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self._args, self._kwargs = args, kwargs
        self._vats: Vats | None = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
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
        self.close(failed=exc is not None)

    def close(self, *, failed: bool = False) -> None:
        """Close the session and the browser (``Vats.aclose``), then the facade's loop."""
        try:
            if self._vats is not None:
                self._run(self._vats.aclose(failed=failed))
                self._vats = None
        finally:
            self._runner.close()

    @property
    def vats(self) -> Vats:
        """The ``Vats`` underneath (its coroutines run on this facade's loop only)."""
        if self._vats is None:
            raise RuntimeError("use 'with VatsSync(...) as vats'")
        return self._vats

    @property
    def audit(self) -> AuditLog:
        """The local audit log of applied changes (``settings.audit_db``)."""
        return self.vats.audit

    abonents = _sync(Vats.abonents)
    trunks = _sync(Vats.trunks)
    plan = _sync(Vats.plan)
    apply = _sync(Vats.apply)
    change = _sync(Vats.change)
    enable = _sync(Vats.enable)
    disable = _sync(Vats.disable)
    add_device = _sync(Vats.add_device)
    remove_device = _sync(Vats.remove_device)
