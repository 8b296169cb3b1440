"""Find a Chromium that Playwright can drive, and the flags it needs here.

Why: ``playwright install`` cannot download browsers on our machines, so we prefer Playwright's
own build when one is installed and otherwise fall back to the system package (Debian's
``chromium``), without the user configuring anything.

Headless runs prefer the *headless shell* (Playwright's ``chromium_headless_shell`` or Debian's
``chromium-headless-shell``), as Playwright itself does: the same Blink and V8 without the
browser UI, about half the memory of full Chromium (measured with bench/inventory.py: Chromium's
processes ~400 MB PSS → ~200 MB) and a faster start. Headed runs need the full browser.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from scraper.errors import UsageError
from scraper.settings import ProcessSettings

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

#: Headless only (none now). ``--in-process-gpu`` saved ~10 MB PSS but makes a crash while the
#: GPU side initialises fatal to the whole browser instead of one restartable process; a launch
#: on CI once died with SIGSEGV, so it is left out.
HEADLESS_ARGS: tuple[str, ...] = ()

SYSTEM_CANDIDATES: tuple[str, ...] = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/lib/chromium/chromium",
    "/usr/bin/google-chrome",
)

#: Debian's package installs the real binary here (``/usr/bin/chromium-headless-shell`` is a
#: shell wrapper that would stand between Playwright and the browser process).
SYSTEM_HEADLESS_SHELLS: tuple[str, ...] = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/headless_shell",
)

_PLAYWRIGHT_FULL = ("chromium-*/chrome-linux*/chrome",)
_PLAYWRIGHT_SHELL = ("chromium_headless_shell-*/*/chrome-headless-shell",
                     "chromium_headless_shell-*/*/headless_shell")


def _playwright_root() -> Path:
    return ProcessSettings().playwright_root


def playwright_chromium(*, headless: bool = False) -> Path | None:
    """Playwright's own downloaded browser, if one is installed (never downloads).

    ``headless`` prefers its headless shell; the full browser is the fallback either way.
    """
    root = _playwright_root()
    if not root.is_dir():
        return None
    patterns = (_PLAYWRIGHT_SHELL + _PLAYWRIGHT_FULL) if headless else _PLAYWRIGHT_FULL
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if found:
            return found[-1]
    return None


def is_headless_shell(path: str | os.PathLike[str]) -> bool:
    """The headless shell cannot show a window (``--headed`` needs the full browser)."""
    name = Path(path).name
    return "headless-shell" in name or "headless_shell" in name


def find_chromium(explicit: str | os.PathLike[str] | None = None, *,
                  headless: bool = True) -> Path | None:
    """The browser to launch: explicit path, ``VATS_CHROMIUM``, Playwright's, then the system's.

    Headless, a headless shell wins over the full browser at each step after the explicit
    ones. ``None`` means "let Playwright use its default", which only works when its browser
    exists.
    """
    for candidate in (explicit, ProcessSettings().vats_chromium):
        if candidate:
            path = Path(candidate)
            if path.exists():
                return path
            log.warning("configured chromium not found", extra={"path": str(path)})
    bundled = playwright_chromium(headless=headless)
    if bundled is not None:
        return bundled
    names = (SYSTEM_HEADLESS_SHELLS + SYSTEM_CANDIDATES) if headless else SYSTEM_CANDIDATES
    for name in names:
        if Path(name).exists():
            return Path(name)
    which = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(which) if which else None


def launch_args(extra: tuple[str, ...] = (), *, headless: bool = True) -> list[str]:
    """Chromium command-line flags for this machine (``--no-sandbox`` when running as root)."""
    args = list(BASE_ARGS)
    if headless:
        args.extend(HEADLESS_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    args.extend(extra)
    return args


def launch_options(
    *, headless: bool = True, slow_mo_ms: float = 0, executable: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch`` on this machine.

    A headed run on Linux without a display is refused here, before any launch: Chromium
    would die at start ("Missing X server or $DISPLAY"), be launched once more, and end in
    a hundred lines of Playwright's log.
    """
    if not headless and not ProcessSettings().has_display:
        raise UsageError("--headed needs a display, and there is none (DISPLAY and "
                         "WAYLAND_DISPLAY are unset): run it in a virtual one, e.g. "
                         "xvfb-run vats --headed ..., or leave --headed out")
    path = find_chromium(executable, headless=headless)
    if path is not None and not headless and is_headless_shell(path):
        raise UsageError(f"{path} is a headless shell: a headed run needs the full Chromium "
                         "(set VATS_CHROMIUM or --chromium to it)")
    options: dict[str, Any] = {"headless": headless, "args": launch_args(headless=headless)}
    if path is not None:
        options["executable_path"] = str(path)
    if slow_mo_ms:
        options["slow_mo"] = slow_mo_ms
    return options
