"""What every account command shares: settings from options and env, the password, the loop.

The environment is read by ``AccountSettings`` alone (``scraper/settings.py``); options given
here win over it, and it wins over the defaults.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

from flows.cli.hints import hint
from flows.cli.logs import configure
from scraper.browser.redact import Redactor
from scraper.errors import DriftError, LoginError, UsageError, VatsError
from scraper.settings import AccountSettings

T = TypeVar("T")


@dataclass
class CliState:
    address: str | None
    login: str | None
    password_stdin: bool
    headed: bool
    slow_mo: float
    debug_dir: Path | None
    trace: str
    chromium: str | None
    ca_cert: Path | None
    reuse: bool
    verbose: int
    transport: str | None = None
    schemas: list[Path] = field(default_factory=list)


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
    values = _option_values(state, overrides)
    settings = _validated(values)
    if settings.password is None:
        password = read_password(state)
        if password is not None:
            settings = _validated({**values, "password": password})
    return settings


def local_settings(state: CliState) -> AccountSettings:
    """The settings for a command that never logs in (``vats audit``): no password asked."""
    return _validated(_option_values(state, {}))


def _option_values(state: CliState, overrides: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "headless": not state.headed, "slow_mo_ms": state.slow_mo, "trace": state.trace,
        "reuse_session": state.reuse,
    }
    for key, value in (("address", state.address), ("login", state.login),
                       ("transport", state.transport),
                       ("debug_dir", state.debug_dir), ("chromium", state.chromium),
                       ("ca_cert", state.ca_cert)):
        if value is not None:
            values[key] = value
    if state.schemas:
        values["schema_files"] = list(state.schemas)
    values.update(overrides)
    return values


def _validated(values: dict[str, Any]) -> AccountSettings:
    try:
        return AccountSettings(**values)
    except ValidationError as exc:
        # --concurrency 0, VATS_TIMEOUT_S=-1 ...: field and rule only (the input may be secret)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UsageError(problems) from None


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
