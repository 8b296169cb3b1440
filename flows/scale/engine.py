"""``CeleryEngine``: the watcher's inventories (and changes) as jobs on workers.

Why results are awaited like this: Celery's result client is blocking and not thread-safe
(the rpc backend's reply queue is per thread, its consumer shared), and the watcher's event
loop must never block. So the engine declares an exclusive reply queue of its own on the
watcher's loop (aio-pika) and consumes it there: each job's result — the rpc backend's message,
``correlation_id`` = the job's id — resolves that job's future, with any number of accounts in
flight. Sending is Celery's own ``send_task`` (its message protocol, its routing) on one
thread of its own, the only thread that touches Celery's producer.

Rules kept here: at most one job per account outstanding (a second is refused with
``AccountBusy``; a job whose caller gave up stays outstanding until its result comes or it can
no longer run); a message expires when its caller gives up, so a job no worker took by then is
never run; results live in memory only until read, then they are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from flows.changes import Action, ChangeReport
from flows.scale.app import CHANGE, DEFAULT_LIMITS, INVENTORY, QUEUE, make_app
from flows.scale.errors import AccountBusy, JobTimeout
from flows.scale.reports import report_of
from flows.watch.config import AccountEntry
from flows.watch.engine import AccountInventory, AccountJobError, Engine
from scraper.errors import AuditError, TransportError

log = logging.getLogger(__name__)

#: Celery's final states (celery.states.READY_STATES)
FINAL = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
#: how a Celery failure reads as a failed cycle's kind
FAILURE_KINDS = {"TimeLimitExceeded": "time-limit", "SoftTimeLimitExceeded": "time-limit",
                 "WorkerLostError": "worker-lost"}


@dataclass
class Outstanding:
    """A job of an account that may still run: until its result came, or ``until``."""

    task_id: str
    until: float  # time.monotonic() after which it cannot run any more


class CeleryEngine(Engine):
    """Runs account jobs on the workers of the broker at ``url``.

    ``timeout_s``: how long a job may take from sending to its result, queueing included;
    ``hard_limit_s``: the workers' hard time limit — a job a caller gave up on may run that
    long after its message expired, and its account stays busy until then.
    """

    def __init__(self, url: str, *, timeout_s: float = 600.0,
                 hard_limit_s: float | None = DEFAULT_LIMITS.hard_s) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.hard_limit_s = hard_limit_s or timeout_s
        self.app = make_app(url, client=True)
        self.replies = Replies(url)
        self.outstanding: dict[str, Outstanding] = {}
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="vats-celery-send")

    async def __aenter__(self) -> CeleryEngine:
        await self.replies.open()
        return self

    async def inventory(self, entry: AccountEntry) -> AccountInventory:
        answer = await self.job(entry, INVENTORY, {})
        return AccountInventory.from_json(answer)

    async def change(self, entry: AccountEntry, action: Action, numbers: Iterable[str] = (), *,
                     all_inactive: bool = False, include_marked: bool = False) -> ChangeReport:
        """``Vats.change`` on a worker: the report as the worker's plan and apply made it."""
        answer = await self.job(entry, CHANGE, {
            "action": action, "numbers": list(numbers), "all_inactive": all_inactive,
            "include_marked": include_marked})
        return report_of(answer)

    async def job(self, entry: AccountEntry, task: str, options: dict[str, Any]
                  ) -> dict[str, Any]:
        """Send one job of the account and wait for its answer (``ok``), or raise its error."""
        result = await self.run(entry, task, options)
        return unwrap(result)

    async def run(self, entry: AccountEntry, task: str, options: dict[str, Any]
                  ) -> dict[str, Any]:
        """The job's whole result: ``ok`` or ``error``, ``worker``, ``redelivered``,
        ``seconds`` — or a raise when it has none (timeout, a Celery failure, the broker)."""
        await self.replies.open()
        task_id = self._claim(entry.name)
        waiting = self.replies.expect(task_id, lambda: self._release(entry.name, task_id),
                                      until=self.outstanding[entry.name].until)
        kwargs = {"account": entry_json(entry), **options}
        try:
            await self._send(task, task_id, kwargs)
        except TransportError:  # never sent: nothing runs (a cancel here may have sent it)
            self._release(entry.name, task_id)
            self.replies.drop(task_id)
            raise
        try:
            meta = await asyncio.wait_for(asyncio.shield(waiting), self.timeout_s)
        except TimeoutError:
            raise JobTimeout(f"no result from the workers in {self.timeout_s:g} s (queued "
                             "behind others, or no worker running): its outcome is unknown"
                             ) from None
        log.debug("job result", extra={"account": entry.name, "task_id": task_id,
                                       "status": meta.get("status")})
        return outcome(meta)

    def _claim(self, account: str) -> str:
        now = time.monotonic()
        held = self.outstanding.get(account)
        if held is not None and held.until > now:
            raise AccountBusy(f"account {account} has a job outstanding ({held.task_id}): "
                              "one job per account at a time")
        task_id = str(uuid.uuid4())
        self.outstanding[account] = Outstanding(task_id, now + self.timeout_s + self.hard_limit_s)
        return task_id

    def _release(self, account: str, task_id: str) -> None:
        held = self.outstanding.get(account)
        if held is not None and held.task_id == task_id:
            del self.outstanding[account]

    async def _send(self, task: str, task_id: str, kwargs: dict[str, Any]) -> None:
        def send() -> None:
            self.app.send_task(task, kwargs=kwargs, task_id=task_id, queue=QUEUE,
                               reply_to=self.replies.name, expires=self.timeout_s)

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._sender, send)
        except Exception as exc:  # noqa: BLE001 - kombu's OperationalError and friends
            raise TransportError(f"cannot send the job to the broker: {exc}",
                                 not_sent=True) from None

    async def aclose(self) -> None:
        await self.replies.close()
        self._sender.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.app.close)


