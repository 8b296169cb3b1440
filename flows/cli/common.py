"""What every account command shares: settings from options and env, the password, the loop.

The environment is read by ``AccountSettings`` alone (``scraper/settings.py``); options given
here win over it, and it wins over the defaults.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer
from pydantic import ValidationError
from typer.core import TyperCommand, TyperGroup

from flows.cli.hints import hint
from flows.cli.logs import configure
from scraper.browser.redact import Redactor
from scraper.errors import DriftError, LoginError, UsageError, VatsError
from scraper.settings import AccountSettings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: every account command's help ends with it (and so does ``vats --help``)
EXIT_CODES = ("Exit status: 0 all done; 1 some items failed (an unknown number, a number that is "
              "no trunk, a failed read or change, a changed build); 2 usage error, credentials "
              "refused, undecodable input; 130 interrupted.")
GLOBAL_PANEL = "Global options (before or after the command)"


@dataclass
class CliState:
    address: str | None
    login: str | None
    password_stdin: bool
    headed: bool
    slow_mo: float
    debug_dir: Path | None
    trace: str | None
    chromium: str | None
    ca_cert: Path | None
    reuse: bool
    verbose: int
    transport: str | None = None
    schemas: list[Path] = field(default_factory=list)
    config: Path | None = None


def _bare_flags(params: list[Any]) -> list[Any]:
    """A flag (``--headed``, ``-v``, ``--help``) takes no value: no ``<bool>``/``<int>`` after
    it in --help."""
    for param in params:
        if (getattr(param, "is_flag", False) or getattr(param, "count", False)) \
                and param.metavar is None:
            param.metavar = ""
    return params


class VatsCommand(TyperCommand):
    """Every command of ours: flags shown bare in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


class VatsGroup(TyperGroup):
    """Every group of ours (``vats``, ``vats gwt``): flags shown bare in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


def _global(*decls: str, metavar: str | None = None, help: str) -> Any:
    return typer.Option(*decls, metavar=metavar, help=help, rich_help_panel=GLOBAL_PANEL)


#: The options of the whole run: ``vats --login X trunks`` and ``vats trunks --login X`` alike
#: (people type the latter). Each is declared once, here, for the root callback and for every
#: account command (``global_options``), so each command's --help lists them too.
GLOBAL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "address": (Annotated[str | None, _global(
        "--address", metavar="URL",
        help="Cabinet address: http(s)://host[:port], nothing after it (env VATS_ADDRESS; "
             "default https://vpbx.mts.ru).")], None),
    "login": (Annotated[str | None, _global(
        "--login", metavar="LOGIN",
        help="Account login, e.g. +7-9XXXXXXXXX (env VATS_LOGIN).")], None),
    "password_stdin": (Annotated[bool, _global(
        "--password-stdin",
        help="Read the password from the first line of stdin (else env VATS_PASSWORD, else a "
             "prompt; never the command line).")], False),
    "headed": (Annotated[bool, _global(
        "--headed", help="Show the browser window (needs a display; without one: "
                         "xvfb-run vats --headed ...; env VATS_HEADLESS=false).")], False),
    "slow_mo": (Annotated[float, _global(
        "--slow-mo", metavar="MS",
        help="Slow every browser step by MS milliseconds (env VATS_SLOW_MO_MS).")], 0),
    "debug_dir": (Annotated[Path | None, _global(
        "--debug-dir", metavar="DIR",
        help="Write a screenshot per step and a trace on failure here.")], None),
    "trace": (Annotated[str, _global(
        "--trace", metavar="WHEN",
        help="Playwright trace: on-failure (the default), always or off (env VATS_TRACE).")],
        None),
    "chromium": (Annotated[str | None, _global(
        "--chromium", metavar="PATH", help="Chromium binary to use (env VATS_CHROMIUM).")], None),
    "ca_cert": (Annotated[Path | None, _global(
        "--ca-cert", metavar="FILE",
        help="Trust exactly this certificate (PEM or DER), besides the public roots, in "
             "the browser and for changes alike, e.g. the one `vats sandbox --tls --cert-out "
             "FILE` writes; HTTPS errors are never ignored.")], None),
    "transport": (Annotated[str | None, _global(
        "--transport", metavar="HOW",
        help="Replay reads through the page's own fetch (page, the default: the browser's TLS), "
             "Playwright's request context (request: no 6-connection cap) or Python's own "
             "client with the browser's cookies (direct: the least CPU per call); the last two "
             "fall back to the page when they cannot connect; env VATS_TRANSPORT.")], None),
    "schema": (Annotated[list[Path] | None, typer.Option(
        "--schema", exists=True, dir_okay=False, metavar="FILE", rich_help_panel=GLOBAL_PANEL,
        help="A schema file naming slots of the live layouts (e.g. the derived schema a drift "
             "report points at, with your names); repeatable.")], None),
    "config": (Annotated[Path | None, _global(
        "--config", metavar="FILE",
        help="The accounts file of vats accounts/watch/history/diff/events (TOML; default "
             "accounts.toml in the user config dir, e.g. ~/.config/vats).")], None),
    "no_reuse": (Annotated[bool, _global(
        "--no-reuse", help="Do not reuse or save the logged-in session.")], False),
    "verbose": (Annotated[int, typer.Option(
        "-v", "--verbose", count=True, show_default=False, rich_help_panel=GLOBAL_PANEL,
        help="Log to stderr: -v one line per call, -vv (or -v -v) debug.")], 0),
}


#: Every command that takes numbers takes them the same ways: positional, ``--numbers``
#: (repeatable, comma-separated) and ``--numbers-file``; ``flows.cli.trunks_cmd.read_numbers``
#: reads all three.
NumbersArgument = Annotated[list[str] | None, typer.Argument(
    metavar="NUMBER", show_default=False,
    help="Phones of the trunks, as people write them: +7 999 123-45-67, 89991234567, "
         "9991234567 (commas separate several).")]
NumbersOption = Annotated[list[str] | None, typer.Option(
    "--numbers", metavar="NUMBER[,NUMBER]",
    help="Phones, as the arguments: repeatable, comma-separated.")]
NumbersFileOption = Annotated[Path | None, typer.Option(
    "--numbers-file", metavar="FILE",
    help="A file of phones: one (or several, comma-separated) a line, # starts a comment; "
         "a file without a number is an error.")]


def named_numbers(*groups: list[str] | None) -> list[str]:
    """The positional numbers and the ``--numbers`` ones, in order, as one list."""
    return [number for group in groups for number in group or []]


def new_state(values: dict[str, Any]) -> CliState:
    """The run's state from the global options given before the command."""
    return CliState(address=values["address"], login=values["login"],
                    password_stdin=values["password_stdin"], headed=values["headed"],
                    slow_mo=values["slow_mo"], debug_dir=values["debug_dir"],
                    trace=values["trace"], chromium=values["chromium"],
                    ca_cert=values["ca_cert"], reuse=not values["no_reuse"],
                    verbose=values["verbose"], transport=values["transport"],
                    schemas=list(values["schema"] or []), config=values["config"])


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "PROMPT")


