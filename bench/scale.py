"""`vats worker`: accounts per minute with one and two worker processes, and what 1,000 accounts
every 10 minutes would need.

    .venv/bin/python bench/scale.py [--accounts 12] [--abonents 250] [--latency-ms 50]
                                    [--workers 1,2] [--concurrency 1] [--warm-cycles 2] [--quick]

Why this benchmark: with ``vats watch --engine celery`` the watcher only schedules, diffs and
stores; each account's inventory is a job on a ``vats worker`` (flows/scale), in a Chromium of
its own that the job starts and closes. So the cost of an account is the job's — browser start,
login or session restore, inventory — and throughput is worker slots / job time, as long as the
machine's cores keep up. The issue asks for accounts per minute with one and two workers here,
and for an estimate, from the measured per-account cost, of the workers and the broker that
1,000 accounts every 10 minutes (100 accounts a minute) need.

Set-up, once: a private RabbitMQ node (vats_fixtures.rabbitmq, a plain process with its own
ports and files) and one sandbox subprocess per account (``--abonents A --latency-ms L
--max-concurrent-calls C --seed i``, C = 4 as bench/watch.py; A = 250 abonents = 200 trunks).

For each W in ``--workers``: W ``vats worker --concurrency K`` subprocesses (K = 1: one job, one
Chromium, per worker process; K slots per process are the same prefork pool processes under
one main process instead of W), all with one fresh ``VATS_STATE_DIR`` (the workers of one host
share their saved sessions). Then, in this process, the watcher exactly as ``vats watch --once
--engine celery`` builds it (``Watcher`` + ``CeleryEngine``, a fresh store, a JSONL sink), with
``parallel`` = the number of accounts: every account's job is queued at once and the workers'
slots (prefetch 1) are the only limit. Cycle 1 is cold (every account logs in, every trunk is an
event); then ``--warm-cycles`` warm ones on the same workers and store (saved sessions: no
login; unchanged cabinets: no event), the fastest shown. Measured per cycle: wall time (the
watcher's run, engine open to closed) → accounts per minute; each job's own ``seconds``
(browser, login, work = the inventory, total, as the worker timed them); each worker process
tree's CPU (its Python processes' own, plus everything they reaped: the per-job Playwright
drivers and their Chromiums; each worker runs under a small "child subreaper" process of the
bench's, so a Chromium helper orphaned on the way is counted too) and peak PSS (sampled every
500 ms on a thread); the watcher's CPU (this process without the sampler thread), the
sandboxes', the broker's, the machine's; the size of each task and result message; the
connections to the broker.

Then the estimate (printed with the assumptions and the measured number behind each line).
Goals are none: this bench informs a sizing. Every worker, browser, sandbox and the broker are
stopped at the end, also on errors and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from celery import signals as celery_signals  # noqa: E402
from kombu import serialization  # noqa: E402

from bench.inventory import machine, note, shown_command  # noqa: E402
from bench.watch import (  # noqa: E402
    LIMIT,
    LOGIN,
    MB,
    PASSWORD,
    PASSWORD_ENV,
    Sandbox,
    busy,
    sandboxes,
    stop_leftovers,
    vats_executable,
)
from flows.abonents import PAGE_SIZE  # noqa: E402
from flows.scale.app import BROKER_URL_ENV, make_app  # noqa: E402
from flows.scale.engine import CeleryEngine, Replies  # noqa: E402
from flows.watch.config import AccountEntry, JsonlSinkConfig  # noqa: E402
from flows.watch.deliver import Deliverer  # noqa: E402
from flows.watch.metrics import WatchMetrics  # noqa: E402
from flows.watch.runner import Watcher, WatchReport  # noqa: E402
from flows.watch.sinks.jsonl import JsonlSink  # noqa: E402
from flows.watch.store import Store  # noqa: E402
from scraper.settings import AccountSettings, child_environment  # noqa: E402
from vats_fixtures.rabbitmq import RabbitBroker, rabbitmq_broker  # noqa: E402
from vats_fixtures.sandbox.process import PREEXEC  # noqa: E402

TABLE_TITLE = "scale benchmark: one watch cycle of every account on W vats workers (Celery engine)"
SAMPLE_EVERY_S = 0.5
CYCLE_TIMEOUT_S = 1200.0
WORKER_READY_S = 120.0
PHASES = ("browser", "login", "work", "total")

# the estimate's defaults (each printed with the estimate)
TARGET_ACCOUNTS = 1000
TARGET_MINUTES = 10.0
MACHINE_CORES = 4
MACHINE_MEMORY_GB = 8.0
UTILIZATION = 0.7  # plan slots and cores at 70 % busy: room for cold cycles, retries, drift
SLOW_LATENCY_MS = 200.0  # a slow cabinet, for the estimate's second column


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt, so every ``finally`` stops its part."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up itself is not interrupted
    raise Terminated


# --- the workers -------------------------------------------------------------------------------


#: runs ``vats worker`` as its only child and is the "child subreaper" of its tree: a process of
#: the tree whose parent ended before it (a Chromium helper that outlives its browser) is
#: reparented to this one and reaped here, not by init, so its CPU is counted in this process's
#: children times. The worker itself is unchanged (its parent is this instead of the bench).
SUBREAPER = r"""
import ctypes, os, signal, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: stop with this process
    os.execv(sys.argv[1], sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
status = 1
while True:
    try:
        done, code = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    if done == pid:
        status = os.waitstatus_to_exitcode(code)
sys.exit(status)
"""


@dataclass
class Worker:
    """A ``vats worker`` subprocess under its subreaper (``SUBREAPER``), the leader of its own
    process group."""

    name: str
    process: subprocess.Popen[bytes]  # the subreaper
    log_path: Path
    pid: int = 0  # the worker's main process
    seen: dict[int, psutil.Process] = field(default_factory=dict)  # its tree, ever

    def tree(self) -> list[psutil.Process]:
        """The subreaper, the worker and every descendant, now."""
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.process.pid)
            found = [root, *root.children(recursive=True)]
            for process in found:
                self.seen.setdefault(process.pid, process)
            return found
        return []

    def pythons(self) -> list[psutil.Process]:
        """The processes that live across jobs: the subreaper, the worker, its pool processes."""
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(self.pid)
            return [psutil.Process(self.process.pid), main, *main.children()]
        return []

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def workers(count: int, concurrency: int, broker: RabbitBroker, folder: Path
            ) -> Iterator[list[Worker]]:
    """``count`` workers on ``broker`` sharing one fresh state dir; all stopped on every exit."""
    folder.mkdir(parents=True)
    env = child_environment(**{BROKER_URL_ENV: broker.url, PASSWORD_ENV: PASSWORD,
                               "VATS_STATE_DIR": str(folder / "state"),
                               "VATS_AUDIT_DB": str(folder / "audit.sqlite")})
    started: list[Worker] = []
    app = make_app(broker.url, client=True)
    try:
        for index in range(1, count + 1):
            name = f"bench{index}@scale"
            log_path = folder / f"worker{index}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-c", SUBREAPER, vats_executable(), "worker", "--name",
                     name, "--concurrency", str(concurrency)], env=env, cwd=folder,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=PREEXEC)  # noqa: PLW1509 - only prctl
            started.append(Worker(name, process, log_path))
        for worker in started:
            wait_ready(app, worker, concurrency)
        yield started
    finally:
        app.close()
        stop_workers(started)


def wait_ready(app: Any, worker: Worker, concurrency: int) -> None:
    """The worker answers a ping and has its pool processes."""
    deadline = time.monotonic() + WORKER_READY_S
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker {worker.name} exited: {worker.log()[-3000:]}")
        if not worker.pid:
            with contextlib.suppress(psutil.Error, IndexError):
                worker.pid = psutil.Process(worker.process.pid).children()[0].pid
            time.sleep(0.1)
            continue
        if app.control.ping(destination=[worker.name], timeout=0.5):
            with contextlib.suppress(psutil.Error):
                if len(psutil.Process(worker.pid).children()) >= concurrency:
                    worker.tree()
                    return
    raise RuntimeError(f"worker {worker.name} not ready in {WORKER_READY_S:.0f} s: "
                       f"{worker.log()[-3000:]}")


def stop_workers(started: list[Worker]) -> None:
    """SIGTERM (warm shutdown), then SIGKILL to the group; then whatever of their trees is left."""
    for worker in started:
        worker.tree()
        if worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)  # passed on to the worker
    for worker in started:
        try:
            worker.process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(10)
    left = [p for w in started for p in w.seen.values() if _alive(p)]
    _, alive = psutil.wait_procs(left, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            note(f"killing a process a worker left behind: {process.pid} ({process.name()})")
            process.kill()


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


# --- what the worker trees cost ----------------------------------------------------------------


def own_cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def with_reaped(process: psutil.Process) -> float:
    """The process's CPU and that of every descendant it has reaped (Linux's cutime/cstime)."""
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


class TreeWatch:
    """CPU and peak PSS of each worker's process tree over a cycle.

    CPU, two ways: *reaped* — the processes that live across jobs (the subreaper, the worker,
    its pool processes) with everything they reaped: a job's Playwright driver is reaped by its
    pool process, the driver reaps its Chromium, and what was orphaned on the way is reaped by
    the subreaper — every process of the tree, exactly; *sampled* — each process's own CPU as
    last seen by the sampler (it misses the last half second of each process that ended: a
    lower bound, the cross-check). Peak PSS of each tree, sampled every ``SAMPLE_EVERY_S``.
    """

    def __init__(self, started: list[Worker]) -> None:
        self.workers = started
        self.count = len(started)
        self.peak_pss = [0.0] * self.count
        self.split_at_peak: list[dict[str, float]] = [{} for _ in started]
        self.processes_at_peak = [0] * self.count
        self.samples = 0
        self.thread_cpu = 0.0
        self._start_reaped = [0.0] * self.count
        self._start_python = [0.0] * self.count
        self.reaped = [0.0] * self.count
        self.python = [0.0] * self.count
        self._first: dict[int, float] = {}  # pid → own CPU when first seen (0 if started since)
        self._last: dict[int, tuple[int, float]] = {}  # pid → (tree, own CPU last seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scale-bench-sampler", daemon=True)

    def _totals(self, index: int) -> tuple[float, float]:
        reaped = python = 0.0
        for process in self.workers[index].pythons():
            with contextlib.suppress(psutil.Error):
                reaped += with_reaped(process)
                python += own_cpu(process)
        return reaped, python

    def __enter__(self) -> TreeWatch:
        for index in range(self.count):
            self._start_reaped[index], self._start_python[index] = self._totals(index)
            for process in self.workers[index].tree():
                with contextlib.suppress(psutil.Error):
                    self._first[process.pid] = own_cpu(process)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        deadline = time.monotonic() + 10  # the last job's processes are ended and reaped
        while time.monotonic() < deadline and any(
                len(w.tree()) > len(w.pythons()) for w in self.workers):
            time.sleep(0.1)
        for index in range(self.count):
            reaped, python = self._totals(index)
            self.reaped[index] = reaped - self._start_reaped[index]
            self.python[index] = python - self._start_python[index]

    def sampled(self) -> list[float]:
        found = [0.0] * self.count
        for pid, (index, seconds) in self._last.items():
            found[index] += seconds - self._first.get(pid, 0.0)
        return found

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # this thread only (Linux): the cycle goes first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self._stop.is_set():
            for index in range(self.count):
                self._sample(index)
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_S)
        self.thread_cpu = time.thread_time()

    def _sample(self, index: int) -> None:
        worker = self.workers[index]
        tree = worker.tree()
        pss = dict.fromkeys(("python", "driver", "chromium"), 0.0)
        counted = 0
        for process in tree:
            try:
                info = process.memory_full_info()
                seconds = own_cpu(process)
                name = process.name()
                parent = process.ppid()
            except psutil.Error:
                continue
            kind = ("python" if process.pid in (worker.process.pid, worker.pid)
                    or parent == worker.pid else "driver" if "node" in name else "chromium")
            pss[kind] += info.pss / MB
            self._last[process.pid] = (index, seconds)
            counted += 1
        if sum(pss.values()) > self.peak_pss[index]:
            self.peak_pss[index] = sum(pss.values())
            self.split_at_peak[index] = pss
            self.processes_at_peak[index] = counted


def tree_cpu(pid: int) -> float:
    """CPU of a long-lived process tree now (the broker: the script, beam.smp, its helpers)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += own_cpu(process)
    return total


