"""The fault matrix's shared sandbox and its report: the table printed at the end of the run.

One sandbox of a few hundred abonents serves every cell of the package (reset before each
cell); a cell records what it saw in ``matrix.RESULTS``, a failed cell is shown as ``FAIL``,
and ``pytest_terminal_summary`` prints fault × job after the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SandboxHandle, sandbox_handle
from tests.resilience import matrix


@pytest.fixture(scope="package")
def matrix_sandbox() -> Iterator[SandboxHandle]:
    with sandbox_handle("--abonents", str(matrix.ABONENTS)) as handle:
        yield handle


@pytest.fixture
def cabinet(matrix_sandbox: SandboxHandle) -> SandboxHandle:
    """The shared sandbox back at its seed: data, knobs, faults, sessions, audit."""
    matrix_sandbox.control(reset=True)
    return matrix_sandbox


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Saved sessions and the local audit log of this cell only."""
    monkeypatch.setenv("VATS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VATS_AUDIT_DB", str(tmp_path / "audit.sqlite"))
    return tmp_path


Later = Callable[[float, Callable[[], object]], None]


@pytest.fixture
def later() -> Iterator[Later]:
    """``later(seconds, action)``: run ``action`` in a thread that many seconds from now; a
    cell that ends sooner cancels it (nothing fires into the next cell)."""
    timers: list[threading.Timer] = []

    def schedule(seconds: float, action: Callable[[], object]) -> None:
        timer = threading.Timer(seconds, action)
        timers.append(timer)
        timer.start()

    yield schedule
    for timer in timers:
        timer.cancel()
        timer.join()


def _cell(item: pytest.Item) -> tuple[str, str] | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("cell") if callspec is not None else None
    return value if isinstance(value, tuple) else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    cell = _cell(item)
    if cell is None:
        return
    if report.failed:
        matrix.RESULTS[cell] = "FAIL"
    elif report.skipped and cell not in matrix.RESULTS:
        matrix.RESULTS[cell] = "skipped"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not matrix.RESULTS:
        return
    terminalreporter.write_sep("=", "fault matrix (fault × job; docs/resilience.md)")
    for line in matrix.table_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line("[cli] = run as a `vats` subprocess (its exit code shown); "
                                "others through the library (flows.client.Vats)")
