"""``vats worker``: a Celery worker of the account jobs, started from Python.

Why the pool processes are tied to the worker: a job's Chromium belongs to its Playwright
driver, the driver to the pool process that started it (it exits when that process's pipe to
it closes, and closes its browsers on the way out). So a pool process must never outlive its
worker, and a job killed at its hard limit must take its driver with it:

* ``PR_SET_PDEATHSIG`` = SIGKILL in each pool process: a worker that dies — SIGKILLed, out of
  memory — takes its pool processes with it, and with them their drivers and browsers; the
  broker gives the job back (acknowledged late) and another worker runs it. Celery's prefork
  pool sets it too (since 5.3); it is set here again so the guarantee is ours rather than a
  detail of Celery's, and a pool process whose worker died before the tie was made exits;
* each pool process leads a process group of its own: at a hard time limit billiard kills a
  group leader's whole group (SIGTERM, then SIGKILL), so the driver gets the signal itself
  (and closes its browsers) instead of only losing its pipe.

Measured (tests/flows/scale, a 2-core machine): after a SIGKILL of the worker, or a kill at the
hard limit, the pool process, its driver and Chromium are gone within 0.1-0.4 s.

The worker's own process group stays the one it was started in; a terminal's Ctrl-C reaches
the worker only, which stops its pool processes itself (warm shutdown: the jobs in flight end).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from typing import Any

from celery import Celery
from celery import signals as celery_signals

from flows.scale.app import QUEUE

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: the worker's own pid, as its forked pool processes see it
_worker_pid: int | None = None


def default_name() -> str:
    """``vats-<pid>@<host>``: unique on a host, and says where the worker runs."""
    return f"vats-{os.getpid()}@{socket.gethostname()}"


def run_worker(app: Celery, *, name: str | None = None, concurrency: int = 1,
               loglevel: str = "WARNING") -> int:
    """Run a worker of ``app`` on the jobs' queue until it is stopped (SIGTERM: warm
    shutdown); its exit status. ``concurrency``: jobs — browsers — at once."""
    global _worker_pid  # noqa: PLW0603 - read by the forked pool processes
    _worker_pid = os.getpid()
    celery_signals.worker_process_init.connect(tie_to_worker, weak=False)
    worker = app.Worker(
        hostname=name or default_name(), concurrency=concurrency, pool="prefork",
        queues=[QUEUE], loglevel=loglevel, quiet=True, optimization="fair",
        # no chatter between workers: each takes jobs from the queue on its own
        without_mingle=True, without_gossip=True, without_heartbeat=True)
    log.info("worker starting", extra={"worker": worker.hostname, "concurrency": concurrency,
                                       "queue": QUEUE})
    worker.start()
    return int(worker.exitcode or 0)


def tie_to_worker(**_: Any) -> None:
    """In each new pool process: die with the worker, lead a process group of its own."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        log.warning("cannot tie a pool process to its worker",
                    extra={"errno": ctypes.get_errno()})
    if _worker_pid is not None and os.getppid() != _worker_pid:
        os._exit(1)  # the worker died before the tie was made
