"""Reading a user's inbox and remembering what they have read.

The notifications themselves are a projection (workflow/projections/inbox.py). Read state is
not history, so it lives outside the log in two side tables (workflow/schema.py): "read up to position" per
user (mark all as read) and single read marks above that line (mark one as read). Both are keyed by
event position, which a rebuild keeps, so read marks survive `rebuild-projections`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import db, log
from .i18n import render

PAGE = 50

_UNREAD = (
    "n.position > COALESCE((SELECT position FROM inbox_read_upto WHERE username = n.recipient), 0) "
    "AND NOT EXISTS (SELECT 1 FROM inbox_read r WHERE r.username = n.recipient "
    "AND r.position = n.position)"
)


@dataclass(frozen=True)
class Notification:
    position: int
    kind: str
    event_type: str
    project: str | None
    text: str
    link: str
    at: str
    done: bool
    unread: bool

    @property
    def open_action(self) -> bool:
        return self.kind == "action" and not self.done


def unread_count(username: str) -> int:
    row = db.fetchone(f"SELECT COUNT(*) FROM notification n WHERE n.recipient = ? AND {_UNREAD}",
                      (username,))  # fmt: skip
    return row[0]


def open_actions_count(username: str) -> int:
    row = db.fetchone(
        "SELECT COUNT(*) FROM notification WHERE recipient = ? AND kind = 'action' "
        "AND done_position IS NULL",
        (username,),
    )
    return row[0]


def listing(username: str, show: str = "all", before: int | None = None, limit: int = PAGE):
    """Newest first. `show`: all, unread, or action (open action items only)."""
    where = ["n.recipient = ?"]
    params: list = [username]
    if show == "unread":
        where.append(_UNREAD)
    elif show == "action":
        where.append("n.kind = 'action' AND n.done_position IS NULL")
    if before:
        where.append("n.position < ?")
        params.append(before)
    rows = db.fetchall(
        f"SELECT {_COLUMNS} FROM notification n WHERE {' AND '.join(where)} "
        "ORDER BY n.position DESC LIMIT ?",
        (*params, limit + 1),
    )
    return [_notification(row) for row in rows[:limit]], len(rows) > limit


def get(username: str, position: int) -> Notification | None:
    rows = db.fetchall(
        f"SELECT {_COLUMNS} FROM notification n WHERE n.recipient = ? AND n.position = ?",
        (username, position),
    )
    return _notification(rows[0]) if rows else None


_COLUMNS = (
    "n.position, n.kind, n.event_type, n.project, n.text, n.message, n.link, n.at, "
    f"n.done_position IS NOT NULL, CASE WHEN {_UNREAD} THEN 1 ELSE 0 END"
)


def _notification(row) -> Notification:
    """A row as the reader sees it: the stored message in the reader's language (rows written
    before messages were stored keep their Chinese text)."""
    pos, kind, et, project, text, message, link, at, done, unread = row
    if message:
        text = render(json.loads(message))
    return Notification(pos, kind, et, project, text, link, at, bool(done), bool(unread))


def _read_upto(username: str) -> int:
    row = db.fetchone("SELECT position FROM inbox_read_upto WHERE username = ?", (username,))
    return row[0] if row else 0


def mark_read(username: str, positions: list[int]) -> int:
    """Mark these of the user's notifications read; returns how many were unread."""
    upto, at, marked = _read_upto(username), log.format_time(None), 0
    # Reads, then writes: on SQLite the write lock must be taken up front (BEGIN IMMEDIATE), or
    # a commit by anyone in between makes the write fail at once with "database is locked".
    with db.writer_transaction():
        for position in positions:
            if position <= upto:
                continue
            found = db.fetchone(
                "SELECT 1 FROM notification WHERE recipient = ? AND position = ?",
                (username, position),
            )
            if found is None:
                continue
            cursor = db.execute(
                "INSERT INTO inbox_read (username, position, at) VALUES (?, ?, ?) "
                "ON CONFLICT (username, position) DO NOTHING",
                (username, position, at),
            )
            marked += max(cursor.rowcount, 0)
    return marked


def mark_all_read(username: str) -> int:
    """Everything the user has now is read: one line moves, single marks below it go."""
    row = db.fetchone("SELECT MAX(position) FROM notification WHERE recipient = ?", (username,))
    newest = row[0] or 0
    count = unread_count(username)
    if newest <= _read_upto(username):
        return count
    with db.database.atomic():
        db.execute("DELETE FROM inbox_read_upto WHERE username = ?", (username,))
        db.execute(
            "INSERT INTO inbox_read_upto (username, position, at) VALUES (?, ?, ?)",
            (username, newest, log.format_time(None)),
        )
        db.execute(
            "DELETE FROM inbox_read WHERE username = ? AND position <= ?", (username, newest)
        )
    return count


def mark_project_read(username: str, project: str) -> int:
    """Opening a project reads what the inbox said about it."""
    rows = db.fetchall(
        f"SELECT n.position FROM notification n WHERE n.recipient = ? AND n.project = ? "
        f"AND {_UNREAD}",
        (username, project),
    )
    return mark_read(username, [r[0] for r in rows]) if rows else 0