# --- the watcher, recording what the jobs said ------------------------------------------------


class Sizes:
    """Sizes of the task messages this process publishes (Celery's ``before_task_publish``)."""

    def __init__(self) -> None:
        self.bodies: list[int] = []
        self.headers: list[int] = []

    def on_publish(self, body: Any = None, headers: Any = None, **_: Any) -> None:
        _, _, payload = serialization.dumps(body, serializer="json")  # type: ignore[no-untyped-call]
        self.bodies.append(len(payload.encode() if isinstance(payload, str) else payload))
        self.headers.append(len(json.dumps(headers or {}, default=str).encode()))


SIZES = Sizes()
celery_signals.before_task_publish.connect(SIZES.on_publish, weak=False)


class SizedReplies(Replies):
    """The engine's reply queue, noting each result message's size."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sizes: list[int] = []

    async def _on_reply(self, message: Any) -> None:
        self.sizes.append(len(message.body))
        await super()._on_reply(message)


class RecordingEngine(CeleryEngine):
    """``CeleryEngine``, keeping each job's whole result (its ``seconds``, its ``worker``) and,
    before it closes, the connections to the broker."""

    def __init__(self, url: str, broker_port: int, worker_pids: list[int]) -> None:
        super().__init__(url)
        self.replies: SizedReplies = SizedReplies(url)
        self.results: dict[str, dict[str, Any]] = {}
        self.broker_port = broker_port
        self.worker_pids = worker_pids
        self.connections: Counter[str] = Counter()

    async def run(self, entry: AccountEntry, task: str, options: dict[str, Any]
                  ) -> dict[str, Any]:
        result = await super().run(entry, task, options)
        self.results[entry.name] = result
        return result

    async def aclose(self) -> None:
        self.connections = broker_connections(self.broker_port, self.worker_pids)
        await super().aclose()


def broker_connections(port: int, worker_pids: list[int]) -> Counter[str]:
    """Open TCP connections to the broker by who holds them."""
    found: Counter[str] = Counter()
    for connection in psutil.net_connections(kind="tcp"):
        if not connection.raddr or connection.raddr.port != port \
                or connection.status != psutil.CONN_ESTABLISHED or connection.pid is None:
            continue
        if connection.pid == os.getpid():
            found["watcher"] += 1
        elif connection.pid in worker_pids:
            found["worker main"] += 1
        else:
            try:
                parent = psutil.Process(connection.pid).ppid()
            except psutil.Error:
                continue
            found["pool process" if parent in worker_pids else "other"] += 1
    return found


@dataclass
class Cycle:
    """One watch cycle of every account on W workers."""

    workers: int
    kind: str  # cold / warm
    accounts: int
    seconds: float = 0.0
    load: float = 0.0
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    events: int = 0
    logins: int = 0
    reaped: list[float] = field(default_factory=list)  # CPU s per worker tree
    python: list[float] = field(default_factory=list)
    sampled: list[float] = field(default_factory=list)
    peak_pss: list[float] = field(default_factory=list)
    split: list[dict[str, float]] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    cpu_watcher: float = 0.0
    cpu_sandboxes: float = 0.0
    cpu_broker: float = 0.0
    cpu_machine: float = 0.0
    cpu_bench_sampler: float = 0.0
    task_bodies: list[int] = field(default_factory=list)
    task_headers: list[int] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    connections: Counter[str] = field(default_factory=Counter)

    @property
    def per_minute(self) -> float:
        return self.accounts / self.seconds * 60

    @property
    def cpu_workers(self) -> float:
        return sum(self.reaped)

    @property
    def cpu_ours(self) -> float:
        """Every process of this bench: workers, watcher, sandboxes, broker, the sampler."""
        return (self.cpu_workers + self.cpu_watcher + self.cpu_sandboxes + self.cpu_broker
                + self.cpu_bench_sampler)

    def phase(self, name: str) -> list[float]:
        return [float(job["seconds"][name]) for job in self.jobs.values()
                if name in (job.get("seconds") or {})]

    def rest(self) -> list[float]:
        """Each job's total beyond its browser, login and work (imports, settings)."""
        return [float(s["total"] - s.get("browser", 0) - s.get("login", 0) - s.get("work", 0))
                for job in self.jobs.values() if "total" in (s := job.get("seconds") or {})]

    def mean(self, name: str) -> float:
        found = self.phase(name)
        return statistics.fmean(found) if found else math.nan


