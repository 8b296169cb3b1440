"""Find a Chromium that Playwright can drive, and the flags it needs here.

Why: ``playwright install`` cannot download browsers on our machines, so we prefer Playwright's
own build when one is installed and otherwise fall back to the system package (Debian's
``chromium``), without the user configuring anything.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Flags every launch gets: a root container needs --no-sandbox, and the closed network here
#: refuses Chromium's background connections (many at a time) unless they are switched off.
BASE_ARGS: tuple[str, ...] = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-gpu",
)

SYSTEM_CANDIDATES: tuple[str, ...] = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/lib/chromium/chromium",
    "/usr/bin/google-chrome",
)


def playwright_chromium() -> Path | None:
    """Playwright's own downloaded Chromium, if one is installed (never downloads)."""
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache/ms-playwright")
    if not root.is_dir():
        return None
    for pattern in ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/*/headless_shell"):
        found = sorted(root.glob(pattern))
        if found:
            return found[-1]
    return None


def find_chromium(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The Chromium to launch: explicit path, ``VATS_CHROMIUM``, Playwright's, then the system's.

    ``None`` means "let Playwright use its default", which only works when its browser exists.
    """
    for candidate in (explicit, os.environ.get("VATS_CHROMIUM")):
        if candidate:
            path = Path(candidate)
            if path.exists():
                return path
            log.warning("configured chromium not found", extra={"path": str(path)})
    bundled = playwright_chromium()
    if bundled is not None:
        return bundled
    for name in SYSTEM_CANDIDATES:
        if Path(name).exists():
            return Path(name)
    which = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(which) if which else None


def launch_args(extra: tuple[str, ...] = ()) -> list[str]:
    """Chromium command-line flags for this machine (``--no-sandbox`` when running as root)."""
    args = list(BASE_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    args.extend(extra)
    return args


def launch_options(
    *, headless: bool = True, slow_mo_ms: float = 0, executable: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch`` on this machine."""
    options: dict[str, Any] = {"headless": headless, "args": launch_args()}
    path = find_chromium(executable)
    if path is not None:
        options["executable_path"] = str(path)
    if slow_mo_ms:
        options["slow_mo"] = slow_mo_ms
    return options
