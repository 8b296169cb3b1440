"""The delivery faults of `vats watch`, each through the real CLI, and what each sink received.

    .venv/bin/python bench/watch_faults.py [--abonents 12]

Why this script: the tests (tests/flows/watch/test_cli.py) assert delivery without loss one
fault at a time; this runs the same faults with all three sinks at once and prints, side by
side, what each sink received, for docs/watch.md. Nothing here is asserted: the table is for
people; the tests are the checks.

Every scenario starts from a fresh store and state folder and runs ``vats --config FILE watch
--once`` in a subprocess (and, where the fault needs it, again) against two sandbox cabinets as
the accounts ``north`` and ``south``, with three sinks: ``log`` (a JSONL file), ``hook`` (a
webhook to a receiver on 127.0.0.1 that verifies the Standard Webhooks signature,
vats_fixtures.webhook) and ``bus`` (a topic exchange with a durable queue on a private RabbitMQ
node, vats_fixtures.rabbitmq; needs Debian's rabbitmq-server, installed by scripts/setup).

Per sink: ``stored`` = events in the store at the end; ``got`` = deliveries the sink received
(webhook: verified and answered 2xx; ``tries`` counts every request); ``unique`` ids;
``missing`` = stored ids never received; ``extra`` = received ids the store does not have;
``copies`` = got - unique (at least once: consumers dedupe by id); ``order`` = the first copy of
each id arrived in the store's order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inventory import note  # noqa: E402
from bench.watch import vats_executable  # noqa: E402
from scraper.settings import child_environment  # noqa: E402
from vats_fixtures.pytest_plugin import VatsSandbox, sandbox_handle  # noqa: E402
from vats_fixtures.rabbitmq import RabbitBroker, rabbitmq_broker  # noqa: E402
from vats_fixtures.webhook import Reply, WebhookReceiver, new_secret  # noqa: E402

SECRET = new_secret()
WRONG = "not-the-password"  # a deliberately wrong sandbox password
RUN_TIMEOUT_S = 180.0


@dataclass
class Stage:
    """One scenario's working parts: its folder, the cabinets, the receiver and the broker."""

    name: str
    folder: Path
    cabinets: dict[str, VatsSandbox]
    receiver: WebhookReceiver
    broker: RabbitBroker
    webhook_timeout_s: float = 2.0
    passwords: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    @property
    def queue(self) -> str:
        return f"vats-faults-{os.getpid()}-{self.name}"

    def config(self) -> Path:
        lines = [f'database = "{self.folder / "watch.sqlite"}"', ""]
        for name, cabinet in self.cabinets.items():
            lines += ["[[accounts]]", f'name = "{name}"', f'address = "{cabinet.url}"',
                      f'login = "{cabinet.login}"', f'password_env = "{_password_env(name)}"', ""]
        lines += ["[[sinks]]", 'name = "log"', 'type = "jsonl"',
                  f'path = "{self.folder / "events.jsonl"}"', "",
                  "[[sinks]]", 'name = "hook"', 'type = "webhook"', f'url = "{self.receiver.url}"',
                  'secret_env = "VATS_FAULTS_WEBHOOK_SECRET"',
                  f"timeout_s = {self.webhook_timeout_s}", "",
                  "[[sinks]]", 'name = "bus"', 'type = "rabbitmq"', 'url_env = "VATS_FAULTS_AMQP"',
                  'exchange = "vats.faults"', f'queue = "{self.queue}"', ""]
        path = self.folder / "accounts.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    def environment(self) -> dict[str, str]:
        passwords = {_password_env(name): self.passwords.get(name, cabinet.password)
                     for name, cabinet in self.cabinets.items()}
        return child_environment(VATS_STATE_DIR=str(self.folder / "state"),
                                 VATS_FAULTS_WEBHOOK_SECRET=SECRET,
                                 VATS_FAULTS_AMQP=self.broker.url, **passwords)

    def command(self, *args: str) -> list[str]:
        return [vats_executable(), "--config", str(self.config()), *args]

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        """The CLI in a subprocess of its own process group (a kill reaches its browser too);
        its log goes to a file in the scenario's folder, never to a pipe nobody reads."""
        with (self.folder / f"stderr-{len(self.steps) + 1}").open("wb") as log:
            return await asyncio.create_subprocess_exec(
                *self.command(*args), cwd=self.folder, env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=log, start_new_session=True)

    async def vats(self, *args: str, why: str = "") -> int:
        """The CLI run to its end; its exit status is noted as a step of the scenario."""
        process = await self.spawn(*args)
        status = await asyncio.wait_for(process.wait(), RUN_TIMEOUT_S)
        self.steps.append(f"`{' '.join(args)}` → {status}{f' ({why})' if why else ''}")
        return status


def _password_env(account: str) -> str:
    return f"VATS_FAULTS_PASSWORD_{account.upper()}"


# -- the scenarios ------------------------------------------------------------------------------

async def no_fault(stage: Stage) -> None:
    await stage.vats("watch", "--once")


async def webhook_500_twice(stage: Stage) -> None:
    stage.receiver.answer(500, 500)
    await stage.vats("watch", "--once", why="the hook answers 500, 500, then 200")


async def webhook_410(stage: Stage) -> None:
    stage.receiver.answer(410)
    await stage.vats("watch", "--once", "--deliver-timeout", "3", why="the hook answers 410")
    await stage.vats("events", "--enable", "hook")
    await stage.vats("watch", "--once")