def entries_of(boxes: list[Sandbox]) -> list[AccountEntry]:
    return [AccountEntry(name=box.name, address=box.url, login=LOGIN, password_env=PASSWORD_ENV,
                         concurrency=LIMIT) for box in boxes]


async def watch_once(entries: list[AccountEntry], store: Store, folder: Path,
                     engine: RecordingEngine) -> tuple[WatchReport, float]:
    metrics = WatchMetrics()
    sink = JsonlSink(JsonlSinkConfig(name="events", type="jsonl",
                                     path=str(folder / "events.jsonl")))
    watcher = Watcher(entries, store, [Deliverer(store, sink, metrics)], engine=engine,
                      parallel=len(entries), metrics=metrics)
    started = time.perf_counter()
    report = await asyncio.wait_for(watcher.run(once=True), CYCLE_TIMEOUT_S)
    return report, time.perf_counter() - started


def run_cycle(kind: str, entries: list[AccountEntry], boxes: list[Sandbox], broker: RabbitBroker,
              started: list[Worker], store: Store, folder: Path) -> Cycle:
    cycle = Cycle(len(started), kind, len(entries), load=os.getloadavg()[0])
    events_path = folder / "events.jsonl"
    events_path.unlink(missing_ok=True)
    engine = RecordingEngine(broker.url, broker.port, [w.pid for w in started])
    logins = sum(box.logins() for box in boxes)
    cpu_boxes = sum(box.cpu() for box in boxes)
    cpu_broker = tree_cpu(broker.process.pid)
    SIZES.bodies.clear()
    SIZES.headers.clear()
    machine_before = psutil.cpu_times()
    me_before = own_cpu(psutil.Process())
    with TreeWatch(started) as trees:
        report, cycle.seconds = asyncio.run(watch_once(entries, store, folder, engine))
    me_after = own_cpu(psutil.Process())
    cycle.cpu_machine = busy(psutil.cpu_times()) - busy(machine_before)
    cycle.cpu_bench_sampler = trees.thread_cpu
    cycle.cpu_watcher = me_after - me_before - trees.thread_cpu
    cycle.cpu_broker = tree_cpu(broker.process.pid) - cpu_broker
    cycle.cpu_sandboxes = sum(box.cpu() for box in boxes) - cpu_boxes
    cycle.logins = sum(box.logins() for box in boxes) - logins
    cycle.reaped, cycle.python, cycle.sampled = trees.reaped, trees.python, trees.sampled()
    cycle.peak_pss, cycle.split = trees.peak_pss, trees.split_at_peak
    cycle.processes = trees.processes_at_peak
    cycle.jobs = engine.results
    cycle.outcomes = Counter(c.outcome for c in report.cycles.values())
    if events_path.exists():
        cycle.events = len(events_path.read_text(encoding="utf-8").splitlines())
    cycle.task_bodies, cycle.task_headers = list(SIZES.bodies), list(SIZES.headers)
    cycle.results = list(engine.replies.sizes)
    cycle.connections = engine.connections
    return cycle


