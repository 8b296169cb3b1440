"""What one session's walk through the UI proved about a build, kept for every later session.

Why: an enum ordinal such as the device form's DISPATCHER constant, and the call the app makes
with it, are facts of the compiled build, not of the account: a permutation's strong name is
the hash of its compiled code, so on the same strong name they cannot differ. Learning them
costs each session a walk to a Devices page (0.2–0.4 s with four accounts at once, on the
critical path of every inventory). Kept beside the derived build
(``builds/<strong name>.notes.json``), they are walked once per build; a redeploy is a new
strong name and is walked afresh.

A note holds the call's payload (the module base, the service's policy strong name, the
abonent id the walk opened): no secret, and every field build- or cabinet-specific is retargeted
to the session that recalls it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scraper.browser.livebuild import write_json

log = logging.getLogger(__name__)

_lock = threading.Lock()  # one read-merge-write at a time in this process (the file is small)


@dataclass(frozen=True)
class Note:
    """One learned fact of a build: ``ordinal`` and the app's own call that showed it."""

    ordinal: int
    servlet: str
    body: str  # the GWT-RPC request payload, as the app sent it


def notes_path(cache_dir: Path, strong_name: str) -> Path:
    return cache_dir / f"{strong_name}.notes.json"


def read_note(cache_dir: Path, strong_name: str, name: str) -> Note | None:
    """The note ``name`` of the build ``strong_name``, if a session wrote one."""
    raw = _read(notes_path(cache_dir, strong_name)).get(name)
    if raw is None:
        return None
    try:
        return Note(ordinal=int(raw["ordinal"]), servlet=str(raw["servlet"]),
                    body=str(raw["body"]))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring an unreadable build note", extra={
            "path": str(notes_path(cache_dir, strong_name)), "note": name, "error": str(exc)})
        return None


def write_note(cache_dir: Path, strong_name: str, name: str, note: Note) -> None:
    """Add or replace ``name`` (best effort: a note not written costs a later session a walk)."""
    path = notes_path(cache_dir, strong_name)
    with _lock:
        notes = _read(path)
        notes[name] = asdict(note)
        write_json(path, notes)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring an unreadable build notes file",
                    extra={"path": str(path), "error": str(exc)})
        return {}
    return data if isinstance(data, dict) else {}
