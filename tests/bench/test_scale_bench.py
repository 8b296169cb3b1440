"""Smoke test of ``bench/scale.py``: it runs end to end and prints its table and its estimate.

Why only that: benchmarks print numbers and tests never assert times (they depend on the
machine), but a benchmark nobody runs rots — a change to ``vats worker``, the Celery engine,
the watcher or the sandbox must break CI, not the next person who wants the numbers. ``--quick``
(3 accounts of 30 abonents, W = 1 and 2, one cold and one warm cycle each) takes under a minute
on an idle machine: a RabbitMQ node, three sandboxes and up to two workers start and stop.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.browser

TIMEOUT_S = 300


def test_scale_bench_quick_prints_the_table_and_the_estimate() -> None:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "scale.py"), "--quick"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own process group: a timeout stops the workers and broker too
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(f"bench/scale.py --quick took over {TIMEOUT_S} s:\n{stderr[-3000:]}")
    if "no usable Chromium" in stderr or "Executable doesn't exist" in stderr:
        pytest.skip("no Chromium on this machine")
    assert process.returncode == 0, f"exit {process.returncode}:\n{stderr[-8000:]}"
    from bench.scale import TABLE_TITLE

    assert TABLE_TITLE in stdout
    header = next(line for line in stdout.splitlines() if "W=1 cold" in line)
    assert all(column in header for column in ("W=1 warm", "W=2 cold", "W=2 warm")), header
    per_minute = next(line for line in stdout.splitlines()
                      if line.strip().startswith("accounts per minute"))
    assert len(per_minute.split()) == 3 + 4, per_minute  # a number for each of the 4 cycles
    assert "estimate: 1,000 accounts every 10 minutes" in stdout
    machines = next(line for line in stdout.splitlines()
                    if line.strip().startswith("worker machines ("))
    assert len(re.findall(r"\d+ × \d+", machines)) == 2, machines  # one for each latency
    # correctness, not speed: every job ran, cold cycles logged in and wrote every trunk
    assert "warm ones neither: yes" in stdout
