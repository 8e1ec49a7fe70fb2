"""Threaded comments on projects: the current text and state of each comment, and every version
of its text (the edit history shown on demand)."""

import json

from .. import db
from ..events import canonical_json
from . import Projection, register

comments = register(
    Projection(
        "comments",
        {
            "project_comment": """CREATE TABLE IF NOT EXISTS project_comment (
                id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                parent_id TEXT,
                root_id TEXT NOT NULL,
                depth INTEGER NOT NULL,
                revision INTEGER NOT NULL,
                target_kind TEXT NOT NULL,
                target_revision INTEGER,
                target_field TEXT,
                target_ref TEXT,
                visibility TEXT NOT NULL,
                body TEXT NOT NULL,
                mentions TEXT NOT NULL,
                author TEXT NOT NULL,
                posted_at TEXT NOT NULL,
                position BIGINT NOT NULL,
                edits INTEGER NOT NULL,
                edited_at TEXT,
                edited_position BIGINT,
                resolved INTEGER NOT NULL,
                resolved_by TEXT,
                resolved_at TEXT,
                updated_position BIGINT NOT NULL)""",
            "project_comment_version": """CREATE TABLE IF NOT EXISTS project_comment_version (
                comment_id TEXT NOT NULL,
                version INTEGER NOT NULL,
                body TEXT NOT NULL,
                mentions TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (comment_id, version))""",
        },
        indexes=[
            "CREATE INDEX IF NOT EXISTS project_comment_project "
            "ON project_comment (project, position)",
        ],
    )
)


@comments.on("CommentPosted")
def posted(e):
    p = e.payload
    target = p["target"]
    depth, root = 0, p["comment_id"]
    if p["parent_id"]:
        parent = db.fetchone(
            "SELECT depth, root_id FROM project_comment WHERE id = ?", (p["parent_id"],)
        )
        depth, root = parent[0] + 1, parent[1]
    mentions = canonical_json(p["mentions"])
    db.execute(
        "INSERT INTO project_comment (id, project, parent_id, root_id, depth, revision, "
        "target_kind, target_revision, target_field, target_ref, visibility, body, mentions, "
        "author, posted_at, position, edits, edited_at, edited_position, resolved, resolved_by, "
        "resolved_at, updated_position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, 0, NULL, NULL, ?)",
        (p["comment_id"], p["project"], p["parent_id"], root, depth, p["revision"],
         target.get("kind", "project"), target.get("revision"), target.get("field"),
         target.get("ref"), p["visibility"], p["body"], mentions, e.actor, e.occurred_at,
         e.position, e.position),
    )  # fmt: skip
    _version(p["comment_id"], 0, p["body"], mentions, e)


@comments.on("CommentEdited")
def edited(e):
    p = e.payload
    row = db.fetchone("SELECT edits FROM project_comment WHERE id = ?", (p["comment_id"],))
    edits = row[0] + 1
    mentions = canonical_json(p["mentions"])
    db.execute(
        "UPDATE project_comment SET body = ?, mentions = ?, edits = ?, edited_at = ?, "
        "edited_position = ?, updated_position = ? WHERE id = ?",
        (p["body"], mentions, edits, e.occurred_at, e.position, e.position, p["comment_id"]),
    )
    _version(p["comment_id"], edits, p["body"], mentions, e)


@comments.on("CommentResolved", "CommentReopened")
def resolution(e):
    if e.type == "CommentResolved":
        values = (1, e.actor, e.occurred_at)
    else:
        values = (0, None, None)
    db.execute(
        "UPDATE project_comment SET resolved = ?, resolved_by = ?, resolved_at = ?, "
        "updated_position = ? WHERE id = ?",
        (*values, e.position, e.payload["comment_id"]),
    )


def _version(comment_id, version, body, mentions, e):
    db.execute(
        "INSERT INTO project_comment_version (comment_id, version, body, mentions, actor, at, "
        "position) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (comment_id, version, body, mentions, e.actor, e.occurred_at, e.position),
    )


def mentions_of(text: str) -> list[str]:
    return json.loads(text) if text else []
