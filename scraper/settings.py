"""Every setting of one account's run, in one documented place (scrapy-style).

Why one model: an account is a self-contained unit of work — its own address, credentials,
browser options, limits and artifacts — so a future multi-account runner can hand each worker
one ``AccountSettings`` and nothing else. Values come from arguments, then ``VATS_*``
environment variables; secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADDRESS = "https://vpbx.mts.ru"


class AccountSettings(BaseSettings):
    """Settings of one account's session (``VATS_<FIELD>`` in the environment)."""

    model_config = SettingsConfigDict(env_prefix="VATS_", frozen=True, extra="forbid")

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
    state_dir: Path | None = Field(None, description="Where saved sessions live (0700).")
    audit_db: Path | None = Field(None, description="SQLite audit log of applied changes.")
    ca_cert: Path | None = Field(None, description="Extra CA certificate to trust (sandbox --tls).")
    schema_files: list[Path] = Field(
        default_factory=list,
        description="Schema files (json-form.md format) naming slots of the live layouts.")
    ignore_https_errors: bool = False

    @field_validator("address")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            value = "https://" + value
        return value

    def require_credentials(self) -> tuple[str, str]:
        from scraper.errors import UsageError

        if not self.login:
            raise UsageError("no login given (--login or VATS_LOGIN)")
        if self.password is None:
            raise UsageError("no password given (VATS_PASSWORD, --password-stdin or a prompt)")
        return self.login, self.password.get_secret_value()
