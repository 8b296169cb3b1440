"""``vats trunks``: the inventory, in the format the user needs; ``vats demo`` runs it on the
sandbox."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.cli.common import (
    CliState,
    prompt_code_async,
    run_async,
    settings_for,
    unmatched_numbers,
    usage_errors,
)
from flows.cli.output import choose_format, parse_columns, render
from flows.client import Vats
from flows.trunks import PHONE_EXAMPLES, Inventory, normalize_phone
from scraper.browser.redact import Redactor
from scraper.errors import UsageError
from scraper.models import Filters
from scraper.settings import ProcessSettings
from vats_fixtures.sandbox.process import running_sandbox

SANDBOX_PASSWORD = "sandbox"  # noqa: S105 - the sandbox's documented default, not a secret
FILTER_WORDS = {
    "all": {}, "active": {"active": "yes"}, "inactive": {"active": "no"},
    "blocked": {"blocked": "yes"}, "unblocked": {"blocked": "no"},
    "marked": {"marked": "yes"}, "unmarked": {"marked": "no"},
}


def parse_filters(words: list[str]) -> Filters:
    chosen: dict[str, str] = {}
    given: dict[str, str] = {}  # axis → the word that set it, to name both in a contradiction
    for word in (w.strip().lower() for item in words for w in item.split(",")):
        if not word:
            continue
        if word not in FILTER_WORDS:
            raise UsageError(f"unknown filter {word!r}; choose from {', '.join(FILTER_WORDS)}")
        for key, value in FILTER_WORDS[word].items():
            if chosen.get(key, value) != value:
                raise UsageError(f"filters {given[key]!r} and {word!r} contradict each other "
                                 f"(no abonent can be both)")
            chosen[key], given[key] = value, word
    return Filters.model_validate(chosen)


def read_numbers(numbers: list[str], numbers_file: Path | None) -> list[str] | None:
    """The numbers a command was given, in every form each command takes: positional,
    ``--numbers`` repeated or comma-separated, and ``--numbers-file`` (one or more a line,
    ``#`` comments). ``None`` when none was named; each is checked (``normalize_phone``), and a
    file without a number is refused rather than read as "every trunk"."""
    items = split_numbers(numbers)
    if numbers_file is not None:
        try:
            text = numbers_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--numbers-file {numbers_file}: cannot read it "
                             f"({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise UsageError(f"--numbers-file {numbers_file}: not UTF-8 text") from None
        in_file = split_numbers(line.split("#", 1)[0] for line in text.splitlines())
        if not in_file:
            raise UsageError(f"--numbers-file {numbers_file}: no numbers in it")
        items += in_file
    if not items:
        return None
    bad = []
    for item in items:
        try:
            normalize_phone(item)
        except UsageError:
            bad.append(item)
    if bad:
        raise UsageError(f"not phone numbers: {', '.join(bad[:10])} "
                         f"(write them as {PHONE_EXAMPLES})")
    return items


def split_numbers(items: Iterable[str]) -> list[str]:
    """``["79990000001,79990000002", " 79990000003 "]`` → the three numbers."""
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 trunk``, ``2 trunks`` (``words``: a plural that is not ``word + "s"``)."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def summary_line(inventory: Inventory) -> str:
    s = inventory.summary()
    return (f"{plural(s['trunks'], 'trunk')}: {s['working']} working, {s['off']} switched off, "
            f"{s['no-device']} without device; {s['blocked']} blocked, {s['marked']} marked for "
            f"deletion; {plural(s['abonents'], 'other abonent')}"
            + (f"; {plural(s['unknown'], 'unknown number')}" if s["unknown"] else "")
            + (f"; {plural(s['excluded'], 'number')} left out by the filter"
               if s["excluded"] else "")
            + (f"; {s['failed']} FAILED" if s["failed"] else ""))


def trunks_command(state: CliState, *, filters: list[str], numbers: list[str],
                   numbers_file: Path | None, columns: str | None, fmt: str | None,
                   output: Path | None, show_secrets: bool, concurrency: int | None,
                   overrides: dict[str, object] | None = None) -> None:
    redactor = Redactor()
    console = Console()
    err = Console(stderr=True)
    # Every usage error before any work, as "vats: ..." and exit 2 like the other commands:
    # raised here, outside run_async, they used to escape as a traceback with exit 1 — and a
    # bad --format or a missing --output for xlsx only showed after the whole inventory.
    extra = dict(overrides or {})
    if concurrency is not None:
        extra["concurrency"] = concurrency
    with usage_errors():
        chosen = parse_filters(filters or ["all"])
        wanted = read_numbers(numbers, numbers_file)
        cols = parse_columns(columns)
        fmt = choose_format(fmt, output)
        settings = settings_for(state, **extra)

    async def job() -> Inventory:
        settings.require_credentials()
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err, transient=True,
                            disable=not err.is_terminal)
        with progress:
            task = progress.add_task("device forms", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            async with Vats(settings=settings, code_provider=prompt_code_async,
                            redactor=redactor) as vats:
                return await vats.trunks(chosen, numbers=wanted, progress=advance)

    result = run_async(state, redactor, job)
    trunks = sorted(result.trunks, key=lambda t: t.phone)
    # the default table fits a terminal (or the width COLUMNS names); a pipe gets every column
    fit = columns is None and (console.is_terminal or ProcessSettings().columns is not None)
    try:
        left_out = render(trunks, fmt=fmt, columns=cols, show_secrets=show_secrets,
                          output=output, console=console, fit=fit)
    except OSError as exc:
        typer.echo(f"vats: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    if left_out:
        typer.echo(f"left out to fit {console.width} columns: {', '.join(left_out)} "
                   f"(--columns chooses them, --format csv or json has them all)", err=True)
    # Plain lines, not rich's err.print: that wrapped the summary at 80 columns ("marked for" /
    # "deletion") and would read "[...]" in an error message as markup.
    for number in result.excluded_numbers:
        typer.echo(f"left out by the filter: {number}", err=True)
    for abonent_id, error in result.failures.items():
        typer.echo(f"could not read abonent {abonent_id}: {redactor.text(error)}", err=True)
    # a named number that is no trunk fails the run, as in every command that takes numbers
    status = unmatched_numbers(
        result.unknown_numbers,
        sorted(a.phone or str(a.abonent_id) for a in result.abonents) if wanted else [])
    typer.echo(summary_line(result), err=True)
    if status or result.failures:
        raise typer.Exit(1)


def demo_command(state: CliState, abonents: int) -> None:
    with running_sandbox("--abonents", str(abonents)) as url, \
            tempfile.TemporaryDirectory(prefix="vats-demo-") as state_dir:
        typer.echo(f"sandbox cabinet running at {url} (login +7-9000000000, password sandbox)",
                   err=True)
        state.address, state.login = url, "+7-9000000000"
        trunks_command(state, filters=["all"], numbers=[], numbers_file=None,
                       columns="phone,identify_line,sip_login,sip_password,has_device,"
                               "device_enabled,active,blocked,marked_for_deletion",
                       fmt="table", output=None, show_secrets=False, concurrency=None,
                       # settings of this run only (the process environment is left alone):
                       # the demo never touches your saved sessions or uses your password
                       overrides={"state_dir": Path(state_dir), "password": SANDBOX_PASSWORD})
