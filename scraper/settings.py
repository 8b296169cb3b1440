"""Every setting of one account's run, in one documented place (scrapy-style).

Why one model: an account is a self-contained unit of work — its own address, credentials,
browser options, limits and artifacts — so a future multi-account runner can hand each worker
one ``AccountSettings`` and nothing else. Values come from arguments, then ``VATS_*``
environment variables, then the defaults; secrets are ``SecretStr`` and never printed.

This module is the only one that reads the process environment (``tests/test_environment.py``
holds every other module to it), and nothing in vats writes it: a value the environment gives
reaches the code that needs it as an attribute of a settings object — ``state_dir`` for
``scraper.browser.storage``, ``audit_db`` for ``scraper.audit``, ``confirmation_code`` for the
login flow. Empty variables count as unset (``VATS_STATE_DIR=`` is no directory).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

DEFAULT_ADDRESS = "https://vpbx.mts.ru"
ADDRESS_FORM = "http(s)://host[:port], e.g. https://vpbx.mts.ru or http://127.0.0.1:8480"
_NETLOC = re.compile(r"(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9]"
                     r"(?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?")


def check_address(value: str) -> str:
    """The cabinet's base URL as given, checked: scheme http or https, a host, maybe a port,
    and nothing else (a trailing ``/`` is dropped). Refused at once, before a browser starts:
    no scheme (``127.0.0.1:8480`` used to become https silently), another scheme, spaces, a
    path, a query, credentials — each used to fail late or wait for a page that never came.
    """
    def refuse(why: str, *, shown: bool = True) -> ValueError:
        said = f"{value!r} {why}" if shown else f"it {why}"  # pydantic names the field
        return ValueError(f"{said}; write {ADDRESS_FORM}")

    text = value.strip()
    if not text:
        raise refuse("is empty")
    if any(c.isspace() for c in text):
        raise refuse("has a space in it")
    if "://" not in text:
        raise refuse("has no scheme")
    scheme, rest = text.split("://", 1)
    if scheme.lower() not in ("http", "https"):
        raise refuse(f"has the scheme {scheme!r}, not http or https")
    if "@" in rest.split("/", 1)[0]:
        raise refuse("has a user name (and maybe a password) in it", shown=False)
    parts = urlsplit(f"{scheme.lower()}://{rest}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in rest or "#" in rest:
        raise refuse("has something after the host and port (a path, a query)")
    where = _NETLOC.fullmatch(parts.netloc)
    if where is None or (where["port"] is not None and not 0 < int(where["port"]) < 65536):
        raise refuse("has no valid host[:port]")
    return f"{parts.scheme}://{parts.netloc}"


class AccountSettings(BaseSettings):
    """Settings of one account's session (``VATS_<FIELD>`` in the environment)."""

    # hide_input_in_errors: an error repeats no input (a password, an address with one in it)
    model_config = SettingsConfigDict(env_prefix="VATS_", env_ignore_empty=True, frozen=True,
                                      extra="forbid", hide_input_in_errors=True)

    address: str = Field(DEFAULT_ADDRESS, description="Base URL of the cabinet (no path).")
    login: str | None = Field(None, description="Account login, e.g. +7-9XXXXXXXXX.")
    password: SecretStr | None = Field(None, description="Account password (env VATS_PASSWORD).")
    confirmation_code: SecretStr | None = Field(
        None, description="One-time code for accounts that ask for one (VATS_CONFIRMATION_CODE).")
    chromium: str | None = Field(None, description="Chromium binary (default: found by itself).")
    headless: bool = True
    slow_mo_ms: float = Field(0, ge=0)
    debug_dir: Path | None = Field(None, description="Screenshots per step and traces on failure.")
    trace: Literal["on-failure", "always", "off"] = "on-failure"
    transport: Literal["page", "request", "direct"] = Field(
        "page", description="Replay reads through an in-page fetch (default), Playwright's "
                            "API, or Python's own client with the browser's cookies (direct).")
    concurrency: int = Field(4, ge=1, le=64, description="GWT calls in flight at once.")
    timeout_s: float = Field(30, gt=0, description="Per-call timeout.")
    login_timeout_s: float = Field(60, gt=0)
    code_timeout_s: float = Field(300, gt=0, description="How long to wait for a confirmation code.")
    reuse_session: bool = Field(True, description="Save the logged-in state and reuse it.")
    state_dir: Path | None = Field(
        None, description="Where saved sessions live, 0700 (default: the user cache dir).")
    audit_db: Path | None = Field(
        None, description="SQLite audit log of applied changes (default: the user data dir).")
    ca_cert: Path | None = Field(
        None, description="Trust exactly this certificate besides the public roots (the "
                          "sandbox's --tls one); HTTPS errors are never ignored.")
    schema_files: list[Path] = Field(
        default_factory=list,
        description="Schema files (docs/schema-format.md) naming slots of the live layouts.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_address(value)

    @field_validator("state_dir", "audit_db")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None  # VATS_STATE_DIR='~/x' too

    def require_credentials(self) -> tuple[str, str]:
        from scraper.errors import UsageError

        if not self.login:
            raise UsageError("no login given (--login or VATS_LOGIN)")
        if self.password is None:
            raise UsageError("no password given (VATS_PASSWORD, --password-stdin or a prompt)")
        return self.login, self.password.get_secret_value()


class ProcessSettings(BaseSettings):
    """What the whole process shares rather than one account (no ``VATS_`` prefix).

    ``playwright_browsers_path`` is Playwright's own variable: where its downloaded browsers
    live (default ``~/.cache/ms-playwright``), for finding a Chromium without launching one;
    ``vats_chromium`` the browser a host started without account settings uses.
    """

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    playwright_browsers_path: Path | None = Field(
        default=None, description="Playwright's browsers (env PLAYWRIGHT_BROWSERS_PATH).")
    vats_chromium: Path | None = Field(
        default=None, description="The Chromium binary when no account setting names one "
                          "(env VATS_CHROMIUM; for a bare BrowserHost()).")
    display: str | None = Field(default=None, description="X11 display (env DISPLAY).")
    wayland_display: str | None = Field(default=None,
                                        description="Wayland display (env WAYLAND_DISPLAY).")
    columns: int | None = Field(
        default=None, description="The terminal's width as the user set it (env COLUMNS): "
                                  "tables fit it even when written to a pipe.")
    vats_sandbox_password: SecretStr | None = Field(
        default=None, description="The sandbox account's password (env VATS_SANDBOX_PASSWORD; "
                                  "default sandbox), kept off the command line.")

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: object) -> object:
        return value if not isinstance(value, str) or value.strip().isdigit() else None

    @property
    def has_display(self) -> bool:
        """Whether a window can be shown: always off Linux, else with DISPLAY or
        WAYLAND_DISPLAY set (a headed Chromium needs one of them)."""
        return not sys.platform.startswith("linux") or bool(self.display or self.wayland_display)

    @property
    def playwright_root(self) -> Path:
        return self.playwright_browsers_path or Path.home() / ".cache/ms-playwright"


def _environment() -> dict[str, str]:
    """The whole process environment, as pydantic-settings reads it (names as written)."""
    source = EnvSettingsSource(ProcessSettings, case_sensitive=True)
    return {name: value for name, value in source.env_vars.items() if value is not None}


def named_variable(name: str) -> str | None:
    """The value of a variable the user named in a file of theirs (the accounts file's
    ``password_env``, ``secret_env``, ``url_env``): read here like every other, empty = unset."""
    return _environment().get(name) or None


def child_environment(**changes: str) -> dict[str, str]:
    """The environment a child process gets: this process's with ``changes`` (a copy: nothing
    is written back)."""
    return {**_environment(), **changes}
