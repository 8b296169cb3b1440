"""Snapshots, events and their deliveries in one SQLite file: the watcher's memory.

Why one file and one transaction: a snapshot and the events it yields are written together, with
one pending delivery per event and sink (the outbox), so a crash either loses the whole cycle
(read again next time, same events) or keeps it with every event still to deliver — never a
snapshot whose events are lost, never an event sent twice under two ids. Deliverers only flip
deliveries from pending to done.

Tables: ``cycles`` (one row per account cycle: outcome, counts, error; a snapshot's states are in
``contents`` by hash, so an unchanged account adds no new states), ``events`` (every CloudEvent
emitted, with secrets: this file is the user's, mode 0600, like the audit log), ``deliveries``
(event × sink: pending / delivered / returned), ``sinks`` (disabled ones: webhook 410), ``meta``
(the fingerprint key). Times are UTC ISO-8601 text; ``next_at`` is a Unix time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.watch.events import TrunkState
from scraper.errors import StorageError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS contents (hash TEXT PRIMARY KEY, states TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    seq INTEGER NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'partial', 'failed')),
    trunks INTEGER,
    unread TEXT NOT NULL DEFAULT '[]',
    content TEXT REFERENCES contents(hash),
    error_kind TEXT,
    error TEXT,
    UNIQUE (account, seq)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    cycle INTEGER NOT NULL REFERENCES cycles(id),
    account TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT,
    time TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_subject ON events (subject, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    sink TEXT NOT NULL,
    event INTEGER NOT NULL REFERENCES events(seq),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'returned')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    done_at TEXT,
    PRIMARY KEY (sink, event)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (sink, status, event);
CREATE TABLE IF NOT EXISTS sinks (
    name TEXT PRIMARY KEY,
    disabled_reason TEXT,
    disabled_at TEXT
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Cycle:
    """One account cycle as stored; ``states`` only for ok/partial ones."""

    id: int
    account: str
    seq: int
    started: str
    finished: str
    outcome: str
    trunks: int | None
    unread: list[str]
    error_kind: str | None
    error: str | None
    content: str | None


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    id: str
    account: str
    type: str
    subject: str | None
    time: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """A pending delivery: the event and how often it was tried."""

    event: StoredEvent
    attempts: int


class Store:
    """The watcher's SQLite file. One writer (the watcher); the CLI reads it alongside (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a committed cycle survives power loss
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the watch store {path}: {exc}", path=str(path)) from None
        self.key = self._fingerprint_key()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing; ``StorageError`` when the disk refuses (the cycle is read again)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"the watch store {self.path}: {exc}", path=str(self.path)) from None

    def _fingerprint_key(self) -> bytes:
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint_key'").fetchone()
            if row is not None:
                return bytes(row[0])
            key = secrets.token_bytes(32)
            db.execute("INSERT INTO meta (key, value) VALUES ('fingerprint_key', ?)", (key,))
            return key

    # -- cycles and snapshots --------------------------------------------------------------

    def last_cycle(self, account: str, *, with_states: bool = False) -> Cycle | None:
        """The account's latest cycle (any outcome), or its latest snapshot (ok or partial)."""
        where = "AND content IS NOT NULL" if with_states else ""
        row = self.db.execute(
            f"SELECT * FROM cycles WHERE account = ? {where} ORDER BY seq DESC LIMIT 1",  # noqa: S608
            (account,)).fetchone()
        return _cycle(row) if row else None

    def cycles(self, account: str | None = None, *, snapshots_only: bool = False) -> list[Cycle]:
        query = "SELECT * FROM cycles WHERE (? IS NULL OR account = ?)"
        if snapshots_only:
            query += " AND content IS NOT NULL"
        rows = self.db.execute(query + " ORDER BY id", (account, account)).fetchall()
        return [_cycle(row) for row in rows]

    def states(self, cycle: Cycle) -> dict[str, TrunkState]:
        if cycle.content is None:
            return {}
        row = self.db.execute("SELECT states FROM contents WHERE hash = ?",
                              (cycle.content,)).fetchone()
        return {phone: TrunkState(**state) for phone, state in json.loads(row[0]).items()}

    def record_cycle(self, account: str, *, started: str, outcome: str,
                     states: dict[str, TrunkState] | None = None, unread: Sequence[str] = (),
                     error: tuple[str, str] | None = None,
                     events: Callable[[int, Cycle | None], list[dict[str, Any]]],
                     sinks: Iterable[str]) -> tuple[Cycle, list[StoredEvent]]:
        """Store a cycle, its snapshot and its events with a pending delivery per sink — in one
        transaction. ``events(seq, previous)`` makes the events once the cycle's number is known
        (event ids depend on it); ``previous`` is the account's previous cycle."""
        with self.transaction() as db:
            previous = self.last_cycle(account)
            seq = previous.seq + 1 if previous else 1
            content = self._put_states(db, states) if states is not None else None
            cursor = db.execute(
                "INSERT INTO cycles (account, seq, started, finished, outcome, trunks, unread, "
                "content, error_kind, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, seq, started, now_iso(), outcome,
                 None if states is None else len(states), json.dumps(sorted(unread)), content,
                 error[0] if error else None, error[1] if error else None))
            cycle_id = int(cursor.lastrowid or 0)
            stored = [self._put_event(db, cycle_id, account, body) for body in events(seq, previous)]
            names = list(sinks)
            db.executemany("INSERT INTO deliveries (sink, event) VALUES (?, ?)",
                           [(sink, event.seq) for event in stored for sink in names])
            row = db.execute("SELECT * FROM cycles WHERE id = ?", (cycle_id,)).fetchone()
        return _cycle(row), stored

    @staticmethod
    def _put_states(db: sqlite3.Connection, states: dict[str, TrunkState]) -> str:
        text = json.dumps({p: s.model_dump() for p, s in sorted(states.items())},
                          separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()
        db.execute("INSERT OR IGNORE INTO contents (hash, states) VALUES (?, ?)", (digest, text))
        return digest

    @staticmethod
    def _put_event(db: sqlite3.Connection, cycle: int, account: str,
                   body: dict[str, Any]) -> StoredEvent:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        cursor = db.execute(
            "INSERT INTO events (id, cycle, account, type, subject, time, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (body["id"], cycle, account, body["type"], body.get("subject"), body["time"], text))
        return StoredEvent(int(cursor.lastrowid or 0), body["id"], account, body["type"],
                           body.get("subject"), body["time"], body)

    # -- the outbox ------------------------------------------------------------------------

    def pending(self, sink: str, *, limit: int = 100, now: float | None = None) -> list[Delivery]:
        """The sink's undelivered events in emission order, from the first one (due or not:
        order is kept, so a sink waits for its oldest event's retry time)."""
        rows = self.db.execute(
            "SELECT e.*, d.attempts FROM deliveries d JOIN events e ON e.seq = d.event "
            "WHERE d.sink = ? AND d.status = 'pending' ORDER BY d.event LIMIT ?",
            (sink, limit)).fetchall()
        return [Delivery(_event(row), int(row["attempts"])) for row in rows]

    def next_attempt(self, sink: str) -> float | None:
        """When the sink's oldest pending event may be tried (Unix time), None when none is."""
        row = self.db.execute(
            "SELECT next_at FROM deliveries WHERE sink = ? AND status = 'pending' "
            "ORDER BY event LIMIT 1", (sink,)).fetchone()
        return None if row is None else float(row[0])

    def mark_done(self, sink: str, events: dict[int, str]) -> None:
        """Each event (seq → "delivered" or "returned") taken by the sink, in one transaction:
        a batch costs one commit, not one per event."""
        if not events:
            return
        with self.transaction() as db:
            db.executemany(
                "UPDATE deliveries SET status = ?, done_at = ?, attempts = attempts + 1 "
                "WHERE sink = ? AND event = ?",
                [(status, now_iso(), sink, seq) for seq, status in events.items()])

    def mark_failed(self, sink: str, event: int, error: str, next_at: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE deliveries SET attempts = attempts + 1, last_error = ?, "
                       "next_at = ? WHERE sink = ? AND event = ?", (error, next_at, sink, event))

    def pending_counts(self) -> dict[str, tuple[int, str | None]]:
        """Per sink: pending events and the time of the oldest one."""
        rows = self.db.execute(
            "SELECT d.sink, COUNT(*), MIN(e.time) FROM deliveries d JOIN events e "
            "ON e.seq = d.event WHERE d.status = 'pending' GROUP BY d.sink").fetchall()
        return {row[0]: (int(row[1]), row[2]) for row in rows}

    def disable_sink(self, sink: str, reason: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO sinks (name, disabled_reason, disabled_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET disabled_reason = excluded.disabled_reason, "
                       "disabled_at = excluded.disabled_at", (sink, reason, now_iso()))

    def enable_sink(self, sink: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM sinks WHERE name = ?", (sink,)).rowcount > 0

    def disabled_sinks(self) -> dict[str, str]:
        rows = self.db.execute("SELECT name, disabled_reason FROM sinks").fetchall()
        return {row[0]: row[1] for row in rows}

    # -- looking back ----------------------------------------------------------------------

    def events(self, *, subject: str | None = None, account: str | None = None,
               pending_for: str | None = None, sink: str | None = None,
               limit: int | None = None) -> list[tuple[StoredEvent, dict[str, str]]]:
        """Events oldest first, each with its delivery status per sink; ``pending_for`` ('*' for
        any sink) keeps the undelivered ones."""
        query = ("SELECT e.* FROM events e WHERE (? IS NULL OR e.subject = ?) "
                 "AND (? IS NULL OR e.account = ?)")
        params: list[Any] = [subject, subject, account, account]
        if pending_for is not None:
            query += (" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event = e.seq AND "
                      "d.status = 'pending' AND (? = '*' OR d.sink = ?))")
            params += [pending_for, pending_for]
        if sink is not None:
            query += " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event = e.seq AND d.sink = ?)"
            params.append(sink)
        if limit is not None:  # the newest ``limit``, read by SQLite, returned oldest first
            query = f"SELECT * FROM ({query} ORDER BY e.seq DESC LIMIT ?)"  # noqa: S608
            params.append(limit)
        rows = self.db.execute(query + " ORDER BY seq", params).fetchall()
        statuses = self._statuses([int(row["seq"]) for row in rows])
        return [(_event(row), statuses.get(int(row["seq"]), {})) for row in rows]

    def _statuses(self, seqs: list[int]) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for event, sink, status in self.db.execute(
                    f"SELECT event, sink, status FROM deliveries WHERE event IN ({marks})",  # noqa: S608
                    chunk):
                found.setdefault(int(event), {})[sink] = status
        return found


def _cycle(row: sqlite3.Row) -> Cycle:
    return Cycle(id=row["id"], account=row["account"], seq=row["seq"], started=row["started"],
                 finished=row["finished"], outcome=row["outcome"], trunks=row["trunks"],
                 unread=json.loads(row["unread"]), error_kind=row["error_kind"],
                 error=row["error"], content=row["content"])


def _event(row: sqlite3.Row) -> StoredEvent:
    return StoredEvent(seq=int(row["seq"]), id=row["id"], account=row["account"],
                       type=row["type"], subject=row["subject"], time=row["time"],
                       body=json.loads(row["body"]))
