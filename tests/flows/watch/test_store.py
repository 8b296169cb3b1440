"""The snapshot store and outbox in a real SQLite file."""

import os
import stat
from datetime import UTC, datetime

import pytest

from flows.watch.events import APPEARED, TrunkState, cloud_event, diff
from flows.watch.store import Store
from scraper.errors import StorageError


def trunk(phone, **changes):
    values = dict(phone=phone, abonent_id=1, identify_line=f"mobsip_{phone[1:]}", sip_login="l",
                  sip_password="p", has_device=True, device_enabled=True, device_id=5,
                  active=True, blocked=False, marked_for_deletion=False)
    values.update(changes)
    return TrunkState(**values)


def record(store, account, states, sinks=("a", "b"), fail=None):
    before_cycle = store.last_cycle(account, with_states=True)
    before = store.states(before_cycle) if before_cycle else None
    changes = diff(before, states)

    def events(seq, previous):
        if fail:
            raise fail
        return [cloud_event(c, account=account, snapshot=seq, time=datetime.now(UTC), key=store.key)
                for c in changes]

    return store.record_cycle(account, started="t", outcome="ok", states=states, events=events,
                              sinks=sinks)


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "watch.sqlite")
    yield store
    store.close()


def test_the_file_is_private(store):
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_a_cycle_its_snapshot_events_and_deliveries_are_stored_together(store):
    cycle, events = record(store, "main", {"79990000001": trunk("79990000001")})
    assert cycle.seq == 1 and cycle.outcome == "ok" and cycle.trunks == 1
    assert [e.type for e in events] == [APPEARED]
    assert [d.event.id for d in store.pending("a")] == [events[0].id]
    assert [d.event.id for d in store.pending("b")] == [events[0].id]
    assert store.states(cycle) == {"79990000001": trunk("79990000001")}


def test_a_failure_inside_the_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        record(store, "main", {"79990000001": trunk("79990000001")}, fail=RuntimeError("boom"))
    assert store.last_cycle("main") is None
    assert store.pending("a") == []


def test_cycles_are_numbered_per_account_and_states_are_shared_when_unchanged(store):
    states = {"79990000001": trunk("79990000001")}
    first, _ = record(store, "main", states)
    second, events = record(store, "main", states)
    other, _ = record(store, "other", states)
    assert (first.seq, second.seq, other.seq) == (1, 2, 1)
    assert events == []
    assert first.content == second.content  # no new copy of an unchanged snapshot
    assert store.db.execute("SELECT COUNT(*) FROM contents").fetchone()[0] == 1


def test_delivery_marks_keep_order_and_survive_a_reopen(store, tmp_path):
    states = {p: trunk(p) for p in ("79990000001", "79990000002", "79990000003")}
    _, events = record(store, "main", states)
    store.mark_done("a", {events[0].seq: "delivered"})
    store.mark_failed("a", events[1].seq, "sink-down: x", next_at=123.0)
    store.close()
    again = Store(tmp_path / "watch.sqlite")
    try:
        pending = again.pending("a")
        assert [d.event.id for d in pending] == [e.id for e in events[1:]]
        assert pending[0].attempts == 1
        assert again.next_attempt("a") == 123.0
        assert again.key == store.key  # the fingerprint key is the file's, kept
        assert again.pending_counts()["a"][0] == 2 and again.pending_counts()["b"][0] == 3
    finally:
        again.close()


def test_disabled_sinks_are_remembered(store):
    store.disable_sink("hook", "sink hook: 410")
    assert store.disabled_sinks() == {"hook": "sink hook: 410"}
    assert store.enable_sink("hook") is True
    assert store.disabled_sinks() == {}


def test_history_and_pending_queries(store):
    _, first = record(store, "main", {"79990000001": trunk("79990000001")})
    _, second = record(store, "main", {"79990000001": trunk("79990000001", blocked=True)})
    store.mark_done("a", {first[0].seq: "delivered"})
    history = store.events(subject="79990000001")
    assert [e.type for e, _ in history] == ["vats.trunk.appeared", "vats.flags.changed"]
    assert history[0][1] == {"a": "delivered", "b": "pending"}
    assert [e.id for e, _ in store.events(pending_for="a")] == [second[0].id]
    assert len(store.events(pending_for="*")) == 2
    assert [e.id for e, _ in store.events(limit=1)] == [second[0].id]  # the newest
    assert [e.id for e, _ in store.events(limit=5)] == [first[0].id, second[0].id]


def test_an_unwritable_place_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError) as caught:
        Store(blocker / "watch.sqlite")
    assert caught.value.path == str(blocker / "watch.sqlite")
