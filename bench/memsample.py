"""Peak memory of a process tree, sampled from outside it (used by bench/inventory.py).

    python bench/memsample.py ROOT_PID EXCLUDE_PID   # samples until stdin closes, prints JSON

Why a process of its own: sampling on a thread of the measured process takes the GIL from its
event loop (reading smaps is Python-level parsing in psutil), which slowed the very inventory
being measured. Out here it only shares the CPU.

RSS every 50 ms (cheap); PSS, which splits shared pages among the processes mapping them, every
250 ms (reading smaps costs ~2 ms a process). Each process counts as "python" (the root),
"driver" (Playwright's node) or "chromium"; EXCLUDE_PID and its children (the sandbox, which
stands in for the remote cabinet) and this sampler are left out.
"""

from __future__ import annotations

import json
import os
import select
import sys

import psutil

MB = 1024 * 1024
EVERY_S = 0.05
PSS_EVERY = 5  # samples


def processes(root: psutil.Process, exclude: int) -> list[tuple[str, psutil.Process]]:
    found = [("python", root)]
    excluded = {exclude, os.getpid()}
    for child in root.children(recursive=True):
        try:
            if child.pid in excluded or child.ppid() in excluded:
                excluded.add(child.pid)
                continue
            found.append(("driver" if "node" in child.name() else "chromium", child))
        except psutil.Error:
            continue  # it ended between listing and reading
    return found


def sample(root: psutil.Process, exclude: int, *, pss: bool) -> tuple[dict[str, float],
                                                                       dict[str, float]]:
    rss = {"python": 0.0, "driver": 0.0, "chromium": 0.0}
    shared = dict.fromkeys(rss, 0.0)
    for kind, process in processes(root, exclude):
        try:
            rss[kind] += process.memory_info().rss / MB
            if pss:
                shared[kind] += process.memory_full_info().pss / MB
        except psutil.Error:
            continue
    return rss, shared


def main() -> int:
    root, exclude = psutil.Process(int(sys.argv[1])), int(sys.argv[2])
    peak_rss: dict[str, float] = {}
    peak_pss: dict[str, float] = {}
    count = 0
    while True:
        rss, pss = sample(root, exclude, pss=count % PSS_EVERY == 0)
        count += 1
        if sum(rss.values()) > sum(peak_rss.values()):
            peak_rss = rss
        if sum(pss.values()) > sum(peak_pss.values()):
            peak_pss = pss
        ready, _, _ = select.select([sys.stdin], [], [], EVERY_S)
        if ready and not sys.stdin.read(1):  # closed: the run is over
            break
    json.dump({"rss": peak_rss, "pss": peak_pss, "samples": count}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
