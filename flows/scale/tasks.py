"""The account jobs a worker runs: ``vats.inventory`` and ``vats.change``.

Why each job is shaped like this:

* one ``asyncio.run`` and one Chromium per job (``BrowserHost`` → ``Vats``, the library code of
  the local path): a job shares nothing with the one before it but the saved-session files
  (``VATS_STATE_DIR``), so a crash or a kill loses one job, and sessions are still reused;
* the message carries the account's entry without its password (``AccountEntry`` has none):
  the worker reads it from its own environment or file by the entry's reference;
* a failure is a result (``{"error": {"kind", "description"}}``, the pair ``describe`` makes
  for the local engine), never a Celery retry: the watcher decides what a failure means;
* Celery's soft time limit (SIGUSR1 in the pool process) cancels the job's task, so it closes
  its session and browser on the way out instead of an exception landing inside the event
  loop's machinery;
* a redelivered job (its worker died) is logged as such. A redelivered change plans again
  from the cabinet's state, as every change does (``Vats.change`` reads before it applies):
  what the dead worker applied is "already on" now and is skipped, never applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

from flows.changes import ACTIONS
from flows.scale.app import CHANGE, INVENTORY
from flows.scale.errors import JobTimeLimit
from flows.scale.reports import report_json
from flows.watch.config import AccountEntry
from flows.watch.engine import AccountInventory, describe
from scraper.browser.redact import Redactor
from scraper.errors import AuditError, UsageError
from scraper.settings import AccountSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
#: the secrets this process learned (account passwords, SIP passwords): the CLI's log filter
#: and every job's session use it, so no log line of a worker carries one
REDACTOR = Redactor()

Work = Callable[[Any], Awaitable[dict[str, Any]]]  # an open ``Vats`` → the job's JSON answer


def register(app: Any) -> None:
    """The jobs as tasks of ``app`` (its workers run them; a caller sends them by name)."""
    app.task(name=INVENTORY, bind=True)(inventory_task)
    app.task(name=CHANGE, bind=True)(change_task)


def inventory_task(task: Any, account: dict[str, Any]) -> dict[str, Any]:
    return Job.of(task, account, "inventory").run(inventory_work)


def change_task(task: Any, account: dict[str, Any], action: str, numbers: list[str],
                all_inactive: bool = False, include_marked: bool = False) -> dict[str, Any]:
    job = Job.of(task, account, f"change {action}")
    if action not in ACTIONS:
        return job.failed(UsageError(f"unknown action {action!r}"))
    return job.run(change_work(action, numbers, all_inactive=all_inactive,
                               include_marked=include_marked))


async def inventory_work(vats: Any) -> dict[str, Any]:
    inventory = await vats.trunks()
    return AccountInventory.of(inventory, vats.session.enterprise_id).to_json()


def change_work(action: str, numbers: list[str], *, all_inactive: bool,
                include_marked: bool) -> Work:
    async def work(vats: Any) -> dict[str, Any]:
        report = await vats.change(action, numbers, all_inactive=all_inactive,
                                   include_marked=include_marked)
        return report_json(report)

    return work


@dataclass
class Job:
    """One job as this worker runs it: the account, and what the log and the answer say."""

    kind: str
    entry: AccountEntry
    task_id: str = ""
    worker: str = ""
    redelivered: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, task: Any, account: dict[str, Any], kind: str) -> Job:
        request = task.request
        delivery = request.delivery_info or {}
        return cls(kind, AccountEntry.model_validate(account), task_id=str(request.id or ""),
                   worker=str(request.hostname or ""),
                   redelivered=bool(delivery.get("redelivered")) or bool(request.retries))

    @property
    def fields(self) -> dict[str, Any]:
        return {"account": self.entry.name, "job": self.kind, "task_id": self.task_id,
                "redelivered": self.redelivered}

    def run(self, work: Work) -> dict[str, Any]:
        """Run ``work`` on the account in a Chromium of its own; its answer or its failure."""
        if self.redelivered:
            log.warning("redelivered job: its first worker died; it starts again from the "
                        "cabinet's state", extra=self.fields)
        log.info("job started", extra=self.fields)
        start = time.monotonic()
        try:
            answer = run_soft_limited(lambda: self._in_browser(work))
        except AuditError as exc:  # the change stopped; its report says what was done
            result = self.failed(exc)
            if exc.report is not None:
                result["report"] = report_json(exc.report)  # type: ignore[arg-type]
            return result
        except Exception as exc:  # noqa: BLE001 - every failure is the job's answer
            return self.failed(exc)
        self.seconds["total"] = round(time.monotonic() - start, 3)
        log.info("job done", extra={**self.fields, **self.seconds})
        return {"ok": answer, **self._meta()}

    def failed(self, exc: BaseException) -> dict[str, Any]:
        kind, description = describe(exc)
        description = REDACTOR.text(description)
        log.warning("job failed", extra={**self.fields, "kind": kind, "error": description})
        return {"error": {"kind": kind, "description": description}, **self._meta()}

    def _meta(self) -> dict[str, Any]:
        return {"worker": self.worker, "redelivered": self.redelivered, "seconds": self.seconds}

    async def _in_browser(self, work: Work) -> dict[str, Any]:
        from flows.client import Vats
        from scraper.browser.host import BrowserHost

        settings = worker_settings(self.entry)
        lap = Lap(self.seconds)
        async with BrowserHost.for_settings(settings) as host:
            lap("browser")  # Playwright's driver and Chromium started
            async with Vats(settings=settings, host=host, redactor=REDACTOR) as vats:
                lap("login")  # a saved session restored, or a login
                answer = await work(vats)
                lap("work")
        return answer


def worker_settings(entry: AccountEntry) -> AccountSettings:
    """The account's settings on this worker: the entry's address, login and limits, the
    password read here by the entry's reference, the rest from this worker's ``VATS_*``
    (state dir, audit log, timeouts, Chromium)."""
    values: dict[str, Any] = {"address": entry.address, "login": entry.login,
                              "password": entry.password(), "concurrency": entry.concurrency}
    if entry.ca_cert is not None:
        values["ca_cert"] = entry.ca_cert
    REDACTOR.add(values["password"])
    return AccountSettings(**values)


class Lap:
    """Seconds between marks, into ``seconds`` under each mark's name."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self.last, 3)
        self.last = now


def run_soft_limited(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` of the job, Celery's soft time limit turned into its cancellation.

    Celery signals the soft limit with SIGUSR1 and its handler raises wherever the main thread
    is — inside the event loop's own code, maybe. While the job runs, the signal cancels the
    job's task instead (from the loop, at an await), so every ``async with`` closes what it
    opened; the previous handler is back afterwards.
    """
    return asyncio.run(_soft_limited(make))


async def _soft_limited(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    hit: list[bool] = []

    def on_soft_limit(_signum: int, _frame: FrameType | None) -> None:
        hit.append(True)
        loop.call_soon_threadsafe(task.cancel, "soft time limit")

    # Celery's limit needs SIGUSR1 (POSIX); a handler is set from the main thread only
    mine = hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGUSR1, on_soft_limit) if mine else None
    try:
        return await make()
    except asyncio.CancelledError:
        if hit:
            raise JobTimeLimit("the job ran past its soft time limit: cancelled, its browser "
                               "closed") from None
        raise
    finally:
        if mine:
            signal.signal(signal.SIGUSR1, previous if previous is not None else signal.SIG_DFL)
