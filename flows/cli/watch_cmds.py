"""``vats accounts``, ``vats watch``, ``vats history``, ``vats diff`` and ``vats events``.

They share the accounts file (``--config``) and, but for ``accounts``, its store. The watch
itself is ``flows.watch.runner``; here only options, signals, logging and printing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from flows.cli.common import (
    CliState,
    local_settings,
    option_values,
    run_async,
    usage_errors,
    validated_settings,
)
from flows.cli.output import print_table
from flows.watch.config import AccountEntry, WatchConfig, load_config
from flows.watch.events import CREDENTIALS, FLAGS, change_data, diff
from flows.watch.store import Cycle, Store
from scraper.browser.host import BrowserHost
from scraper.browser.redact import Redactor
from scraper.errors import ConfigError, UsageError
from scraper.settings import AccountSettings

log = logging.getLogger(__name__)


@contextmanager
def config_errors() -> Iterator[None]:
    """A bad accounts file is a usage error: said in one line, exit status 2."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"vats: accounts file: {exc}", err=True)
        raise typer.Exit(2) from None


def read_config(state: CliState) -> WatchConfig:
    with config_errors():
        return load_config(state.config)


def account_settings(state: CliState, entry: AccountEntry) -> AccountSettings:
    """An account's settings: the file's entry over the global options (``--headed``,
    ``--debug-dir`` …); its password read now from its variable or file."""
    values = option_values(state, {})
    values.update(address=entry.address, login=entry.login, password=entry.password(),
                  concurrency=entry.concurrency)
    if entry.ca_cert is not None:
        values["ca_cert"] = entry.ca_cert
    if entry.transport is not None:
        values["transport"] = entry.transport
    return validated_settings(values)


def shared_host(state: CliState, config: WatchConfig) -> BrowserHost:
    """One browser for every account, trusting every account's ``ca_cert``."""
    certs = [entry.ca_cert for entry in config.accounts if entry.ca_cert is not None]
    if state.ca_cert is not None:
        certs.append(state.ca_cert)
    settings = local_settings(state)  # --headed, else VATS_HEADLESS ...
    return BrowserHost(headless=settings.headless, slow_mo_ms=settings.slow_mo_ms,
                       chromium=settings.chromium, ca_certs=certs)


# -- vats accounts ------------------------------------------------------------------------------

def accounts_command(state: CliState, *, check: bool, fmt: str) -> None:
    config = read_config(state)
    redactor = Redactor()
    rows = [{"name": e.name, "address": e.address, "login": e.login,
             "password": f"env {e.password_env}" if e.password_env else f"file {e.password_file}",
             "every": _interval(e.every.total_seconds())} for e in config.accounts]
    if check:
        results = run_async(state, redactor, lambda: _check_accounts(state, config, redactor))
        for row in rows:
            row.update(results[row["name"]])
    _print_rows(rows, fmt, title=f"accounts ({config.source})")
    if check and any(row["status"] != "ok" for row in rows):
        raise typer.Exit(1)


async def _check_accounts(state: CliState, config: WatchConfig,
                          redactor: Redactor) -> dict[str, dict[str, Any]]:
    from flows.client import Vats

    results: dict[str, dict[str, Any]] = {}
    slots = asyncio.Semaphore(config.parallel)

    async def check(entry: AccountEntry, host: BrowserHost) -> None:
        async with slots:
            try:
                settings = account_settings(state, entry)
                async with Vats(settings=settings, host=host, redactor=redactor) as vats:
                    rows = await vats.abonents()
                    results[entry.name] = {
                        "status": "ok", "enterprise": vats.session.enterprise_id,
                        "trunks": sum(row.is_trunk for row in rows)}
            except Exception as exc:  # noqa: BLE001 - each account's own result
                results[entry.name] = {"status": f"failed: {redactor.text(str(exc))}",
                                       "enterprise": None, "trunks": None}

    async with shared_host(state, config) as host, asyncio.TaskGroup() as group:
        for entry in config.accounts:
            group.create_task(check(entry, host))
    return results


# -- vats watch ----------------------------------------------------------------------------------

ENGINES = ("local", "celery")


