"""``vats enable|disable|add-device|remove-device`` and ``vats audit``."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.changes import Action, ChangeReport, PlanItem
from flows.cli.common import (
    CliState,
    local_settings,
    prompt_code_async,
    run_async,
    settings_for,
    usage_errors,
)
from flows.cli.trunks_cmd import read_numbers
from flows.client import Vats
from scraper.audit import AuditLog
from scraper.browser.redact import Redactor
from scraper.errors import AuditError, UsageError


def _plan_table(plan: list[PlanItem], title: str) -> Table:
    table = Table(title=title)
    for column in ("number", "now", "target", "plan", "why"):
        table.add_column(column)
    for item in plan:
        now = item.before.state if item.before else "-"
        table.add_row(item.number, now, item.target, item.status, item.reason)
    return table


def _report_table(report: ChangeReport) -> Table:
    table = Table(title=f"{report.action}: result")
    for column in ("number", "result", "after", "detail"):
        table.add_column(column)
    for result in report.results:
        after = result.after.state if result.after else "-"
        table.add_row(result.item.number, result.result, after, result.detail)
    return table


def _report_json(report: ChangeReport, dry_run: bool) -> str:
    items = []
    by_item = {id(r.item): r for r in report.results}
    for item in report.plan:
        entry = {"number": item.number, "action": item.action, "plan": item.status,
                 "reason": item.reason, "abonent_id": item.abonent_id,
                 "before": item.before.state if item.before else None}
        result = by_item.get(id(item))
        if result is not None:
            entry.update(result=result.result, detail=result.detail,
                         after=result.after.state if result.after else None)
        items.append(entry)
    counts = report.counts() if not dry_run else {}
    return json.dumps({"action": report.action, "dry_run": dry_run, "items": items,
                       "counts": counts}, ensure_ascii=False, indent=2) + "\n"


def change_command(state: CliState, action: Action, *, numbers: list[str],
                   numbers_file: Path | None, all_inactive: bool, dry_run: bool, yes: bool,
                   fmt: str, concurrency: int | None) -> None:
    overrides: dict[str, object] = {}
    if concurrency is not None:
        overrides["concurrency"] = concurrency
    with usage_errors():
        if fmt not in ("table", "json"):
            raise UsageError("--format is table or json")
        if all_inactive and action not in ("enable", "add-device"):
            raise UsageError("--all-inactive only goes with enable and add-device")
        wanted = read_numbers(numbers, numbers_file) or []
        if not wanted and not all_inactive:
            raise UsageError("name the numbers (NUMBER..., --numbers-file) or use --all-inactive")
        settings = settings_for(state, **overrides)
    redactor = Redactor()
    out, err = Console(), Console(stderr=True)
    stopped: list[AuditError] = []  # the audit failed mid-batch: report, then the error

    async def job() -> tuple[ChangeReport, bool]:
        settings.require_credentials()
        async with Vats(settings=settings, code_provider=prompt_code_async,
                        redactor=redactor) as vats:
            plan = await vats.plan(action, wanted, all_inactive=all_inactive)
            todo = [item for item in plan if item.status == "apply"]
            if fmt == "table":
                err.print(_plan_table(plan, f"{action}: plan ({len(todo)} to change)"))
            if dry_run or not todo:
                return ChangeReport(action, plan), True
            if not yes:
                if not sys.stdin.isatty():
                    raise UsageError("not a terminal: confirm with --yes")
                answer = await _ask(f"Apply {action} to {len(todo)} trunk(s)?")
                if not answer:
                    return ChangeReport(action, plan), True
            progress = Progress(TextColumn(action), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=err, transient=True,
                                disable=not err.is_terminal)
            with progress:
                task = progress.add_task(action, total=len(todo))
                try:
                    report = await vats.apply(action, plan, progress=lambda d, t: progress.update(
                        task, completed=d, total=t))
                except AuditError as exc:
                    if not isinstance(exc.report, ChangeReport):
                        raise
                    stopped.append(exc)
                    report = exc.report
            return report, False

    report, planned_only = run_async(state, redactor, job)
    if fmt == "json":
        out.file.write(_report_json(report, planned_only))
    elif not planned_only:
        out.print(_report_table(report))
    if not planned_only:
        counts = report.counts()
        err.print(f"{action}: {counts['done']} done, {counts['skipped']} skipped, "
                  f"{counts['failed']} failed")
    elif not dry_run and not any(i.status == "apply" for i in report.plan):
        err.print(f"{action}: nothing to do")
    if stopped:
        err.print(f"vats: AuditError: {redactor.text(str(stopped[0]))}; no further change was "
                  "started (the items above say what was done)", markup=False, highlight=False)
        raise typer.Exit(1)
    if report.failed:
        raise typer.Exit(1)


async def _ask(question: str) -> bool:
    import asyncio

    return await asyncio.to_thread(typer.confirm, question, default=False)


def audit_command(state: CliState, *, limit: int, fmt: str, account: str | None) -> None:
    with usage_errors():
        settings = local_settings(state)  # a local file: no password asked
    log = AuditLog(settings.audit_db)
    entries = log.entries(account=account or settings.login, limit=limit)
    if fmt == "json":
        sys.stdout.write(json.dumps([dataclasses.asdict(e) for e in entries], ensure_ascii=False,
                                    indent=2) + "\n")
        return
    table = Table(title=f"audit log ({log.path})")
    for column in ("time", "account", "number", "action", "result", "before", "after", "detail"):
        table.add_column(column)
    for entry in entries:
        table.add_row(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time)),
                      entry.account, entry.number, entry.action, entry.result,
                      _brief(entry.before), _brief(entry.after), entry.detail or "")
    Console().print(table)


def _brief(snapshot: dict[str, object] | None) -> str:
    if not snapshot:
        return "-"
    if not snapshot.get("has_device"):
        return "no device"
    return "on" if snapshot.get("device_enabled") else "off"
