"""The change rules, as tables of before/after states (no browser: pure functions)."""

import json
from datetime import UTC, datetime

import pytest

from flows.watch import events as ev
from flows.watch.events import TrunkState, cloud_event, diff, event_id, merge_unread, render

KEY = b"k" * 32
WHEN = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def state(phone="79990000001", **changes):
    values = dict(phone=phone, abonent_id=int(phone[-6:]) + 1, identify_line=f"mobsip_{phone[1:]}",
                  sip_login=f"sip_{phone[1:]}", sip_password="s3cret", has_device=True,
                  device_enabled=True, device_id=77, active=True, blocked=False,
                  marked_for_deletion=False)
    values.update(changes)
    return TrunkState(**values)


def states(*items):
    return {s.phone: s for s in items}


def types(changes):
    return [(c.type, c.phone) for c in changes]


A, B = "79990000001", "79990000002"


def test_the_first_snapshot_says_appeared_for_each_trunk():
    assert types(diff(None, states(state(A), state(B)))) == [(ev.APPEARED, A), (ev.APPEARED, B)]


def test_an_unchanged_account_says_nothing():
    assert diff(states(state(A)), states(state(A))) == []


@pytest.mark.parametrize(("before", "after", "expected"), [
    (dict(has_device=False, sip_login=None, sip_password=None, device_id=None,
          device_enabled=False), {}, [ev.DEVICE_CREATED]),
    ({}, dict(has_device=False, sip_login=None, sip_password=None, device_id=None,
              device_enabled=False), [ev.DEVICE_REMOVED]),
    ({}, dict(device_enabled=False), [ev.DEVICE_DISABLED]),
    (dict(device_enabled=False), {}, [ev.DEVICE_ENABLED]),
    ({}, dict(sip_password="other"), [ev.CREDENTIALS_CHANGED]),
    ({}, dict(sip_login="sip_new"), [ev.CREDENTIALS_CHANGED]),
    ({}, dict(device_id=78), [ev.CREDENTIALS_CHANGED]),  # a device removed and made anew
    ({}, dict(blocked=True), [ev.FLAGS_CHANGED]),
    ({}, dict(active=False, marked_for_deletion=True), [ev.FLAGS_CHANGED]),
    ({}, dict(device_enabled=False, active=False), [ev.DEVICE_DISABLED, ev.FLAGS_CHANGED]),
])
def test_each_kind_of_change_is_its_event(before, after, expected):
    changes = diff(states(state(A, **before)), states(state(A, **after)))
    assert [c.type for c in changes] == expected
    assert all(c.before == state(A, **before) and c.after == state(A, **after) for c in changes)


def test_a_changed_event_names_the_fields_that_changed():
    (change,) = diff(states(state(A)), states(state(A, active=False, blocked=True)))
    assert change.changed == ("active", "blocked")


def test_a_trunk_missing_from_a_complete_listing_disappeared():
    assert types(diff(states(state(A), state(B)), states(state(A)))) == [(ev.DISAPPEARED, B)]


def test_an_unread_trunk_keeps_its_last_state_and_says_nothing():
    before = states(state(A), state(B))
    after = merge_unread(before, states(state(A, blocked=True)), unread=[B])
    assert after[B] == before[B]  # kept, not dropped
    assert types(diff(before, after, unread=[B])) == [(ev.FLAGS_CHANGED, A)]


def test_an_unread_trunk_never_seen_before_appears_later_not_now():
    before = states(state(A))
    after = merge_unread(before, states(state(A)), unread=[B])
    assert B not in after
    assert diff(before, after, unread=[B]) == []
    # read next time: it appears then
    assert types(diff(after, states(state(A), state(B)))) == [(ev.APPEARED, B)]


def test_ids_are_deterministic_and_differ_by_each_part():
    base = event_id("main", A, ev.APPEARED, 1)
    assert base == event_id("main", A, ev.APPEARED, 1)
    others = {event_id("other", A, ev.APPEARED, 1), event_id("main", B, ev.APPEARED, 1),
              event_id("main", A, ev.DISAPPEARED, 1), event_id("main", A, ev.APPEARED, 2)}
    assert base not in others and len(others) == 4


def test_a_cloud_event_has_the_required_attributes():
    (change,) = diff(None, states(state(A)))
    event = cloud_event(change, account="main", snapshot=3, time=WHEN, key=KEY)
    assert event["specversion"] == "1.0"
    assert event["id"] == event_id("main", A, ev.APPEARED, 3)
    assert event["source"] == "urn:vats:account:main"
    assert event["type"] == ev.APPEARED
    assert event["subject"] == A
    assert event["time"] == "2026-12-02T12:00:00Z"
    assert event["data"]["account"] == "main" and event["data"]["phone"] == A
    assert event["data"]["before"] is None and event["data"]["after"]["sip_login"] == f"sip_{A[1:]}"


def test_secrets_only_for_sinks_that_ask_and_a_fingerprint_for_the_others():
    before, after = states(state(A)), states(state(A, sip_password="n3w"))
    (change,) = diff(before, after)
    event = cloud_event(change, account="main", snapshot=2, time=WHEN, key=KEY)
    plain = json.loads(render(event, include_secrets=False))
    secret = json.loads(render(event, include_secrets=True))
    assert b"s3cret" not in render(event, include_secrets=False)
    assert b"n3w" not in render(event, include_secrets=False)
    assert "sip_password" not in plain["data"]["after"]
    fingerprints = [plain["data"][side]["sip_password_fingerprint"] for side in ("before", "after")]
    assert fingerprints[0] != fingerprints[1]  # the change shows without the password
    assert secret["data"]["after"]["sip_password"] == "n3w"
    assert {k: v for k, v in secret.items() if k != "data"} == \
        {k: v for k, v in plain.items() if k != "data"}  # the same event, id and all


def test_fingerprints_depend_on_the_key():
    assert ev.fingerprint(KEY, "pw") == ev.fingerprint(KEY, "pw")
    assert ev.fingerprint(KEY, "pw") != ev.fingerprint(b"x" * 32, "pw")
    assert ev.fingerprint(KEY, None) is None
