"""Reports (中期报告、总结报告): the latest submitted revision of each project's reports.

Folded from ReportSubmitted on the project stream. A final report moves the project to
`final_submitted` when it is still in cultivation; a mid-term report leaves the state alone.
The content is kept as JSON text, the way the event carries it.
"""

from __future__ import annotations

import json

from .. import db
from . import Projection, register

reports = register(
    Projection(
        "reports",
        {
            "project_report": """CREATE TABLE IF NOT EXISTS project_report (
                project TEXT NOT NULL,
                kind TEXT NOT NULL,
                revision INTEGER NOT NULL,
                sections TEXT NOT NULL,
                chars INTEGER NOT NULL,
                photos TEXT NOT NULL,
                attachments TEXT NOT NULL,
                late INTEGER NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (project, kind))""",
        },
    )
)

MOVES_TO_SUBMITTED = ("approved", "cultivating", "midterm_scored")


@reports.on("ReportSubmitted")
def submitted(e):
    p = e.payload
    pid = e.stream.split(":", 1)[1]
    db.execute("DELETE FROM project_report WHERE project = ? AND kind = ?", (pid, p["kind"]))
    db.execute(
        "INSERT INTO project_report (project, kind, revision, sections, chars, photos, "
        "attachments, late, actor, at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (pid, p["kind"], p["revision"], json.dumps(p["sections"], ensure_ascii=False, sort_keys=True),
         p["chars"], json.dumps(p["photos"], ensure_ascii=False, sort_keys=True),
         json.dumps(p["attachments"], ensure_ascii=False, sort_keys=True), int(p["late"]), e.actor,
         e.occurred_at, e.position),
    )  # fmt: skip
    if p["kind"] == "final":
        db.execute(
            "UPDATE project SET state = 'final_submitted', updated_at = ?, position = ? "
            "WHERE id = ? AND state IN (?, ?, ?)",
            (e.occurred_at, e.position, pid, *MOVES_TO_SUBMITTED),
        )
