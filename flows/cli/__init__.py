"""The ``vats`` command line. Only this package configures logging handlers and prints.

Conventions shared by every command: the global options (``--login``, ``--address``, ``-v`` …)
go before or after the command name; numbers are taken positionally, with ``--numbers``
(repeatable, comma-separated) and ``--numbers-file``; files are written with ``--output``; a
``--format`` is honoured or refused; exit status 0, 1 (some items failed), 2 (usage).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from flows.cli import gwt
from flows.cli.common import (
    EXIT_CODES,
    NumbersArgument,
    NumbersFileOption,
    NumbersOption,
    VatsCommand,
    VatsGroup,
    global_options,
    named_numbers,
    root_options,
    usage_errors,
)

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="vats",
    help="Automate the MTS Virtual PBX cabinet (vpbx.mts.ru) over GWT-RPC.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=VatsGroup,
)
app.add_typer(gwt.app, name="gwt")


def command(name: str | None = None, **settings: Any) -> Callable[[F], F]:
    """``app.command`` with our conventions: flags bare in --help, the exit codes after it."""
    return app.command(name, cls=VatsCommand, epilog=EXIT_CODES, **settings)


OutputOption = Annotated[Path | None, typer.Option(
    "--output", metavar="FILE",
    help="Write to FILE (its folder must exist); without --format its extension names the "
         "format: .txt table, .json, .jsonl, .csv, .xlsx.")]
ConcurrencyOption = Annotated[int | None, typer.Option(
    "--concurrency", metavar="N",
    help="GWT calls in flight at once, 1-64 (default 4; backs off by itself when the cabinet "
         "throttles).")]


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("vats")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        typer.echo(f"vats {version}")
        raise typer.Exit(0)


@app.callback()
@root_options
def _global(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version,
        help="Print the version and exit.")] = False,
) -> None:
    """The global options (``common.GLOBAL_OPTIONS``) become ``ctx.obj``."""


@command()
@global_options
def demo(
    ctx: typer.Context,
    abonents: Annotated[int, typer.Option(metavar="N", help="Abonents in the demo cabinet.")] = 40,
) -> None:
    """Start the sandbox cabinet in the background and run the trunk inventory against it."""
    from flows.cli.trunks_cmd import demo_command

    demo_command(ctx.obj, abonents)


@command()
@global_options
def trunks(
    ctx: typer.Context,
    numbers_args: NumbersArgument = None,
    numbers: NumbersOption = None,
    numbers_file: NumbersFileOption = None,
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", metavar="WORD[,WORD]",
        help="all, active, inactive, blocked, unblocked, marked, unmarked "
             "(repeat or comma-separate to combine).")] = None,
    columns: Annotated[str | None, typer.Option(
        "--columns", metavar="NAME[,NAME]",
        help="Comma-separated fields (default: all; a terminal's table leaves out what does not "
             "fit and says so).")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="FORMAT",
        help="table, json, jsonl, csv or xlsx (default: --output's extension, else table).")
    ] = None,
    output: OutputOption = None,
    show_secrets: Annotated[bool, typer.Option(
        "--show-secrets", help="Print SIP passwords instead of ***.")] = False,
    concurrency: ConcurrencyOption = None,
) -> None:
    """Every trunk of the account: phone, SIP login and password, identify line, device state.

    Only the numbers named, when any are; a named number that is unknown or no trunk makes
    the exit status 1."""
    from flows.cli.trunks_cmd import trunks_command

    trunks_command(ctx.obj, filters=filter_ or [], numbers=named_numbers(numbers_args, numbers),
                   numbers_file=numbers_file, columns=columns, fmt=fmt, output=output,
                   show_secrets=show_secrets, concurrency=concurrency)


@command()
@global_options
def login(ctx: typer.Context) -> None:
    """Check the credentials: log in afresh (a saved session is not used) and save the session.

    The other commands reuse the saved session until it expires (then they log in again);
    --no-reuse: nothing is read or saved. A refused password forgets the saved session too
    (exit 2); a session that cannot be saved fails the command (exit 1)."""
    from flows.cli.session_cmds import login_command

    login_command(ctx.obj)


@command()
@global_options
def capture(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option(
        "--output", metavar="FILE", help="JSON-lines file to write (its folder must exist).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,  # the old name
) -> None:
    """Log in, visit the Abonents tab and one Devices page; write the decoded, redacted calls."""
    from flows.cli.output import check_output
    from flows.cli.session_cmds import capture_command
    from scraper.errors import UsageError

    with usage_errors():
        target = output or out
        if target is None:
            raise UsageError("capture needs --output FILE")
        check_output(target)
    capture_command(ctx.obj, target)


@command()
@global_options
def doctor(
    ctx: typer.Context,
    bundle: Annotated[Path | None, typer.Option(
        "--bundle", metavar="FILE",
        help="Also write a support bundle (zip, every secret removed) to FILE.")] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                     help="table or json.")] = "table",
) -> None:
    """Check our reconstruction of the cabinet against the live build.

    Services, methods, layouts, signatures, ordinals; exit 0 when nothing the flows need
    differs."""
    from flows.cli.doctor_cmd import doctor_command

    doctor_command(ctx.obj, bundle=bundle, fmt=fmt)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []}, add_help_option=False,
             cls=VatsCommand)
def sandbox(ctx: typer.Context) -> None:
    """Run the sandbox cabinet, a local vpbx.mts.ru (vats sandbox --help for its options)."""
    from vats_fixtures.sandbox.cli import main as sandbox_main

    raise typer.Exit(sandbox_main(list(ctx.args)) or 0)


def _change(action: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        numbers_args: NumbersArgument = None,
        numbers: NumbersOption = None,
        numbers_file: NumbersFileOption = None,
        all_inactive: Annotated[bool, typer.Option(
            "--all-inactive",
            help="Every inactive trunk instead of named numbers (enable and add-device only; "
                 "not with numbers). Trunks marked for deletion are left out.")] = False,
        include_marked: Annotated[bool, typer.Option(
            "--include-marked",
            help="With --all-inactive: take in the trunks marked for deletion too.")] = False,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Print the plan and stop.")] = False,
        yes: Annotated[bool, typer.Option(
            "--yes", "-y", help="Do not ask for confirmation.")] = False,
        fmt: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                         help="table or json.")] = "table",
        show_secrets: Annotated[bool, typer.Option(
            "--show-secrets",
            help="Print the SIP passwords add-device issues instead of ***.")] = False,
        concurrency: Annotated[int | None, typer.Option(
            "--concurrency", metavar="N",
            help="GWT calls in flight at once, 1-64: the plan's reads, the changes and their "
                 "read-backs alike (default 4; backs off by itself when the cabinet "
                 "throttles).")] = None,
    ) -> None:
        from flows.cli.changes_cmd import change_command

        change_command(ctx.obj, action,  # type: ignore[arg-type]
                       numbers=named_numbers(numbers_args, numbers),
                       numbers_file=numbers_file, all_inactive=all_inactive, dry_run=dry_run,
                       yes=yes, fmt=fmt, concurrency=concurrency,
                       include_marked=include_marked, show_secrets=show_secrets)

    command.__doc__ = {
        "enable": "Switch trunks' SIP devices on (plan, confirm, apply, read back, audit).",
        "disable": "Switch trunks' SIP devices off (plan, confirm, apply, read back, audit).",
        "add-device": "Create trunks' SIP devices (plan, confirm, apply, audit); each gets a "
                      "NEW SIP login and password (a removed device's do not come back).",
        "remove-device": "Remove trunks' SIP devices (plan, confirm, apply, read back, audit).",
    }[action]
    return global_options(command)


for _action in ("enable", "disable", "add-device", "remove-device"):
    command(_action)(_change(_action))


@command()
@global_options
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", metavar="N",
                                       help="Newest N entries.")] = 50,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                     help="table or json.")] = "table",
    account: Annotated[str | None, typer.Option(
        "--account", metavar="LOGIN", help="Only this login (default: --login).")] = None,
) -> None:
    """Show the local audit log of applied changes (VATS_AUDIT_DB)."""
    from flows.cli.changes_cmd import audit_command
    from flows.cli.output import choose_format

    with usage_errors():  # audit --format csv used to print a table
        choose_format(fmt, None, ("table", "json"))
    audit_command(ctx.obj, limit=limit, fmt=fmt, account=account)


FormatOption = Annotated[str, typer.Option("--format", metavar="FORMAT",
                                           help="table, json or jsonl.")]


def _table_formats(fmt: str) -> None:
    from flows.cli.output import choose_format

    with usage_errors():
        choose_format(fmt, None, ("table", "json", "jsonl"))


@command()
@global_options
def accounts(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option(
        "--check/--no-check",
        help="Log in to each account and count its trunks (default), or only list them.")] = True,
    fmt: FormatOption = "table",
) -> None:
    """List the accounts of the accounts file (--config) and check each: log in, print its
    enterprise and trunk count. Exit status 1 when an account fails its check."""
    from flows.cli.watch_cmds import accounts_command

    _table_formats(fmt)
    accounts_command(ctx.obj, check=check, fmt=fmt)


@command()
@global_options
def watch(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(
        "--once", help="One cycle of every account, deliver its events, exit (status 1 when an "
                       "account failed or an event is left undelivered).")] = False,
    parallel: Annotated[int | None, typer.Option(
        "--parallel", metavar="N",
        help="Accounts read at once, 1-64 (default: the file's parallel, else 2).")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", metavar="PORT",
        help="Serve Prometheus metrics (/metrics) and /healthz on this port (0: any free).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(
        "--metrics-host", metavar="HOST", help="Address the metrics server binds.")
    ] = "127.0.0.1",
    deliver_timeout: Annotated[float, typer.Option(
        "--deliver-timeout", metavar="SECONDS",
        help="With --once: how long to keep delivering before exiting (what is left stays "
             "in the outbox).")] = 30.0,
    engine: Annotated[str, typer.Option(
        "--engine", metavar="ENGINE",
        help="Where the inventories run: local (this process, one browser) or celery (the "
             "workers of vats worker, through the broker of broker_url_env / "
             "VATS_BROKER_URL); the schedule, snapshots and events stay here.")] = "local",
) -> None:
    """Watch the accounts of the accounts file: inventories on each account's schedule,
    snapshots in SQLite, changes as CloudEvents to every sink (docs/watch.md). SIGTERM
    finishes the current writes and exits 0."""
    from flows.cli.watch_cmds import watch_command

    watch_command(ctx.obj, once=once, parallel=parallel, metrics_port=metrics_port,
                  metrics_host=metrics_host, deliver_timeout=deliver_timeout, engine=engine)


@command()
@global_options
def history(
    ctx: typer.Context,
    phone: Annotated[str, typer.Argument(metavar="NUMBER", help="The trunk's phone.")],
    account: Annotated[str | None, typer.Option(
        "--account", metavar="NAME", help="Only this account of the file.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Every change of one trunk the watch saw, oldest first, with when (exit 1: none)."""
    from flows.cli.watch_cmds import history_command

    _table_formats(fmt)
    history_command(ctx.obj, phone, account=account, fmt=fmt)