def entry_json(entry: AccountEntry) -> dict[str, Any]:
    """The account as a message carries it: its entry (no password in it), ``every`` in
    seconds (the file's own form, which ``AccountEntry`` reads back)."""
    data: dict[str, Any] = entry.model_dump(mode="json")
    data["every"] = entry.every.total_seconds()
    return data


def unwrap(result: dict[str, Any]) -> dict[str, Any]:
    """The job's answer, or its failure raised as the worker saw it."""
    if "ok" in result:
        answer: dict[str, Any] = result["ok"]
        return answer
    error = result.get("error") or {}
    if error.get("kind") == "audit" and "report" in result:
        raise AuditError(error.get("description", ""), report=report_of(result["report"]))
    raise AccountJobError(str(error.get("kind") or "error"),
                          str(error.get("description") or "the job failed"))


def outcome(meta: dict[str, Any]) -> dict[str, Any]:
    """A Celery result message as the job's result: the task's own answer, or a Celery-level
    failure (time limit, a lost worker, an expired message) raised as the cycle's error."""
    status = meta.get("status")
    if status == "SUCCESS" and isinstance(meta.get("result"), dict):
        answer: dict[str, Any] = meta["result"]
        return answer
    if status == "REVOKED":
        raise AccountJobError("expired", "JobExpired: no worker took the job before its "
                                         "caller gave up on it")
    found = meta.get("result")
    failure: dict[str, Any] = found if isinstance(found, dict) else {}
    name = str(failure.get("exc_type") or status or "failure")
    message = failure.get("exc_message")
    if isinstance(message, list | tuple):
        message = ", ".join(str(part) for part in message)
    raise AccountJobError(FAILURE_KINDS.get(name, "job-failed"), f"{name}: {message or ''}")


@dataclass
class Waiting:
    """A job whose result the engine waits for (or waited for, until ``until``)."""

    future: asyncio.Future[dict[str, Any]]
    done: Callable[[], None]
    until: float


class Replies:
    """The engine's exclusive reply queue, consumed on the event loop: one future per job.

    A reply for a job nobody waits for any more (its caller timed out or was cancelled) still
    runs the job's ``done`` (its account is free again) and is dropped. A lost connection to
    the broker fails every job waiting: their results went to a queue that no longer exists.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"vats.replies.{uuid.uuid4()}"
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None
        self.waiting: dict[str, Waiting] = {}

    async def open(self) -> None:
        """Connect and declare the queue, again after a lost connection."""
        if self.connection is not None and not self.connection.is_closed:
            return
        try:
            self.connection = await aio_pika.connect(self.url, timeout=30)
        except Exception as exc:  # noqa: BLE001 - refused, DNS, authentication: the broker
            raise TransportError(f"cannot reach the broker: {exc}", not_sent=True) from None
        self.connection.close_callbacks.add(self._lost)
        self.channel = await self.connection.channel()
        queue = await self.channel.declare_queue(self.name, exclusive=True, auto_delete=True,
                                                 durable=False)
        await queue.consume(self._on_reply, no_ack=True)

    def expect(self, task_id: str, done: Callable[[], None], *, until: float
               ) -> asyncio.Future[dict[str, Any]]:
        """The future of the job's result; ``done`` runs when it arrives. Past ``until`` the
        job cannot run any more, and a reply is no longer expected (its message expired in the
        queue, where no reply is made for it)."""
        now = time.monotonic()
        for old in [k for k, w in self.waiting.items() if w.until < now]:
            self.waiting.pop(old).future.cancel()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[task_id] = Waiting(future, done, until)
        return future

    def drop(self, task_id: str) -> None:
        self.waiting.pop(task_id, None)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        try:
            meta = json.loads(message.body)
        except ValueError:
            log.warning("a reply that is not JSON", extra={"task_id": message.correlation_id})
            return
        task_id = message.correlation_id or meta.get("task_id")
        if meta.get("status") not in FINAL or task_id not in self.waiting:
            return
        waiting = self.waiting.pop(task_id)
        waiting.done()
        if not waiting.future.done():
            waiting.future.set_result(meta)

    def _lost(self, _sender: Any, exc: BaseException | None = None) -> None:
        for waiting in self.waiting.values():
            if not waiting.future.done():
                waiting.future.set_exception(JobTimeout(
                    f"the connection to the broker was lost ({exc}): the job's result cannot "
                    "arrive; its outcome is unknown"))
        self.waiting.clear()

    async def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close_callbacks.discard(self._lost)
            with contextlib.suppress(Exception):
                await self.connection.close()
        for waiting in self.waiting.values():
            waiting.future.cancel()
        self.waiting.clear()
