"""Cultivation evidence: news articles, activities, photos, funding and deferral requests.

Folded from the events on the "evidence:<project id>" streams. Withdrawn items keep their row
(with the position that withdrew them) so history stays readable; lists show the live ones.
The project's move to `cultivating` is the CultivationStarted event on the project stream,
folded here into the `project` row's state (this projection is registered right after
`projects`, so the row exists and rebuilds give the same result).
"""

from __future__ import annotations

from .. import db
from . import Projection, register

WITHDRAWN = "withdrawn_position BIGINT, withdrawn_reason TEXT"

evidence = register(
    Projection(
        "evidence",
        {
            "evidence_news": f"""CREATE TABLE IF NOT EXISTS evidence_news (
                news_id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                title TEXT NOT NULL,
                url TEXT NOT NULL,
                platform TEXT NOT NULL,
                level TEXT NOT NULL,
                published_on TEXT NOT NULL,
                screenshot_sha TEXT,
                screenshot_thumb TEXT,
                screenshot_name TEXT,
                late INTEGER NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                {WITHDRAWN})""",
            "evidence_activity": f"""CREATE TABLE IF NOT EXISTS evidence_activity (
                activity_id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                kind TEXT NOT NULL,
                title TEXT NOT NULL,
                held_on TEXT NOT NULL,
                place TEXT NOT NULL,
                participants INTEGER NOT NULL,
                summary TEXT NOT NULL,
                late INTEGER NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                {WITHDRAWN})""",
            # Photos are reused by reference (final report, booklet): photo_id, or sha256.
            "project_photo": f"""CREATE TABLE IF NOT EXISTS project_photo (
                photo_id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                activity TEXT,
                sha256 TEXT NOT NULL,
                name TEXT NOT NULL,
                mime TEXT NOT NULL,
                size BIGINT NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                thumb_sha TEXT NOT NULL,
                thumb_size BIGINT NOT NULL,
                caption TEXT NOT NULL,
                late INTEGER NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                {WITHDRAWN})""",
            "project_budget": """CREATE TABLE IF NOT EXISTS project_budget (
                project TEXT PRIMARY KEY,
                amount TEXT NOT NULL,
                note TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL)""",
            "project_expense": f"""CREATE TABLE IF NOT EXISTS project_expense (
                expense_id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                spent_on TEXT NOT NULL,
                item TEXT NOT NULL,
                amount TEXT NOT NULL,
                receipt_sha TEXT,
                receipt_name TEXT,
                receipt_mime TEXT,
                receipt_size BIGINT,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                {WITHDRAWN})""",
            "deferral_request": """CREATE TABLE IF NOT EXISTS deferral_request (
                request_id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                stage TEXT NOT NULL,
                wanted_due TEXT NOT NULL,
                reason TEXT NOT NULL,
                status TEXT NOT NULL,
                granted_due TEXT,
                decision_text TEXT,
                requested_by TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                decided_by TEXT,
                decided_at TEXT,
                position BIGINT NOT NULL)""",
        },
        indexes=[
            "CREATE INDEX IF NOT EXISTS evidence_news_project ON evidence_news (project)",
            "CREATE INDEX IF NOT EXISTS evidence_activity_project ON evidence_activity (project)",
            "CREATE INDEX IF NOT EXISTS project_photo_project ON project_photo (project)",
            "CREATE INDEX IF NOT EXISTS project_photo_sha ON project_photo (sha256)",
            "CREATE INDEX IF NOT EXISTS project_expense_project ON project_expense (project)",
            "CREATE INDEX IF NOT EXISTS deferral_request_project ON deferral_request (project)",
        ],
    )
)


def _pid(e) -> str:
    return e.stream.split(":", 1)[1]


@evidence.on("CultivationStarted")
def started(e):
    db.execute(
        "UPDATE project SET state = 'cultivating', updated_at = ?, position = ? WHERE id = ?",
        (e.occurred_at, e.position, _pid(e)),
    )


@evidence.on("NewsArticleAdded")
def news(e):
    p = e.payload
    shot = p["screenshot"] or {}
    db.execute(
        "INSERT INTO evidence_news (news_id, project, title, url, platform, level, published_on, "
        "screenshot_sha, screenshot_thumb, screenshot_name, late, actor, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p["news_id"], _pid(e), p["title"], p["url"], p["platform"], p["level"],
         p["published_on"], shot.get("file", {}).get("sha256"),
         shot.get("thumb", {}).get("sha256"), shot.get("file", {}).get("name"),
         int(p["late"]), e.actor, e.occurred_at, e.position),
    )  # fmt: skip


