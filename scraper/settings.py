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

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADDRESS = "https://vpbx.mts.ru"


class AccountSettings(BaseSettings):
    """Settings of one account's session (``VATS_<FIELD>`` in the environment)."""

    model_config = SettingsConfigDict(env_prefix="VATS_", env_ignore_empty=True, frozen=True,
                                      extra="forbid")

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
    transport: Literal["page", "request"] = Field(
        "page", description="Replay through an in-page fetch (default) or Playwright's API.")
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
        description="Schema files (json-form.md format) naming slots of the live layouts.")

    @field_validator("address")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            value = "https://" + value
        return value

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

    @property
    def playwright_root(self) -> Path:
        return self.playwright_browsers_path or Path.home() / ".cache/ms-playwright"
