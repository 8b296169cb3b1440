"""The ``vats`` command line. Only this package configures logging handlers and prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import gwt
from flows.cli.common import CliState

app = typer.Typer(
    name="vats",
    help="Automate the MTS Virtual PBX cabinet (vpbx.mts.ru) over GWT-RPC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(gwt.app, name="gwt")


@app.callback()
def _global(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Option(
        "--address", help="Cabinet base URL (env VATS_ADDRESS; default https://vpbx.mts.ru).")] = None,
    login: Annotated[str | None, typer.Option(
        "--login", help="Account login, e.g. +7-9XXXXXXXXX (env VATS_LOGIN).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin.")] = False,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    slow_mo: Annotated[float, typer.Option("--slow-mo", help="Slow every browser step (ms).")] = 0,
    debug_dir: Annotated[Path | None, typer.Option(
        "--debug-dir", help="Write a screenshot per step and a trace on failure here.")] = None,
    trace: Annotated[str, typer.Option(
        "--trace", help="Playwright trace: on-failure, always or off.")] = "on-failure",
    chromium: Annotated[str | None, typer.Option(
        "--chromium", help="Chromium binary to use (env VATS_CHROMIUM).")] = None,
    ca_cert: Annotated[Path | None, typer.Option(
        "--ca-cert", help="Trust exactly this certificate (PEM or DER), besides the public roots, in "
        "the browser and for changes alike, e.g. the one `vats sandbox --tls --cert-out FILE` "
        "writes; HTTPS errors are never ignored.")] = None,
    transport: Annotated[str | None, typer.Option(
        "--transport",
        help="Replay reads through the page's own fetch (page, the default: the browser's TLS) "
             "or Playwright's request context (request: faster, no 6-connection cap); "
             "env VATS_TRANSPORT.")] = None,
    schema: Annotated[list[Path] | None, typer.Option(
        "--schema", exists=True, dir_okay=False,
        help="A schema file naming slots of the live layouts (e.g. the derived schema a drift "
             "report points at, with your names); repeatable.")] = None,
    no_reuse: Annotated[bool, typer.Option(
        "--no-reuse", help="Do not reuse or save the logged-in session.")] = False,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="-v: one line per call; -vv: debug.")] = 0,
) -> None:
    ctx.obj = CliState(address=address, login=login, password_stdin=password_stdin,
                       headed=headed, slow_mo=slow_mo, debug_dir=debug_dir, trace=trace,
                       chromium=chromium, ca_cert=ca_cert, reuse=not no_reuse, verbose=verbose,
                       transport=transport, schemas=list(schema or []))


@app.command()
def demo(
    ctx: typer.Context,
    abonents: Annotated[int, typer.Option(help="Abonents in the demo cabinet.")] = 40,
) -> None:
    """Start the sandbox cabinet in the background and run the trunk inventory against it."""
    from flows.cli.trunks_cmd import demo_command

    demo_command(ctx.obj, abonents)


@app.command()
def trunks(
    ctx: typer.Context,
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", help="all, active, inactive, blocked, unblocked, marked, unmarked "
        "(repeat or comma-separate to combine).")] = None,
    numbers: Annotated[list[str] | None, typer.Option(
        "--numbers", help="Only these phones (repeatable).")] = None,
    numbers_file: Annotated[Path | None, typer.Option(
        "--numbers-file", help="File with one phone per line.")] = None,
    columns: Annotated[str | None, typer.Option(
        "--columns", help="Comma-separated fields (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json, jsonl, csv or xlsx.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", help="Write to FILE.")] = None,
    show_secrets: Annotated[bool, typer.Option(
        "--show-secrets", help="Print SIP passwords instead of ***.")] = False,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", help="GWT calls in flight (default 4; backs off when throttled).")] = None,
) -> None:
    """Every trunk of the account: phone, SIP login and password, identify line, device state."""
    from flows.cli.trunks_cmd import trunks_command

    trunks_command(ctx.obj, filters=filter_ or [], numbers=numbers or [],
                   numbers_file=numbers_file, columns=columns, fmt=fmt, output=output,
                   show_secrets=show_secrets, concurrency=concurrency)


@app.command()
def login(ctx: typer.Context) -> None:
    """Check the credentials, log in and save the session for the next runs."""
    from flows.cli.session_cmds import login_command

    login_command(ctx.obj)


@app.command()
def capture(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="JSON-lines file to write.")],
) -> None:
    """Log in, visit the Abonents tab and one Devices page; write the decoded, redacted calls."""
    from flows.cli.session_cmds import capture_command

    capture_command(ctx.obj, out)


@app.command()
def doctor(
    ctx: typer.Context,
    bundle: Annotated[Path | None, typer.Option(
        "--bundle", help="Also write a support bundle (zip, every secret removed) to FILE.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Check our reconstruction of the cabinet against the live build: services, methods,
    layouts, signatures, ordinals; exit 0 when nothing the flows need differs."""
    from flows.cli.doctor_cmd import doctor_command

    doctor_command(ctx.obj, bundle=bundle, fmt=fmt)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []}, add_help_option=False)
def sandbox(ctx: typer.Context) -> None:
    """Run the sandbox cabinet, a local vpbx.mts.ru (vats sandbox --help for its options)."""
    from fixtures.sandbox.cli import main as sandbox_main

    raise typer.Exit(sandbox_main(list(ctx.args)) or 0)


def _change(action: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        numbers: Annotated[list[str] | None, typer.Argument(help="Phones of the trunks.")] = None,
        numbers_file: Annotated[Path | None, typer.Option(
            "--numbers-file", help="File with one phone per line.")] = None,
        all_inactive: Annotated[bool, typer.Option(
            "--all-inactive", help="Every inactive trunk (enable and add-device only).")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and stop.")] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
        concurrency: Annotated[int | None, typer.Option("--concurrency")] = None,
    ) -> None:
        from flows.cli.changes_cmd import change_command

        change_command(ctx.obj, action, numbers=numbers or [],  # type: ignore[arg-type]
                       numbers_file=numbers_file, all_inactive=all_inactive, dry_run=dry_run,
                       yes=yes, fmt=fmt, concurrency=concurrency)

    command.__doc__ = {
        "enable": "Switch trunks' SIP devices on (plan, confirm, apply, read back, audit).",
        "disable": "Switch trunks' SIP devices off (plan, confirm, apply, read back, audit).",
        "add-device": "Create (restore) trunks' SIP devices (plan, confirm, apply, audit).",
        "remove-device": "Remove trunks' SIP devices (plan, confirm, apply, read back, audit).",
    }[action]
    return command


for _action in ("enable", "disable", "add-device", "remove-device"):
    app.command(name=_action)(_change(_action))


@app.command()
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", help="Newest N entries.")] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    account: Annotated[str | None, typer.Option("--account", help="Only this login.")] = None,
) -> None:
    """Show the local audit log of applied changes (VATS_AUDIT_DB)."""
    from flows.cli.changes_cmd import audit_command

    audit_command(ctx.obj, limit=limit, fmt=fmt, account=account)


def main() -> None:
    """Console-script entry point."""
    app()
