"""Codec throughput on a large realistic response, next to json.loads of the same array.

    .venv/bin/python bench/codec.py [--rows N] [--repeat R]

"Realistic": an AbonentBrowserGwtService.list answer (our reconstructed layout, the captured row
shape) with N abonents, Cyrillic names and phones, as the sandbox writes it. "The same array":
the identical elements as strict JSON (longs double-quoted, strings JSON-escaped), i.e. the best
case for json.loads. Prints MB/s and the ratio; the goal is tokenize >= 0.5x json.loads.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scraper.gwt import Instance, build_response, parse_response
from scraper.gwt.jsarray import split_response
from scraper.profile import MTS

RESPONSE = "ru.cti.vpbx.shared.models.browser.AbonentBrowserResponseGWTModel"
RECORD = "ru.cti.vpbx.shared.models.browser.AbonentBrowserRecordGWTModel"
NAMES = ["Иванов Иван", "Петрова Анна", "Сидоров Пётр", "Транк SIP", "Офис <Москва>"]


def make_response(rows: int) -> str:
    registry = MTS.registry()
    rng = random.Random(7)
    records = []
    for i in range(rows):
        active = rng.random() < 0.7
        records.append(Instance(registry.signature_for(RECORD) or "", {
            "name": f"{rng.choice(NAMES)} {i}", "phone": f"79{rng.randrange(10**9):09d}",
            "blocked": rng.random() < 0.1, "unknown02": False, "unknown03": False,
            "markedForDeletion": rng.random() < 0.1, "unknown05": False, "inactive": not active,
            "active": active, "abonentType": 8, "bound": active, "unknown10": False,
            "unknown11": False, "id": 2_500_000_000 + i * 7919,
        }))
    value = Instance(registry.signature_for(RESPONSE) or "", {"count": rows, "records": records})
    return build_response(value, declared_type=RESPONSE, registry=registry)


def as_json(text: str) -> str:
    parts = split_response(text)
    elements = list(reversed(parts.tokens)) + [parts.strings, parts.flags, parts.version]
    return json.dumps(elements, ensure_ascii=False)


def best(fn: Callable[[str], object], arg: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    text = make_response(args.rows)
    json_text = as_json(text)
    registry = MTS.registry()
    size_mb = len(text.encode()) / 1e6
    t_json = best(json.loads, json_text, args.repeat)
    t_tok = best(split_response, text, args.repeat)
    t_full = best(lambda t: parse_response(t, registry), text, args.repeat)
    rows = [
        ("json.loads (same array as JSON)", t_json),
        ("vats tokenize (split_response)", t_tok),
        ("vats full typed decode (parse_response)", t_full),
    ]
    print(f"response: {args.rows} abonent rows, {size_mb:.2f} MB GWT text, "
          f"{len(json_text.encode()) / 1e6:.2f} MB as JSON; best of {args.repeat}")
    print(f"{'what':42} {'ms':>8} {'MB/s':>8} {'vs json.loads':>14}")
    for label, seconds in rows:
        print(f"{label:42} {seconds * 1e3:8.1f} {size_mb / seconds:8.1f} "
              f"{(size_mb / seconds) / (size_mb / t_json):13.2f}x")


if __name__ == "__main__":
    main()
