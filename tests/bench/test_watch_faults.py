"""Smoke test of ``bench/watch_faults.py``: two of its faults end to end, and the table says
that every sink got every stored event.

Why here too: the table in docs/watch.md is only worth something if the script still runs; the
properties themselves are asserted one fault at a time in tests/flows/watch/test_cli.py. It
starts its own RabbitMQ node and two sandboxes (~30 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.browser

TIMEOUT_S = 240
COLUMNS = ("sink", "got", "unique", "missing", "extra", "copies", "order")


def sink_rows(stdout: str) -> list[dict[str, str]]:
    """The table's per-sink rows (``| | | log | 20 | 20 | 0 | 0 | 0 | yes |``) as dicts."""
    rows = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] == cells[1] == "" and cells[2]:
            rows.append(dict(zip(COLUMNS, cells[2:], strict=True)))
    return rows


def test_each_sink_gets_every_event_through_a_500_and_a_broker_down() -> None:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "watch_faults.py"), "--abonents", "5",
         "--only", "hook500", "busdown"], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"bench/watch_faults.py took over {TIMEOUT_S} s:\n{stderr[-3000:]}")
    assert process.returncode == 0, f"exit {process.returncode}:\n{stderr[-8000:]}"
    assert "the webhook answers 500 twice, then 200" in stdout
    assert "`watch --once --deliver-timeout 3` → 1 (the broker is down)" in stdout
    rows = sink_rows(stdout)
    assert [r["sink"] for r in rows] == ["log", "hook", "bus"] * 2, stdout
    assert all(r["missing"] == "0" and r["extra"] == "0" and r["order"] == "yes"
               for r in rows), stdout
    hook = rows[1]
    assert hook["got"].endswith(f"({int(hook['unique']) + 2} tries)"), hook  # the two 500s
