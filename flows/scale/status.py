"""``vats workers``: the workers that answer, their jobs in flight, and the queue's depth.

Why asked, not watched: workers send no events (flows/scale/app.py), so the status is a
broadcast question to the workers that are up (``inspect``: who answers within the timeout)
and a passive declaration of the queue (the broker's count of jobs waiting, without creating
the queue when there is none yet).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from flows.scale.app import QUEUE


@dataclass
class JobInfo:
    """A job a worker runs now."""

    worker: str
    task_id: str
    task: str
    account: str
    started: str | None
    pid: int | None
    redelivered: bool


@dataclass
class WorkerInfo:
    name: str
    processes: list[int] = field(default_factory=list)
    concurrency: int | None = None
    done: int = 0  # jobs finished since it started
    jobs: list[JobInfo] = field(default_factory=list)
    reserved: int = 0  # taken from the queue, not started yet


@dataclass
class ClusterStatus:
    workers: list[WorkerInfo]
    queue: str
    waiting: int | None  # jobs in the queue; None: the queue is not declared yet
    consumers: int | None

    @property
    def in_flight(self) -> list[JobInfo]:
        return [job for worker in self.workers for job in worker.jobs]


def cluster_status(app: Celery, *, timeout: float = 1.0) -> ClusterStatus:
    """Ask the workers (each has ``timeout`` seconds to answer) and the broker."""
    names = sorted((app.control.inspect(timeout=timeout).ping() or {}).keys())
    workers = {name: WorkerInfo(name) for name in names}
    if names:
        ask = app.control.inspect(destination=names, timeout=timeout, limit=len(names))
        _stats(workers, ask.stats() or {})
        _active(workers, ask.active() or {})
        for name, jobs in (ask.reserved() or {}).items():
            if name in workers:
                workers[name].reserved = len(jobs)
    waiting, consumers = queue_depth(app)
    return ClusterStatus(list(workers.values()), QUEUE, waiting, consumers)


def queue_depth(app: Celery) -> tuple[int | None, int | None]:
    """(jobs waiting, consumers) of the jobs' queue; (None, None) when it does not exist."""
    with app.connection_for_read() as connection:
        channel = connection.channel()
        try:
            _name, waiting, consumers = channel.queue_declare(QUEUE, passive=True)
        except connection.channel_errors:  # 404: nobody declared it yet
            return None, None
        finally:
            with contextlib.suppress(Exception):
                channel.close()
    return int(waiting), int(consumers)


def _stats(workers: dict[str, WorkerInfo], stats: dict[str, Any]) -> None:
    for name, data in stats.items():
        if name not in workers:
            continue
        pool = data.get("pool") or {}
        workers[name].processes = [int(p) for p in pool.get("processes") or []]
        workers[name].concurrency = pool.get("max-concurrency")
        workers[name].done = sum((data.get("total") or {}).values())


def _active(workers: dict[str, WorkerInfo], active: dict[str, Any]) -> None:
    for name, jobs in active.items():
        if name in workers:
            workers[name].jobs = [_job(name, job) for job in jobs]


def _job(worker: str, job: dict[str, Any]) -> JobInfo:
    kwargs = job.get("kwargs") or {}
    account = (kwargs.get("account") or {}).get("name", "?") if isinstance(kwargs, dict) else "?"
    started = job.get("time_start")
    when = (datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds")
            if isinstance(started, int | float) else None)
    return JobInfo(worker=worker, task_id=str(job.get("id")), task=str(job.get("name")),
                   account=str(account), started=when, pid=job.get("worker_pid"),
                   redelivered=bool((job.get("delivery_info") or {}).get("redelivered")))
