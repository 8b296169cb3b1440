"""``scraper/settings.py`` reads the environment, once, and the values reach their users from it.

Precedence everywhere: an explicit argument > the ``VATS_*`` variable > the default. The
modules that use a value (saved sessions, the audit log) take it from the settings object and
never look at the environment themselves (``tests/test_environment.py`` holds them to it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import cast

import pytest
from pydantic import ValidationError

from scraper.audit import AuditLog, default_path
from scraper.browser.host import BrowserHost
from scraper.browser.session import BrowserSession
from scraper.browser.storage import state_dir, state_path
from scraper.settings import AccountSettings, ProcessSettings

ADDRESS, LOGIN = "http://127.0.0.1:8480", "+7-9000000000"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``VATS_*`` from the calling shell; user dirs under ``tmp_path``."""
    for name in [n for n in os.environ if n.startswith("VATS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def session_for(settings: AccountSettings) -> BrowserSession:
    """A session that is never started: enough to ask where it keeps its files."""
    async def authenticate(session: BrowserSession) -> None:
        raise AssertionError("not started")

    return BrowserSession(cast(BrowserHost, object()), settings, authenticate=authenticate)


def test_defaults_without_environment(clean_env: Path) -> None:
    settings = AccountSettings()
    assert settings.state_dir is None and settings.audit_db is None
    assert settings.password is None and settings.confirmation_code is None
    assert state_dir(settings.state_dir) == clean_env / "cache" / "vats" / "sessions"
    assert default_path() == clean_env / "data" / "vats" / "audit.sqlite"


def test_environment_fills_every_moved_value(clean_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_STATE_DIR", str(clean_env / "state"))
    monkeypatch.setenv("VATS_AUDIT_DB", str(clean_env / "audit.sqlite"))
    monkeypatch.setenv("VATS_PASSWORD", "from-env")
    monkeypatch.setenv("VATS_CONFIRMATION_CODE", "123456")
    monkeypatch.setenv("VATS_CHROMIUM", "/opt/chromium")
    monkeypatch.setenv("VATS_TRANSPORT", "request")
    settings = AccountSettings()
    assert settings.state_dir == clean_env / "state"
    assert settings.audit_db == clean_env / "audit.sqlite"
    assert settings.password is not None and settings.password.get_secret_value() == "from-env"
    assert settings.confirmation_code is not None
    assert settings.confirmation_code.get_secret_value() == "123456"
    assert settings.chromium == "/opt/chromium"
    assert settings.transport == "request"


def test_explicit_values_win_over_the_environment(clean_env: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_STATE_DIR", str(clean_env / "env-state"))
    monkeypatch.setenv("VATS_AUDIT_DB", str(clean_env / "env-audit.sqlite"))
    monkeypatch.setenv("VATS_PASSWORD", "from-env")
    settings = AccountSettings(state_dir=clean_env / "mine", audit_db=clean_env / "mine.sqlite",
                               password="mine")
    assert settings.state_dir == clean_env / "mine"
    assert settings.audit_db == clean_env / "mine.sqlite"
    assert settings.password is not None and settings.password.get_secret_value() == "mine"


@pytest.mark.parametrize("name", ["VATS_STATE_DIR", "VATS_AUDIT_DB", "VATS_PASSWORD",
                                  "VATS_CONFIRMATION_CODE"])
def test_an_empty_variable_is_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                    name: str) -> None:
    monkeypatch.setenv(name, "")  # as the modules that read it themselves used to treat it
    field = name.removeprefix("VATS_").lower()
    assert getattr(AccountSettings(), field) is None


def test_home_is_expanded(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_STATE_DIR", "~/sessions")  # quoted in a shell: not expanded there
    settings = AccountSettings(audit_db=Path("~/audit.sqlite"))
    assert settings.state_dir == clean_env / "home" / "sessions"
    assert settings.audit_db == clean_env / "home" / "audit.sqlite"


def test_vats_state_dir_reaches_the_session_through_the_settings(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_STATE_DIR", str(clean_env / "env-state"))
    session = session_for(AccountSettings(address=ADDRESS, login=LOGIN))
    assert session.state_file == state_path(ADDRESS, LOGIN, clean_env / "env-state")
    assert session.state_file.parent == clean_env / "env-state"
    assert session._build_cache() == clean_env / "env-state" / "builds"


def test_explicit_state_dir_wins_in_the_session(clean_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_STATE_DIR", str(clean_env / "env-state"))
    session = session_for(AccountSettings(address=ADDRESS, login=LOGIN,
                                          state_dir=clean_env / "mine"))
    assert session.state_file.parent == clean_env / "mine"
    assert session._build_cache() == clean_env / "mine" / "builds"


def test_the_session_state_defaults_to_the_user_cache(clean_env: Path) -> None:
    session = session_for(AccountSettings(address=ADDRESS, login=LOGIN))
    assert session.state_file.parent == clean_env / "cache" / "vats" / "sessions"


def test_vats_audit_db_reaches_the_audit_log_through_the_settings(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_AUDIT_DB", str(clean_env / "env" / "audit.sqlite"))
    assert AuditLog(AccountSettings().audit_db).path == clean_env / "env" / "audit.sqlite"
    # the module itself does not read the variable: no path means the default
    assert AuditLog(None).path == clean_env / "data" / "vats" / "audit.sqlite"


def test_process_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ProcessSettings().playwright_root == clean_env / "home" / ".cache/ms-playwright"
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(clean_env / "browsers"))
    assert ProcessSettings().playwright_root == clean_env / "browsers"
    assert ProcessSettings(playwright_browsers_path=clean_env / "x").playwright_root == \
        clean_env / "x"
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", "")
    assert ProcessSettings().playwright_browsers_path is None


def test_settings_never_write_the_environment(clean_env: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_STATE_DIR", str(clean_env / "s"))
    before = dict(os.environ)
    AccountSettings(state_dir=clean_env / "other", password="p")
    ProcessSettings()
    assert dict(os.environ) == before


@pytest.mark.parametrize(("given", "address"), [
    ("https://vpbx.mts.ru", "https://vpbx.mts.ru"), ("http://127.0.0.1:8480/", "http://127.0.0.1:8480"),
    (" HTTPS://vpbx.mts.ru ", "https://vpbx.mts.ru"), ("http://[::1]:8480", "http://[::1]:8480"),
    ("http://localhost", "http://localhost")])
def test_an_address_is_scheme_host_and_port(clean_env: Path, given: str, address: str) -> None:
    assert AccountSettings(address=given).address == address


@pytest.mark.parametrize(("given", "why"), [
    ("127.0.0.1:39085", "has no scheme"),            # used to be made https:// silently
    ("vpbx.mts.ru", "has no scheme"),
    ("htp://vpbx.mts.ru", "has the scheme 'htp'"),
    ("ftp://vpbx.mts.ru", "has the scheme 'ftp'"),
    ("https://vpbx .mts.ru", "has a space in it"),
    ("https://host/some/path", "has something after the host"),  # waited 62 s for a login page
    ("https://host?x=1", "has something after the host"),
    ("https://host:99999", "has no valid host[:port]"),
    ("https://host:", "has no valid host[:port]"),
    ("https://", "has no valid host[:port]"),
    ("", "is empty")])
def test_a_wrong_address_is_refused_with_the_form_it_wants(clean_env: Path, given: str,
                                                           why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        AccountSettings(address=given)
    message = refused.value.errors()[0]["msg"]
    assert why in message and "write http(s)://host[:port]" in message


def test_credentials_in_an_address_are_refused_without_being_repeated(clean_env: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        AccountSettings(address="https://user:s3cret@vpbx.mts.ru")
    assert "user name" in str(refused.value) and "s3cret" not in str(refused.value)


def test_the_environment_address_is_checked_too(clean_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_ADDRESS", "127.0.0.1:8480")
    with pytest.raises(ValidationError, match="has no scheme"):
        AccountSettings()


def test_a_display_and_the_columns(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "COLUMNS", "VATS_SANDBOX_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    settings = ProcessSettings()
    assert settings.columns is None and settings.vats_sandbox_password is None
    assert settings.has_display == (not sys.platform.startswith("linux"))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("VATS_SANDBOX_PASSWORD", "p")
    settings = ProcessSettings()
    assert settings.has_display and settings.columns == 80
    assert settings.vats_sandbox_password is not None
    monkeypatch.setenv("COLUMNS", "wide")  # not a number: as if unset, never an error
    assert ProcessSettings().columns is None
