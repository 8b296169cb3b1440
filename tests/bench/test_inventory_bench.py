"""Smoke test of ``bench/inventory.py``: it runs end to end and prints its table.

Why only that: benchmarks print numbers and tests never assert times (they depend on the
machine), but a benchmark nobody runs rots — an API change in ``flows``/``scraper`` must break
CI, not the next person who wants the numbers. ``--quick`` keeps it to well under a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.browser

TIMEOUT_S = 120


def test_inventory_bench_quick_prints_the_table() -> None:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "inventory.py"), "--quick"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own process group: a timeout stops the sandbox and Chromium too
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(f"bench/inventory.py --quick took over {TIMEOUT_S} s:\n{stderr[-3000:]}")
    if "no usable Chromium" in stderr or "Executable doesn't exist" in stderr:
        pytest.skip("no Chromium on this machine")
    assert process.returncode == 0, f"exit {process.returncode}:\n{stderr[-8000:]}"
    from bench.inventory import TABLE_TITLE

    assert TABLE_TITLE in stdout
    header = next(line for line in stdout.splitlines() if "C=4" in line and "C=16" in line)
    assert "goal" in header
