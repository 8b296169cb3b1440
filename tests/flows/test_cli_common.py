"""``flows/cli/common.py``: the CLI's settings come from options, then ``AccountSettings`` (the
one reader of the environment), then the defaults; the password is asked for only when neither
an override nor ``VATS_PASSWORD`` gave one."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from flows.cli import common
from flows.cli.common import CliState, local_settings, prompt_code, settings_for
from scraper.errors import UsageError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("VATS_")]:
        monkeypatch.delenv(name)


def cli_state(**changes: Any) -> CliState:
    values: dict[str, Any] = {
        "address": None, "login": None, "password_stdin": False, "headed": False, "slow_mo": 0,
        "debug_dir": None, "trace": "on-failure", "chromium": None, "ca_cert": None,
        "reuse": True, "verbose": 0}
    values.update(changes)
    return CliState(**values)


class NoStdin(io.StringIO):
    """stdin that must not be read (the password came from elsewhere)."""

    def readline(self, size: int = -1) -> str:
        raise AssertionError("stdin was read")

    def isatty(self) -> bool:
        return False


def secret(settings: Any) -> str | None:
    return None if settings.password is None else settings.password.get_secret_value()


def test_vats_password_comes_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_PASSWORD", "from-env")
    monkeypatch.setattr("sys.stdin", NoStdin())
    assert secret(settings_for(cli_state(password_stdin=True))) == "from-env"


def test_password_stdin_when_the_environment_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\nrest\n"))
    assert secret(settings_for(cli_state(password_stdin=True))) == "from-stdin"


def test_an_override_wins_over_vats_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_PASSWORD", "from-env")
    monkeypatch.setattr("sys.stdin", NoStdin())
    assert secret(settings_for(cli_state(password_stdin=True), password="override")) == "override"


def test_no_password_asked_when_not_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", NoStdin())
    monkeypatch.setattr(common, "read_password", lambda state: pytest.fail("password asked"))
    assert local_settings(cli_state(password_stdin=True)).password is None


def test_environment_fills_what_no_option_gave(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("VATS_ADDRESS", "http://127.0.0.1:1")
    monkeypatch.setenv("VATS_LOGIN", "+7-9000000001")
    monkeypatch.setenv("VATS_TRANSPORT", "request")
    monkeypatch.setenv("VATS_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("VATS_AUDIT_DB", str(tmp_path / "a.sqlite"))
    monkeypatch.setenv("VATS_CONFIRMATION_CODE", "654321")
    settings = local_settings(cli_state())
    assert settings.address == "http://127.0.0.1:1"
    assert settings.login == "+7-9000000001"
    assert settings.transport == "request"
    assert settings.state_dir == tmp_path / "s"
    assert settings.audit_db == tmp_path / "a.sqlite"
    assert settings.confirmation_code is not None
    assert settings.confirmation_code.get_secret_value() == "654321"


def test_options_and_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("VATS_ADDRESS", "http://127.0.0.1:1")
    monkeypatch.setenv("VATS_TRANSPORT", "request")
    monkeypatch.setenv("VATS_STATE_DIR", str(tmp_path / "env"))
    settings = settings_for(cli_state(address="http://127.0.0.1:2", transport="page"),
                            state_dir=tmp_path / "mine", password="p")
    assert settings.address == "http://127.0.0.1:2"
    assert settings.transport == "page"
    assert settings.state_dir == tmp_path / "mine"


def test_browser_variables_count_when_no_flag_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """``VATS_HEADLESS=false`` (a headed debugging run set once in the shell) and its kin were
    shadowed by the flags' defaults; a flag left out must say nothing."""
    monkeypatch.setenv("VATS_HEADLESS", "false")
    monkeypatch.setenv("VATS_SLOW_MO_MS", "250")
    monkeypatch.setenv("VATS_TRACE", "always")
    monkeypatch.setenv("VATS_REUSE_SESSION", "false")
    settings = local_settings(cli_state(trace=None))
    assert (settings.headless, settings.slow_mo_ms, settings.trace, settings.reuse_session) \
        == (False, 250, "always", False)


def test_browser_flags_win_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATS_HEADLESS", "true")
    monkeypatch.setenv("VATS_SLOW_MO_MS", "250")
    monkeypatch.setenv("VATS_TRACE", "always")
    monkeypatch.setenv("VATS_REUSE_SESSION", "true")
    settings = local_settings(cli_state(headed=True, slow_mo=10, trace="off", reuse=False))
    assert (settings.headless, settings.slow_mo_ms, settings.trace, settings.reuse_session) \
        == (False, 10, "off", False)


def test_without_flags_or_variables_the_defaults_hold() -> None:
    settings = local_settings(cli_state(trace=None))
    assert (settings.headless, settings.slow_mo_ms, settings.trace, settings.reuse_session) \
        == (True, 0, "on-failure", True)


def test_settings_for_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("VATS_PASSWORD", "from-env")
    before = dict(os.environ)
    settings_for(cli_state(), state_dir=tmp_path, password="sandbox")
    assert dict(os.environ) == before


def test_prompt_code_leaves_the_variable_to_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``VATS_CONFIRMATION_CODE`` reaches the login flow as ``settings.confirmation_code``
    (tests/flows/test_login.py); the prompt is only asked when that is unset."""
    monkeypatch.setenv("VATS_CONFIRMATION_CODE", "123456")
    monkeypatch.setattr("sys.stdin", NoStdin())
    with pytest.raises(UsageError, match="VATS_CONFIRMATION_CODE"):
        prompt_code()
