"""Saved sessions: owner-only modes whatever the umask, atomic writes, refusal of exposed files."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.browser import storage
from scraper.browser.storage import (
    forget_state,
    load_state,
    normalize_address,
    save_state,
    state_dir,
    state_path,
)

STATE = {
    "cookies": [{"name": "JSESSIONID", "value": "0123456789ABCDEF", "domain": "vpbx.mts.ru"}],
    "origins": [],
    "vats": {"enterprise_id": 12345, "saved_at": "2024-05-01T10:00:00Z", "note": "Привет"},
}


@pytest.fixture
def state_home(tmp_path) -> Path:
    return tmp_path / "state" / "sessions"


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_dir_is_the_configured_one(state_home, monkeypatch):
    monkeypatch.setenv("HOME", str(state_home.parent))
    assert state_dir(state_home) == state_home
    assert state_dir(Path("~/sessions")) == state_home  # expanded


def test_state_dir_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert state_dir() == tmp_path / "cache" / "vats" / "sessions"


def test_state_dir_does_not_read_the_environment(monkeypatch, tmp_path):
    """``VATS_STATE_DIR`` arrives through ``AccountSettings.state_dir`` (tests/scraper/
    test_settings.py), never by this module reading the environment behind the caller's back."""
    monkeypatch.setenv("VATS_STATE_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert state_dir() == tmp_path / "cache" / "vats" / "sessions"


@pytest.mark.parametrize("spelling", [
    "https://vpbx.mts.ru", "https://VPBX.mts.ru/", "vpbx.mts.ru", "https://vpbx.mts.ru:443/",
    "  https://vpbx.mts.ru  ",
])
def test_one_address_many_spellings(state_home, spelling):
    assert normalize_address(spelling) == "https://vpbx.mts.ru"
    assert (state_path(spelling, "+7-9000000000", state_home)
            == state_path("https://vpbx.mts.ru", "+7-9000000000", state_home))


def test_state_path_differs_per_account_and_address_and_hides_the_login(state_home):
    path = state_path("https://vpbx.mts.ru", "+7-9000000000", state_home)
    assert path.parent == state_home
    assert "9000000000" not in path.name
    assert len(path.stem) == 24 and path.suffix == ".json"
    others = {state_path("https://vpbx.mts.ru", "+7-9000000001", state_home),
              state_path("http://127.0.0.1:8080", "+7-9000000000", state_home),
              state_path("http://127.0.0.1:8081", "+7-9000000000", state_home)}
    assert path not in others and len(others) == 3


def test_round_trip_with_owner_only_modes_even_with_umask_zero(state_home, umask_zero):
    path = state_path("https://vpbx.mts.ru", "+7-9000000000", state_home)
    save_state(path, STATE)
    assert mode(path) == 0o600
    assert mode(state_home) == 0o700
    assert load_state(path) == STATE
    save_state(path, {**STATE, "origins": [{"origin": "x"}]})  # overwrite keeps the mode
    assert mode(path) == 0o600
    assert load_state(path)["origins"] == [{"origin": "x"}]


def test_modes_with_a_restrictive_umask(state_home):
    old = os.umask(0o777)  # even owner bits masked: chmod, not umask, decides
    try:
        save_state(state_home / "a.json", STATE)
    finally:
        os.umask(old)
    assert mode(state_home) == 0o700
    assert mode(state_home / "a.json") == 0o600


def test_write_is_atomic(state_home, monkeypatch):
    path = state_home / "s.json"
    save_state(path, STATE)

    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"cookies": "new"})
    assert load_state(path) == STATE  # the old file is intact ...
    assert sorted(p.name for p in state_home.iterdir()) == ["s.json"]  # ... and no temp left


def test_unserializable_state_leaves_nothing(state_home):
    with pytest.raises(TypeError):
        save_state(state_home / "s.json", {"bad": object()})
    assert list(state_home.iterdir()) == []


def test_missing_file_is_none(state_home):
    assert load_state(state_home / "nope.json") is None


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b"\xff\xfe", b'{"cookies": ['])
def test_corrupt_file_is_none_with_a_warning(state_home, caplog, content):
    path = state_home / "s.json"
    save_state(path, STATE)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="scraper.browser.storage"):
        assert load_state(path) is None
    assert caplog.records and caplog.records[0].levelno == logging.WARNING


@pytest.mark.parametrize("exposed", [0o644, 0o640, 0o604, 0o620])
def test_file_others_can_access_is_refused(state_home, caplog, exposed):
    path = state_home / "s.json"
    save_state(path, STATE)
    path.chmod(exposed)
    with caplog.at_level(logging.WARNING, logger="scraper.browser.storage"):
        assert load_state(path) is None
    assert "other users" in caplog.text


def test_symlink_is_refused(state_home, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(STATE))
    target.chmod(0o600)
    state_home.mkdir(parents=True)
    (state_home / "s.json").symlink_to(target)
    assert load_state(state_home / "s.json") is None


def test_file_content_is_plain_json(state_home):
    path = state_home / "s.json"
    save_state(path, STATE)
    assert json.loads(path.read_text(encoding="utf-8")) == STATE


def test_forget(state_home):
    path = state_home / "s.json"
    save_state(path, STATE)
    forget_state(path)
    assert not path.exists()
    forget_state(path)  # twice is fine


def test_a_folder_where_the_state_file_goes_is_ignored_with_a_warning(state_home, caplog):
    path = state_path("https://vpbx.mts.ru", "+7-9000000000", state_home)
    path.mkdir(parents=True)
    assert load_state(path) is None
    assert "not a regular file" in caplog.text
