"""Scoring and certification: rubric versions, rounds, panels, conflicts, scores, round
results, proposals, the 公示 with its objections, and final outcomes.

Registered right after `projects`: the project row's state is moved here by explicit events
on the project stream (ProjectScored, ProjectPublicized, OutcomeFinalised,
CertificationRevoked), the same way `evidence` moves it to `cultivating`.
"""

from __future__ import annotations

from .. import db
from ..events import canonical_json
from . import Projection, register

scoring = register(
    Projection(
        "scoring",
        {
            "rubric_version": """CREATE TABLE IF NOT EXISTS rubric_version (
                campaign TEXT NOT NULL,
                version INTEGER NOT NULL,
                rubric TEXT NOT NULL,
                reason TEXT NOT NULL,
                source TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (campaign, version))""",
            "scoring_round": """CREATE TABLE IF NOT EXISTS scoring_round (
                campaign TEXT NOT NULL,
                round TEXT NOT NULL,
                state TEXT NOT NULL,
                late INTEGER NOT NULL,
                note TEXT NOT NULL,
                opened_at TEXT NOT NULL,
                closed_at TEXT,
                position BIGINT NOT NULL,
                PRIMARY KEY (campaign, round))""",
            "panel_assignment": """CREATE TABLE IF NOT EXISTS panel_assignment (
                campaign TEXT NOT NULL,
                round TEXT NOT NULL,
                project TEXT NOT NULL,
                reviewer TEXT NOT NULL,
                source TEXT NOT NULL,
                active INTEGER NOT NULL,
                note TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (round, project, reviewer))""",
            "panel_conflict": """CREATE TABLE IF NOT EXISTS panel_conflict (
                campaign TEXT NOT NULL,
                project TEXT NOT NULL,
                reviewer TEXT NOT NULL,
                reason TEXT NOT NULL,
                declared_by TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (project, reviewer))""",
            "score": """CREATE TABLE IF NOT EXISTS score (
                campaign TEXT NOT NULL,
                project TEXT NOT NULL,
                round TEXT NOT NULL,
                reviewer TEXT NOT NULL,
                revision INTEGER NOT NULL,
                rubric_version INTEGER NOT NULL,
                inputs TEXT NOT NULL,
                comments TEXT NOT NULL,
                total TEXT NOT NULL,
                base TEXT NOT NULL,
                bonus TEXT NOT NULL,
                failed INTEGER NOT NULL,
                vetoed TEXT NOT NULL,
                editions INTEGER NOT NULL,
                first_at TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (project, round, reviewer))""",
            "score_edition": """CREATE TABLE IF NOT EXISTS score_edition (
                position BIGINT PRIMARY KEY,
                project TEXT NOT NULL,
                round TEXT NOT NULL,
                reviewer TEXT NOT NULL,
                edition INTEGER NOT NULL,
                total TEXT NOT NULL,
                rubric_version INTEGER NOT NULL,
                revision INTEGER NOT NULL,
                at TEXT NOT NULL)""",
            "round_result": """CREATE TABLE IF NOT EXISTS round_result (
                project TEXT NOT NULL,
                round TEXT NOT NULL,
                score TEXT,
                reviewers INTEGER NOT NULL,
                grade TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (project, round))""",
            "cert_proposal": """CREATE TABLE IF NOT EXISTS cert_proposal (
                project TEXT PRIMARY KEY,
                campaign TEXT NOT NULL,
                category TEXT NOT NULL,
                outcome TEXT NOT NULL,
                score TEXT,
                rank INTEGER,
                note TEXT NOT NULL,
                publicity INTEGER,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                position BIGINT NOT NULL)""",
            "publicity": """CREATE TABLE IF NOT EXISTS publicity (
                campaign TEXT NOT NULL,
                number INTEGER NOT NULL,
                starts TEXT NOT NULL,
                ends TEXT NOT NULL,
                state TEXT NOT NULL,
                projects TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL,
                concluded_at TEXT,
                position BIGINT NOT NULL,
                PRIMARY KEY (campaign, number))""",
            "objection": """CREATE TABLE IF NOT EXISTS objection (
                id TEXT PRIMARY KEY,
                campaign TEXT NOT NULL,
                publicity INTEGER NOT NULL,
                project TEXT,
                text TEXT NOT NULL,
                on_behalf_of TEXT NOT NULL,
                lodged_by TEXT NOT NULL,
                lodged_at TEXT NOT NULL,
                verification TEXT,
                answer TEXT,
                upheld INTEGER,
                answered_by TEXT,
                answered_at TEXT,
                position BIGINT NOT NULL)""",
            "cert_outcome": """CREATE TABLE IF NOT EXISTS cert_outcome (
                project TEXT PRIMARY KEY,
                campaign TEXT NOT NULL,
                category TEXT NOT NULL,
                outcome TEXT NOT NULL,
                publicity INTEGER NOT NULL,
                at TEXT NOT NULL,
                revoked_reason TEXT,
                revoked_at TEXT,
                position BIGINT NOT NULL)""",
        },
        indexes=[
            "CREATE INDEX IF NOT EXISTS panel_assignment_reviewer "
            "ON panel_assignment (reviewer, active)",
            "CREATE INDEX IF NOT EXISTS panel_assignment_campaign ON panel_assignment (campaign, round)",
            "CREATE INDEX IF NOT EXISTS score_campaign ON score (campaign, round)",
            "CREATE INDEX IF NOT EXISTS objection_campaign ON objection (campaign, publicity)",
        ],
    )
)


