"""Every benchmark in one run: prints the tables and writes them to docs/benchmarks.md.

    bench/run            (or .venv/bin/python bench/run.py [--quick])

Ratios, not absolute times, are what the tables are read by: the machine is shared and noisy,
so each number is a best-of-N and each goal is stated next to it. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

BENCHES = [
    ("Trunk inventory: vats vs the bound vs a sequential client; cold/warm start; memory",
     "bench/inventory.py", []),
    ("Codec: decode throughput next to json.loads", "bench/codec.py", []),
    ("Permutation: deriving every layout from a compiled permutation", "bench/derive.py", []),
    ("Sandbox: RPC/s served (no injected latency)", "bench/sandbox_rps.py", []),
    ("Bulk change of 200 trunks with a fault in the middle (report = audit = state)",
     "bench/bulk_fault.py", ["--fault", "reset-after"]),
    ("vats watch: one cycle of 10 accounts × 200 trunks at --parallel 1, 2, 4; memory",
     "bench/watch.py", []),
    ("Scale-out: accounts/min on 1 and 2 vats workers; 1,000 accounts / 10 min", "bench/scale.py", []),
]
QUICK_ARGS = {"bench/inventory.py": ["--quick"], "bench/codec.py": ["--rows", "5000"],
              "bench/derive.py": ["--mb", "0.5", "--runs", "2"],
              "bench/sandbox_rps.py": ["--calls", "1000"],
              "bench/bulk_fault.py": ["--abonents", "200"], "bench/watch.py": ["--quick"],
              "bench/scale.py": ["--quick"]}


def machine() -> str:
    chromium = "unknown"
    try:
        from scraper.browser.chromium import find_chromium
        from scraper.settings import AccountSettings

        from_env: dict[str, Any] = {}  # every value from VATS_* (mypy wants the fields named)
        path = find_chromium(AccountSettings(**from_env).chromium)  # VATS_CHROMIUM
        if path is not None:
            chromium = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                                      check=False,
                                      timeout=30).stdout.strip() or str(path)
    except Exception as exc:  # noqa: BLE001 - the description must not stop the benchmarks
        chromium = f"unknown ({exc})"
    mem = "?"
    try:
        with open("/proc/meminfo") as info:
            mem = f"{int(info.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return (f"{platform.node() or 'host'}: {os.cpu_count()} cores, {mem} RAM, "
            f"{platform.platform()}, Python {platform.python_version()}, {chromium}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    command = "bench/run" + (" --quick" if args.quick else "")
    sections = [f"# Benchmarks\n\nWritten by `{command}` on {time.strftime('%Y-%m-%d %H:%M %Z')}.",
                f"Machine: {machine()}.",
                "Benchmarks print; tests never assert times. Read the ratios."]
    failed = 0
    for title, script, extra in BENCHES:
        argv = [PY, script, *extra, *(QUICK_ARGS.get(script, []) if args.quick else [])]
        shown = " ".join(shlex.quote(a) for a in ["python", *argv[1:]])
        print(f"\n## {title}\n$ {shown}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
        took = time.perf_counter() - started
        output = done.stdout.rstrip()
        print(output, flush=True)
        if done.returncode:
            failed += 1
            print(f"(exit {done.returncode})\n{done.stderr[-2000:]}", flush=True)
        sections.append(f"## {title}\n\n`{shown}` ({took:.0f} s"
                        + (f", exit {done.returncode}" if done.returncode else "")
                        + f")\n\n```\n{output}\n```")
    args.out.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
