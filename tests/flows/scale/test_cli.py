"""``vats watch --engine celery`` as users run it: the accounts file, two ``vats worker``
processes, the CLI in a subprocess — the same events as ``--engine local``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.scale.conftest import REPO, Workers, password_env
from vats_fixtures.pytest_plugin import VatsSandbox

pytestmark = pytest.mark.browser


def accounts_file(folder: Path, cabinets: dict[str, VatsSandbox]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = 'database = "watch.sqlite"\nbroker_url_env = "VATS_TEST_BROKER"\n'
    for name, cabinet in cabinets.items():
        text += (f'\n[[accounts]]\nname = "{name}"\naddress = "{cabinet.url}"\n'
                 f'login = "{cabinet.login}"\npassword_env = "{password_env(name)}"\n')
    text += '\n[[sinks]]\nname = "log"\ntype = "jsonl"\npath = "events.jsonl"\n'
    path = folder / "accounts.toml"
    path.write_text(text)
    return path


def watch(config: Path, engine: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", "--config", str(config), "watch",
                           "--once", "--engine", engine, "--parallel", "6"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def events(folder: Path) -> list[tuple[str, str, str]]:
    lines = (folder / "events.jsonl").read_text().splitlines()
    return sorted((e["id"], e["type"], e["subject"]) for e in map(json.loads, lines))


def test_watch_engine_celery_makes_the_local_engines_events(
        cabinets: dict[str, VatsSandbox], workers: Workers, rabbitmq, tmp_path: Path) -> None:
    workers.start("one")
    workers.start("two")
    env = {**os.environ, "VATS_TEST_BROKER": rabbitmq.url, "VATS_STATE_DIR": str(tmp_path / "s"),
           **{password_env(name): c.password for name, c in cabinets.items()}}
    celery = accounts_file(tmp_path / "celery", cabinets)
    local = accounts_file(tmp_path / "local", cabinets)
    by_workers = watch(celery, "celery", env)
    assert by_workers.returncode == 0, by_workers.stderr
    here = watch(local, "local", env)
    assert here.returncode == 0, here.stderr
    assert events(tmp_path / "celery") == events(tmp_path / "local")
    assert len(events(tmp_path / "celery")) == sum(len(c.trunks()) for c in cabinets.values())

    no_broker = {k: v for k, v in env.items() if k != "VATS_TEST_BROKER"}
    refused = watch(celery, "celery", no_broker)
    assert refused.returncode == 2 and "VATS_TEST_BROKER is not set" in refused.stderr