def _tail(event) -> str:
    return event.stream.split(":", 1)[1]


def _project_campaign(pid: str) -> tuple[str, str]:
    row = db.fetchone("SELECT campaign, category FROM project WHERE id = ?", (pid,))
    return (row[0], row[1]) if row else ("", "")


def _move(pid: str, state: str, e) -> None:
    db.execute(
        "UPDATE project SET state = ?, updated_at = ?, position = ? WHERE id = ?",
        (state, e.occurred_at, e.position, pid),
    )


# --- Rubric --------------------------------------------------------------------------------


@scoring.on("CampaignCreated")
def rubric_created(e):
    config = e.payload["config"]
    rubric = config.get("rubric")
    if not rubric:
        return
    db.execute(
        "INSERT INTO rubric_version (campaign, version, rubric, reason, source, actor, at, "
        "position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (e.payload["slug"], int(rubric.get("version", 1)), canonical_json(rubric),
         "创建活动时的默认评分细则", "template", e.actor, e.occurred_at, e.position),
    )  # fmt: skip


@scoring.on("RubricChanged")
def rubric_changed(e):
    p = e.payload
    db.execute(
        "INSERT INTO rubric_version (campaign, version, rubric, reason, source, actor, at, "
        "position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (_tail(e), p["version"], canonical_json(p["rubric"]), p["reason"], p["source"],
         e.actor, e.occurred_at, e.position),
    )  # fmt: skip


# --- Rounds, panels, conflicts -------------------------------------------------------------


@scoring.on("ScoringRoundOpened")
def round_opened(e):
    p, slug = e.payload, _tail(e)
    db.execute("DELETE FROM scoring_round WHERE campaign = ? AND round = ?", (slug, p["round"]))
    db.execute(
        "INSERT INTO scoring_round (campaign, round, state, late, note, opened_at, closed_at, "
        "position) VALUES (?, ?, 'open', ?, ?, ?, NULL, ?)",
        (slug, p["round"], int(p["late"]), p["note"], e.occurred_at, e.position),
    )


@scoring.on("ScoringRoundClosed")
def round_closed(e):
    db.execute(
        "UPDATE scoring_round SET state = 'closed', closed_at = ?, position = ? "
        "WHERE campaign = ? AND round = ?",
        (e.occurred_at, e.position, _tail(e), e.payload["round"]),
    )


