"""The Celery application of the account jobs: every setting in one place, each with why.

One function builds it for the workers and for the watcher (``client=True``) alike, so the two
sides agree on the queue, the serializer and the task names by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from scraper.errors import ConfigError
from scraper.settings import named_variable

#: the one queue of account jobs (durable: jobs waiting survive a broker restart)
QUEUE = "vats.jobs"
INVENTORY = "vats.inventory"
CHANGE = "vats.change"
#: the variable that names the broker (a URL with a password: never a command-line option)
BROKER_URL_ENV = "VATS_BROKER_URL"


@dataclass(frozen=True)
class JobLimits:
    """How long a job may run and how long a pool process lives.

    ``soft_s``: the job is cancelled (it closes its session and browser and answers a
    ``time-limit`` error); ``hard_s``: the pool process is killed with its process group (its
    Playwright driver), and Chromium goes with the driver. ``None`` or 0: no such limit. A pool
    process is replaced after ``max_jobs_per_process`` jobs or once its own resident memory
    passed ``max_memory_mb`` (Chromium is a separate process, closed after each job: this
    bounds what the Python side keeps).
    """

    soft_s: float | None = 300.0
    hard_s: float | None = 360.0
    max_jobs_per_process: int = 50
    max_memory_mb: int = 1024


DEFAULT_LIMITS = JobLimits()


def broker_url(explicit: str | None = None) -> str:
    """The broker's URL: ``explicit`` (the accounts file's ``broker_url_env``), else
    ``VATS_BROKER_URL``."""
    if explicit:
        return explicit
    found = named_variable(BROKER_URL_ENV)
    if found is None:
        raise ConfigError(f"no broker: set {BROKER_URL_ENV} to the RabbitMQ URL of the jobs "
                          "(amqp://user:password@host:5672/vhost)")
    return found


def make_app(url: str, *, limits: JobLimits = DEFAULT_LIMITS, client: bool = False) -> Celery:
    """The application of the jobs on the broker at ``url``.

    ``client``: the watcher's side. It takes results from an exclusive queue of its own
    (flows/scale/engine.py), so its result backend is disabled: Celery's rpc client would
    declare a durable reply queue per thread that nobody consumes.
    """
    app = Celery("vats", broker=url, backend=None if client else "rpc://",
                 set_as_current=False)
    app.conf.update(_settings(limits))
    if not client:
        from flows.scale.tasks import register

        register(app)
    return app


def _settings(limits: JobLimits) -> dict[str, Any]:
    jobs = Exchange(QUEUE, type="direct", durable=True)  # type: ignore[no-untyped-call]
    return {
        # JSON only: a pickled message would let anyone who can publish run code on workers
        "task_serializer": "json", "result_serializer": "json",
        "accept_content": ["json"], "result_accept_content": ["json"],
        # one durable queue; the task messages are persistent (they hold no secret)
        "task_queues": [Queue(QUEUE, jobs, routing_key=QUEUE,  # type: ignore[no-untyped-call]
                              durable=True)],
        "task_default_queue": QUEUE, "task_default_exchange": QUEUE,
        "task_default_routing_key": QUEUE, "task_default_delivery_mode": "persistent",
        "task_create_missing_queues": False,
        # a job is acknowledged when it ended, so a worker that dies mid-job gives it back to
        # the broker, which redelivers it (flagged ``redelivered``) to another worker
        "task_acks_late": True,
        # ... also when only its pool process died (killed, out of memory)
        "task_reject_on_worker_lost": True,
        # ... but a job that ran into its time limit answered a failure: it is not run again
        # (it would likely run into it again; the next cycle tries anew)
        "task_acks_on_failure_or_timeout": True,
        # a worker that lost the broker cancels its jobs: the broker gives them to another
        # worker, and one account's job must not run twice at once (two browsers, two changes)
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # one message per pool process: a job waits in the queue, where any free worker can
        # take it, not behind a busy browser (prefetch = concurrency x 1)
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": limits.soft_s or None,
        "task_time_limit": limits.hard_s or None,
        # each job closes its Chromium; recycling bounds what the Python side accumulates
        "worker_max_tasks_per_child": limits.max_jobs_per_process,
        "worker_max_memory_per_child": limits.max_memory_mb * 1024,  # KiB
        # results are messages to the caller's own reply queue (rpc): no result store holds
        # the inventories' SIP passwords at rest. Transient: the broker holds them in memory
        # (paged out only under memory pressure) until the caller takes them, never across a
        # restart; the caller's queue is exclusive, deleted with its connection
        "result_persistent": False,
        # no task events or heartbeats nobody reads; status is asked (``vats workers``)
        "worker_send_task_events": False, "task_send_sent_event": False,
        "task_track_started": False,
        "worker_disable_rate_limits": True,
        "broker_connection_retry_on_startup": True,
        # logging is the CLI's (flows/cli/logs.py: key=value, redacted)
        "worker_hijack_root_logger": False, "worker_redirect_stdouts": False,
    }