def job_answer_bytes(cycle: Cycle) -> list[int]:
    """The inventory answers alone (JSON, as the task returned them), for the result's size."""
    return [len(json.dumps(job["ok"]).encode()) for job in cycle.jobs.values() if "ok" in job]


# --- the report --------------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def report(args: argparse.Namespace, boxes: list[Sandbox], cycles: list[Cycle],
           load: tuple[float, float], chromium: str) -> None:
    count = len(boxes)
    trunks = [box.trunks for box in boxes]
    pages = math.ceil(args.abonents / PAGE_SIZE)
    cores = os.cpu_count() or 1
    shown: list[Cycle] = []
    for w in args.workers:
        mine = [c for c in cycles if c.workers == w]
        shown += [c for c in mine if c.kind == "cold"]
        warm = [c for c in mine if c.kind == "warm"]
        if warm:
            shown.append(min(warm, key=lambda c: c.seconds))
    columns = shown
    width = 66
    cell = 16
    rows: list[str] = []

    def row(label: str, cells: list[str]) -> None:
        rows.append(f"{label:<{width}}" + "".join(f"{c:>{cell}}" for c in cells))

    def base(c: Cycle) -> Cycle | None:
        return next((b for b in columns if b.workers == min(args.workers) and b.kind == c.kind),
                    None)

    slots = [c.workers * args.concurrency for c in columns]
    row("", [f"W={c.workers} {c.kind}" for c in columns])
    rows.append(f"one watch cycle of {count} accounts (Watcher + CeleryEngine, parallel {count})")
    row("  time: engine open → every job's result stored → closed  s",
        [f"{c.seconds:.2f}" for c in columns])
    row("  accounts per minute", [f"{c.per_minute:.1f}" for c in columns])
    row(f"  scaling: accounts per minute / W={min(args.workers)}'s (ideal: W/{min(args.workers)})",
        [f"{c.per_minute / b.per_minute:.2f}x" if (b := base(c)) else "-" for c in columns])
    row("  slots busy: Σ jobs' total / (slots × time)",
        [f"{sum(c.phase('total')) / (s * c.seconds):.0%}" for c, s in zip(columns, slots,
                                                                              strict=True)])
    row("  the other warm cycles  s",
        [" ".join(f"{o.seconds:.1f}" for o in cycles if o.workers == c.workers
                  and o.kind == "warm" and o is not c) or "-" if c.kind == "warm" else ""
         for c in columns])
    rows.append("each account's job, as its worker timed it (mean; max)")
    labels = {"browser": "browser start (Playwright driver + Chromium)",
              "login": "login (cold) / saved session restored (warm)",
              "work": "inventory (trunks())", "total": "total"}
    for name in ("total", "browser", "login", "work"):
        row(f"  {'  ' if name != 'total' else ''}{labels[name]}  s",
            [f"{c.mean(name):.2f}; {max(c.phase(name), default=math.nan):.2f}" for c in columns])
    row("    the rest (a pool process's first job imports the job's code)  s",
        [f"{c.mean('total') - c.mean('browser') - c.mean('login') - c.mean('work'):.2f}; "
         f"{max(c.rest(), default=math.nan):.2f}" for c in columns])
    row("  jobs per worker", [" ".join(str(n) for _, n in sorted(Counter(
        str(j.get("worker")) for j in c.jobs.values()).items())) for c in columns])
    rows.append("CPU of the cycle")
    row("  worker trees, each (python + what they reaped)  s",
        [" ".join(f"{x:.1f}" for x in c.reaped) for c in columns])
    row("    python (worker + pool processes) / driver + Chromium  s",
        [f"{sum(c.python):.1f}/{c.cpu_workers - sum(c.python):.1f}" for c in columns])
    row("    sampled per process instead (a lower bound)  s",
        [f"{sum(c.sampled):.1f}" for c in columns])
    row("  per account: worker CPU / accounts  s",
        [f"{c.cpu_workers / c.accounts:.2f}" for c in columns])
    row("  cores a busy slot uses: worker CPU / Σ jobs' total",
        [f"{c.cpu_workers / sum(c.phase('total')):.2f}" for c in columns])
    row("  watcher (this process, sampler thread excluded) / per account  s",
        [f"{c.cpu_watcher:.1f}/{c.cpu_watcher / c.accounts:.2f}" for c in columns])
    row("  sandboxes / broker / this bench's sampler  s",
        [f"{c.cpu_sandboxes:.1f}/{c.cpu_broker:.1f}/{c.cpu_bench_sampler:.1f}" for c in columns])
    row("  rest of the machine (busy − all of the above)  s",
        [f"{max(0.0, c.cpu_machine - c.cpu_ours):.1f}" for c in columns])
    row(f"  machine busy / ({cores} cores × time)",
        [f"{c.cpu_machine / (cores * c.seconds):.0%}" for c in columns])
    row("  1-min load average when it started", [f"{c.load:.2f}" for c in columns])
    rows.append(f"memory, each worker tree (sampled every {SAMPLE_EVERY_S * 1000:.0f} ms)")
    row("  peak PSS, worker + pool + driver + Chromium  MB",
        [" ".join(f"{x:.0f}" for x in c.peak_pss) for c in columns])
    row("    python / driver / chromium at the peak (first tree)  MB",
        ["/".join(f"{c.split[0].get(k, 0):.0f}" for k in ("python", "driver", "chromium"))
         if c.split else "-" for c in columns])
    row("    processes in the tree at the peak", [" ".join(str(n) for n in c.processes)
                                                   for c in columns])
    rows.append("the broker")
    row("  task message: body / headers (JSON)  B",
        [f"{max(c.task_bodies, default=0)}/{max(c.task_headers, default=0)}" for c in columns])
    row(f"  result message ({max(trunks)} trunks), mean; max  B",
        [f"{statistics.fmean(c.results):.0f}; {max(c.results)}" if c.results else "-"
         for c in columns])
    row("    of which the inventory answer itself, mean  B",
        [f"{statistics.fmean(a):.0f}" if (a := job_answer_bytes(c)) else "-" for c in columns])
    row("  messages: tasks sent / results received",
        [f"{len(c.task_bodies)}/{len(c.results)}" for c in columns])
    row("  connections at the end: watcher / worker main / pool processes",
        [f"{c.connections.get('watcher', 0)}/{c.connections.get('worker main', 0)}/"
         f"{c.connections.get('pool process', 0)}" for c in columns])
    rows.append("checks")
    row("  logins seen by the sandboxes (cold: every account; warm: 0)",
        [str(c.logins) for c in columns])
    row(f"  events written (cold: the {sum(trunks)} trunks; warm: 0)",
        [str(c.events) for c in columns])
    row("  cycles ok", [f"{c.outcomes.get('ok', 0)}/{c.accounts}" for c in columns])

    print(TABLE_TITLE)
    print(f"command: {shown_command()}")
    print(f"machine: {machine(chromium)}")
    print(f"load average (1 min): {load[0]:.2f} at start, {load[1]:.2f} at end")
    print(f"sandboxes: {count} accounts, one sandbox each, {args.abonents} abonents ({pages} list "
          f"pages of {PAGE_SIZE}), N = {min(trunks)}–{max(trunks)} trunks ({sum(trunks)} in "
          f"all), L = {args.latency_ms:g} ms per call, at most C = {LIMIT} calls in flight per "
          f"session; client concurrency {LIMIT} per account, transport "
          f"{AccountSettings(**{}).transport}")
    print(f"workers: W × `vats worker --concurrency {args.concurrency}` (one Chromium per job, "
          f"started and closed by the job), one shared VATS_STATE_DIR; a private RabbitMQ node; "
          f"the watcher in this process, parallel {count}")
    print()
    print("\n".join(rows))
    print()
    meaning(args, columns, cores)
    print()
    estimate(args, columns, pages, max(trunks))
    ok = all(c.outcomes.get("ok", 0) == c.accounts for c in cycles) and all(
        c.logins == (c.accounts if c.kind == "cold" else 0) for c in cycles) and all(
        c.events == (sum(trunks) if c.kind == "cold" else 0) for c in cycles)
    print()
    print("checks:")
    print(f"  every cycle ok, cold cycles logged every account in and wrote every trunk, warm "
          f"ones neither: {'yes' if ok else 'NO'}")
    print("  MB = 2^20 bytes; B = bytes. PSS splits each shared page among the processes mapping "
          "it (two workers' Chromiums share their binary's pages).")


