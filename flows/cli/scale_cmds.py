"""``vats worker`` and ``vats workers``: run a worker of the account jobs, show the workers.

The worker itself is ``flows.scale``; here only options, logging and printing. The broker's
URL (it holds a password) comes from ``VATS_BROKER_URL``, never from the command line.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from flows.cli.common import CliState, usage_errors
from flows.cli.logs import configure
from flows.cli.output import print_table
from scraper.errors import ConfigError, UsageError

log = logging.getLogger(__name__)


def _broker_url(state: CliState) -> str:
    """The accounts file's broker (its ``broker_url_env``) when ``--config`` names one, else
    ``VATS_BROKER_URL``: a worker needs no accounts file (a job brings its account)."""
    from flows.scale.app import broker_url

    try:
        if state.config is not None:
            from flows.watch.config import load_config

            return load_config(state.config).broker_url()
        return broker_url()
    except ConfigError as exc:
        typer.echo(f"vats: {exc}", err=True)
        raise typer.Exit(2) from None


# -- vats worker ---------------------------------------------------------------------------------

def worker_command(state: CliState, *, name: str | None, concurrency: int,
                   soft_time_limit: float, time_limit: float, max_jobs: int,
                   max_memory_mb: int) -> None:
    from flows.scale.app import JobLimits, make_app
    from flows.scale.tasks import REDACTOR
    from flows.scale.worker import run_worker

    with usage_errors():
        _check_worker_options(concurrency, soft_time_limit, time_limit, max_jobs, max_memory_mb)
    url = _broker_url(state)
    REDACTOR.add(urlsplit(url).password)  # the broker's password never reaches a log line
    configure(state.verbose, REDACTOR)
    # a worker says what it does (a line per job) without -v; -v adds Celery's own lines
    logging.getLogger("flows.scale").setLevel(min(logging.INFO, logging.getLogger().level))
    # Celery's line per finished task shows its return value: an inventory's SIP passwords
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    limits = JobLimits(soft_s=soft_time_limit or None, hard_s=time_limit or None,
                       max_jobs_per_process=max_jobs, max_memory_mb=max_memory_mb)
    level = "DEBUG" if state.verbose > 1 else "INFO" if state.verbose == 1 else "WARNING"
    status = run_worker(make_app(url, limits=limits), name=name, concurrency=concurrency,
                        loglevel=level)
    raise typer.Exit(status)


def _check_worker_options(concurrency: int, soft: float, hard: float, max_jobs: int,
                          max_memory_mb: int) -> None:
    if not 1 <= concurrency <= 64:
        raise UsageError(f"--concurrency {concurrency}: must be between 1 and 64")
    if soft < 0 or hard < 0:
        raise UsageError("time limits are seconds, 0 for none")
    if soft and hard and soft >= hard:
        raise UsageError(f"--soft-time-limit {soft:g} must be below --time-limit {hard:g} "
                         "(the soft limit lets a job close its browser before the hard one "
                         "kills it)")
    if max_jobs < 1 or max_memory_mb < 64:
        raise UsageError("--max-jobs-per-process is at least 1, --max-memory at least 64 MB")


# -- vats workers --------------------------------------------------------------------------------

def workers_command(state: CliState, *, fmt: str, timeout: float) -> None:
    from kombu.exceptions import OperationalError

    from flows.scale.app import make_app
    from flows.scale.status import cluster_status

    with usage_errors():
        if fmt not in ("table", "json"):
            raise UsageError("--format is table or json")
        if timeout <= 0:
            raise UsageError("--timeout must be positive")
    url = _broker_url(state)
    app = make_app(url, client=True)
    try:
        status = cluster_status(app, timeout=timeout)
    except (OSError, OperationalError) as exc:  # the broker is not there
        typer.echo(f"vats: cannot reach the broker: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        app.close()
    if fmt == "json":
        sys.stdout.write(json.dumps(asdict(status), ensure_ascii=False, indent=2) + "\n")
    else:
        _print_status(status)
    if not status.workers:
        typer.echo("vats: no worker answered", err=True)
        raise typer.Exit(1)


def _print_status(status: Any) -> None:
    console = Console()
    workers = Table(title=f"workers ({len(status.workers)})")
    for column in ("worker", "processes", "jobs done", "in flight", "reserved"):
        workers.add_column(column)
    for worker in status.workers:
        workers.add_row(worker.name, " ".join(str(p) for p in worker.processes),
                        str(worker.done), str(len(worker.jobs)), str(worker.reserved))
    print_table(workers, console)
    if status.in_flight:
        jobs = Table(title="jobs in flight")
        for column in ("worker", "job", "account", "started", "pid", "redelivered"):
            jobs.add_column(column)
        for job in status.in_flight:
            jobs.add_row(job.worker, job.task, job.account, job.started or "", str(job.pid or ""),
                         "yes" if job.redelivered else "")
        print_table(jobs, console)
    waiting = "not declared yet" if status.waiting is None else str(status.waiting)
    typer.echo(f"queue {status.queue}: {waiting} waiting, {status.consumers or 0} consumer(s)")