def watch_command(state: CliState, *, once: bool, parallel: int | None, metrics_port: int | None,
                  metrics_host: str, deliver_timeout: float, engine: str = "local") -> None:
    config = read_config(state)
    with usage_errors():
        if parallel is not None and not 1 <= parallel <= 64:
            raise UsageError(f"--parallel {parallel}: must be between 1 and 64")
        if engine not in ENGINES:
            raise UsageError(f"--engine {engine}: choose {' or '.join(ENGINES)}")
        sinks = _sinks(config)
    with config_errors():
        broker = config.broker_url() if engine == "celery" else None
    redactor = Redactor()
    report = run_async(state, redactor, lambda: _watch(
        state, config, sinks, redactor, once=once, parallel=parallel or config.parallel,
        metrics_port=metrics_port, metrics_host=metrics_host, deliver_timeout=deliver_timeout,
        broker=broker))
    if once:
        _print_rows([_cycle_row(c, report.emitted.get(c.account, 0))
                     for c in report.cycles.values()], "table",
                    title="watch: one cycle")
        for sink, count in sorted(report.pending.items()):
            typer.echo(f"undelivered: {count} event(s) for sink {sink} (sent on the next run)",
                       err=True)
        if report.failed or any(report.pending.values()):
            raise typer.Exit(1)


def _sinks(config: WatchConfig) -> list[Any]:
    from flows.watch.sinks import make_sink

    with config_errors():
        return [make_sink(sink) for sink in config.sinks]


async def _watch(state: CliState, config: WatchConfig, sinks: list[Any], redactor: Redactor, *,
                 once: bool, parallel: int, metrics_port: int | None, metrics_host: str,
                 deliver_timeout: float, broker: str | None) -> Any:
    from flows.watch.deliver import Deliverer
    from flows.watch.metrics import WatchMetrics, serve_metrics
    from flows.watch.runner import Watcher

    logging.getLogger("flows.watch").setLevel(min(logging.INFO, logging.getLogger().level))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    metrics = WatchMetrics()
    store = Store(config.database)
    try:
        async with AsyncExitStack() as stack:
            if metrics_port is not None:
                url = await stack.enter_async_context(
                    serve_metrics(metrics, metrics_host, metrics_port))
                log.info("serving metrics", extra={"url": f"{url}/metrics"})
            watcher = Watcher(
                config.accounts, store, [Deliverer(store, sink, metrics) for sink in sinks],
                engine=_engine(state, config, redactor, broker), parallel=parallel,
                metrics=metrics, redactor=redactor)
            return await watcher.run(once=once, stop=stop, deliver_timeout=deliver_timeout)
    finally:
        store.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _engine(state: CliState, config: WatchConfig, redactor: Redactor,
            broker: str | None) -> Any:
    """Where the inventories run: this process, or the workers behind ``broker``."""
    if broker is not None:
        from flows.scale.engine import CeleryEngine

        return CeleryEngine(broker)
    from flows.watch.engine import LocalEngine

    return LocalEngine(shared_host(state, config),
                       lambda entry: account_settings(state, entry), redactor)


def _cycle_row(cycle: Cycle, events: int) -> dict[str, Any]:
    return {"account": cycle.account, "cycle": cycle.seq, "outcome": cycle.outcome,
            "trunks": cycle.trunks, "unread": len(cycle.unread), "events": events,
            "error": cycle.error or ""}


# -- vats history / diff / events ---------------------------------------------------------------

def open_store(state: CliState) -> tuple[WatchConfig, Store]:
    config = read_config(state)
    if not config.database.exists():
        raise_usage(f"no watch store at {config.database} yet (run vats watch --once first)")
    with usage_errors():
        return config, Store(config.database)


def raise_usage(message: str) -> NoReturn:
    typer.echo(f"vats: {message}", err=True)
    raise typer.Exit(2)


def history_command(state: CliState, phone: str, *, account: str | None, fmt: str) -> None:
    from flows.trunks import normalize_phone

    with usage_errors():
        number = normalize_phone(phone)
    _config, store = open_store(state)
    with store_closed(store):
        found = store.events(subject=number, account=account)
    if not found:
        typer.echo(f"no events for {number}", err=True)
        raise typer.Exit(1)
    rows = [{"time": e.time, "account": e.account, "type": e.type,
             "change": _summary(e.body.get("data") or {}), "id": e.id} for e, _ in found]
    _print_rows(rows, fmt, title=f"history of {number}")