@evidence.on("ActivityRecorded")
def activity(e):
    p = e.payload
    db.execute(
        "INSERT INTO evidence_activity (activity_id, project, kind, title, held_on, place, "
        "participants, summary, late, actor, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p["activity_id"], _pid(e), p["kind"], p["title"], p["held_on"], p["place"],
         p["participants"], p["summary"], int(p["late"]), e.actor, e.occurred_at, e.position),
    )  # fmt: skip


@evidence.on("PhotoAdded")
def photo(e):
    p, f, t = e.payload, e.payload["file"], e.payload["thumb"]
    db.execute(
        "INSERT INTO project_photo (photo_id, project, activity, sha256, name, mime, size, width, "
        "height, thumb_sha, thumb_size, caption, late, actor, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p["photo_id"], _pid(e), p["activity"], f["sha256"], f["name"], f["mime"], f["size"],
         p["width"], p["height"], t["sha256"], t["size"], p["caption"], int(p["late"]), e.actor,
         e.occurred_at, e.position),
    )  # fmt: skip


@evidence.on("PhotoCaptionChanged")
def caption(e):
    db.execute(
        "UPDATE project_photo SET caption = ? WHERE photo_id = ? AND project = ?",
        (e.payload["caption"], e.payload["photo_id"], _pid(e)),
    )


# kind -> (table, key column)
TABLES = {
    "news": ("evidence_news", "news_id"),
    "activity": ("evidence_activity", "activity_id"),
    "photo": ("project_photo", "photo_id"),
    "expense": ("project_expense", "expense_id"),
}


@evidence.on("EvidenceWithdrawn")
def withdrawn(e):
    table, key = TABLES[e.payload["kind"]]
    db.execute(
        f"UPDATE {table} SET withdrawn_position = ?, withdrawn_reason = ? "
        f"WHERE {key} = ? AND project = ?",
        (e.position, e.payload["reason"], e.payload["item_id"], _pid(e)),
    )
    if e.payload["kind"] == "activity":  # its photos go with it
        db.execute(
            "UPDATE project_photo SET withdrawn_position = ?, withdrawn_reason = ? "
            "WHERE activity = ? AND project = ? AND withdrawn_position IS NULL",
            (e.position, e.payload["reason"], e.payload["item_id"], _pid(e)),
        )


@evidence.on("BudgetSet")
def budget(e):
    pid = _pid(e)
    db.execute("DELETE FROM project_budget WHERE project = ?", (pid,))
    db.execute(
        "INSERT INTO project_budget (project, amount, note, actor, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (pid, e.payload["amount"], e.payload["note"], e.actor, e.occurred_at, e.position),
    )


@evidence.on("ExpenseRecorded")
def expense(e):
    p, r = e.payload, e.payload["receipt"] or {}
    db.execute(
        "INSERT INTO project_expense (expense_id, project, spent_on, item, amount, receipt_sha, "
        "receipt_name, receipt_mime, receipt_size, actor, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p["expense_id"], _pid(e), p["spent_on"], p["item"], p["amount"], r.get("sha256"),
         r.get("name"), r.get("mime"), r.get("size"), e.actor, e.occurred_at, e.position),
    )  # fmt: skip


@evidence.on("DeferralRequested")
def deferral_requested(e):
    p = e.payload
    db.execute(
        "INSERT INTO deferral_request (request_id, project, stage, wanted_due, reason, status, "
        "requested_by, requested_at, position) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        (p["request_id"], _pid(e), p["stage"], p["due"], p["reason"], e.actor, e.occurred_at,
         e.position),
    )  # fmt: skip


@evidence.on("DeferralGranted", "DeferralRefused")
def deferral_decided(e):
    p = e.payload
    granted = e.type == "DeferralGranted"
    db.execute(
        "UPDATE deferral_request SET status = ?, granted_due = ?, decision_text = ?, "
        "decided_by = ?, decided_at = ?, position = ? WHERE request_id = ? AND project = ?",
        ("granted" if granted else "refused", p["due"] if granted else None,
         p["note"] if granted else p["reason"], e.actor, e.occurred_at, e.position,
         p["request_id"], _pid(e)),
    )  # fmt: skip