async def broker_down_for_a_cycle(stage: Stage) -> None:
    stage.broker.stop_app()
    try:
        await stage.vats("watch", "--once", "--deliver-timeout", "3", why="the broker is down")
    finally:
        stage.broker.start_app()
    south = stage.cabinets["south"]
    first = sorted(t["phone"] for t in south.trunks())[0]
    south.edit({"phone": first, "marked_for_deletion": True})
    await stage.vats("watch", "--once", why="the broker is up, one trunk changed")


async def killed_before_delivery(stage: Stage) -> None:
    """SIGKILL once the snapshot is stored and the hook holds its first request (answered 200
    only after ten minutes), then a restart."""
    stage.receiver.answer(Reply(200, delay=600))
    stage.webhook_timeout_s = 60.0
    process = await stage.spawn("watch", "--once")
    try:
        await stage.receiver.wait_for(1, timeout=RUN_TIMEOUT_S, requests=True)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    stage.steps.append("`watch --once` → killed (SIGKILL) with the snapshot stored, "
                       "the hook holding its first request")
    stage.webhook_timeout_s = 2.0
    await stage.vats("watch", "--once", why="the restart")


async def wrong_password(stage: Stage) -> None:
    stage.passwords["north"] = WRONG
    await stage.vats("watch", "--once", why="north's password is wrong")
    stage.passwords.clear()
    await stage.vats("watch", "--once", why="north's password is right again")


SCENARIOS: dict[str, tuple[str, Callable[[Stage], Awaitable[None]]]] = {
    "none": ("no fault", no_fault),
    "hook500": ("the webhook answers 500 twice, then 200", webhook_500_twice),
    "hook410": ("the webhook answers 410 (disabled), enabled again", webhook_410),
    "busdown": ("the broker down for a cycle", broker_down_for_a_cycle),
    "killed": ("killed between storing the snapshot and delivering it", killed_before_delivery),
    "password": ("a wrong password on one account", wrong_password),
}


# -- what each sink received ---------------------------------------------------------------------

@dataclass
class Got:
    """What one sink received: event ids in order of arrival (a copy appears twice)."""

    sink: str
    ids: list[str]
    tries: int | None = None


def stored_events(stage: Stage) -> list[tuple[str, str]]:
    with sqlite3.connect(stage.folder / "watch.sqlite") as db:
        return [(row[0], row[1]) for row in db.execute("SELECT id, type FROM events ORDER BY seq")]


async def received(stage: Stage) -> list[Got]:
    path = stage.folder / "events.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    messages = await stage.broker.messages(stage.queue)
    return [Got("log", [json.loads(line)["id"] for line in lines]),
            Got("hook", [i for i in stage.receiver.ids() if i is not None],
                tries=len(stage.receiver.received)),
            Got("bus", [m.message_id for m in messages if m.message_id is not None])]


def in_order(got: list[str], stored: list[str]) -> bool:
    """The first copy of each id arrived in the store's order (ids not stored left aside)."""
    known = set(stored)
    first = list(dict.fromkeys(i for i in got if i in known))
    arrived = set(first)
    return first == [i for i in stored if i in arrived]


def rows(title: str, stage: Stage, stored: list[tuple[str, str]],
         sinks: list[Got]) -> list[str]:
    ids = [i for i, _ in stored]
    types = Counter(t.removeprefix("vats.") for _, t in stored)
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
    lines = [f"| **{title}** | {'<br>'.join(stage.steps)} | | | | | | | |",
             f"| | stored: {len(ids)} events ({kinds}) | | | | | | | |"]
    for sink in sinks:
        unique = set(sink.ids)
        tries = "" if sink.tries is None else f" ({sink.tries} tries)"
        lines.append(
            f"| | | {sink.sink} | {len(sink.ids)}{tries} | {len(unique)} "
            f"| {len(set(ids) - unique)} | {len(unique - set(ids))} "
            f"| {len(sink.ids) - len(unique)} | {'yes' if in_order(sink.ids, ids) else 'NO'} |")
    return lines


async def run(args: argparse.Namespace, root: Path) -> list[str]:
    seeds = {"north": "21", "south": "22"}
    table = ["| fault | steps (exit status) | sink | got | unique | missing | extra | copies "
             "| order |", "|---|---|---|---|---|---|---|---|---|"]
    with rabbitmq_broker(root / "rabbitmq") as broker, \
            sandbox_handle("--abonents", str(args.abonents), "--seed", seeds["north"]) as north, \
            sandbox_handle("--abonents", str(args.abonents), "--seed", seeds["south"]) as south:
        for key in args.only or SCENARIOS:
            title, scenario = SCENARIOS[key]
            north.reset()
            south.reset()
            folder = root / key
            folder.mkdir()
            async with WebhookReceiver(SECRET) as receiver:
                stage = Stage(key, folder, {"north": north, "south": south}, receiver, broker)
                note(f"{title} ...")
                await scenario(stage)
                table += rows(title, stage, stored_events(stage), await received(stage))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--abonents", type=int, default=12,
                        help="abonents per cabinet, 4 in 5 are trunks (%(default)s)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS),
                        help="run only these scenarios (default: all)")
    args = parser.parse_args()
    if args.abonents < 1:
        parser.error("--abonents must be >= 1")
    with tempfile.TemporaryDirectory(prefix="vats-watch-faults-") as root:
        table = asyncio.run(run(args, Path(root)))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