def apply_command_globals(ctx: typer.Context, state: CliState, values: dict[str, Any]) -> None:
    """Global options given after the command name win over those before it (a repeated
    ``-v`` adds up, ``--schema`` files add up)."""
    for name, value in values.items():
        if not _given(ctx, name):
            continue
        if name == "verbose":
            state.verbose += value
        elif name == "schema":
            state.schemas.extend(value or [])
        elif name == "no_reuse":
            state.reuse = state.reuse and not value
        else:
            setattr(state, name, value)


def _with_globals(func: Callable[..., Any], command: Callable[..., Any]) -> None:
    """Give ``command`` the signature of ``func`` plus the global options (typer reads both)."""
    signature = inspect.signature(func, eval_str=True)
    hints = get_type_hints(func, include_extras=True)
    clash = set(signature.parameters) & set(GLOBAL_OPTIONS)
    assert not clash, f"{func.__name__} already has {clash}"
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                               annotation=annotation)
             for name, (annotation, default) in GLOBAL_OPTIONS.items()]
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    command.__annotations__ = {**hints, **{n: a for n, (a, _) in GLOBAL_OPTIONS.items()}}


def root_options(func: F) -> F:
    """The root callback: the global options given before the command become ``ctx.obj``,
    the run's ``CliState``. ``func`` takes ``ctx: typer.Context`` (and options of its own)."""
    @functools.wraps(func)
    def callback(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in GLOBAL_OPTIONS}
        kwargs["ctx"].obj = new_state(values)
        return func(*args, **kwargs)

    _with_globals(func, callback)
    return callback  # type: ignore[return-value]


def global_options(func: F) -> F:
    """Add the global options to a command (its signature, so typer parses them and --help
    lists them); the values given there update the run's ``CliState`` before it runs.

    The command must take ``ctx: typer.Context``.
    """
    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in GLOBAL_OPTIONS if name in kwargs}
        ctx = kwargs.get("ctx")
        if ctx is not None and isinstance(ctx.obj, CliState):  # not always a typer.Context
            apply_command_globals(ctx, ctx.obj, values)
        return func(*args, **kwargs)

    _with_globals(func, command)
    return command  # type: ignore[return-value]


