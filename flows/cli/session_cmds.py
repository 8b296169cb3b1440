"""``vats login`` and ``vats capture``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from flows import navigate
from flows.cli.common import (
    CliState,
    prompt_code_async,
    run_async,
    settings_for,
    usage_errors,
)
from flows.cli.trunks_cmd import plural
from flows.login import make_authenticate
from scraper.browser.capture import Exchange
from scraper.browser.host import BrowserHost
from scraper.browser.redact import MASK, Redactor
from scraper.browser.session import BrowserSession
from scraper.browser.storage import forget_state, save_state, state_path
from scraper.errors import FlowError, LoginError, ProtocolError, StorageError
from scraper.gwt import request_to_json, response_to_json
from scraper.settings import AccountSettings


def login_command(state: CliState) -> None:
    """Check the credentials: always a fresh login (a saved session proves nothing about the
    password), then save the session for the other commands — or fail saying why it could not
    be saved, since saving is this command's job.

    A refused password (``LoginError``, exit 2) also forgets the saved session: the next
    command logs in with whatever password it is given instead of riding a session the wrong
    password could not have opened. Other failures (network, TLS) leave it alone — they say
    nothing about the credentials. ``--no-reuse``: nothing is read, saved or forgotten.
    """
    redactor = Redactor()
    with usage_errors():
        settings = settings_for(state)

    async def job() -> tuple[BrowserSession, float]:
        settings.require_credentials()
        if settings.reuse_session:
            _check_saveable(settings)  # before a login that could not be kept
        with _quiet_storage():
            return await log_in()

    async def log_in() -> tuple[BrowserSession, float]:
        async with BrowserHost.for_settings(settings) as host:
            async with BrowserSession(host, settings, authenticate=make_authenticate(
                    prompt_code_async), redactor=redactor) as session:
                await session.context.clear_cookies()  # never the saved session: a login
                started = time.perf_counter()
                try:
                    await session.open_app()
                except LoginError:
                    if settings.reuse_session:
                        forget_state(session.state_file)
                    raise
                took = time.perf_counter() - started
        if not session.logins:
            raise FlowError("the cabinet opened without asking for the credentials: "
                            "they were not checked")
        if session.save_error is not None:
            raise session.save_error
        return session, took

    session, took = run_async(state, redactor, job)
    saved = (f"session saved to {session.state_file}" if settings.reuse_session
             else "session not saved (--no-reuse)")
    typer.echo(f"logged in at {settings.address} (enterprise {session.enterprise_id}) "
               f"in {took:.2f}s; {saved}")


def _check_saveable(settings: AccountSettings) -> None:
    """Raise the ``StorageError`` the session's save would meet, found before logging in: a
    file is written beside the saved session (and removed), as the save writes it."""
    path = state_path(settings.address, settings.login or "", settings.state_dir)
    probe = path.with_name(f".{path.name}.probe")
    try:
        save_state(probe, {})
        probe.unlink()
    except OSError as exc:
        raise StorageError(f"cannot save the session to {path}: {exc.strerror or exc}",
                           path=str(path)) from None


@contextmanager
def _quiet_storage() -> Iterator[None]:
    """``vats login`` neither uses the saved session nor lets a failed save pass: the warnings
    the other commands give about them (a saved session ignored, "the next run logs in again")
    would only repeat, or contradict, what ``vats login`` itself says."""
    def keep(record: logging.LogRecord) -> bool:
        return not (record.funcName in ("load_state", "forget_state", "save")
                    and record.levelno <= logging.WARNING)

    loggers = [logging.getLogger(name) for name in ("scraper.browser.storage",
                                                    "scraper.browser.session")]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(keep)


def _mask_passwords(value: Any, redactor: Redactor) -> Any:
    """SIP passwords in decoded answers: remember them (so raw text is redacted) and mask."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if "password" in key.lower() and isinstance(item, str):
                redactor.add(item)
                out[key] = MASK
            else:
                out[key] = _mask_passwords(item, redactor)
        return out
    if isinstance(value, list):
        return [_mask_passwords(item, redactor) for item in value]
    return value


def exchange_record(exchange: Exchange, session: BrowserSession) -> dict[str, Any]:
    """One capture line: decoded request and answer, secrets removed."""
    registry, redactor = session.registry, session.redactor
    record: dict[str, Any] = {
        "servlet": exchange.servlet, "url": exchange.url, "status": exchange.status,
        "started": exchange.started, "duration_ms": round(exchange.duration_ms, 1),
        "permutation": exchange.permutation, "module_base": exchange.module_base,
        "failure": exchange.failure,
    }
    try:
        request = exchange.request(registry)
        record["request"] = _mask_passwords(request_to_json(request, registry), redactor)
    except ProtocolError as exc:
        record["request_error"] = str(exc)
    if exchange.response_body is not None:
        try:
            response = exchange.response(registry)
            record["response"] = _mask_passwords(response_to_json(response, registry), redactor)
        except ProtocolError as exc:
            record["response_error"] = str(exc)
            record["response_raw"] = exchange.response_body[:2000]
    record["request_raw"] = exchange.request_body
    return redactor.json(record)  # type: ignore[no-any-return]


def capture_command(state: CliState, out: Path) -> None:
    redactor = Redactor()
    with usage_errors():
        settings = settings_for(state)

    async def job() -> int:
        async with BrowserHost.for_settings(settings) as host:
            async with BrowserSession(host, settings, authenticate=make_authenticate(
                    prompt_code_async), redactor=redactor) as session:
                await session.open_app()
                await navigate.abonents_tab(session)
                await navigate.devices_page(session)
                records = [exchange_record(x, session) for x in session.capture.exchanges]
        # a second pass: passwords found late must not survive in earlier lines
        lines = [json.dumps(redactor.json(r), ensure_ascii=False) for r in records]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return len(lines)

    count = run_async(state, redactor, job)
    typer.echo(f"wrote {plural(count, 'exchange')} to {out}")
