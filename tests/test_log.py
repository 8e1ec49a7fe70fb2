"""The event log's own contract: positions, versions and the hash chain, optimistic
concurrency, idempotent appends, and an append that is all or nothing with its projections.
Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from workflow import db, log, projections
from workflow.events import NewEvent, canonical_json

ACTOR = "tester"


def unit_created(code, name="第一党支部", level="committee", parent=None):
    return NewEvent(
        "OrgUnitCreated",
        {"code": code, "name": name, "level": level, "kind": None, "parent": parent},
    )


def renamed(code, name):
    return NewEvent("OrgUnitRenamed", {"code": code, "name": name, "reason": "测试"})


def rows():
    return db.fetchall(f"SELECT {log.COLUMNS} FROM event ORDER BY position")


def test_append_assigns_positions_versions_and_chains_hashes(app):
    first = log.append("unit:a", 0, [unit_created("a", "信息学院党委")], ACTOR)
    more = log.append(
        "unit:a", 1, [renamed("a", "信息学院党委（新）"), renamed("a", "再改名")], ACTOR
    )
    other = log.append("unit:b", 0, [unit_created("b")], ACTOR)
    written = first + more + other

    assert [e.position for e in written] == [1, 2, 3, 4]
    assert [(e.stream, e.version) for e in written] == [
        ("unit:a", 1),
        ("unit:a", 2),
        ("unit:a", 3),
        ("unit:b", 1),
    ]
    assert written[0].prev_hash == log.GENESIS_HASH == "0" * 64
    for before, after in zip(written, written[1:]):
        assert after.prev_hash == before.hash
    # The events of one append share one time; the stored rows are what append returned.
    assert more[0].occurred_at == more[1].occurred_at
    assert [log.get(e.position) for e in written] == written
    assert log.head() == (4, written[-1].hash)
    assert log.stream_version("unit:a") == 3
    assert log.stream_version("unit:nothing") == 0
    assert log.read_stream("unit:a") == written[:3]
    assert log.read_stream("unit:a", upto_position=2) == written[:2]
    assert list(log.iter_events(after=2)) == written[2:]
    assert list(log.iter_events(page=1)) == written  # paging does not skip or repeat
    result = log.verify()
    assert result.ok and result.count == 4 and result.head_hash == written[-1].hash


def test_stored_payload_is_canonical_json_text(app):
    payload = {"code": "x", "name": "支部 “引号” \\ é", "level": "committee"}
    log.append("unit:x", 0, [unit_created(**payload)], ACTOR)
    stored = db.fetchone("SELECT payload FROM event WHERE position = 1")[0]
    expected = {**payload, "kind": None, "parent": None}
    assert stored == json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "支部" in stored  # UTF-8 kept as is, not \\u escapes


def test_hash_is_the_documented_recipe(app):
    """An independent implementation of docs/VERIFY.md's recipe gives the stored hashes."""
    log.append("unit:a", 0, [unit_created("a", "党委")], ACTOR)
    log.append("unit:a", 1, [renamed("a", "学院党委")], ACTOR)
    prev = "0" * 64
    for row in rows():
        position, event_id, stream, version, type_, sv, payload, actor, at, prev_hash, h = row
        material = json.dumps(
            [position, event_id, stream, version, type_, sv, payload, actor, at, prev],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        assert prev_hash == prev
        assert h == hashlib.sha256(material).hexdigest()
        prev = h


def test_occurred_at_is_utc_with_microseconds(app):
    from datetime import timedelta, timezone

    beijing = datetime(2025, 6, 10, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    [event] = log.append("unit:a", 0, [unit_created("a")], ACTOR, now=beijing)
    assert event.occurred_at == "2025-06-10T02:00:00.123456Z"
    with pytest.raises(ValueError):
        log.append("unit:b", 0, [unit_created("b")], ACTOR, now=datetime(2025, 6, 10))
    assert log.head()[0] == 1


def test_stale_expected_version_is_a_conflict_and_writes_nothing(app):
    log.append("unit:a", 0, [unit_created("a", "原名")], ACTOR)
    before = log.head()
    with pytest.raises(log.ConcurrencyError) as info:
        log.append("unit:a", 0, [renamed("a", "抢先改名")], ACTOR)
    assert (info.value.stream, info.value.expected, info.value.actual) == ("unit:a", 0, 1)
    with pytest.raises(log.ConcurrencyError):
        log.append("unit:a", 5, [renamed("a", "未来版本")], ACTOR)
    assert log.head() == before
    assert db.fetchone("SELECT name FROM org_unit WHERE code = 'a'")[0] == "原名"


def test_same_event_appended_twice_is_stored_once(app):
    event = unit_created("a", "信息学院党委")
    [first] = log.append("unit:a", 0, [event], ACTOR)
    head = log.head()
    # A double-clicked submit: the same event id again, with the version read before the first.
    again = log.append("unit:a", 0, [event], ACTOR)
    assert again == [first]
    assert log.head() == head
    # Also when the caller happens to pass the current version.
    assert log.append("unit:a", 1, [event], ACTOR) == [first]
    assert log.find(event.event_id) == first
    assert db.fetchone("SELECT COUNT(*) FROM event")[0] == 1
    assert db.fetchone("SELECT COUNT(*) FROM org_unit")[0] == 1


def test_repeated_batch_is_stored_once_and_a_partial_repeat_is_refused(app):
    batch = [unit_created("a"), renamed("a", "二"), renamed("a", "三")]
    written = log.append("unit:a", 0, batch, ACTOR)
    assert log.append("unit:a", 0, batch, ACTOR) == written
    head = log.head()
    with pytest.raises(ValueError):
        log.append("unit:a", 3, [batch[2], renamed("a", "四")], ACTOR)
    assert log.head() == head
    assert log.verify().ok


def test_failing_projection_rolls_back_the_append(app, monkeypatch):
    """Events and projections commit together: a projection that fails leaves no event."""
    log.append("unit:a", 0, [unit_created("a", "原名")], ACTOR)
    before = log.head()
    snapshot = projections.snapshot()
    original = projections.apply_all

    def exploding(events):
        original(events)
        raise RuntimeError("projection failed")

    monkeypatch.setattr(projections, "apply_all", exploding)
    with pytest.raises(RuntimeError):
        log.append("unit:a", 1, [renamed("a", "新名"), renamed("a", "更新")], ACTOR)
    monkeypatch.setattr(projections, "apply_all", original)
    assert log.head() == before
    assert projections.snapshot() == snapshot
    assert db.fetchone("SELECT position FROM projection_checkpoint WHERE name = 'orgs'")[0] == 1
    # The stream is still usable at the version it had.
    log.append("unit:a", 1, [renamed("a", "新名")], ACTOR)
    assert log.verify().ok


def test_projection_error_is_not_reported_as_a_conflict(app):
    """A unique-key failure inside a projection is a bug to surface, not "changed meanwhile"."""
    log.append("unit:a", 0, [unit_created("a")], ACTOR)
    # A second stream creating the same unit code: the org_unit primary key refuses it.
    with pytest.raises(Exception) as info:
        log.append("unit:a-again", 0, [unit_created("a")], ACTOR)
    assert not isinstance(info.value, log.ConcurrencyError)
    assert log.head()[0] == 1


def test_empty_append_writes_nothing(app):
    assert log.append("unit:a", 0, [], ACTOR) == []
    assert log.head() == (0, log.GENESIS_HASH)
    result = log.verify()
    assert result.ok and result.count == 0


def test_projection_checkpoints_follow_the_head(app):
    log.append("unit:a", 0, [unit_created("a")], ACTOR)
    log.append("unit:a", 1, [renamed("a", "二")], ACTOR)
    positions = {r[0] for r in db.fetchall("SELECT position FROM projection_checkpoint")}
    assert positions == {2}


def test_canonical_json_is_stable():
    assert canonical_json({"b": 1, "a": [1, "二"]}) == '{"a":[1,"二"],"b":1}'
    assert log.format_time(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == (
        "2025-01-02T03:04:05.000000Z"
    )
