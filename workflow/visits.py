"""When each user last looked at each project: what "new since your last visit" is measured
against. Kept outside the log (reading is not history)."""

from __future__ import annotations

from . import db, log

TABLE = """CREATE TABLE IF NOT EXISTS project_visit (
    username TEXT NOT NULL,
    project TEXT NOT NULL,
    seen_position BIGINT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (username, project))"""


def last_seen(username: str, project: str) -> int:
    """The log position the user had seen on their previous visit (0: never visited)."""
    row = db.fetchone(
        "SELECT seen_position FROM project_visit WHERE username = ? AND project = ?",
        (username, project),
    )
    return row[0] if row else 0


def record(username: str, project: str) -> int:
    """Mark the project seen up to the current head; returns the position seen before."""
    before = last_seen(username, project)
    position, _ = log.head()
    # One statement: two tabs of one user at once must not both insert (a unique-key error on
    # PostgreSQL, where "delete, then insert" does not serialize them).
    db.execute(
        "INSERT INTO project_visit (username, project, seen_position, at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (username, project) DO UPDATE SET seen_position = excluded.seen_position, "
        "at = excluded.at",
        (username, project, position, log.format_time(None)),
    )
    return before


def changed_since_visit(username: str, internal: bool = False) -> set[str]:
    """Ids of the projects that changed since this user last opened them (or never opened):
    a project event, or a comment the user may read (`internal`: internal comments too)."""
    seen = "COALESCE(v.seen_position, 0)"
    audience = "" if internal else " AND c.visibility = 'unit'"
    rows = db.fetchall(
        "SELECT p.id FROM project p LEFT JOIN project_visit v "
        f"ON v.project = p.id AND v.username = ? WHERE p.position > {seen} "
        f"OR EXISTS (SELECT 1 FROM inbox_comment c WHERE c.project = p.id "
        f"AND c.position > {seen}{audience})",
        (username,),
    )
    return {r[0] for r in rows}
