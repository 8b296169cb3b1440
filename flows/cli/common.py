"""What every account command shares: settings from options and env, the password, the loop."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

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
    transport: str = "page"
    schemas: list[Path] = field(default_factory=list)


def read_password(state: CliState) -> str | None:
    """VATS_PASSWORD, else --password-stdin, else an interactive prompt — never argv."""
    env = os.environ.get("VATS_PASSWORD")
    if env:
        return env
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
    values: dict[str, Any] = {
        "headless": not state.headed, "slow_mo_ms": state.slow_mo, "trace": state.trace,
        "reuse_session": state.reuse, "transport": state.transport,
    }
    for key, value in (("address", state.address), ("login", state.login),
                       ("debug_dir", state.debug_dir), ("chromium", state.chromium),
                       ("ca_cert", state.ca_cert)):
        if value is not None:
            values[key] = value
    if state.ca_cert is not None:
        values["ignore_https_errors"] = True
    if state.schemas:
        values["schema_files"] = list(state.schemas)
    password = read_password(state)
    if password is not None:
        values["password"] = password
    values.update(overrides)
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
        typer.echo(f"vats: {type(exc).__name__}: {redactor.text(str(exc))}", err=True)
        raise typer.Exit(1) from None


def prompt_code() -> str:
    """The CLI's confirmation-code source: env var, else an interactive prompt (in a thread,
    so the browser page stays alive while the user types)."""
    code = os.environ.get("VATS_CONFIRMATION_CODE")
    if code:
        return code
    if not sys.stdin.isatty():
        raise UsageError("the cabinet asks for a confirmation code; set VATS_CONFIRMATION_CODE")
    return input("Код подтверждения / confirmation code: ").strip()


async def prompt_code_async() -> str:
    return await asyncio.to_thread(prompt_code)