def meaning(args: argparse.Namespace, columns: list[Cycle], cores: int) -> None:
    low, high = min(args.workers), max(args.workers)
    print("what the numbers mean:")
    print("  Each job starts its own Chromium, restores a saved session or logs in, reads the "
          "trunks and closes the browser; a slot is busy for the job's total, and the cycle "
          "adds the queue's dispatch, the result's way back, the store and the events. \"slots "
          "busy\" near 100 % means the workers were never idle for want of a job. The cold "
          "cycle runs on freshly started workers: each pool process's first job also imports "
          "the job's code (\"the rest\").")
    for kind in ("cold", "warm"):
        one = next((c for c in columns if c.workers == low and c.kind == kind), None)
        two = next((c for c in columns if c.workers == high and c.kind == kind), None)
        if one is None or two is None or one is two:
            continue
        share = one.cpu_workers / sum(one.phase("total"))
        others = (one.cpu_watcher + one.cpu_sandboxes + one.cpu_broker) / one.seconds
        strangers = max(0.0, two.cpu_machine - two.cpu_ours) / two.seconds
        print(f"  Scaling, {kind}: W={high} did {two.per_minute / one.per_minute:.2f}x the "
              f"accounts per minute of W={low} (ideal {high / low:.2f}x). At W={low} a busy slot "
              f"used {share:.2f} of a core and the watcher, sandboxes and broker "
              f"{others:.2f} more, so {high} busy slots want {high * share + others:.2f} of this "
              f"machine's {cores} cores (busy {two.cpu_machine / (cores * two.seconds):.0%} at "
              f"W={high}, of which other users' processes {strangers:.2f} cores); a job took "
              f"{two.mean('total'):.2f} s at W={high} against {one.mean('total'):.2f} s at "
              f"W={low}: each account has a sandbox of its own, so the difference is time spent "
              f"waiting for a core, not for L.")
    print("  A worker tree's CPU is counted as its processes are reaped: the job's driver by its "
          "pool process, Chromium by the driver, orphans by a subreaper the bench puts above "
          "each worker, so nothing escapes; \"sampled\" reads each process while it lives and "
          "misses its last half second (a lower bound, the cross-check).")


