"""How many GWT-RPC calls per second the sandbox cabinet serves (issue 3 asks for >= 500).

The sandbox runs as a subprocess on port 0 (as users and tests run it), so the load generator
does not share its event loop; one logged-in aiohttp session fires N calls, alternating the
captured ``list`` (a page of 10) and ``getForm`` (device form) payloads, C at a time. Two runs:
the same 11 payloads again and again (the sandbox reuses those answers: docs/sandbox.md), and
one ``getForm`` for each of 2,000 abonents, every answer built afresh.

    .venv/bin/python bench/sandbox_rps.py [--calls 4000] [--concurrency 16]

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scraper.gwt import encode_long  # noqa: E402 - after the path is set

LIST = ("7|0|8|{base}|{strong}|ru.cti.vpbx.shared.services.AbonentBrowserGwtService|list|"
        "ru.cti.vpbx.shared.models.browser.AbonentBrowserRequestGWTModel/3482149540|"
        "java.lang.Boolean/476441737|ru.cti.vpbx.shared.enums.MIGRATION_STATE_TYPE/1556569729|"
        "java.lang.Long/4227064769|1|2|3|4|1|5|5|0|6|0|0|-2|7|0|8|{enterprise}|0|0|8|A|8|K|0|")
GET_FORM = ("7|0|6|{base}|{strong}|ru.cti.vpbx.shared.services.DispatcherService|getForm|"
            "java.lang.Long/4227064769|"
            "ru.cti.vpbx.shared.services.DispatcherService$DISPATCHER/4095484021|"
            "1|2|3|4|2|5|6|5|{abonent}|6|31|")


async def bench(url: str, calls: int, concurrency: int) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{url}/__sandbox__/state") as answer:
            state = await answer.json()
        async with http.post(f"{url}/j_spring_security_check",
                             data={"j_username": "+7-9000000000", "j_password": "sandbox"},
                             allow_redirects=False) as answer:
            assert answer.status == 302
        base = f"{url}/vpbxGwt/"
        strong = state["strong_names"]
        jobs = [("AbonentBrowserGwtService",
                 LIST.format(base=base, strong=strong["AbonentBrowserGwtService"],
                             enterprise=encode_long(state["enterprise_id"])))]
        jobs += [("DispatcherGwtService",
                  GET_FORM.format(base=base, strong=strong["DispatcherGwtService"],
                                  abonent=encode_long(a["id"])))
                 for a in state["abonents"][:10]]
        headers = {"Content-Type": "text/x-gwt-rpc; charset=utf-8",
                   "X-GWT-Permutation": state["permutations"][0][1],
                   "X-GWT-Module-Base": base, "Accept-Encoding": "gzip"}
        statuses: dict[str, int] = {}
        queue = iter(range(min(calls, 200)))  # warm-up

        async def worker() -> None:
            for i in queue:
                servlet, payload = jobs[0] if i % 2 == 0 else jobs[1 + i // 2 % (len(jobs) - 1)]
                async with http.post(base + servlet, data=payload, headers=headers) as answer:
                    body = await answer.text()
                key = f"{answer.status} {body[:4]}"
                statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*[worker() for _ in range(concurrency // 2 or 1)])  # warm up
        queue = iter(range(calls))
        statuses.clear()
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
        print(f"repeated reads: {calls} calls, concurrency {concurrency}: {elapsed:.2f} s, "
              f"{calls / elapsed:.0f} RPC/s; answers {json.dumps(statuses)}")

        forms = iter(GET_FORM.format(base=base, strong=strong["DispatcherGwtService"],
                                     abonent=encode_long(a["id"])) for a in state["abonents"])
        statuses.clear()

        async def first_reads() -> None:
            for payload in forms:
                async with http.post(base + "DispatcherGwtService", data=payload,
                                     headers=headers) as answer:
                    body = await answer.text()
                key = f"{answer.status} {body[:4]}"
                statuses[key] = statuses.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*[first_reads() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
        count = len(state["abonents"])
        print(f"first reads: {count} device forms, concurrency {concurrency}: {elapsed:.2f} s, "
              f"{count / elapsed:.0f} RPC/s; answers {json.dumps(statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--log-level", default="warning",
                        help="the sandbox's log level (info logs each call)")
    args = parser.parse_args()
    process = subprocess.Popen(
        [sys.executable, "-m", "vats_fixtures.sandbox", "--host", "127.0.0.1", "--port", "0",
         "--abonents", "2000", "--log-level", args.log_level], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        asyncio.run(bench(url, args.calls, args.concurrency))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