def diff_command(state: CliState, *, account: str | None, start: int | None, end: int | None,
                 fmt: str) -> None:
    config, store = open_store(state)
    with store_closed(store):
        name = account or _only_account(config)
        snapshots = store.cycles(name, snapshots_only=True)
        if len(snapshots) < (1 if start is not None else 2):
            raise_usage(f"account {name} has {len(snapshots)} snapshot(s); a diff needs two")
        by_seq = {c.seq: c for c in snapshots}
        older = _pick(by_seq, start, snapshots[-2] if len(snapshots) > 1 else None, name)
        newer = _pick(by_seq, end, snapshots[-1], name)
        changes = diff(store.states(older), store.states(newer), newer.unread)
    rows = [{"type": c.type, "phone": c.phone, "change": _summary(change_data(c, store.key))}
            for c in changes]
    _print_rows(rows, fmt, title=f"{name}: snapshot {older.seq} ({older.finished}) → "
                                 f"{newer.seq} ({newer.finished}), {len(rows)} change(s)")


def events_command(state: CliState, *, pending: bool, sink: str | None, account: str | None,
                   limit: int, fmt: str, enable: str | None) -> None:
    config, store = open_store(state)
    with store_closed(store):
        if enable is not None:
            if enable not in {s.name for s in config.sinks}:
                raise_usage(f"--enable {enable}: no sink of that name in the accounts file")
            was = store.enable_sink(enable)
            typer.echo(f"sink {enable}: {'enabled again' if was else 'was not disabled'}", err=True)
            return
        found = store.events(pending_for=(sink or "*") if pending else None,
                             sink=sink, account=account, limit=limit)
        disabled = store.disabled_sinks()
    rows = [{"time": e.time, "account": e.account, "type": e.type, "subject": e.subject or "",
             "id": e.id, "deliveries": " ".join(f"{k}:{v}" for k, v in sorted(s.items())
                                                if sink is None or k == sink)}
            for e, s in found]
    _print_rows(rows, fmt, title="pending events" if pending else "events")
    for name, reason in sorted(disabled.items()):
        typer.echo(f"sink {name} is disabled: {reason} (vats events --enable {name})", err=True)


@contextmanager
def store_closed(store: Store) -> Iterator[Store]:
    try:
        yield store
    finally:
        store.close()


def _only_account(config: WatchConfig) -> str:
    if len(config.accounts) == 1:
        return config.accounts[0].name
    names = ", ".join(a.name for a in config.accounts)
    raise_usage(f"several accounts ({names}): name one with --account")


def _pick(by_seq: dict[int, Cycle], seq: int | None, default: Cycle | None, name: str) -> Cycle:
    if seq is None:
        assert default is not None
        return default
    if seq not in by_seq:
        known = ", ".join(str(s) for s in sorted(by_seq)[-10:])
        raise_usage(f"account {name} has no snapshot {seq} (the last ones: {known})")
    return by_seq[seq]


def _summary(data: dict[str, Any]) -> str:
    """One line of what changed, never a password (a password change says "changed")."""
    if "error" in data:
        return f"{data['error'].get('kind')}: {data['error'].get('message')}"
    before, after = data.get("before"), data.get("after")
    if before is None or after is None:
        state = after or before or {}
        device = ("no device" if not state.get("has_device") else
                  "device on" if state.get("device_enabled") else "device off")
        return f"{device}, sip_login {state.get('sip_login') or '-'}" if state else ""
    parts = []
    fields = data.get("changed") or ("has_device", "device_enabled", *FLAGS, *CREDENTIALS,
                                     "device_id")
    for name in fields:
        old, new = before.get(name), after.get(name)
        if name == "sip_password":
            old = before.get("sip_password_fingerprint")
            new = after.get("sip_password_fingerprint")
            if old != new:
                parts.append("sip_password changed")
        elif old != new:
            parts.append(f"{name} {_show(old)}→{_show(new)}")
    return ", ".join(parts)


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _interval(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v) or "0s"


def _print_rows(rows: list[dict[str, Any]], fmt: str, *, title: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == "jsonl":
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ("(none)",):
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    print_table(table, Console())
