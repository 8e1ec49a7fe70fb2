"""The append-only, hash-chained event log: the single source of truth.

Appends run one writer at a time inside a transaction that also applies the projections, so
a reader never sees an event without its projected state, nor the reverse. The hash recipe is
documented in docs/VERIFY.md; `event_hash` below is its only implementation here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring

import peewee

from . import db
from .events import Event, NewEvent, canonical_json, from_row, lookup

GENESIS_HASH = "0" * 64
COLUMNS = (
    "position, event_id, stream, version, type, schema_version, payload, actor, "
    "occurred_at, prev_hash, hash"
)


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it (or the same version was taken meanwhile)."""

    def __init__(self, stream: str, expected: int, actual: int | None = None):
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(f"stream {stream}: expected version {expected}, found {actual}")


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime | None) -> str:
    """UTC, microseconds, trailing Z: the one textual form of `occurred_at`."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The aware datetime of a `format_time` text."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def event_hash(
    position: int,
    event_id: str,
    stream: str,
    version: int,
    type_: str,
    schema_version: int,
    payload: str,
    actor: str,
    occurred_at: str,
    prev_hash: str,
) -> str:
    """SHA-256 of the canonical JSON array of the event's fields, the stored payload text
    included verbatim as a string, ending with the previous event's hash."""
    if type(position) is int and type(version) is int and type(schema_version) is int:
        # The hot path of append and verify: the very text canonical_json gives for three ints
        # and seven strings (`encode_basestring` is what json.dumps uses with
        # ensure_ascii=False), without building an encoder per call. Anything else, e.g. a
        # tampered column of another type, takes the general encoder below.
        try:
            material = (
                f"[{position},{encode_basestring(event_id)},{encode_basestring(stream)},"
                f"{version},{encode_basestring(type_)},{schema_version},"
                f"{encode_basestring(payload)},{encode_basestring(actor)},"
                f"{encode_basestring(occurred_at)},{encode_basestring(prev_hash)}]"
            )
            return hashlib.sha256(material.encode("utf-8")).hexdigest()
        except TypeError:
            pass
    material = canonical_json(
        [
            position,
            event_id,
            stream,
            version,
            type_,
            schema_version,
            payload,
            actor,
            occurred_at,
            prev_hash,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def head() -> tuple[int, str]:
    """(position, hash) of the newest event, (0, genesis) for an empty log."""
    row = db.fetchone("SELECT position, hash FROM event ORDER BY position DESC LIMIT 1")
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def stream_version(stream: str) -> int:
    row = db.fetchone("SELECT MAX(version) FROM event WHERE stream = ?", (stream,))
    return row[0] or 0


def append(
    stream: str,
    expected_version: int,
    events: list[NewEvent],
    actor: str,
    now: datetime | None = None,
) -> list[Event]:
    """Append `events` to `stream` if its version is still `expected_version`.

    Idempotent by event id: appending events that are all already stored returns them and
    writes nothing (a double-clicked submit appends once). Raises ConcurrencyError when the
    stream has moved on.
    """
    if not events:
        return []
    at = format_time(now)
    event_ids = [e.event_id for e in events]
    try:
        with db.writer_transaction():
            db.take_writer_lock()
            position, prev, current, stored = _state(stream, event_ids)
            if stored:
                return _already_stored(event_ids)
            if current != expected_version:
                raise ConcurrencyError(stream, expected_version, current)
            written = []
            for offset, new in enumerate(events, start=1):
                written.append(
                    _insert(position + offset, stream, current + offset, new, actor, at, prev)
                )
                prev = written[-1].hash
            _projections().apply_all(written)
            return written
    except peewee.IntegrityError as exc:
        # The unique (stream, version) key is the backstop behind the version check. Any other
        # integrity error (a projection's own key) is a bug to surface, not "changed meanwhile".
        actual = stream_version(stream)
        if actual == expected_version:
            raise
        raise ConcurrencyError(stream, expected_version, actual) from exc


def _projections():
    """The projections package (imported late: it imports this module's readers)."""
    global _PROJECTIONS
    if _PROJECTIONS is None:
        from . import projections

        _PROJECTIONS = projections
    return _PROJECTIONS


_PROJECTIONS = None


@lru_cache(maxsize=64)
def _state_sql(ids: int) -> str:
    """One query for what append checks under the writer lock: the head (no row when the log
    is empty), the stream's version, and how many of the batch's event ids are stored."""
    marks = ", ".join(["?"] * ids)
    return (
        "SELECT e.position, e.hash, (SELECT MAX(version) FROM event WHERE stream = ?), "
        f"(SELECT COUNT(*) FROM event WHERE event_id IN ({marks})) "
        "FROM event e ORDER BY e.position DESC LIMIT 1"
    )


def _state(stream: str, event_ids: list[str]) -> tuple[int, str, int, int]:
    """(head position, head hash, stream version, count of these ids already stored)."""
    row = db.fetchone(_state_sql(len(event_ids)), (stream, *event_ids))
    if row is None:
        return 0, GENESIS_HASH, 0, 0
    return row[0], row[1], row[2] or 0, row[3]


def _already_stored(event_ids: list[str]) -> list[Event] | None:
    marks = ",".join("?" * len(event_ids))
    rows = db.fetchall(
        f"SELECT {COLUMNS} FROM event WHERE event_id IN ({marks}) ORDER BY position",
        tuple(event_ids),
    )
    if not rows:
        return None
    if len(rows) != len(event_ids):
        raise ValueError("part of this batch of events is already stored")
    return [from_row(r) for r in rows]


_INSERT = "INSERT INTO event (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _insert(position, stream, version, new: NewEvent, actor, at, prev) -> Event:
    schema_version = lookup(new.type).version
    payload = canonical_json(new.payload)
    h = event_hash(
        position, new.event_id, stream, version, new.type, schema_version, payload, actor, at, prev
    )
    db.execute(
        _INSERT,
        (
            position,
            new.event_id,
            stream,
            version,
            new.type,
            schema_version,
            payload,
            actor,
            at,
            prev,
            h,
        ),
    )
    return Event(
        position, new.event_id, stream, version, new.type, schema_version,
        dict(new.payload), actor, at, prev, h,
    )  # fmt: skip


# --- Reading ---------------------------------------------------------------------------------


def read_stream(stream: str, upto_position: int | None = None) -> list[Event]:
    """A stream's events in order; with `upto_position`, only those at or before it."""
    if upto_position is None:
        rows = db.fetchall(
            f"SELECT {COLUMNS} FROM event WHERE stream = ? ORDER BY version", (stream,)
        )
    else:
        rows = db.fetchall(
            f"SELECT {COLUMNS} FROM event WHERE stream = ? AND position <= ? ORDER BY version",
            (stream, upto_position),
        )
    return [from_row(r) for r in rows]


def iter_rows(after: int = 0, page: int = 5000, upto: int | None = None):
    """Stored rows in position order, fetched a page at a time (the whole log never sits in memory)."""
    while True:
        if upto is None:
            rows = db.fetchall(
                f"SELECT {COLUMNS} FROM event WHERE position > ? ORDER BY position LIMIT ?",
                (after, page),
            )
        else:
            rows = db.fetchall(
                f"SELECT {COLUMNS} FROM event WHERE position > ? AND position <= ? "
                "ORDER BY position LIMIT ?",
                (after, upto, page),
            )
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def iter_events(after: int = 0, page: int = 5000, upto: int | None = None):
    for row in iter_rows(after, page, upto):
        yield from_row(row)


def find(event_id: str) -> Event | None:
    """The stored event with this id, if any (how a repeated submit is recognised)."""
    row = db.fetchone(f"SELECT {COLUMNS} FROM event WHERE event_id = ?", (event_id,))
    return from_row(row) if row else None


def get(position: int) -> Event | None:
    row = db.fetchone(f"SELECT {COLUMNS} FROM event WHERE position = ?", (position,))
    return from_row(row) if row else None


# --- Verification ----------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    count: int
    head_position: int
    head_hash: str
    broken_position: int | None = None
    reason: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"OK {self.count} events, head {self.head_position} {self.head_hash}"
        return f"BROKEN at position {self.broken_position}: {self.reason}"


def verify(checkpoints=(), page: int = 5000, progress=None) -> VerifyResult:
    """Verify the stored log, streamed a page at a time (see `verify_rows`)."""
    return verify_rows(iter_rows(page=page), checkpoints, page, progress)


def verify_rows(rows, checkpoints=(), page: int = 5000, progress=None) -> VerifyResult:
    """Walk rows in position order: positions consecutive from 1, each prev_hash the hash
    before it, each hash recomputed from the stored fields, every checkpoint's hash present.

    `checkpoints` are (position, hash) pairs already authenticated by the caller.
    `progress(done)` is called every `page` events so a job can report how far it got.
    """
    wanted = {}
    for position, hash_ in checkpoints:
        wanted[position] = hash_
    expected_position, prev = 1, GENESIS_HASH
    count = 0
    for row in rows:
        position, event_id, stream, version, type_, sv, payload, actor, at, prev_hash, h = row
        if position != expected_position:
            return _broken(
                count,
                prev,
                expected_position,
                f"缺失位置 {expected_position}（下一条是 {position}）",
            )
        if prev_hash != prev:
            return _broken(count, prev, position, "prev_hash 与上一条事件的哈希不符")
        recomputed = event_hash(
            position, event_id, stream, version, type_, sv, payload, actor, at, prev_hash
        )
        if recomputed != h:
            return _broken(count, prev, position, "事件内容与其哈希不符")
        if wanted and position in wanted and wanted.pop(position) != h:
            return _broken(count, prev, position, "与检查点记录的哈希不符")
        prev, expected_position, count = h, position + 1, count + 1
        if progress and count % page == 0:
            progress(count)
    if wanted:
        first = min(wanted)
        return _broken(count, prev, first, f"日志不再延续检查点（位置 {first} 已不存在，疑被截断）")
    return VerifyResult(True, count, expected_position - 1, prev)


def _broken(count, prev, position, reason) -> VerifyResult:
    return VerifyResult(False, count, position - 1, prev, position, reason)
