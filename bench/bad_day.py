"""A user's bad day, all faults at once (issue 12): does every job still end exact?

    .venv/bin/python bench/bad_day.py [--abonents 300] [--seeds 1,2,3] [--jobs inventory,enable,add-device]

Per seed: a fresh sandbox with the fault matrix's ``BAD_DAY`` knobs from the start (latency
20 + 0..30 ms, at most 6 calls in flight, 8 % HTTP 500s, 3 % resets, 1 % stalls, 5 % of device
forms answered ``//EX``, every session ended 3 s after its login) and a redeploy 1.5 s into the
run; then the inventory (every trunk compared with the sandbox's state), ``enable`` of 60
switched-off trunks and ``add-device`` of 30 bare ones (report against the state). Prints one
line per run: what ended exact, what failed, how long it took. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.client import Vats
from tests.conftest import account_settings, sandbox_handle
from tests.resilience.matrix import BAD_DAY, BAD_DAY_REDEPLOY_S, STALL_TIMEOUT_S, target_reached

TARGETS = {"enable": 60, "add-device": 30}


def targets(job: str, state: dict[str, Any]) -> list[str]:
    trunks = [a for a in state["abonents"] if a["identify_line"]]
    if job == "enable":
        chosen = [a for a in trunks if a["device"] and not a["device"]["enabled"]]
    else:
        chosen = [a for a in trunks if a["device"] is None]
    return [a["phone"] for a in chosen][:TARGETS[job]]


async def one_run(job: str, seed: int, abonents: int) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="vats-bad-day-"))
    with sandbox_handle("--abonents", str(abonents)) as handle:
        before = handle.state()
        handle.control(**BAD_DAY, fault_seed=seed)
        redeploy = threading.Timer(BAD_DAY_REDEPLOY_S, handle.control, kwargs={"redeploy": True})
        settings = account_settings(handle, concurrency=8, timeout_s=STALL_TIMEOUT_S,
                                    state_dir=workdir / "state", audit_db=workdir / "a.sqlite")
        started = time.perf_counter()
        redeploy.start()
        try:
            async with Vats(settings=settings) as vats:
                if job == "inventory":
                    inventory = await vats.trunks()
                    want = {a["phone"] for a in before["abonents"] if a["identify_line"]}
                    got = {t.phone for t in inventory.trunks}
                    outcome = (f"{len(got)}/{len(want)} trunks read, "
                               f"{len(inventory.failures)} failed, exact={got == want}")
                else:
                    numbers = targets(job, before)
                    report = await vats.apply(job, await vats.plan(job, numbers))  # type: ignore[arg-type]
                    state = {a["phone"]: a for a in handle.state()["abonents"]}
                    shows = sum(target_reached(job, state[n]) for n in numbers)
                    counts = report.counts()
                    outcome = (f"{counts['done']} done, {counts['failed']} failed of "
                               f"{len(numbers)}; the cabinet shows {shows} reached; "
                               f"report agrees={counts['done'] == shows}")
        except Exception as exc:  # noqa: BLE001 - a bench reports whatever ended the run
            outcome = f"STOPPED: {type(exc).__name__}: {str(exc)[:160]}"
        finally:
            redeploy.cancel()
        faults = {f["kind"]: f["hits"] for f in handle.control()["faults"]}
        logins = sum(1 for e in handle.audit() if e["method"] == "login")
        return (f"{job:<10} seed {seed:<3} {time.perf_counter() - started:5.1f} s  {outcome}"
                f"  (faults hit {faults}, logins {logins}, build {handle.state()['build']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--abonents", type=int, default=300)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", default="inventory,enable,add-device")
    args = parser.parse_args()
    for job in args.jobs.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            print(asyncio.run(one_run(job, seed, args.abonents)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
