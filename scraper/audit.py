"""The local audit log of applied changes: a SQLite file (the embedded default).

Why SQLite: one file, transactional, readable with any tool, and safe when several vats runs
append at once. Every change vats applies to a cabinet is written here — time, account,
number, ids, the state before and after, and the result — before the run reports it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from scraper.errors import AuditError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    address TEXT NOT NULL,
    account TEXT NOT NULL,
    number TEXT NOT NULL,
    abonent_id INTEGER,
    device_id INTEGER,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS changes_account_time ON changes (account, time);
"""


def default_path() -> Path:
    """``<user data dir>/vats/audit.sqlite``: where the log is when no path is configured
    (``AccountSettings.audit_db``, which is where ``VATS_AUDIT_DB`` arrives)."""
    return Path(platformdirs.user_data_dir("vats")) / "audit.sqlite"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    time: float
    address: str
    account: str
    number: str
    abonent_id: int | None
    device_id: int | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    result: str
    detail: str | None


class AuditLog:
    """Append-only log of applied changes in one SQLite file (``path``, else ``default_path()``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a file that cannot be opened or written (a missing or read-only
        folder, a full disk, a lock held too long, not a database) is an ``AuditError``
        naming the file — never a bare sqlite3 or OS error."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        try:
            with db:  # one transaction
                yield db
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        finally:
            db.close()

    def _error(self, exc: BaseException) -> AuditError:
        reason = getattr(exc, "strerror", None) or str(exc)
        return AuditError(f"the audit log {self.path} cannot be written: {reason}",
                          path=str(self.path))

    def check_writable(self) -> None:
        """Take the write lock and let it go: before a bulk change starts, so that a log that
        cannot be written stops it before the first mutation rather than after."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")

    def record(self, *, address: str, account: str, number: str, abonent_id: int | None,
               device_id: int | None, action: str, before: dict[str, Any] | None,
               after: dict[str, Any] | None, result: str, detail: str | None = None) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO changes (time, address, account, number, abonent_id, device_id,"
                " action, before, after, result, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (time.time(), address, account, number, abonent_id, device_id, action,
                 json.dumps(before, ensure_ascii=False) if before is not None else None,
                 json.dumps(after, ensure_ascii=False) if after is not None else None,
                 result, detail))
            row_id = cursor.lastrowid
        log.info("audited", extra={"number": number, "action": action, "result": result})
        return int(row_id or 0)

    def entries(self, *, account: str | None = None, limit: int | None = None,
                since: float | None = None) -> list[AuditEntry]:
        query = "SELECT * FROM changes WHERE 1=1"
        args: list[Any] = []
        if account is not None:
            query += " AND account = ?"
            args.append(account)
        if since is not None:
            query += " AND time >= ?"
            args.append(since)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                           json.loads(r[8]) if r[8] else None,
                           json.loads(r[9]) if r[9] else None, r[10], r[11])
                for r in reversed(rows)]