def estimate(args: argparse.Namespace, columns: list[Cycle], pages: int, trunks: int) -> None:
    """What 1,000 accounts every 10 minutes need, from the W=1 cycles' per-account costs."""
    low = min(args.workers)
    warm = next((c for c in columns if c.workers == low and c.kind == "warm"), None)
    cold = next((c for c in columns if c.workers == low and c.kind == "cold"), None)
    if warm is None or cold is None:
        print("estimate: needs a cold and a warm cycle (--warm-cycles >= 1)")
        return
    rate = args.target_accounts / args.target_minutes  # accounts per minute
    per_s = rate / 60
    latency = args.latency_ms / 1000
    serial = 1 + math.ceil((pages - 1) / LIMIT) + math.ceil(trunks / LIMIT)  # trunks()' floor
    u = args.utilization
    cpu_job = warm.cpu_workers / warm.accounts
    cpu_cold = cold.cpu_workers / cold.accounts
    pss = max(max(c.peak_pss) for c in columns if c.workers == low)
    watcher_cpu = max(warm.cpu_watcher / warm.accounts, cold.cpu_watcher / cold.accounts)
    task_bytes = max(c.task_bodies[i] + c.task_headers[i] for c in columns
                     for i in range(len(c.task_bodies)))
    result_bytes = max(size for c in columns for size in c.results)
    main_conns = max(c.connections.get("worker main", 0) / c.workers for c in columns)
    pool_conns = max(c.connections.get("pool process", 0) / (c.workers * args.concurrency)
                     for c in columns)
    watcher_conns = max(c.connections.get("watcher", 0) for c in columns)
    memory_mb = args.machine_memory_gb * 1024

    def scenario(latency_real: float) -> dict[str, float]:
        job = warm.mean("total") + serial * (latency_real - latency)
        job_cold = cold.mean("total") + serial * (latency_real - latency)
        slots = math.ceil(per_s * job / u)
        share = cpu_job / job  # a busy slot's share of a core
        # machines enough that every slot busy at once waits for no core, and fits in memory
        by_cores = slots * share / args.machine_cores
        by_memory = slots * pss / (memory_mb * 0.8)
        machines = math.ceil(max(by_cores, by_memory) - 1e-9)
        per_machine = math.ceil(slots / machines)
        total = machines * per_machine
        cold_wall = args.target_accounts * job_cold / total / 60
        cold_cpu = args.target_accounts * cpu_cold / (machines * args.machine_cores) / 60
        return {"job": job, "busy": per_s * job, "slots": slots, "cores": per_s * cpu_job,
                "share": share, "peak_cores": slots * share, "memory": slots * pss / 1024,
                "per_machine": per_machine, "machines": machines,
                "by_cores": float(by_cores >= by_memory),
                "load": per_s * cpu_job / (machines * args.machine_cores),
                "cold": max(cold_wall, cold_cpu)}

    scenarios = [(f"L = {args.latency_ms:g} ms (measured)", scenario(latency)),
                 (f"L = {args.slow_latency_ms:g} ms (slower)",
                  scenario(args.slow_latency_ms / 1000))]
    width = 64
    cell = 24
    lines: list[str] = []

    def line(label: str, cells: list[str], source: str = "") -> None:
        lines.append(f"{label:<{width}}" + "".join(f"{c:>{cell}}" for c in cells)
                     + (f"   ← {source}" if source else ""))

    print(f"estimate: {args.target_accounts:,} accounts every {args.target_minutes:g} minutes "
          f"= {rate:g} accounts/min = {per_s:.2f} jobs/s, each account {trunks} trunks like "
          f"these")
    print(f"assumed: the real cabinet answers like the sandbox, with a per-call latency L (two "
          f"columns) and the per-session limit C = {LIMIT}; an inventory waits for {serial} "
          f"round trips one after another (1 + ceil({pages - 1}/C) list pages + "
          f"ceil({trunks}/C) device forms), so a job's time moves by {serial}·ΔL (its login's "
          f"few calls are not scaled); a job's CPU does not depend on L; slots are planned "
          f"{u:.0%} busy (room for cold cycles, retries, drift), machines so that every slot "
          f"busy at once waits for no core; a worker machine has {args.machine_cores} cores and "
          f"{args.machine_memory_gb:g} GB RAM (80 % for slots), workers at --concurrency "
          f"{args.concurrency}; the steady state is warm (saved sessions); every per-account "
          f"number is W={low}'s, where the jobs waited least for the CPU")
    line("", [name for name, _ in scenarios])
    line("  one job (warm), wall  s", [f"{s['job']:.2f}" for _, s in scenarios],
         f"W={low} warm job total {warm.mean('total'):.2f} s + {serial}·ΔL")
    line("  slots busy at once: jobs/s × job", [f"{s['busy']:.1f}" for _, s in scenarios])
    line(f"  worker slots to run ({u:.0%} busy)", [f"{s['slots']:.0f}" for _, s in scenarios])
    line("  worker CPU per account  s", [f"{cpu_job:.2f}" for _ in scenarios],
         f"W={low} warm worker CPU {warm.cpu_workers:.1f} s / {warm.accounts} accounts")
    line("  a busy slot's share of a core: CPU / job", [f"{s['share']:.2f}"
                                                        for _, s in scenarios])
    line("  cores the workers use at this rate: jobs/s × CPU",
         [f"{s['cores']:.1f}" for _, s in scenarios])
    line("  cores when every slot is busy at once: slots × share",
         [f"{s['peak_cores']:.1f}" for _, s in scenarios])
    line("  memory of the slots: slots × peak PSS of a one-slot worker  GB",
         [f"{s['memory']:.1f}" for _, s in scenarios],
         f"{pss:.0f} MB, the worst one-slot worker tree (W={low})")
    line(f"  worker machines ({args.machine_cores} cores, {args.machine_memory_gb:g} GB) × "
         f"slots each", [f"{s['machines']:.0f} × {s['per_machine']:.0f}" for _, s in scenarios],
         "every slot busy at once fits the cores and 80 % of the memory")
    line("    their cores busy at this rate",
         [f"{s['load']:.0%}" for _, s in scenarios])
    line("  a cold cycle of every account on them  min",
         [f"{s['cold']:.1f}" for _, s in scenarios],
         f"W={low} cold: job {cold.mean('total'):.2f} s, {cpu_cold:.2f} CPU-s an account "
         f"(the slower of wall and CPU)")
    line("  broker: messages a minute, tasks + results",
         [f"{rate:.0f} + {rate:.0f}" for _ in scenarios], "one task and one result a job")
    line("  broker: bytes a minute, tasks + results",
         [f"{rate * task_bytes / 1e3:.0f} kB + {rate * result_bytes / 1e6:.1f} MB"
          for _ in scenarios],
         f"task ≤ {task_bytes} B (body + headers), result ≤ {result_bytes} B")
    line("  broker: connections, watcher + workers' main + pool processes",
         [f"{watcher_conns} + {math.ceil(s['slots'] / args.concurrency) * main_conns:.0f} + "
          f"{s['slots'] * pool_conns:.0f}" for _, s in scenarios],
         f"measured: {watcher_conns} watcher, {main_conns:.0f} a worker, "
         f"{pool_conns:.0f} a pool process")
    line("  broker: jobs queued at most = the watcher's --parallel (≥ slots)",
         [f"{s['slots']:.0f}..{args.target_accounts}" for _, s in scenarios])
    line("  the watcher: CPU per account  s / cores at this rate",
         [f"{watcher_cpu:.3f} / {per_s * watcher_cpu:.2f}" for _ in scenarios],
         "this process's CPU / accounts, the larger of cold and warm")
    print("\n".join(lines))
    first, second = scenarios[0][1], scenarios[1][1]
    def decided(sc: dict[str, float]) -> str:
        return "the cores decide" if sc["by_cores"] else "memory decides"

    print(f"  In words: at L = {args.latency_ms:g} ms a busy slot uses {first['share']:.2f} of a "
          f"core: {first['slots']:.0f} slots on {first['machines']:.0f} machine(s) of "
          f"{args.machine_cores} cores, {decided(first)}; at L = "
          f"{args.slow_latency_ms:g} ms a job waits longer for the same CPU, so it takes more "
          f"slots ({second['slots']:.0f}) sharing the cores, on {second['machines']:.0f} "
          f"machine(s), {decided(second)}. "
          f"The broker's "
          f"load is small either way: {2 * rate:.0f} messages and "
          f"{rate * (task_bytes + result_bytes) / 1e6:.1f} MB a minute, one node; the watcher "
          f"needs a fraction of a core.")


