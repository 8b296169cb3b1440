"""`vats watch`: one cycle of many accounts against slow, connection-limited cabinets.

    .venv/bin/python bench/watch.py [--accounts 10] [--abonents 250] [--latency-ms 50]
                                    [--parallel 1,2,4] [--repeat 2] [--quick]

Why this benchmark: the watcher reads many accounts through one browser, at most ``--parallel``
of them at once. Each account's inventory is bound by its cabinet's latency and per-session
limit (bench/inventory.py), so P accounts at once should take about as long as one — unless
something in the watcher (a lock, the shared browser, the store, the CPU of a 2-core machine)
makes them wait for each other. The issue's goal: ≤ 1.3× the bound and ≤ 800 MB at P = 4.

Set-up, once for the whole run: one sandbox subprocess per account (127.0.0.1, port 0,
``--abonents A --latency-ms L --max-concurrent-calls C --seed i``: each account its own
phones). C = 4, as the inventory bench's C=4 column, and the client's concurrency is its
default 4 (the accounts file's ``concurrency``). By default A = 250 abonents, i.e. 200 trunks
per account, the issue's "10 accounts × 200 trunks" (``--abonents 200`` gives 160 trunks).

For each P: the real CLI in a subprocess, ``vats --config FILE watch --once --parallel P``, with a
fresh store, one JSONL sink to a fresh file and ``VATS_STATE_DIR`` in a fresh folder, so every
account logs in (the sandboxes' audit logs count the logins). Timed from spawn to exit; the PSS
and RSS of its whole process tree (the vats process, its Playwright driver, every Chromium
process, children recursively; not the sandboxes, which stand in for the remote cabinets)
sampled every 250 ms on a thread of this process (it only waits, so the thread steals nothing
from the process measured). Each P is repeated (``--repeat``, interleaved); the best time and
the worst memory are shown.

The bound for P: ceil(accounts / P) × the one-account bound of bench/inventory.py,
login + pages·L + ceil(N/C)·L, with N the largest number of trunks of the accounts and the
login measured here as that bench does (browser launch + login to the running app, one account,
in this process, best of ``--repeat``). Also shown, to tell the watcher's costs from the
machine's: one account alone through the same CLI, and the CPU the run took.

Goals are printed next to the numbers, never asserted. Every sandbox and browser is stopped at
the end, also on errors and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inventory import machine, mark, note, shown_command  # noqa: E402
from flows.abonents import PAGE_SIZE  # noqa: E402
from flows.client import Vats  # noqa: E402
from scraper.browser.host import BrowserHost  # noqa: E402
from scraper.settings import AccountSettings, child_environment  # noqa: E402
from vats_fixtures.sandbox.process import PREEXEC, start_sandbox_process, stop_sandbox_process  # noqa: E402

LOGIN = "+7-9000000000"
PASSWORD = "sandbox"  # the sandbox account's password (not a secret)
PASSWORD_ENV = "VATS_BENCH_SANDBOX_PASSWORD"
LIMIT = 4  # the sandboxes' per-session limit and the client's concurrency (its default)
MB = 1024 * 1024
SAMPLE_EVERY_S = 0.5  # PSS costs the kernel ~4 ms a Chromium process (its page tables)
RUN_TIMEOUT_S = 900.0
TABLE_TITLE = "watch benchmark: one cycle of every account at --parallel P vs the bound"
APPEARED = "vats.trunk.appeared"

CPU_KINDS = ("python", "driver", "browser", "renderer", "other")

GOAL_BOUND = 1.3
GOAL_MEMORY_MB = 800.0
GOAL_MEMORY_AT = 4  # P

_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ flows\.watch\.runner: "
                       r"(reading account|account cycle \w+)\s*(.*)$")
_STATUS = re.compile(r" -> (\d{3}|\w+)")


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt, so every ``finally`` stops its part."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up itself is not interrupted
    raise Terminated


# --- the sandboxes -----------------------------------------------------------------------------


@dataclass
class Sandbox:
    """One account's cabinet."""

    name: str
    url: str
    process: subprocess.Popen[str]
    log_path: Path
    abonents: int = 0
    trunks: int = 0

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/__sandbox__/{path}", timeout=30) as answer:
            return json.loads(answer.read())

    def logins(self) -> int:
        """Successful logins so far (the sandbox's audit log)."""
        return sum(1 for entry in self.get("audit") if entry["service"] == "auth"
                   and entry["method"] == "login" and entry["arguments"].get("result") == "ok")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def statuses(self, since: int) -> Counter[str]:
        """HTTP statuses of the GWT calls logged since byte ``since`` (503: over the limit)."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read().decode("utf-8", errors="replace")
        return Counter(m.group(1) for line in text.splitlines() if "vpbxGwt" in line or " -> " in line
                       for m in [_STATUS.search(line)] if m)

    def cpu(self) -> float:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self.process.pid).cpu_times()
            return float(times.user + times.system)
        return 0.0


@contextlib.contextmanager
def sandboxes(count: int, abonents: int, latency_ms: float) -> Iterator[list[Sandbox]]:
    """``count`` sandbox cabinets, each with its own seed; all stopped on every exit path."""
    boxes: list[Sandbox] = []
    try:
        for index in range(count):
            process, (url,), log_path = start_sandbox_process(  # info: its log has each call
                "--abonents", str(abonents), "--latency-ms", f"{latency_ms:g}",
                "--max-concurrent-calls", str(LIMIT), "--seed", str(index + 1))
            box = Sandbox(f"acc{index + 1:02d}", url, process, log_path)
            boxes.append(box)
            state = box.get("state")["abonents"]
            box.abonents = len(state)
            box.trunks = sum(1 for abonent in state if abonent.get("identify_line"))
        yield boxes
    finally:
        for box in boxes:
            stop_sandbox_process(box.process)
            box.log_path.unlink(missing_ok=True)


# --- the one-account login, measured as bench/inventory.py does -------------------------------


@dataclass
class Login:
    launch: float
    login: float  # nothing → logged-in app running (browser launch included)
    chromium: str


async def measure_login(box: Sandbox, state_dir: Path) -> Login:
    values: dict[str, Any] = {"address": box.url, "login": LOGIN, "password": PASSWORD,
                              "concurrency": LIMIT, "reuse_session": False, "state_dir": state_dir}
    settings = AccountSettings(**values)
    started = time.perf_counter()
    host = BrowserHost.for_settings(settings)
    try:
        await host.start()
        launched = time.perf_counter()
        async with Vats(settings=settings, host=host):
            ready = time.perf_counter()
        version = host.browser.version
    finally:
        await host.close()
    name = Path(host.options.get("executable_path") or "bundled").name
    return Login(launched - started, ready - started, f"{version} ({name})")


# --- memory of the watcher's process tree ------------------------------------------------------


class TreeSampler:
    """Peak PSS and RSS of a process and all its descendants, sampled on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_pss = 0.0
        self.peak_rss = 0.0
        self.pss: dict[str, float] = {}
        self.rss: dict[str, float] = {}
        self.processes_at_peak = 0
        self.renderers_at_peak = 0
        self.samples = 0
        self._kinds: dict[int, str] = {}  # pid → python, driver, browser, renderer, other
        self._cpu: dict[int, tuple[str, float]] = {}  # pid → its kind, its last CPU seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch-bench-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # this thread only (Linux): the run goes first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            self._sample(root)
            self._stop.wait(SAMPLE_EVERY_S)

    def _sample(self, root: psutil.Process) -> None:
        try:
            tree = [("python", root), *(("driver" if "node" in child.name() else "chromium", child)
                                        for child in root.children(recursive=True))]
        except psutil.Error:
            return  # the root has ended
        pss = dict.fromkeys(("python", "driver", "chromium"), 0.0)
        rss = dict(pss)
        counted = renderers = 0
        for kind, process in tree:
            try:
                info = process.memory_full_info()
                detail = self._kind(process, kind)
                times = process.cpu_times()
            except psutil.Error:
                continue  # it ended between listing and reading
            pss[kind] += info.pss / MB
            rss[kind] += info.rss / MB
            self._cpu[process.pid] = (detail, times.user + times.system)
            counted += 1
            renderers += detail == "renderer"
        self.samples += 1
        if sum(pss.values()) > self.peak_pss:
            self.peak_pss, self.pss = sum(pss.values()), pss
            self.processes_at_peak, self.renderers_at_peak = counted, renderers
        if sum(rss.values()) > self.peak_rss:
            self.peak_rss, self.rss = sum(rss.values()), rss


    def _kind(self, process: psutil.Process, kind: str) -> str:
        if process.pid not in self._kinds:
            if kind == "chromium":
                types = [a for a in process.cmdline() if a.startswith("--type=")]
                kind = ("browser" if not types else
                        "renderer" if types[0] == "--type=renderer" else "other")
            self._kinds[process.pid] = kind
        return self._kinds[process.pid]

    def cpu(self) -> dict[str, float]:
        """CPU seconds by kind of process, as last sampled (a process's last ≤ 250 ms may be
        missing)."""
        found = dict.fromkeys(CPU_KINDS, 0.0)
        for kind, seconds in self._cpu.values():
            found[kind] += seconds
        return found


def stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop a CLI run that is still going: SIGTERM (it closes its browser), then kill whatever
    of its tree is left."""
    if process.poll() is not None:
        return
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _, alive = psutil.wait_procs(tree, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


# --- one CLI run -------------------------------------------------------------------------------


@dataclass
class WatchRun:
    """One ``vats watch --once`` from spawn to exit."""

    parallel: int
    accounts: int
    seconds: float
    status: int
    load: float  # 1-min load average when it started
    startup: float = math.nan  # spawn → the first account's cycle started
    span: float = math.nan  # first cycle started → last cycle recorded
    tail: float = math.nan  # last cycle recorded → exit (delivery, closing)
    cycles: list[float] = field(default_factory=list)  # each account's cycle, login included
    outcomes: Counter[str] = field(default_factory=Counter)
    events: int = 0
    appeared: Counter[str] = field(default_factory=Counter)  # per account
    peak_pss: float = 0.0
    pss: dict[str, float] = field(default_factory=dict)
    peak_rss: float = 0.0
    rss: dict[str, float] = field(default_factory=dict)
    processes: int = 0
    renderers: int = 0
    samples: int = 0
    cpu_kinds: dict[str, float] = field(default_factory=dict)  # sampled, by kind of process
    cpu_bench: float = 0.0  # this process (the sampler thread) during the run
    cpu_sandboxes: float = 0.0
    cpu_machine: float = 0.0  # every process on the machine, busy CPU seconds
    logins: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    stderr: str = ""

    @property
    def cpu_watcher(self) -> float:
        """CPU seconds of the vats process tree (sampled per process)."""
        return sum(self.cpu_kinds.values())


#: the accounts' transport (--transport); None: vats's default
TRANSPORT: str | None = None


def transport_line() -> list[str]:
    return [] if TRANSPORT is None else [f'transport = "{TRANSPORT}"']


def write_config(folder: Path, boxes: list[Sandbox], parallel: int) -> Path:
    lines = [f'database = "{folder / "watch.sqlite"}"', f"parallel = {parallel}", ""]
    for box in boxes:
        lines += ["[[accounts]]", f'name = "{box.name}"', f'address = "{box.url}"',
                  f'login = "{LOGIN}"', f'password_env = "{PASSWORD_ENV}"',
                  f"concurrency = {LIMIT}", *transport_line(), ""]
    lines += ["[[sinks]]", 'name = "events"', 'type = "jsonl"',
              f'path = "{folder / "events.jsonl"}"', ""]
    path = folder / "accounts.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def vats_executable() -> str:
    beside = Path(sys.executable).with_name("vats")
    if beside.exists():
        return str(beside)
    found = shutil.which("vats")
    if found is None:
        raise RuntimeError("no vats command beside this Python or on PATH (scripts/setup)")
    return found


def busy(times: Any) -> float:
    """Busy CPU seconds of this machine since boot (not idle, I/O wait nor a hypervisor's steal;
    guest time is already in user)."""
    return float(sum(getattr(times, name, 0.0)
                     for name in ("user", "nice", "system", "irq", "softirq")))


def run_watch(boxes: list[Sandbox], parallel: int, root: Path) -> WatchRun:
    folder = Path(tempfile.mkdtemp(prefix=f"p{parallel}-", dir=root))
    config = write_config(folder, boxes, parallel)
    env = child_environment(**{PASSWORD_ENV: PASSWORD, "VATS_STATE_DIR": str(folder / "state")})
    logins = [box.logins() for box in boxes]
    offsets = [box.log_size() for box in boxes]
    cpu_boxes = sum(box.cpu() for box in boxes)
    load = os.getloadavg()[0]
    machine_before = psutil.cpu_times()
    bench_before = psutil.Process().cpu_times()
    command = [vats_executable(), "--config", str(config), "watch", "--once",
               "--parallel", str(parallel)]
    with (folder / "stdout").open("wb") as out, (folder / "stderr").open("wb") as err:
        spawned_at = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err, cwd=folder, start_new_session=True,
                                   preexec_fn=PREEXEC)  # noqa: PLW1509 - only prctl
        try:
            with TreeSampler(process.pid) as sampler:
                status = process.wait(timeout=RUN_TIMEOUT_S)
                seconds = time.perf_counter() - started
        finally:
            stop_tree(process)
    machine_after = psutil.cpu_times()
    bench_after = psutil.Process().cpu_times()
    run = WatchRun(parallel, len(boxes), seconds, status, load,
                   peak_pss=sampler.peak_pss, pss=sampler.pss, peak_rss=sampler.peak_rss,
                   rss=sampler.rss, processes=sampler.processes_at_peak,
                   renderers=sampler.renderers_at_peak, samples=sampler.samples,
                   cpu_kinds=sampler.cpu())
    run.cpu_bench = (bench_after.user + bench_after.system) - (bench_before.user
                                                               + bench_before.system)
    run.cpu_sandboxes = sum(box.cpu() for box in boxes) - cpu_boxes
    run.cpu_machine = busy(machine_after) - busy(machine_before)
    run.logins = sum(box.logins() for box in boxes) - sum(logins)
    for box, offset in zip(boxes, offsets, strict=True):
        run.statuses.update(box.statuses(offset))
    run.stderr = (folder / "stderr").read_text(encoding="utf-8", errors="replace")
    read_log(run, run.stderr, spawned_at)
    events = folder / "events.jsonl"
    if events.exists():
        for line in events.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            run.events += 1
            if event.get("type") == APPEARED:
                run.appeared[event["data"]["account"]] += 1
    shutil.rmtree(folder, ignore_errors=True)
    return run


def read_log(run: WatchRun, text: str, spawned_at: float) -> None:
    """When each account's cycle started and ended, from the watcher's own log lines."""
    starts: list[float] = []
    ends: list[float] = []
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        stamp, what, extras = match.groups()
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
        if what == "reading account":
            starts.append(when)
            continue
        ends.append(when)
        run.outcomes[what.removeprefix("account cycle ")] += 1
        seconds = re.search(r"\bseconds=([\d.]+)", extras)
        if seconds:
            run.cycles.append(float(seconds.group(1)))
    if starts and ends:
        run.startup = min(starts) - spawned_at
        run.span = max(ends) - min(starts)
        run.tail = spawned_at + run.seconds - max(ends)


# --- the report --------------------------------------------------------------------------------


def one_bound(login: float, pages: int, trunks: int, latency: float) -> float:
    return login + pages * latency + math.ceil(trunks / LIMIT) * latency


def report(args: argparse.Namespace, boxes: list[Sandbox], login: Login,
           single: list[WatchRun], runs: dict[int, list[WatchRun]],
           load: tuple[float, float]) -> None:
    latency = args.latency_ms / 1000
    count = len(boxes)
    pages = math.ceil(args.abonents / PAGE_SIZE)
    trunks = max(box.trunks for box in boxes)
    total_trunks = sum(box.trunks for box in boxes)
    one = one_bound(login.login, pages, trunks, latency)
    alone = min(single, key=lambda r: r.seconds)
    alone_cycle = min(c for r in single for c in r.cycles) if any(r.cycles for r in single) \
        else math.nan
    columns = sorted(runs)
    best = [min(runs[p], key=lambda r: r.seconds) for p in columns]
    worst = [max(runs[p], key=lambda r: r.peak_pss) for p in columns]
    bounds = [math.ceil(count / p) * one for p in columns]
    width = 62
    cell = 22
    rows: list[str] = []

    def row(label: str, cells: list[str], goal: str = "") -> None:
        rows.append(f"{label:<{width}}" + "".join(f"{c:>{cell}}" for c in cells) + f"   {goal}")

    def secs(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:.2f}"

    row("", [f"P={p}" for p in columns], "goal")
    rows.append(f"one cycle of {count} accounts, the CLI from spawn to exit, best of {args.repeat}")
    row("  time  s", [f"{r.seconds:.2f}" for r in best])
    row("    CLI start + browser launch (spawn → first account read)  s",
        [secs(r.startup) for r in best])
    row("    accounts (first read → last cycle recorded)  s", [secs(r.span) for r in best])
    row("    delivery + closing (last cycle → exit)  s", [secs(r.tail) for r in best])
    row("    one account's cycle (login + inventory + store), mean  s",
        [secs(sum(r.cycles) / len(r.cycles)) if r.cycles else "-" for r in best])
    row("                                                       max  s",
        [secs(max(r.cycles)) if r.cycles else "-" for r in best])
    row(f"  bound: ceil({count}/P) × (login + pages·L + ceil(N/C)·L)  s",
        [f"{b:.2f}" for b in bounds])
    row("  time / bound", [f"{r.seconds / b:.2f}x" + mark(r.seconds / b <= GOAL_BOUND)
                           for r, b in zip(best, bounds, strict=True)], f"≤ {GOAL_BOUND}x")
    ideal = [math.ceil(count / p) * alone_cycle for p in columns]
    row(f"  ceil({count}/P) × one account's cycle when alone  s", [secs(i) for i in ideal])
    row("  accounts span / that (1.00x: accounts do not slow each other)",
        [f"{r.span / i:.2f}x" if not math.isnan(r.span / i) else "-"
         for r, i in zip(best, ideal, strict=True)])
    row("  the other runs  s",
        [" ".join(f"{r.seconds:.1f}" for r in runs[p] if r is not b) or "-"
         for p, b in zip(columns, best, strict=True)])
    rows.append(f"memory of the whole watcher (worst of {args.repeat}, sampled every "
                f"{SAMPLE_EVERY_S * 1000:.0f} ms)")
    row("  peak PSS, vats + driver + Chromium  MB",
        [f"{r.peak_pss:.0f}" + mark(r.peak_pss <= GOAL_MEMORY_MB if p == GOAL_MEMORY_AT else None)
         for p, r in zip(columns, worst, strict=True)],
        f"≤ {GOAL_MEMORY_MB:.0f} MB at P={GOAL_MEMORY_AT}")
    row("    python / driver / chromium  MB",
        ["/".join(f"{r.pss.get(k, 0):.0f}" for k in ("python", "driver", "chromium"))
         for r in worst])
    row("    processes in the tree at the peak (renderers)",
        [f"{r.processes} ({r.renderers})" for r in worst])
    row("  peak RSS, the same processes  MB", [f"{r.peak_rss:.0f}" for r in worst])
    rows.append("where the time went (the best run)")
    row("  CPU: vats tree / sandboxes / this bench / the rest of the machine  s",
        [f"{r.cpu_watcher:.1f}/{r.cpu_sandboxes:.1f}/{r.cpu_bench:.1f}/"
         f"{max(0.0, r.cpu_machine - r.cpu_watcher - r.cpu_sandboxes - r.cpu_bench):.1f}"
         for r in best])
    row("    vats tree: " + " / ".join(CPU_KINDS) + "  s",
        ["/".join(f"{r.cpu_kinds.get(k, 0):.1f}" for k in CPU_KINDS) for r in best])
    cores = os.cpu_count() or 1
    row(f"  CPU busy / ({cores} cores × time): ours, the whole machine",
        [f"{(r.cpu_watcher + r.cpu_sandboxes) / (cores * r.seconds):.0%}, "
         f"{r.cpu_machine / (cores * r.seconds):.0%}" for r in best])
    row(f"  CPU floor: (vats tree + sandboxes) / {cores} cores  s",
        [f"{(r.cpu_watcher + r.cpu_sandboxes) / cores:.2f}" for r in best])
    row("  CPU floor / bound (> 1: out of reach on this machine)",
        [f"{(r.cpu_watcher + r.cpu_sandboxes) / cores / b:.2f}x"
         for r, b in zip(best, bounds, strict=True)])
    row("  1-min load average when it started", [f"{r.load:.2f}" for r in best])
    row("  GWT calls answered / refused over the limit (503)",
        [f"{r.statuses.get('200', 0)}/{r.statuses.get('503', 0)}" for r in best])
    rows.append("checks (every run)")
    row(f"  logins seen by the sandboxes (fresh sessions: {count} a run)",
        [" ".join(str(r.logins) for r in runs[p]) for p in columns])
    row(f"  events written, JSONL lines (= the {total_trunks} trunks)",
        [" ".join(str(r.events) + mark(r.events == total_trunks) for r in runs[p])
         for p in columns])
    exact = [all(r.appeared.get(box.name, 0) == box.trunks for box in boxes) for p in columns
             for r in runs[p]]
    row("  exit status / cycles ok",
        [" ".join(f"{r.status}/{r.outcomes.get('ok', 0)}" for r in runs[p]) for p in columns])

    print(TABLE_TITLE)
    print(f"command: {shown_command()}")
    print(f"machine: {machine(login.chromium)}")
    print(f"load average (1 min): {load[0]:.2f} at start, {load[1]:.2f} at end")
    print(f"sandboxes: {count} accounts, one sandbox each, {args.abonents} abonents ({pages} list "
          f"pages of {PAGE_SIZE}), N = {min(b.trunks for b in boxes)}–{trunks} trunks "
          f"({total_trunks} in all), L = {args.latency_ms:g} ms per call, at most C = {LIMIT} calls "
          f"in flight per session (503 beyond); client concurrency {LIMIT} per account, transport "
          f"{TRANSPORT or AccountSettings(**{}).transport}")
    print(f"one-account bound: login {login.login:.2f} s (browser launch {login.launch:.2f} s "
          f"incl., measured in this process, best of {args.repeat}) + {pages}·L + "
          f"ceil({trunks}/{LIMIT})·L = {one:.2f} s")
    print(f"one account alone through the CLI (P=1): {alone.seconds:.2f} s spawn → exit, its cycle "
          f"{secs(alone_cycle)} s (best of {len(single)}); CPU of its tree {alone.cpu_watcher:.1f} s ("
          + " / ".join(f"{k} {alone.cpu_kinds.get(k, 0):.1f}" for k in CPU_KINDS) + ")")
    print()
    print("\n".join(rows))
    print()
    print("what the numbers mean:")
    print(f"  The bound counts a login per account (launch included), as each account here logs in "
          f"(fresh VATS_STATE_DIR); the watcher launches one browser for all, so the bound is "
          f"{math.ceil(count / columns[-1]) - 1}–{math.ceil(count / columns[0]) - 1} launches "
          f"generous. Not in it: the CLI's own start (Python imports), writing the snapshots and "
          f"the {total_trunks} events (one fsync each), closing.")
    print("  An account's cycle is its login (fresh session) plus its inventory plus the store's "
          "transaction; the accounts span against ceil(accounts/P) × one account's cycle alone "
          "shows how much the accounts read at once slow each other down (shared browser, shared "
          "CPU), apart from the CLI's fixed costs.")
    print("  The machine's CPU busy near 100 % means the run waited for the CPU, not for L; "
          "\"ours\" is the vats tree and the sandboxes. The vats tree's CPU is each process's "
          "own, read at each sample (the last half second of a process that ended is missed); "
          "\"this bench\" is mostly the kernel's work for the PSS samples.")
    print("checks:")
    print(f"  every run's events are exactly each account's trunks appeared: "
          f"{'yes' if all(exact) else 'NO'}")
    print("  MB = 2^20 bytes. PSS splits each shared page among the processes mapping it (also "
          "with other Chromiums on the machine: a lower estimate on a busy host); RSS counts "
          "shared pages in each process (an upper estimate).")
    print("  ✓/✗ = goal met or not on this run; goals are printed, never asserted.")


# --- main --------------------------------------------------------------------------------------


def stop_leftovers() -> None:
    """Stop any process this run started and left behind (a Chromium that outlived its CLI)."""
    leftovers = psutil.Process().children(recursive=True)
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            note(f"stopping a left-over process {process.pid} ({process.name()})")
            process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=5)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def bench(args: argparse.Namespace, root: Path) -> tuple[list[Sandbox], Login, list[WatchRun],
                                                        dict[int, list[WatchRun]]]:
    note(f"starting {args.accounts} sandboxes ({args.abonents} abonents, L = {args.latency_ms:g} "
         f"ms, C = {LIMIT}) ...")
    with sandboxes(args.accounts, args.abonents, args.latency_ms) as boxes:
        note(f"  trunks per account: {[box.trunks for box in boxes]}")
        logins = [asyncio.run(asyncio.wait_for(measure_login(boxes[0], root / f"login-{n}"),
                                               RUN_TIMEOUT_S)) for n in range(args.repeat)]
        login = min(logins, key=lambda r: r.login)
        note(f"  login (launch incl.): {', '.join(f'{r.login:.2f}' for r in logins)} s")
        single: list[WatchRun] = []
        runs: dict[int, list[WatchRun]] = {p: [] for p in args.parallel}
        for attempt in range(1, args.repeat + 1):  # interleaved: drifting load hits every P
            single.append(run_watch(boxes[:1], 1, root))
            note(f"[{attempt}/{args.repeat}] one account alone: {single[-1].seconds:.2f} s, "
                 f"exit {single[-1].status}")
            for parallel in args.parallel:
                run = run_watch(boxes, parallel, root)
                runs[parallel].append(run)
                note(f"[{attempt}/{args.repeat}] P={parallel}: {run.seconds:.2f} s, exit "
                     f"{run.status}, {run.events} events, {run.logins} logins, peak PSS "
                     f"{run.peak_pss:.0f} MB, CPU {run.cpu_watcher:.1f}+{run.cpu_sandboxes:.1f} s, "
                     f"load {run.load:.2f}")
                if run.status != 0:
                    note(run.stderr[-3000:])
        return boxes, login, single, runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=None,
                        help="accounts, one sandbox each (10; 3 with --quick)")
    parser.add_argument("--abonents", type=int, default=None,
                        help="abonents per sandbox, 4 in 5 are trunks (250 = 200 trunks; 30 with "
                             "--quick)")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="latency each sandbox adds to each call (%(default)s)")
    parser.add_argument("--parallel", default="1,2,4",
                        help="the --parallel values, comma-separated (%(default)s)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of each P, the best time and the worst memory are shown "
                             "(2; 1 with --quick)")
    parser.add_argument("--transport", choices=("page", "request", "direct"), default=None,
                        help="how the accounts' reads travel (the accounts file's transport "
                             "key; default: vats's own default, page)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 accounts of 30 abonents, one repetition")
    args = parser.parse_args()
    if args.accounts is None:
        args.accounts = 3 if args.quick else 10
    if args.abonents is None:
        args.abonents = 30 if args.quick else 250
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    try:
        args.parallel = sorted({int(p) for p in args.parallel.split(",")})
    except ValueError:
        parser.error("--parallel: integers, comma-separated")
    if args.accounts < 1 or args.abonents < 1 or args.repeat < 1 or args.latency_ms < 0 \
            or not all(1 <= p <= 64 for p in args.parallel):
        parser.error("--accounts, --abonents and --repeat must be >= 1, --latency-ms >= 0, "
                     "--parallel 1-64")
    global TRANSPORT  # noqa: PLW0603 - one setting for the whole script
    TRANSPORT = args.transport
    signal.signal(signal.SIGTERM, _on_sigterm)
    load_start = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="vats-bench-watch-") as root:  # never the user's
            results = bench(args, Path(root))
    except (KeyboardInterrupt, Terminated) as exc:
        note("interrupted; the sandboxes and the browsers are stopped")
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        stop_leftovers()
    report(args, *results, load=(load_start, os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
