"""Which browser a run launches: the headless shell for headless runs, the full one when headed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scraper.browser import chromium
from scraper.errors import UsageError


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No configured, bundled or system browser unless a test puts one there."""
    monkeypatch.delenv("VATS_CHROMIUM", raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "ms-playwright"))
    monkeypatch.setattr(chromium, "SYSTEM_CANDIDATES", ())
    monkeypatch.setattr(chromium, "SYSTEM_HEADLESS_SHELLS", ())
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    return tmp_path


def test_playwright_headless_shell_for_headless_full_browser_for_headed(nowhere: Path) -> None:
    root = nowhere / "ms-playwright"
    full = _exe(root / "chromium-1200/chrome-linux64/chrome")
    shell = _exe(root / "chromium_headless_shell-1200/chrome-headless-shell-linux64/chrome-headless-shell")
    assert chromium.find_chromium(headless=True) == shell
    assert chromium.find_chromium(headless=False) == full


def test_system_headless_shell_preferred_then_full(nowhere: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    full = _exe(nowhere / "usr/bin/chromium")
    shell = _exe(nowhere / "usr/lib/chromium/chromium-headless-shell")
    monkeypatch.setattr(chromium, "SYSTEM_CANDIDATES", (str(full),))
    monkeypatch.setattr(chromium, "SYSTEM_HEADLESS_SHELLS", (str(nowhere / "missing"), str(shell)))
    assert chromium.find_chromium(headless=True) == shell
    assert chromium.find_chromium(headless=False) == full
    shell.unlink()  # no shell installed: headless runs fall back to the full browser
    assert chromium.find_chromium(headless=True) == full


def test_configured_browser_wins(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = _exe(nowhere / "my/chrome")
    _exe(nowhere / "ms-playwright/chromium_headless_shell-1/x/chrome-headless-shell")
    monkeypatch.setenv("VATS_CHROMIUM", str(mine))
    assert chromium.find_chromium(headless=True) == mine
    assert chromium.find_chromium(nowhere / "missing", headless=True) == mine  # logged, skipped


def test_headed_run_refuses_a_headless_shell(nowhere: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    shell = _exe(nowhere / "lib/chromium-headless-shell")
    with pytest.raises(UsageError, match="headless shell"):
        chromium.launch_options(headless=False, executable=str(shell))
    assert chromium.launch_options(headless=True, executable=str(shell))["executable_path"] == str(shell)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a display is a Linux matter")
def test_headed_run_without_a_display_is_refused_before_a_launch(
        nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to launch, fail, launch again and print Playwright's hundred-line log."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    full = _exe(nowhere / "usr/bin/chromium")
    with pytest.raises(UsageError, match=r"needs a display, and there is none.*xvfb-run vats --headed"):
        chromium.launch_options(headless=False, executable=str(full))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert chromium.launch_options(headless=False, executable=str(full))["headless"] is False
    assert chromium.launch_options(headless=True, executable=str(full))["headless"] is True


def test_flags_for_a_root_container() -> None:
    import os

    args = chromium.launch_args(headless=True)
    assert "--disable-background-networking" in args and "--disable-component-update" in args
    assert ("--no-sandbox" in args) == (os.geteuid() == 0)