# --- main --------------------------------------------------------------------------------------


def chromium_version() -> str:
    with contextlib.suppress(Exception):
        from scraper.browser.chromium import find_chromium

        path = find_chromium(AccountSettings(**{}).chromium)
        if path is not None:
            answer = subprocess.run([str(path), "--version"], capture_output=True,
                                    text=True, check=False, timeout=30).stdout.strip()
            return f"{answer.split()[-1] if answer else '?'} ({path.name})"
    return "unknown"


def bench(args: argparse.Namespace, root: Path) -> tuple[list[Sandbox], list[Cycle]]:
    note(f"starting {args.accounts} sandboxes ({args.abonents} abonents, L = {args.latency_ms:g} "
         f"ms, C = {LIMIT}) and a RabbitMQ node ...")
    cycles: list[Cycle] = []
    with sandboxes(args.accounts, args.abonents, args.latency_ms) as boxes, \
            rabbitmq_broker(root / "rabbitmq") as broker:
        note(f"  trunks per account: {[box.trunks for box in boxes]}; broker on {broker.port}")
        entries = entries_of(boxes)
        for count in args.workers:
            folder = root / f"w{count}"
            note(f"W={count}: starting {count} worker(s) ...")
            with workers(count, args.concurrency, broker, folder) as started:
                store = Store(folder / "watch.sqlite")
                try:
                    kinds = ["cold"] + ["warm"] * args.warm_cycles
                    for kind in kinds:
                        cycle = run_cycle(kind, entries, boxes, broker, started, store, folder)
                        cycles.append(cycle)
                        note(f"  W={count} {kind}: {cycle.seconds:.2f} s, "
                             f"{cycle.per_minute:.1f} accounts/min, jobs {cycle.mean('total'):.2f}"
                             f" s, worker CPU {cycle.cpu_workers:.1f} s, {cycle.logins} logins, "
                             f"{cycle.events} events, ok {cycle.outcomes.get('ok', 0)}, "
                             f"load {cycle.load:.2f}")
                        if cycle.outcomes.get("ok", 0) != cycle.accounts:
                            note("  failed jobs: " + "; ".join(
                                f"{name}: {job.get('error')}" for name, job in cycle.jobs.items()
                                if "ok" not in job))
                finally:
                    store.close()
    return boxes, cycles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=None,
                        help="accounts, one sandbox each (12; 3 with --quick)")
    parser.add_argument("--abonents", type=int, default=None,
                        help="abonents per sandbox, 4 in 5 are trunks (250 = 200 trunks; 30 "
                             "with --quick)")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="latency each sandbox adds to each call (%(default)s)")
    parser.add_argument("--workers", default="1,2",
                        help="worker processes to compare, comma-separated (%(default)s)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="each worker's --concurrency: jobs (Chromiums) at once (%(default)s)")
    parser.add_argument("--warm-cycles", type=int, default=None,
                        help="warm cycles after the cold one, the fastest shown (2; 1 with "
                             "--quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 accounts of 30 abonents, one warm cycle")
    estimate_options = parser.add_argument_group("the estimate's assumptions")
    estimate_options.add_argument("--target-accounts", type=int, default=TARGET_ACCOUNTS)
    estimate_options.add_argument("--target-minutes", type=float, default=TARGET_MINUTES)
    estimate_options.add_argument("--machine-cores", type=int, default=MACHINE_CORES)
    estimate_options.add_argument("--machine-memory-gb", type=float, default=MACHINE_MEMORY_GB)
    estimate_options.add_argument("--utilization", type=float, default=UTILIZATION)
    estimate_options.add_argument("--slow-latency-ms", type=float, default=SLOW_LATENCY_MS)
    args = parser.parse_args()
    if args.accounts is None:
        args.accounts = 3 if args.quick else 12
    if args.abonents is None:
        args.abonents = 30 if args.quick else 250
    if args.warm_cycles is None:
        args.warm_cycles = 1 if args.quick else 2
    try:
        args.workers = sorted({int(w) for w in args.workers.split(",")})
    except ValueError:
        parser.error("--workers: integers, comma-separated")
    if args.accounts < 1 or args.abonents < 1 or args.warm_cycles < 0 or args.latency_ms < 0 \
            or not all(1 <= w <= 16 for w in args.workers) or not 1 <= args.concurrency <= 16 \
            or not 0 < args.utilization <= 1 or args.machine_cores < 1:
        parser.error("--accounts, --abonents >= 1, --warm-cycles >= 0, --latency-ms >= 0, "
                     "--workers and --concurrency 1-16, --utilization in (0, 1]")
    signal.signal(signal.SIGTERM, _on_sigterm)
    load_start = os.getloadavg()[0]
    chromium = chromium_version()
    try:
        with tempfile.TemporaryDirectory(prefix="vats-bench-scale-") as root:  # never the user's
            boxes, cycles = bench(args, Path(root))
    except (KeyboardInterrupt, Terminated) as exc:
        note("interrupted; the workers, browsers, sandboxes and the broker are stopped")
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        stop_leftovers()
    report(args, boxes, cycles, (load_start, os.getloadavg()[0]), chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
