"""Smoke test of ``bench/watch.py``: it runs end to end and prints its table.

Why only that: benchmarks print numbers and tests never assert times (they depend on the
machine), but a benchmark nobody runs rots — a change to ``vats watch``, its accounts file or
the sandbox must break CI, not the next person who wants the numbers. ``--quick`` (3 accounts of
30 abonents, one repetition) keeps it to well under a minute on an idle machine.
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

TIMEOUT_S = 180


def test_watch_bench_quick_prints_the_table() -> None:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "watch.py"), "--quick"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own process group: a timeout stops the sandboxes and Chromium too
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(f"bench/watch.py --quick took over {TIMEOUT_S} s:\n{stderr[-3000:]}")
    if "no usable Chromium" in stderr or "Executable doesn't exist" in stderr:
        pytest.skip("no Chromium on this machine")
    assert process.returncode == 0, f"exit {process.returncode}:\n{stderr[-8000:]}"
    from bench.watch import TABLE_TITLE

    assert TABLE_TITLE in stdout
    header = next(line for line in stdout.splitlines() if "P=1" in line and "P=4" in line)
    assert "goal" in header
    ratios = next(line for line in stdout.splitlines() if line.strip().startswith("time / bound"))
    assert len(re.findall(r"\d+\.\d\dx", ratios)) == 3, ratios
    # correctness, not speed: every account's trunks became events, each account logged in once
    assert "exactly each account's trunks appeared: yes" in stdout