@scoring.on("ReviewerAssigned")
def assigned(e):
    p = e.payload
    db.execute(
        "DELETE FROM panel_assignment WHERE round = ? AND project = ? AND reviewer = ?",
        (p["round"], p["project"], p["reviewer"]),
    )
    db.execute(
        "INSERT INTO panel_assignment (campaign, round, project, reviewer, source, active, note, "
        "at, position) VALUES (?, ?, ?, ?, ?, 1, '', ?, ?)",
        (_tail(e), p["round"], p["project"], p["reviewer"], p["source"], e.occurred_at,
         e.position),
    )  # fmt: skip


@scoring.on("ReviewerUnassigned")
def unassigned(e):
    p = e.payload
    db.execute(
        "UPDATE panel_assignment SET active = 0, note = ?, at = ?, position = ? "
        "WHERE round = ? AND project = ? AND reviewer = ?",
        (p["reason"], e.occurred_at, e.position, p["round"], p["project"], p["reviewer"]),
    )


@scoring.on("ConflictDeclared")
def conflict(e):
    p = e.payload
    db.execute(
        "INSERT INTO panel_conflict (campaign, project, reviewer, reason, declared_by, at, "
        "position) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (_tail(e), p["project"], p["reviewer"], p["reason"], e.actor, e.occurred_at, e.position),
    )
    # A declared conflict takes the reviewer off the project in every round.
    db.execute(
        "UPDATE panel_assignment SET active = 0, note = ?, at = ?, position = ? "
        "WHERE project = ? AND reviewer = ? AND active = 1",
        ("回避：" + p["reason"], e.occurred_at, e.position, p["project"], p["reviewer"]),
    )


# --- Scores --------------------------------------------------------------------------------


@scoring.on("ScoreSubmitted")
def score_submitted(e):
    p = e.payload
    campaign, _category = _project_campaign(p["project"])
    key = (p["project"], p["round"], p["reviewer"])
    row = db.fetchone(
        "SELECT editions, first_at FROM score WHERE project = ? AND round = ? AND reviewer = ?",
        key,
    )
    editions, first_at = (row[0] + 1, row[1]) if row else (1, e.occurred_at)
    db.execute("DELETE FROM score WHERE project = ? AND round = ? AND reviewer = ?", key)
    db.execute(
        "INSERT INTO score (campaign, project, round, reviewer, revision, rubric_version, inputs, "
        "comments, total, base, bonus, failed, vetoed, editions, first_at, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (campaign, *key, p["revision"], p["rubric_version"], canonical_json(p["inputs"]),
         canonical_json(p["comments"]), p["total"], p["base"], p["bonus"], int(p["failed"]),
         canonical_json(p["vetoed"]), editions, first_at, e.occurred_at, e.position),
    )  # fmt: skip
    db.execute(
        "INSERT INTO score_edition (position, project, round, reviewer, edition, total, "
        "rubric_version, revision, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.position, *key, editions, p["total"], p["rubric_version"], p["revision"],
         e.occurred_at),
    )  # fmt: skip


ROUND_STATES = {"midterm": "midterm_scored", "final": "final_scored"}


@scoring.on("ProjectScored")
def project_scored(e):
    p, pid = e.payload, _tail(e)
    db.execute("DELETE FROM round_result WHERE project = ? AND round = ?", (pid, p["round"]))
    db.execute(
        "INSERT INTO round_result (project, round, score, reviewers, grade, at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (pid, p["round"], p["score"], p["reviewers"], p["grade"], e.occurred_at, e.position),
    )
    _move(pid, ROUND_STATES[p["round"]], e)


# --- Certification -------------------------------------------------------------------------


