"""``vats login`` and ``vats capture``."""

from __future__ import annotations

import json
import time
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
from flows.login import make_authenticate
from scraper.browser.capture import Exchange
from scraper.browser.host import BrowserHost
from scraper.browser.redact import MASK, Redactor
from scraper.browser.session import BrowserSession
from scraper.errors import ProtocolError
from scraper.gwt import request_to_json, response_to_json


def login_command(state: CliState) -> None:
    redactor = Redactor()
    with usage_errors():
        settings = settings_for(state)

    async def job() -> None:
        settings.require_credentials()
        async with BrowserHost.for_settings(settings) as host:
            async with BrowserSession(host, settings, authenticate=make_authenticate(
                    prompt_code_async), redactor=redactor) as session:
                started = time.perf_counter()
                await session.open_app()
                took = time.perf_counter() - started
        how = "logged in" if session.logins else "reused the saved session"
        typer.echo(f"{how} at {settings.address} (enterprise {session.enterprise_id}) "
                   f"in {took:.2f}s")

    run_async(state, redactor, job)


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
    typer.echo(f"wrote {count} exchanges to {out}")
