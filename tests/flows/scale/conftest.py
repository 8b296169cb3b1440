"""Six sandbox accounts, a real RabbitMQ and ``vats worker`` subprocesses for the job tests.

The sandboxes (12 abonents each, their own seeds and passwords) start once for the session and
are reset before each test. Each worker is ``python -m flows.cli worker`` exactly as a user
starts it, in a process group of its own, with ``VATS_STATE_DIR`` and the audit log in the
test's temporary folder and the accounts' passwords in its environment (never in a message);
the fixture stops every worker it started, and kills what is left of their process trees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from flows.scale.app import QUEUE, make_app
from flows.watch.config import AccountEntry
from vats_fixtures.pytest_plugin import VatsSandbox
from vats_fixtures.sandbox.process import start_sandbox_process, stop_sandbox_process

REPO = Path(__file__).resolve().parents[3]
NAMES = ("ural", "volga", "neva", "don", "ob", "lena")
ABONENTS = 12


def password_env(name: str) -> str:
    return f"VATS_TEST_PASSWORD_{name.upper()}"


@pytest.fixture(scope="session")
def scale_servers() -> Iterator[dict[str, VatsSandbox]]:
    """Six sandboxes, each with a password of its own (on its stdin, as a user would)."""
    started: list[subprocess.Popen[str]] = []
    servers = {}
    try:
        for index, name in enumerate(NAMES):
            password = f"Pw-{name}-{index}7f3a!"
            process, (url,), log_path = start_sandbox_process(
                "--abonents", str(ABONENTS), "--seed", str(41 + index), password=password)
            started.append(process)
            servers[name] = VatsSandbox(url, log_path, password=password)
        yield servers
    finally:
        for process in started:
            stop_sandbox_process(process)
        for server in servers.values():
            server.log_path.unlink(missing_ok=True)


@pytest.fixture
def cabinets(scale_servers: dict[str, VatsSandbox], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, VatsSandbox]:
    """The cabinets reset to their seeds; each password in its variable for this process."""
    found = {}
    for name, server in scale_servers.items():
        server.reset()
        monkeypatch.setenv(password_env(name), server.password)
        found[name] = dataclasses.replace(server, workdir=tmp_path / "local" / name)
    return found


def entries(cabinets: dict[str, VatsSandbox]) -> list[AccountEntry]:
    return [AccountEntry(name=name, address=c.url, login=c.login, password_env=password_env(name))
            for name, c in cabinets.items()]


@dataclasses.dataclass
class WorkerProcess:
    """A ``vats worker`` subprocess (the leader of its own process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def descendants(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.pid).children(recursive=True)
        return []

    def browsers(self) -> list[psutil.Process]:
        return [p for p in self.descendants() if _is_chromium(p)]

    def kill(self) -> None:
        """SIGKILL the worker's main process only (its pool processes must follow it)."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _is_chromium(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "chrom" in process.name() or "headless_shell" in process.name()
    return False


class Workers:
    """Starts workers against the broker; ``stop()`` ends them all."""

    def __init__(self, broker_url: str, env: dict[str, str], folder: Path) -> None:
        self.broker_url = broker_url
        self.env = env
        self.folder = folder
        self.started: list[WorkerProcess] = []
        self.seen: list[psutil.Process] = []
        self.app = make_app(broker_url, client=True)

    def start(self, name: str, *options: str) -> WorkerProcess:
        hostname = f"{name}@test"
        log_path = self.folder / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.cli", "worker", "--name", hostname, *options],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerProcess(hostname, process, log_path)
        self.started.append(worker)
        self._wait_ready(worker)
        return worker

    def _wait_ready(self, worker: WorkerProcess, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker {worker.name} exited: {worker.log()[-3000:]}")
            if self.app.control.ping(destination=[worker.name], timeout=0.5):
                return
        raise RuntimeError(f"worker {worker.name} did not answer: {worker.log()[-3000:]}")

    def active(self) -> dict[str, list[dict[str, Any]]]:
        """Each running worker's jobs in flight (Celery's inspect)."""
        running = [w.name for w in self.started if w.process.poll() is None]
        if not running:
            return {}
        ask = self.app.control.inspect(destination=running, timeout=1.0, limit=len(running))
        return ask.active() or {}

    def active_jobs(self) -> list[dict[str, Any]]:
        return [job for jobs in self.active().values() for job in jobs]

    def running(self, account: str) -> tuple[WorkerProcess, dict[str, Any]] | None:
        """The worker running a job of ``account`` now, and the job."""
        for name, jobs in self.active().items():
            for job in jobs:
                if (job.get("kwargs") or {}).get("account", {}).get("name") == account:
                    return next(w for w in self.started if w.name == name), job
        return None

    def remember(self) -> None:
        """Note every process of the workers now (the fixture checks none is left)."""
        for worker in self.started:
            self.seen.extend(worker.descendants())

    def stop(self) -> None:
        self.remember()
        for worker in self.started:
            if worker.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)  # warm shutdown
        for worker in self.started:
            try:
                worker.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
                worker.process.wait(10)
        left = wait_gone(self.seen, 10)
        for process in left:  # never leave a process behind, even when a test failed
            with contextlib.suppress(psutil.Error):
                process.kill()
        self.app.close()
        assert not left, f"processes left behind by the workers: {left}"


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``processes`` still alive after ``timeout`` seconds (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in processes if _alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")


def purge_jobs(broker_url: str) -> None:
    """No job of an earlier test waits in the queue (declared, as Celery declares it)."""
    app = make_app(broker_url, client=True)
    try:
        with app.connection_for_write() as connection:
            queue = app.amqp.queues[QUEUE](connection.default_channel)
            queue.declare()
            queue.purge()
    finally:
        app.close()


@pytest.fixture
def workers(rabbitmq: Any, cabinets: dict[str, VatsSandbox], tmp_path: Path) -> Iterator[Workers]:
    """Start workers with ``workers.start(name, *options)``; all stopped after the test."""
    purge_jobs(rabbitmq.url)
    folder = tmp_path / "workers"
    folder.mkdir()
    env = {**os.environ, "VATS_BROKER_URL": rabbitmq.url,
           "VATS_STATE_DIR": str(folder / "state"), "VATS_AUDIT_DB": str(folder / "audit.sqlite"),
           "VATS_TIMEOUT_S": "15", "VATS_LOGIN_TIMEOUT_S": "20",
           **{password_env(name): c.password for name, c in cabinets.items()}}
    pool = Workers(rabbitmq.url, env, folder)
    try:
        yield pool
    finally:
        pool.stop()