@command()
@global_options
def diff(
    ctx: typer.Context,
    start: Annotated[int | None, typer.Argument(
        metavar="[FROM]", help="The older snapshot's number (default: the one before TO).")
    ] = None,
    end: Annotated[int | None, typer.Argument(
        metavar="[TO]", help="The newer snapshot's number (default: the last).")] = None,
    account: Annotated[str | None, typer.Option(
        "--account", metavar="NAME",
        help="The account (needed when the file has several).")] = None,
    fmt: FormatOption = "table",
) -> None:
    """What changed between two snapshots of an account (by default the last two)."""
    from flows.cli.watch_cmds import diff_command

    _table_formats(fmt)
    diff_command(ctx.obj, account=account, start=start, end=end, fmt=fmt)


@command()
@global_options
def events(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option(
        "--pending", help="Only events some sink has not received yet.")] = False,
    sink: Annotated[str | None, typer.Option(
        "--sink", metavar="NAME", help="Only this sink's deliveries.")] = None,
    account: Annotated[str | None, typer.Option(
        "--account", metavar="NAME", help="Only this account's events.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="The newest N.")] = 100,
    enable: Annotated[str | None, typer.Option(
        "--enable", metavar="SINK",
        help="Enable a sink the watch disabled (a webhook that answered 410) and exit.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """What the watch emitted, with each sink's delivery (pending, delivered, returned)."""
    from flows.cli.watch_cmds import events_command

    _table_formats(fmt)
    events_command(ctx.obj, pending=pending, sink=sink, account=account, limit=limit, fmt=fmt,
                   enable=enable)


@command()
@global_options
def worker(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME",
        help="The worker's name, unique among the workers (default vats-<pid>@<host>).")] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", metavar="N",
        help="Jobs at once, each in a Chromium of its own, 1-64.")] = 1,
    soft_time_limit: Annotated[float, typer.Option(
        "--soft-time-limit", metavar="SECONDS",
        help="A job running longer is cancelled and closes its browser (0: none).")] = 300.0,
    time_limit: Annotated[float, typer.Option(
        "--time-limit", metavar="SECONDS",
        help="A job running longer is killed with its browser (0: none).")] = 360.0,
    max_jobs: Annotated[int, typer.Option(
        "--max-jobs-per-process", metavar="N",
        help="A pool process is replaced after N jobs.")] = 50,
    max_memory: Annotated[int, typer.Option(
        "--max-memory", metavar="MB",
        help="A pool process is replaced once its memory passed MB (its Chromium aside).")
    ] = 1024,
) -> None:
    """Run a worker of the account jobs (vats watch --engine celery): inventories and changes
    from the RabbitMQ in VATS_BROKER_URL. Account passwords are read here, from the variables
    or files the accounts file names; VATS_STATE_DIR keeps the sessions. SIGTERM lets the jobs
    in flight finish."""
    from flows.cli.scale_cmds import worker_command

    worker_command(ctx.obj, name=name, concurrency=concurrency,
                   soft_time_limit=soft_time_limit, time_limit=time_limit, max_jobs=max_jobs,
                   max_memory_mb=max_memory)


@command()
@global_options
def workers(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                     help="table or json.")] = "table",
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", help="How long each worker has to answer.")] = 1.0,
) -> None:
    """The workers of VATS_BROKER_URL that answer, their jobs in flight and the jobs waiting in
    the queue (exit 1 when no worker answers)."""
    from flows.cli.scale_cmds import workers_command

    workers_command(ctx.obj, fmt=fmt, timeout=timeout)


def main() -> None:
    """Console-script entry point.

    Ends with ``os._exit`` once the command closed what it opened and the ``atexit`` handlers
    (logging's among them) ran: tearing the interpreter down — freeing every module and object
    of a process about to end — took 0.2–0.35 s of every ``vats`` run (bench/watch.py). Not
    while another thread still runs: Python then ends as usual, waiting for it.
    """
    try:
        app(prog_name="vats")
    except SystemExit as done:
        if isinstance(done.code, int | None) and not _other_threads():
            _exit_now(done.code or 0)
        raise


def _other_threads() -> bool:
    main_thread = threading.main_thread()
    return any(t is not main_thread and t.is_alive() and not t.daemon
               for t in threading.enumerate())


def _exit_now(code: int) -> NoReturn:
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)
