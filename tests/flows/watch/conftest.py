"""Several sandbox cabinets as the accounts of a watch, and a watcher over them.

Three sandbox subprocesses (different seeds, so different phones), started once for the
session and reset before each test that uses them; each is one account of the watch.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.watch.config import AccountEntry
from flows.watch.deliver import Deliverer, DeliveryPolicy
from flows.watch.metrics import WatchMetrics
from flows.watch.runner import Watcher
from flows.watch.sinks.base import Sink
from flows.watch.store import Store
from vats_fixtures.pytest_plugin import VatsSandbox, sandbox_handle

NAMES = ("north", "south", "east")
ABONENTS = 12
#: quick retries, so the fault tests take seconds
FAST = DeliveryPolicy(first_backoff_s=0.05, max_backoff_s=0.5)


@pytest.fixture(scope="session")
def cabinet_servers() -> Iterator[dict[str, VatsSandbox]]:
    with sandbox_handle("--abonents", str(ABONENTS), "--seed", "11") as north, \
            sandbox_handle("--abonents", str(ABONENTS), "--seed", "12") as south, \
            sandbox_handle("--abonents", str(ABONENTS), "--seed", "13") as east:
        yield dict(zip(NAMES, (north, south, east), strict=True))


@pytest.fixture
def cabinets(cabinet_servers: dict[str, VatsSandbox], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, VatsSandbox]:
    """The cabinets reset to their seeds, each account's password in its own variable."""
    found = {}
    for name, server in cabinet_servers.items():
        server.reset()
        monkeypatch.setenv(f"VATS_TEST_PASSWORD_{name.upper()}", server.password)
        found[name] = dataclasses.replace(server, workdir=tmp_path / name)
    return found


def entries(cabinets: dict[str, VatsSandbox], **options: Any) -> list[AccountEntry]:
    return [AccountEntry(name=name, address=c.url, login=c.login,
                         password_env=f"VATS_TEST_PASSWORD_{name.upper()}", **options)
            for name, c in cabinets.items()]


def watcher(cabinets: dict[str, VatsSandbox], host: Any, store: Store, sinks: list[Sink], *,
            parallel: int = 2, metrics: WatchMetrics | None = None,
            policy: DeliveryPolicy = FAST, **options: Any) -> Watcher:
    metrics = metrics or WatchMetrics()
    return Watcher(entries(cabinets, **options), store,
                   [Deliverer(store, sink, metrics, policy) for sink in sinks],
                   settings_for=lambda e: cabinets[e.name].settings(password=e.password()),
                   host=host, parallel=parallel, metrics=metrics)


def trunk_phones(cabinet: VatsSandbox) -> set[str]:
    return {t["phone"] for t in cabinet.trunks()}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
