"""A bulk change of 200 trunks with a fault in the middle: report, audit and state must agree.

    .venv/bin/python bench/bulk_fault.py [--fault http500-after|http500|reset-after|stall|expire|redeploy]

Starts a 1,000-abonent sandbox (its 200 switched-off devices are the batch), runs
``enable --all-inactive`` through the library, injects the fault when half the items are done,
then prints the report's counts, the local audit rows, the sandbox's own audit of mutations and
the final sandbox state — and whether they agree item by item. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.client import Vats
from scraper.audit import AuditLog
from tests.conftest import (
    SandboxHandle,
    account_settings,
    start_sandbox_process,
    stop_sandbox_process,
)

FAULTS: dict[str, dict[str, Any]] = {
    "http500": {"faults": [{"kind": "http500", "next": 3, "method": "setDeviceEnabled"}]},
    "http500-after": {"faults": [{"kind": "http500", "next": 3, "method": "setDeviceEnabled",
                                  "after": True}]},
    "reset-after": {"faults": [{"kind": "reset", "next": 3, "method": "setDeviceEnabled",
                                "after": True}]},
    "stall": {"faults": [{"kind": "stall", "next": 2, "method": "setDeviceEnabled"}]},
    "expire": {"expire_sessions": True},
    "redeploy": {"redeploy": True},
}


async def run(fault: str, abonents: int) -> int:
    process, (url,), log_path = start_sandbox_process("--abonents", str(abonents))
    handle = SandboxHandle(url, log_path)
    workdir = Path(tempfile.mkdtemp(prefix="vats-bulk-"))
    audit_path = workdir / "audit.sqlite"
    try:
        settings = account_settings(handle, concurrency=8, timeout_s=3, audit_db=audit_path,
                                    state_dir=workdir / "state")
        started = time.perf_counter()
        async with Vats(settings=settings) as vats:
            plan = await vats.plan("enable", all_inactive=True)
            fired = False

            def progress(done: int, total: int) -> None:
                nonlocal fired
                if not fired and done >= total // 2:
                    fired = True
                    handle.control(**FAULTS[fault])
                    print(f"  fault '{fault}' injected after {done}/{total} items")

            report = await vats.apply("enable", plan, progress=progress)
        took = time.perf_counter() - started
        state = {a["phone"]: a for a in handle.state()["abonents"]}
        sandbox_calls = Counter(tuple(e["arguments"]) for e in handle.audit()
                                if e["method"] == "setDeviceEnabled")
        audit_rows = AuditLog(audit_path).entries()
        counts = report.counts()
        print(f"batch: {len(plan)} items, fault '{fault}', {took:.1f} s")
        print(f"report: {counts['done']} done, {counts['skipped']} skipped, "
              f"{counts['failed']} failed")
        for result in report.results:
            if result.detail not in ("applied and read back", "switched in the page"):
                print(f"  {result.item.number}: {result.result} — {result.detail}")
        done_numbers = {r.item.number for r in report.results if r.result == "done"}
        audited = {e.number: e.result for e in audit_rows}
        on = {n for n, a in state.items() if a["device"] and a["device"]["enabled"]}
        twice = {k: v for k, v in sandbox_calls.items() if v > 1}
        checks = {
            "every item reported": len(report.results) == len(plan),
            "every item audited once": sorted(audited) == sorted(i.number for i in plan)
            and len(audit_rows) == len(plan),
            "audit results = report": all(audited[r.item.number] == r.result
                                          for r in report.results),
            "done items are on in the sandbox": done_numbers <= on,
            "failed items are not on": not ({r.item.number for r in report.failed} & on),
            "no change applied twice (sandbox audit)": not twice,
        }
        print(f"local audit rows: {len(audit_rows)} ({Counter(e.result for e in audit_rows)})")
        print(f"sandbox setDeviceEnabled calls: {sum(sandbox_calls.values())} for "
              f"{len(sandbox_calls)} devices")
        for name, ok in checks.items():
            print(f"  [{'ok' if ok else 'FAIL'}] {name}")
        return 0 if all(checks.values()) else 1
    finally:
        stop_sandbox_process(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fault", choices=sorted(FAULTS), default="http500-after")
    parser.add_argument("--abonents", type=int, default=1000)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.fault, args.abonents)))


if __name__ == "__main__":
    main()
