"""The saved logged-in state of one account on one cabinet address, so a second run skips login.

Why this much care for a cache file: it holds the session cookie, which is as good as the
password until it expires. So the file is 0600 in a 0700 directory whatever the umask, is
written atomically (a crash never leaves half a JSON that the next run trusts), carries no login
in its name, and is refused when someone else could have read or changed it. The content is
Playwright's ``storage_state`` plus our own keys; this module does not look inside.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_DEFAULT_PORTS = {"http": 80, "https": 443}


def state_dir(configured: Path | None = None) -> Path:
    """Where saved sessions live: ``configured`` (``AccountSettings.state_dir``, which is where
    ``VATS_STATE_DIR`` arrives), else the user's cache dir ``vats/sessions``."""
    if configured is not None:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("vats")) / "sessions"


def normalize_address(address: str) -> str:
    """One spelling per cabinet: scheme and host lowercased, default port and trailing ``/`` gone.

    ``vpbx.mts.ru``, ``https://VPBX.mts.ru/`` and ``https://vpbx.mts.ru:443`` are one cabinet and
    must share one saved session.
    """
    text = address.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def state_path(address: str, login: str, directory: Path | None = None) -> Path:
    """The state file of ``login`` at ``address`` in ``state_dir(directory)``; its name is a
    hash, so it reveals neither."""
    key = f"{normalize_address(address)}\0{login}".encode()
    return state_dir(directory) / f"{hashlib.sha256(key).hexdigest()[:24]}.json"


def _ensure_dir(directory: Path) -> None:
    """Create ``directory`` as 0700 (chmod, not umask, decides); leave an existing one alone.

    An existing directory may be the user's own choice (``VATS_STATE_DIR=~/somewhere``), so its
    mode is not changed; the files in it are 0600 regardless.
    """
    if directory.is_dir():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=_DIR_MODE)
    except FileExistsError:  # another run created it just now
        return
    os.chmod(directory, _DIR_MODE)


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` as JSON, atomically, readable by the owner only.

    Raises ``OSError`` when the directory cannot be written; the caller decides whether a run
    without a saved session is worth failing for.
    """
    path = Path(path)
    _ensure_dir(path.parent)
    payload = json.dumps(state, ensure_ascii=False, indent=1).encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp already uses 0600; make it independent of that
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("session state saved to %s", path)


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, or ``None`` (missing, unreadable, corrupt, or exposed to other users).

    A file that group or others can access was not written by us as it is now; whatever it holds
    may be stale, stolen or planted, so it is not used (a fresh login overwrites it).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        log.debug("no saved session at %s", path)
        return None
    except OSError as exc:
        log.warning("saved session %s cannot be opened (%s); logging in afresh", path, exc)
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen: a folder cannot be read
        os.close(fd)
        log.warning("saved session %s is not a regular file; ignored", path)
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_mode & 0o077:
            log.warning(
                "saved session %s is accessible to other users (mode %o); ignored",
                path, stat.S_IMODE(info.st_mode),
            )
            return None
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            log.warning("saved session %s belongs to another user; ignored", path)
            return None
        raw = handle.read()
    try:
        state = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("saved session %s is corrupt (%s); logging in afresh", path, exc)
        return None
    if not isinstance(state, dict):
        log.warning("saved session %s is not a JSON object; logging in afresh", path)
        return None
    return state


def forget_state(path: Path) -> None:
    """Delete the saved state (after a logout or a refused session); missing is fine."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:  # a state folder that is not one: nothing was saved there either
        log.warning("saved session %s cannot be removed (%s)", path, exc.strerror or exc)
        return
    log.debug("saved session %s forgotten", path)
