"""``vats enable|disable|add-device|remove-device`` and ``vats audit``.

A change command reads the plan fresh, shows it (on stderr: always for ``--format table``, and
before the question for json too), asks (``--yes`` skips it; "n" changes nothing, exit 0),
applies, and reports every item. Exit status 1 when an item failed or a named number is
unknown or no trunk (said after everything else), 0 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.changes import Action, ChangeReport, PlanItem
from flows.cli.common import (
    CliState,
    local_settings,
    prompt_code_async,
    run_async,
    settings_for,
    unmatched_numbers,
    usage_errors,
)
from flows.cli.output import print_table
from flows.cli.trunks_cmd import read_numbers
from flows.client import Vats
from scraper.audit import AuditLog
from scraper.browser.redact import Redactor
from scraper.errors import AuditError, UsageError

#: how a change command ended: only ``applied`` sent anything
Outcome = Literal["dry-run", "nothing-to-do", "declined", "applied"]


def _flag(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def _plan_table(plan: list[PlanItem], title: str) -> Table:
    table = Table(title=title)
    table.add_column("number", no_wrap=True)
    warned = any(item.warning for item in plan)
    for column in ("now", "blocked", "marked", "target", "plan", "why",
                   *(("warning",) if warned else ())):
        table.add_column(column)
    for item in plan:
        now = item.before.state if item.before else "-"
        table.add_row(item.number, now, _flag(item.blocked), _flag(item.marked_for_deletion),
                      item.target, item.status, escape(item.reason),
                      *((escape(item.warning),) if warned else ()))
    return table


def _credentials(report: ChangeReport, show_secrets: bool) -> dict[int, dict[str, Any]]:
    """The SIP login (and password, masked unless ``show_secrets``) each done add-device
    issued, by the plan item's ``id``."""
    issued = {}
    for result in report.results:
        if result.issued_login is not None and result.after is not None:
            issued[id(result.item)] = result.after.model_dump(
                mode="json", include={"sip_login", "sip_password"},
                context={"show_secrets": show_secrets})
    return issued


def _report_table(report: ChangeReport, show_secrets: bool) -> Table:
    issued = _credentials(report, show_secrets)
    table = Table(title=f"{report.action}: result")
    columns = ["number", "result", "after"]
    if issued:
        columns += ["new SIP login", "new SIP password"]
    for column in (*columns, "detail"):
        table.add_column(column)
    for result in report.results:
        after = result.after.state if result.after else "-"
        row = [result.item.number, result.result, after]
        if issued:
            new = issued.get(id(result.item), {})
            row += [escape(new.get("sip_login") or "-"), escape(new.get("sip_password") or "-")]
        table.add_row(*row, escape(result.detail))
    return table


def _report_json(report: ChangeReport, outcome: Outcome, show_secrets: bool) -> str:
    items = []
    by_item = {id(r.item): r for r in report.results}
    issued = _credentials(report, show_secrets)
    for item in report.plan:
        entry: dict[str, Any] = {
            "number": item.number, "action": item.action, "plan": item.status,
            "reason": item.reason, "warning": item.warning, "abonent_id": item.abonent_id,
            "blocked": item.blocked, "marked_for_deletion": item.marked_for_deletion,
            "before": item.before.state if item.before else None}
        result = by_item.get(id(item))
        if result is not None:
            entry.update(result=result.result, detail=result.detail,
                         after=result.after.state if result.after else None)
        entry.update(issued.get(id(item), {}))
        items.append(entry)
    plan_counts = report.plan_counts()
    # applied: what was done; otherwise what would be (the plan's own counts)
    counts = report.counts() if outcome == "applied" else plan_counts
    return json.dumps({"action": report.action, "dry_run": outcome == "dry-run",
                       "outcome": outcome, "items": items, "counts": counts,
                       "plan_counts": plan_counts}, ensure_ascii=False, indent=2) + "\n"


def _notes(action: Action, todo: list[PlanItem]) -> list[str]:
    """What the change does besides its target, said once more in plain words."""
    if action == "add-device" and todo:
        return [f"note: {_trunks(len(todo))} will get a new SIP login and password (a removed "
                "device's old ones do not come back): whatever used them needs the new ones"]
    if action == "remove-device" and todo:
        return [f"note: the SIP logins and passwords of {_trunks(len(todo))} are deleted for "
                "good; add-device later issues a new SIP login and password, never these"]
    marked = [i for i in todo if i.marked_for_deletion]
    if marked:
        return [f"note: {_trunks(len(marked))} of the plan are marked for deletion"]
    return []


