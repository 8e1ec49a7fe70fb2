"""Projects: their state, revisions, unit opinions and the scanned paper copies."""

import json

from .. import db
from ..events import canonical_json
from . import Projection, register

projects = register(
    Projection(
        "projects",
        {
            "project": """CREATE TABLE IF NOT EXISTS project (
                id TEXT PRIMARY KEY,
                campaign TEXT NOT NULL,
                unit TEXT NOT NULL,
                category TEXT NOT NULL,
                state TEXT NOT NULL,
                revision INTEGER NOT NULL,
                brand_name TEXT NOT NULL,
                pending_approvals TEXT NOT NULL,
                returned_reason TEXT,
                late INTEGER NOT NULL,
                first_submitted_at TEXT NOT NULL,
                submitted_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                position BIGINT NOT NULL)""",
            "project_revision": """CREATE TABLE IF NOT EXISTS project_revision (
                project TEXT NOT NULL,
                revision INTEGER NOT NULL,
                fields TEXT NOT NULL,
                late INTEGER NOT NULL,
                actor TEXT NOT NULL,
                submitted_at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (project, revision))""",
            "unit_opinion": """CREATE TABLE IF NOT EXISTS unit_opinion (
                position BIGINT PRIMARY KEY,
                project TEXT NOT NULL,
                revision INTEGER NOT NULL,
                level TEXT NOT NULL,
                unit TEXT NOT NULL,
                decision TEXT NOT NULL,
                text TEXT NOT NULL,
                signer TEXT NOT NULL,
                signed_on TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL)""",
            "review_decision": """CREATE TABLE IF NOT EXISTS review_decision (
                position BIGINT PRIMARY KEY,
                project TEXT NOT NULL,
                revision INTEGER NOT NULL,
                action TEXT NOT NULL,
                text TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL)""",
            "paper_copy": """CREATE TABLE IF NOT EXISTS paper_copy (
                position BIGINT PRIMARY KEY,
                project TEXT NOT NULL,
                revision INTEGER NOT NULL,
                level TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                name TEXT NOT NULL,
                mime TEXT NOT NULL,
                size BIGINT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL)""",
        },
        indexes=[
            "CREATE INDEX IF NOT EXISTS project_campaign ON project (campaign, unit)",
            "CREATE INDEX IF NOT EXISTS unit_opinion_project ON unit_opinion (project)",
            "CREATE INDEX IF NOT EXISTS paper_copy_project ON paper_copy (project)",
        ],
    )
)


def project_id(event) -> str:
    return event.stream.split(":", 1)[1]


@projects.on("ApplicationSubmitted")
def submitted(e):
    p, pid = e.payload, project_id(e)
    pending = p["approvals"]
    state = "submitted" if pending else "under_review"
    brand = p["fields"].get("brand_name", "")
    db.execute(
        "INSERT INTO project_revision (project, revision, fields, late, actor, submitted_at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (pid, p["revision"], canonical_json(p["fields"]), int(p["late"]), e.actor,
         e.occurred_at, e.position),
    )  # fmt: skip
    if p["revision"] == 1:
        db.execute(
            "INSERT INTO project (id, campaign, unit, category, state, revision, brand_name, "
            "pending_approvals, returned_reason, late, first_submitted_at, submitted_at, "
            "updated_at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
            (pid, p["campaign"], p["unit"], p["category"], state, 1, brand,
             canonical_json(pending), int(p["late"]), e.occurred_at, e.occurred_at,
             e.occurred_at, e.position),
        )  # fmt: skip
    else:
        db.execute(
            "UPDATE project SET state = ?, revision = ?, brand_name = ?, pending_approvals = ?, "
            "returned_reason = NULL, late = ?, submitted_at = ?, updated_at = ?, position = ? "
            "WHERE id = ?",
            (state, p["revision"], brand, canonical_json(pending), int(p["late"]),
             e.occurred_at, e.occurred_at, e.position, pid),
        )  # fmt: skip


@projects.on("UnitOpinionRecorded")
def opinion(e):
    p, pid = e.payload, project_id(e)
    db.execute(
        "INSERT INTO unit_opinion (position, project, revision, level, unit, decision, text, "
        "signer, signed_on, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.position, pid, p["revision"], p["level"], p["unit"], p["decision"], p["text"],
         p["signer"], p["date"], e.actor, e.occurred_at),
    )  # fmt: skip
    row = db.fetchone("SELECT pending_approvals FROM project WHERE id = ?", (pid,))
    pending = json.loads(row[0])[1:]
    if p["decision"] == "return":
        state, reason = "returned", p["text"]
    else:
        state, reason = ("submitted" if pending else "under_review"), None
    db.execute(
        "UPDATE project SET state = ?, pending_approvals = ?, returned_reason = ?, "
        "updated_at = ?, position = ? WHERE id = ?",
        (state, canonical_json(pending), reason, e.occurred_at, e.position, pid),
    )


@projects.on("PaperCopyUploaded")
def paper_copy(e):
    p, f = e.payload, e.payload["file"]
    db.execute(
        "INSERT INTO paper_copy (position, project, revision, level, sha256, name, mime, size, "
        "actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.position, project_id(e), p["revision"], p["level"], f["sha256"], f["name"],
         f["mime"], f["size"], e.actor, e.occurred_at),
    )  # fmt: skip


REVIEW_STATES = {
    "ReviewReturned": ("return", "returned"),
    "ProjectApproved": ("approve", "approved"),
    "ProjectRejected": ("reject", "rejected"),
}


@projects.on(*REVIEW_STATES)
def reviewed(e):
    action, state = REVIEW_STATES[e.type]
    pid, text = project_id(e), e.payload.get("reason", e.payload.get("note", ""))
    db.execute(
        "INSERT INTO review_decision (position, project, revision, action, text, actor, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (e.position, pid, e.payload["revision"], action, text, e.actor, e.occurred_at),
    )
    db.execute(
        "UPDATE project SET state = ?, returned_reason = ?, updated_at = ?, position = ? "
        "WHERE id = ?",
        (state, text if action == "return" else None, e.occurred_at, e.position, pid),
    )
