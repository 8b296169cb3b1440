"""Debugging artifacts for ``--debug-dir DIR`` and ``--trace on-failure|always|off``.

Why: when a flow breaks against the real cabinet, a user must be able to send us what happened
without sending their passwords. A screenshot after every flow step masks password fields and
every element we mark ``data-vats-secret`` (SIP passwords on the Devices page); the Playwright
trace, which records ``fill()`` values and DOM snapshots and so DOES contain the typed password,
is rewritten through the ``Redactor`` before it gets its final name.

What the Redactor cannot reach: the trace's screencast frames are JPEGs of the page as it was
rendered. Password fields show bullets there, but text a page displays in clear (a SIP password
in a text field) is in those pixels. Hiding it with CSS ``-webkit-text-security`` was tried and
rejected: in Chromium it also changes what ``innerText`` returns, so a flow would read bullets
only when debugging is on.

Nothing here may break a flow: artifact failures are logged and swallowed, because they happen
mostly on the error path, where raising would hide the error the user needs to see.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from scraper.browser.redact import Redactor
from scraper.errors import UsageError

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

log = logging.getLogger(__name__)

TRACE_MODES: Final = ("on-failure", "always", "off")
#: What a screenshot never shows: password fields (any case of the type) and marked elements.
MASKED_SELECTOR: Final = "input[type='password' i], [data-vats-secret]"
_SCREENSHOT_TIMEOUT_MS: Final = 15_000
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class DebugRecorder:
    """Writes step screenshots and a redacted trace into one directory; ``None`` disables it.

    Call ``start`` right after creating the context, ``step`` after each flow step and
    ``finish`` before closing the context (tracing cannot be stopped on a closed context).
    """

    def __init__(self, directory: Path | None, redactor: Redactor, *, trace: str = "on-failure") -> None:
        if trace not in TRACE_MODES:
            raise UsageError(f"--trace must be one of {', '.join(TRACE_MODES)}, not {trace!r}")
        self._directory = Path(directory) if directory is not None else None
        self._redactor = redactor
        self._trace = trace
        self._tracing = False
        self._steps = 0
        self._artifacts: list[Path] = []

    @property
    def enabled(self) -> bool:
        """Whether anything will be written at all."""
        return self._directory is not None

    @property
    def artifacts(self) -> list[Path]:
        """Files written so far, in order (a copy)."""
        return list(self._artifacts)

    def _ensure_directory(self) -> Path:
        assert self._directory is not None
        if not self._directory.is_dir():
            # artifacts are redacted, but a screenshot may still show what we did not mark
            self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self._directory

    async def start(self, context: BrowserContext) -> None:
        """Start Playwright tracing (screenshots and DOM snapshots) when a trace may be kept."""
        if self._directory is None or self._trace == "off" or self._tracing:
            return
        try:
            await context.tracing.start(screenshots=True, snapshots=True, sources=False)
        except Exception as exc:  # noqa: BLE001 - debugging must not stop the flow
            log.warning("could not start the Playwright trace: %s", exc)
            return
        self._tracing = True

    async def step(self, page: Page, name: str) -> Path | None:
        """Save a full-page screenshot ``NN-<name>.png`` with every secret element masked."""
        if self._directory is None:
            return None
        self._steps += 1
        slug = _UNSAFE_NAME.sub("-", self._redactor.text(name)).strip("-.")[:60] or "step"
        path = self._ensure_directory() / f"{self._steps:02d}-{slug}.png"
        try:
            # password fields may sit in any frame; a locator only sees its own frame
            masks = [frame.locator(MASKED_SELECTOR) for frame in page.frames]
            await page.screenshot(
                path=path, full_page=True, mask=masks, timeout=_SCREENSHOT_TIMEOUT_MS
            )
        except Exception as exc:  # noqa: BLE001 - debugging must not stop the flow
            log.warning("screenshot of step %r failed: %s", slug, exc)
            return None
        self._artifacts.append(path)
        log.debug("step screenshot %s", path)
        return path

    async def finish(self, context: BrowserContext, *, failed: bool) -> Path | None:
        """Stop tracing; keep a redacted ``trace-<timestamp>.zip`` if ``failed`` or ``always``.

        The raw trace is written under a hidden temporary name and renamed only after
        redaction, so an unredacted trace never carries the name a user would send; if
        redaction fails, the raw trace is deleted.
        """
        if not self._tracing:
            return None
        self._tracing = False
        keep = failed or self._trace == "always"
        if not keep:
            try:
                await context.tracing.stop()
            except Exception as exc:  # noqa: BLE001 - debugging must not stop the flow
                log.warning("could not stop the Playwright trace: %s", exc)
            return None
        directory = self._ensure_directory()
        final = _unused_name(directory, f"trace-{datetime.now(UTC):%Y%m%d-%H%M%S}", ".zip")
        raw = directory / f".{final.name}.raw"
        try:
            await context.tracing.stop(path=raw)
            replaced = self._redactor.zip_file(raw)
            os.replace(raw, final)
        except Exception as exc:  # noqa: BLE001 - debugging must not stop the flow
            log.warning("could not save the Playwright trace: %s", exc)
            raw.unlink(missing_ok=True)
            return None
        self._artifacts.append(final)
        log.info("trace saved to %s (%d secret occurrences masked)", final, replaced)
        return final


def _unused_name(directory: Path, stem: str, suffix: str) -> Path:
    """``stem + suffix`` in ``directory``, or ``stem-2 + suffix``... when that exists already."""
    candidate = directory / f"{stem}{suffix}"
    number = 1
    while candidate.exists():
        number += 1
        candidate = directory / f"{stem}-{number}{suffix}"
    return candidate