@scoring.on("OutcomeProposed")
def proposed(e):
    p = e.payload
    campaign, category = _project_campaign(p["project"])
    # A proposal lowered during its 公示 stays under that 公示.
    row = db.fetchone("SELECT publicity FROM cert_proposal WHERE project = ?", (p["project"],))
    db.execute("DELETE FROM cert_proposal WHERE project = ?", (p["project"],))
    db.execute(
        "INSERT INTO cert_proposal (project, campaign, category, outcome, score, rank, note, "
        "publicity, actor, at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p["project"], campaign, category, p["outcome"], p["score"], p["rank"], p["note"],
         row[0] if row else None, e.actor, e.occurred_at, e.position),
    )  # fmt: skip


@scoring.on("ProposalWithdrawn")
def withdrawn(e):
    db.execute("DELETE FROM cert_proposal WHERE project = ?", (e.payload["project"],))


@scoring.on("PublicityStarted")
def publicity_started(e):
    p, slug = e.payload, _tail(e)
    db.execute(
        "INSERT INTO publicity (campaign, number, starts, ends, state, projects, actor, at, "
        "concluded_at, position) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, NULL, ?)",
        (slug, p["publicity"], p["starts"], p["ends"], canonical_json(p["projects"]), e.actor,
         e.occurred_at, e.position),
    )  # fmt: skip
    for pid in p["projects"]:
        db.execute(
            "UPDATE cert_proposal SET publicity = ?, position = ? WHERE project = ?",
            (p["publicity"], e.position, pid),
        )


@scoring.on("ProjectPublicized")
def publicized(e):
    _move(_tail(e), "proposed", e)


@scoring.on("ObjectionLodged")
def objection_lodged(e):
    p = e.payload
    db.execute(
        "INSERT INTO objection (id, campaign, publicity, project, text, on_behalf_of, lodged_by, "
        "lodged_at, verification, answer, upheld, answered_by, answered_at, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?)",
        (p["objection_id"], _tail(e), p["publicity"], p["project"], p["text"],
         p["on_behalf_of"], e.actor, e.occurred_at, e.position),
    )  # fmt: skip


@scoring.on("ObjectionAnswered")
def objection_answered(e):
    p = e.payload
    db.execute(
        "UPDATE objection SET verification = ?, answer = ?, upheld = ?, answered_by = ?, "
        "answered_at = ?, position = ? WHERE id = ?",
        (p["verification"], p["answer"], int(p["upheld"]), e.actor, e.occurred_at, e.position,
         p["objection_id"]),
    )  # fmt: skip


@scoring.on("PublicityConcluded")
def publicity_concluded(e):
    p, slug = e.payload, _tail(e)
    db.execute(
        "UPDATE publicity SET state = 'concluded', concluded_at = ?, position = ? "
        "WHERE campaign = ? AND number = ?",
        (e.occurred_at, e.position, slug, p["publicity"]),
    )
    for pid in p["outcomes"]:
        db.execute("DELETE FROM cert_proposal WHERE project = ?", (pid,))


OUTCOME_STATES = {"excellent": "certified", "passed": "passed", "not_passed": "not_passed"}


@scoring.on("OutcomeFinalised")
def finalised(e):
    p, pid = e.payload, _tail(e)
    campaign, category = _project_campaign(pid)
    db.execute("DELETE FROM cert_outcome WHERE project = ?", (pid,))
    db.execute(
        "INSERT INTO cert_outcome (project, campaign, category, outcome, publicity, at, "
        "revoked_reason, revoked_at, position) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
        (pid, campaign, category, p["outcome"], p["publicity"], e.occurred_at, e.position),
    )
    _move(pid, OUTCOME_STATES[p["outcome"]], e)


@scoring.on("CertificationRevoked")
def revoked(e):
    p, pid = e.payload, _tail(e)
    db.execute(
        "UPDATE cert_outcome SET outcome = ?, revoked_reason = ?, revoked_at = ?, position = ? "
        "WHERE project = ?",
        (p["outcome"], p["reason"], e.occurred_at, e.position, pid),
    )
    _move(pid, OUTCOME_STATES[p["outcome"]], e)
