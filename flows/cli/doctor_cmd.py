"""``vats doctor``: our reconstruction next to the live build, and a support bundle."""

from __future__ import annotations

import io
import json
import platform
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import typer

from flows import doctor
from flows.cli.common import CliState, prompt_code_async, run_async, settings_for, usage_errors
from flows.cli.output import check_output, choose_format
from flows.cli.session_cmds import exchange_record
from flows.login import make_authenticate
from scraper.browser.host import BrowserHost
from scraper.browser.redact import Redactor
from scraper.browser.session import BrowserSession
from scraper.gwt.permutation.model import build_to_json

_MARK = {"confirmed": "✓", "differs": "✗", "not checkable": "?"}


def doctor_command(state: CliState, *, bundle: Path | None, fmt: str) -> None:
    redactor = Redactor()
    with usage_errors():
        choose_format(fmt, None, ("table", "json"))
        if bundle is not None:
            check_output(bundle, "--bundle")
        settings = settings_for(state)

    async def job() -> list[doctor.Finding]:
        settings.require_credentials()
        async with BrowserHost.for_settings(settings) as host:
            async with BrowserSession(host, settings, authenticate=make_authenticate(
                    prompt_code_async), redactor=redactor) as session:
                await session.open_app()
                observed = await doctor.observe(session)
                findings = doctor.examine(session.live, session.learned.ordinals, observed,
                                          session.registry)
                if bundle is not None:
                    _write_bundle(bundle, session, findings)
        return findings

    findings = run_async(state, redactor, job)
    if fmt == "json":
        typer.echo(json.dumps([f.__dict__ for f in findings], ensure_ascii=False, indent=2))
    else:
        for f in findings:
            need = " (needed)" if f.needed else ""
            typer.echo(f"{_MARK[f.status]} {f.status:13} {f.item}{need}")
            typer.echo(f"      ours: {f.ours}")
            if f.live:
                typer.echo(f"      live: {f.live}")
        counts = {s: sum(f.status == s for f in findings) for s in _MARK}
        differ = "differs" if counts["differs"] == 1 else "differ"
        typer.echo(f"{counts['confirmed']} confirmed, {counts['differs']} {differ}, "
                   f"{counts['not checkable']} not checkable")
    if bundle is not None:
        typer.echo(f"wrote the support bundle {bundle}", err=True)
    raise typer.Exit(0 if doctor.healthy(findings) else 1)


def _write_bundle(path: Path, session: BrowserSession, findings: list[doctor.Finding]) -> None:
    """Derived schemas, learned templates, the walk's calls and versions — every secret
    (account and SIP passwords, session cookie) removed by the session's redactor."""
    live = session.live
    files: dict[str, Any] = {
        "findings.json": [f.__dict__ for f in findings],
        "versions.json": _versions(session),
        "capture.jsonl": [exchange_record(x, session) for x in session.capture.exchanges],
        "templates.json": {f"{iface}.{method}": exchange_record(x, session)
                           for (iface, method), x in session.learned.templates.items()},
    }
    if live.derived is not None:
        files["derived-build.json"] = build_to_json(live.derived)
        files["derived-schema.json"] = live.derived.to_schema()
    redactor = session.redactor
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name.endswith(".jsonl"):
                text = "\n".join(json.dumps(redactor.json(r), ensure_ascii=False) for r in data)
            else:
                text = json.dumps(redactor.json(data), ensure_ascii=False, indent=1)
            archive.writestr(name, redactor.text(text))
    path.write_bytes(buffer.getvalue())


def _versions(session: BrowserSession) -> dict[str, Any]:
    derived = session.live.derived
    try:
        vats_version = metadata.version("vats")
    except metadata.PackageNotFoundError:
        vats_version = "unknown"
    return {
        "vats": vats_version, "python": platform.python_version(),
        "address": session.settings.address, "permutation": session.learned.permutation,
        "gwt_version": derived.gwt_version if derived else None,
        "style": derived.style if derived else None,
        "policies": dict(session.learned.strong_names),
    }