def _trunks(count: int) -> str:
    return f"{count} trunk" + ("" if count == 1 else "s")


def change_command(state: CliState, action: Action, *, numbers: list[str],
                   numbers_file: Path | None, all_inactive: bool, dry_run: bool, yes: bool,
                   fmt: str, concurrency: int | None, include_marked: bool = False,
                   show_secrets: bool = False) -> None:
    overrides: dict[str, object] = {}
    if concurrency is not None:
        overrides["concurrency"] = concurrency
    with usage_errors():
        if fmt not in ("table", "json"):
            raise UsageError("--format is table or json")
        if all_inactive and action not in ("enable", "add-device"):
            raise UsageError("--all-inactive only goes with enable and add-device")
        if include_marked and not all_inactive:
            raise UsageError("--include-marked goes with --all-inactive (named numbers are "
                             "taken as named, marked or not)")
        wanted = read_numbers(numbers, numbers_file) or []
        if all_inactive and wanted:
            raise UsageError("--all-inactive takes no numbers: name the numbers or use "
                             "--all-inactive, not both")
        if not wanted and not all_inactive:
            raise UsageError("name the numbers (NUMBER..., --numbers-file) or use --all-inactive")
        settings = settings_for(state, **overrides)
    redactor = Redactor()
    out, err = Console(), Console(stderr=True)
    stopped: list[AuditError] = []  # the audit failed mid-batch: report, then the error

    async def job() -> tuple[ChangeReport, Outcome]:
        settings.require_credentials()
        async with Vats(settings=settings, code_provider=prompt_code_async,
                        redactor=redactor) as vats:
            plan = await vats.plan(action, wanted, all_inactive=all_inactive,
                                   include_marked=include_marked)
            todo = [item for item in plan if item.status == "apply"]
            asking = bool(todo) and not dry_run and not yes
            if fmt == "table" or asking:  # never a question about a plan the user did not see
                print_table(_plan_table(plan, f"{action}: plan ({len(todo)} to change)"), err)
            for note in _notes(action, todo):
                typer.echo(note, err=True)
            if dry_run:
                return ChangeReport(action, plan), "dry-run"
            if not todo:
                return ChangeReport(action, plan), "nothing-to-do"
            if asking:
                if not sys.stdin.isatty():
                    raise UsageError("not a terminal: confirm with --yes")
                if not await _ask(f"Apply {action} to {_trunks(len(todo))}?"):
                    return ChangeReport(action, plan), "declined"
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
            return report, "applied"

    report, outcome = run_async(state, redactor, job)
    if fmt == "json":
        out.file.write(_report_json(report, outcome, show_secrets))
    elif outcome == "applied":
        print_table(_report_table(report, show_secrets), out)
    # every named number that is no trunk, after the report and before the summary
    unmatched = unmatched_numbers(
        [i.number for i in report.plan if i.status == "unknown"],
        [i.number for i in report.plan if i.status == "not-a-trunk"])
    if outcome == "applied":
        counts = report.counts()
        typer.echo(f"{action}: {counts['done']} done, {counts['skipped']} skipped, "
                   f"{counts['failed']} failed", err=True)
        issued = [r for r in report.results if r.issued_login is not None]
        if issued:
            where = "above" if fmt == "table" else "in sip_login"
            typer.echo(f"{action}: {len(issued)} new SIP login" + ("" if len(issued) == 1 else "s")
                       + f" issued ({where}; the passwords with --show-secrets, or later with "
                       "`vats trunks --show-secrets`)", err=True)
    elif outcome == "nothing-to-do":
        typer.echo(f"{action}: nothing to do", err=True)
    elif outcome == "declined":
        typer.echo(f"{action}: nothing was changed", err=True)
    if stopped:
        typer.echo(f"vats: AuditError: {redactor.text(str(stopped[0]))}; no further change was "
                   "started (the items above say what was done)", err=True)
        raise typer.Exit(1)
    if report.failed or unmatched:
        raise typer.Exit(1)


async def _ask(question: str) -> bool:
    import asyncio

    # on stderr: stdout is the report's (``--format json`` must stay one JSON document)
    return await asyncio.to_thread(typer.confirm, question, default=False, err=True)


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
    print_table(table, Console())  # every value whole, also in a pipe ("792465…" before)


def _brief(snapshot: dict[str, object] | None) -> str:
    if not snapshot:
        return "-"
    if not snapshot.get("has_device"):
        return "no device"
    return "on" if snapshot.get("device_enabled") else "off"