def read_password(state: CliState) -> str | None:
    """--password-stdin, else an interactive prompt — never argv. Asked only when the settings
    came without one (``VATS_PASSWORD`` arrives with them and goes first)."""
    if state.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return getpass.getpass("Пароль / password: ")
    return None


@contextmanager
def usage_errors() -> Iterator[None]:
    """Bad input before any work: ``vats: <what and where>`` and exit status 2, no traceback."""
    try:
        yield
    except UsageError as exc:
        typer.echo(f"vats: {exc}", err=True)
        raise typer.Exit(2) from None


def settings_for(state: CliState, **overrides: Any) -> AccountSettings:
    """The account's settings: ``overrides`` > options > ``VATS_*`` > defaults; then, when no
    password came with them, one from stdin or a prompt."""
    values = option_values(state, overrides)
    settings = validated_settings(values)
    if settings.password is None:
        password = read_password(state)
        if password is not None:
            settings = validated_settings({**values, "password": password})
    return settings


def local_settings(state: CliState) -> AccountSettings:
    """The settings for a command that never logs in (``vats audit``): no password asked."""
    return validated_settings(option_values(state, {}))


def option_values(state: CliState, overrides: dict[str, Any]) -> dict[str, Any]:
    """What the options given say; an option left out says nothing, so that ``VATS_HEADLESS``,
    ``VATS_SLOW_MO_MS``, ``VATS_TRACE`` … still reach ``AccountSettings`` (flags cannot be
    told from their defaults, so only a flag's non-default value speaks)."""
    values: dict[str, Any] = {}
    if state.headed:
        values["headless"] = False
    if state.slow_mo:
        values["slow_mo_ms"] = state.slow_mo
    if not state.reuse:
        values["reuse_session"] = False
    for key, value in (("address", state.address), ("login", state.login),
                       ("transport", state.transport), ("trace", state.trace),
                       ("debug_dir", state.debug_dir), ("chromium", state.chromium),
                       ("ca_cert", state.ca_cert)):
        if value is not None:
            values[key] = value
    if state.schemas:
        values["schema_files"] = list(state.schemas)
    values.update(overrides)
    return values


def validated_settings(values: dict[str, Any]) -> AccountSettings:
    try:
        return AccountSettings(**values)
    except ValidationError as exc:
        # --concurrency 0, VATS_TIMEOUT_S=-1 ...: field and rule only (the input may be secret)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {_rule(e['msg'])}"
                             for e in exc.errors())
        raise UsageError(problems) from None


def _rule(message: str) -> str:
    """A validator's own words without pydantic's "Value error, " in front."""
    return message.removeprefix("Value error, ")


def unmatched_numbers(unknown: Iterable[str], not_trunks: Iterable[str]) -> int:
    """The one convention of every command that takes numbers: each named number that is not
    a trunk of the account is said on stderr (``unknown number: N``, ``not a trunk: N``) and
    makes the exit status 1. Returns that status (0 when every number is a trunk)."""
    status = 0
    for number in unknown:
        typer.echo(f"unknown number: {number}", err=True)
        status = 1
    for number in not_trunks:
        typer.echo(f"not a trunk: {number}", err=True)
        status = 1
    return status


def run_async(state: CliState, redactor: Redactor, job: Callable[[], Awaitable[T]]) -> T:
    """Run a job with logging configured; typed errors become a message and exit status 1."""
    configure(state.verbose, redactor)
    try:
        return asyncio.run(job())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        typer.echo("vats: interrupted", err=True)
        raise typer.Exit(130) from None
    except (LoginError, UsageError) as exc:
        typer.echo(f"vats: {redactor.text(str(exc))}", err=True)
        raise typer.Exit(2) from None
    except DriftError as exc:
        typer.echo(f"vats: the cabinet's build changed: {redactor.text(str(exc))}\n"
                   f"drift report: {exc.report}", err=True)
        raise typer.Exit(1) from None
    except VatsError as exc:
        typer.echo(f"vats: {type(exc).__name__}: {redactor.text(str(exc))}{hint(exc)}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # the machine's refusal (a folder, a file, a full disk): said once
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(f"vats: {exc.strerror or exc}{where}", err=True)
        raise typer.Exit(1) from None


def prompt_code() -> str:
    """The CLI's confirmation-code source when the settings brought none (no
    ``VATS_CONFIRMATION_CODE``): an interactive prompt (in a thread, so the browser page stays
    alive while the user types)."""
    if not sys.stdin.isatty():
        raise UsageError("the cabinet asks for a confirmation code; set VATS_CONFIRMATION_CODE")
    return input("Код подтверждения / confirmation code: ").strip()


async def prompt_code_async() -> str:
    return await asyncio.to_thread(prompt_code)
