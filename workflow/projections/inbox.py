"""The inbox: events turned into notifications, one row per (event, recipient).

Deterministic: the id of a notification is its event's position and its recipient; recipients
come from the event's payload and the tables of the projections registered before this one
(accounts, orgs, campaigns, projects), read as they stood when the event was applied, so a
rebuild gives the same rows. Whether a user has read a row lives outside the log (the
`inbox_read*` side tables, see workflow/inbox.py).

Who hears what:
- a submission: the secretaries (approver) of the unit whose opinion comes next, or the
  organizers when no opinion is pending; other applicants of the unit are told;
- a unit opinion: the applicants (an action when it was returned), and the next secretary or
  the organizers;
- a review decision: the unit's applicants (an action when returned) and its secretaries;
- a comment: for visibility "unit" the unit's applicants and secretaries and the organizers;
  for "internal" only organizers and reviewers, never a member of the unit; plus everyone
  mentioned who may read it, and the author of the comment replied to; never the author;
- a reminder: the unit's applicants and secretaries;
- a deferral request: the organizers (an action until answered); the answer: the unit's
  applicants and secretaries;
- reviewer assignments: the reviewer, one row per batch (assignments written together) with
  the count of projects;
- a final outcome or a revocation: the unit's applicants and secretaries (never a proposal:
  results reach the units only when final).

An "action" row stays open until an event settles what it asked for (the opinion is recorded,
the project is resubmitted or decided, a newer reminder replaces an older one).
"""

from __future__ import annotations

import json

from .. import db
from ..events import canonical_json
from ..i18n import later, render
from . import Projection, register

inbox = register(
    Projection(
        "inbox",
        {
            "notification": """CREATE TABLE IF NOT EXISTS notification (
                position BIGINT NOT NULL,
                recipient TEXT NOT NULL,
                kind TEXT NOT NULL,
                event_type TEXT NOT NULL,
                campaign TEXT,
                project TEXT,
                topic TEXT NOT NULL,
                text TEXT NOT NULL,
                message TEXT NOT NULL DEFAULT '',
                link TEXT NOT NULL,
                at TEXT NOT NULL,
                done_position BIGINT,
                PRIMARY KEY (position, recipient))""",
            # What the inbox needs to know about comments: author, audience, mentions.
            "inbox_comment": """CREATE TABLE IF NOT EXISTS inbox_comment (
                comment_id TEXT PRIMARY KEY,
                project TEXT NOT NULL,
                author TEXT NOT NULL,
                visibility TEXT NOT NULL,
                mentions TEXT NOT NULL,
                position BIGINT NOT NULL)""",
            "reminder_sent": """CREATE TABLE IF NOT EXISTS reminder_sent (
                position BIGINT PRIMARY KEY,
                campaign TEXT NOT NULL,
                unit TEXT NOT NULL,
                stage TEXT NOT NULL,
                kind TEXT NOT NULL,
                due TEXT NOT NULL,
                note TEXT NOT NULL,
                actor TEXT NOT NULL,
                at TEXT NOT NULL)""",
        },
        added_columns={"notification": [("message", "TEXT NOT NULL DEFAULT ''")]},
        indexes=[
            "CREATE INDEX IF NOT EXISTS notification_recipient ON notification (recipient, position)",
            "CREATE INDEX IF NOT EXISTS notification_topic ON notification (topic)",
            "CREATE INDEX IF NOT EXISTS inbox_comment_project ON inbox_comment (project)",
            "CREATE INDEX IF NOT EXISTS reminder_sent_unit ON reminder_sent (campaign, unit, stage)",
        ],
    )
)

ACTION, INFO = "action", "info"
# Texts are stored as `later` messages (translated when a reader sees them) and, rendered in
# Chinese, as the row's text (what e-mails carry).
LEVEL_NAMES = {"branch": later("党支部意见"), "general_branch": later("党总支意见")}
UNIT_OPINION = later("单位意见")
EXCERPT = 80


# --- Reading the earlier projections ---------------------------------------------------------


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(username: str) -> str:
    row = db.fetchone("SELECT display_name FROM user_account WHERE username = ?", (username,))
    if row:
        return row[0]
    return later("系统") if username == "system" else username


def _members(unit: str | None, *roles: str) -> list[str]:
    """Active accounts of `unit` holding one of `roles`."""
    if not unit:
        return []
    rows = db.fetchall(
        "SELECT username, roles FROM user_account WHERE active = 1 AND unit = ? ORDER BY username",
        (unit,),
    )
    return [u for u, r in rows if set(r.split(",")) & set(roles)]


def _organizers(committee: str) -> list[str]:
    """Organizers of the whole college (no unit) or of a unit in this committee's tree."""
    rows = db.fetchall(
        "SELECT a.username, a.roles, a.unit, u.root FROM user_account a "
        "LEFT JOIN org_unit u ON u.code = a.unit WHERE a.active = 1 AND a.roles LIKE ? "
        "ORDER BY a.username",
        ("%organizer%",),
    )
    return [
        u
        for u, r, unit, root in rows
        if "organizer" in r.split(",") and (unit is None or root == committee)
    ]


def _account(username: str):
    """(roles, unit, active) of an account, or None."""
    row = db.fetchone(
        "SELECT roles, unit, active FROM user_account WHERE username = ?", (username,)
    )
    return (set(row[0].split(",")), row[1], bool(row[2])) if row else None


def _unit(code: str):
    """(name, level, parent, root) of an org unit, or None."""
    return db.fetchone("SELECT name, level, parent, root FROM org_unit WHERE code = ?", (code,))


def _project(pid: str) -> dict | None:
    row = db.fetchone(
        "SELECT p.campaign, p.unit, p.brand_name, p.pending_approvals, p.revision, c.committee, "
        "c.config FROM project p LEFT JOIN campaign c ON c.slug = p.campaign WHERE p.id = ?",
        (pid,),
    )
    if row is None:
        return None
    campaign, unit, brand, pending, revision, committee, config = row
    unit_row = _unit(unit)
    return {
        "id": pid,
        "campaign": campaign,
        "unit": unit,
        "unit_name": unit_row[0] if unit_row else unit,
        "parent": unit_row[2] if unit_row else None,
        "brand": brand or later("（未命名）"),
        "pending": json.loads(pending),
        "revision": revision,
        "committee": committee or (unit_row[3] if unit_row else ""),
        "chain": json.loads(config).get("approval_chain", []) if config else [],
    }


def _signing_units(project: dict) -> list[str]:
    """The project's unit and, where the campaign asks for it, its general branch."""
    units = [project["unit"]]
    if "general_branch" in project["chain"] and project["parent"]:
        parent = _unit(project["parent"])
        if parent and parent[1] == "general_branch":
            units.append(project["parent"])
    return units


def _unit_people(units: list[str]) -> tuple[list[str], list[str]]:
    """(applicants, approvers) of these units."""
    applicants, approvers = [], []
    for unit in units:
        applicants += _members(unit, "applicant")
        approvers += _members(unit, "approver")
    return applicants, approvers


# --- Writing ---------------------------------------------------------------------------------


def _notify(e, recipients, kind, message, link, *, project=None, campaign=None, topic=None):
    """One row per recipient (the event's actor excluded, duplicates dropped)."""
    text, stored = render(message, translate=False), canonical_json(message)
    seen = set()
    for username in recipients:
        if not username or username == e.actor or username in seen:
            continue
        seen.add(username)
        db.execute(
            "INSERT INTO notification (position, recipient, kind, event_type, campaign, project, "
            "topic, text, message, link, at, done_position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
            "ON CONFLICT (position, recipient) DO NOTHING",
            (e.position, username, kind, e.type, campaign, project, topic or project or "",
             text, stored, link, e.occurred_at),
        )  # fmt: skip


def _settle(topic: str, position: int) -> None:
    """Close the open action rows of a topic: what they asked for has happened."""
    db.execute(
        "UPDATE notification SET done_position = ? "
        "WHERE topic = ? AND kind = 'action' AND done_position IS NULL",
        (position, topic),
    )


def project_link(pid: str, anchor: str = "") -> str:
    return f"/projects/{pid}" + (f"#{anchor}" if anchor else "")


def reminder_topic(campaign: str, unit: str, stage: str) -> str:
    return f"reminder:{campaign}:{unit}:{stage}"


def _project_of(e) -> dict | None:
    return _project(e.stream.split(":", 1)[1])


# --- Project events --------------------------------------------------------------------------


@inbox.on("ApplicationSubmitted")
def submitted(e):
    p = e.payload
    project = _project_of(e)
    if project is None:
        return
    pid, brand, unit_name = project["id"], project["brand"], project["unit_name"]
    _settle(pid, e.position)
    _settle(reminder_topic(p["campaign"], p["unit"], "apply"), e.position)
    again = later("（修改后重新提交，第 %(n)s 版）", n=p["revision"]) if p["revision"] > 1 else ""
    link, common = project_link(pid), {"project": pid, "campaign": p["campaign"]}
    if p["approvals"]:
        step = p["approvals"][0]
        _notify(e, _members(step["unit"], "approver"), ACTION,
                later("%(unit)s「%(brand)s」已提交申报%(again)s，请填写%(level)s。", unit=unit_name,
                      brand=brand, again=again, level=LEVEL_NAMES.get(step["level"], UNIT_OPINION)),
                link, **common)  # fmt: skip
    else:
        _notify(e, _organizers(project["committee"]), ACTION,
                later("%(unit)s「%(brand)s」已提交申报%(again)s，请审核。", unit=unit_name, brand=brand,
                      again=again), link, **common)  # fmt: skip
    _notify(e, _members(p["unit"], "applicant"), INFO,
            later("%(who)s 提交了「%(brand)s」的申报%(again)s。", who=_who(e.actor), brand=brand,
                  again=again), link, **common)  # fmt: skip


@inbox.on("UnitOpinionRecorded")
def opinion(e):
    p = e.payload
    project = _project_of(e)
    if project is None:
        return
    pid, brand, unit_name = project["id"], project["brand"], project["unit_name"]
    _settle(pid, e.position)
    level = LEVEL_NAMES.get(p["level"], UNIT_OPINION)
    link, common = project_link(pid), {"project": pid, "campaign": project["campaign"]}
    applicants = _members(project["unit"], "applicant")
    who = _who(e.actor)
    if p["decision"] == "return":
        fields = {"who": who, "brand": brand, "level": level, "text": _excerpt(p["text"])}
        _notify(e, applicants, ACTION,
                later("%(who)s 将「%(brand)s」退回修改（%(level)s）：%(text)s 请修改后重新提交。", **fields),
                link, **common)  # fmt: skip
        if p["unit"] != project["unit"]:  # a general branch returned it: the branch hears too
            _notify(e, _members(project["unit"], "approver"), INFO,
                    later("%(who)s 将「%(brand)s」退回修改（%(level)s）：%(text)s", **fields), link,
                    **common)  # fmt: skip
        return
    _notify(e, applicants, INFO,
            later("%(who)s 已填写%(level)s：同意上报「%(brand)s」。", who=who, level=level, brand=brand),
            link, **common)  # fmt: skip
    if project["pending"]:
        step = project["pending"][0]
        _notify(e, _members(step["unit"], "approver"), ACTION,
                later("%(unit)s「%(brand)s」的%(level)s已同意，请填写%(next)s。", unit=unit_name,
                      brand=brand, level=level, next=LEVEL_NAMES.get(step["level"], UNIT_OPINION)),
                link, **common)  # fmt: skip
    else:
        _notify(e, _organizers(project["committee"]), ACTION,
                later("%(unit)s「%(brand)s」单位意见已齐全，请审核。", unit=unit_name, brand=brand),
                link, **common)  # fmt: skip


@inbox.on("ReviewReturned", "ProjectApproved", "ProjectRejected")
def reviewed(e):
    project = _project_of(e)
    if project is None:
        return
    pid, brand = project["id"], project["brand"]
    _settle(pid, e.position)
    applicants, approvers = _unit_people(_signing_units(project))
    link, common = project_link(pid), {"project": pid, "campaign": project["campaign"]}
    who = _who(e.actor)
    if e.type == "ReviewReturned":
        fields = {"who": who, "brand": brand, "reason": _excerpt(e.payload["reason"])}
        _notify(e, applicants, ACTION,
                later("%(who)s 将「%(brand)s」退回修改：%(reason)s 请修改后重新提交。", **fields), link,
                **common)  # fmt: skip
        _notify(e, approvers, INFO, later("%(who)s 将「%(brand)s」退回修改：%(reason)s", **fields),
                link, **common)  # fmt: skip
        return
    if e.type == "ProjectApproved":
        note = _excerpt(e.payload["note"])
        if note:
            message = later("「%(brand)s」已审核通过，正式立项：%(note)s", brand=brand, note=note)
        else:
            message = later("「%(brand)s」已审核通过，正式立项。", brand=brand)
    else:
        message = later("「%(brand)s」未获立项：%(reason)s", brand=brand,
                        reason=_excerpt(e.payload["reason"]))  # fmt: skip
    _notify(e, applicants + approvers, INFO, message, link, **common)


# --- Comments --------------------------------------------------------------------------------


def _may_read(username: str, project: dict, visibility: str) -> bool:
    """May this user read a comment of this visibility on this project?

    Internal comments: organizers and reviewers only, and never a member of the project's unit
    or of the general branch above it, whatever else they are.
    """
    account = _account(username)
    if account is None or not account[2]:
        return False
    roles, unit, _active = account
    unit_side = unit is not None and unit in {project["unit"], project["parent"]}
    if visibility != "unit":
        return bool(roles & {"organizer", "reviewer"}) and not unit_side
    if roles & {"organizer", "reviewer", "auditor"}:
        return True
    if "applicant" in roles:
        return unit == project["unit"]
    return "approver" in roles and unit_side


def _comment_kind(visibility: str) -> dict:
    return later("评论") if visibility == "unit" else later("内部评论")


def _comment(comment_id: str):
    row = db.fetchone(
        "SELECT project, author, visibility, mentions FROM inbox_comment WHERE comment_id = ?",
        (comment_id,),
    )
    return (row[0], row[1], row[2], json.loads(row[3])) if row else None


@inbox.on("CommentPosted")
def comment_posted(e):
    p = e.payload
    project = _project(p["project"])
    db.execute(
        "INSERT INTO inbox_comment (comment_id, project, author, visibility, mentions, position) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (comment_id) DO NOTHING",
        (p["comment_id"], p["project"], e.actor, p["visibility"],
         canonical_json(sorted(set(p["mentions"]))), e.position),
    )  # fmt: skip
    if project is None:
        return
    internal = p["visibility"] != "unit"
    brand, who, body = project["brand"], _who(e.actor), _excerpt(p["body"])
    link = project_link(project["id"], f"comment-{p['comment_id']}")
    common = {"project": project["id"], "campaign": project["campaign"]}
    rows: dict[str, dict] = {}  # recipient -> message: the most specific reason wins
    audience = _organizers(project["committee"])
    # Reviewers and organizers who already wrote in this project's threads follow them.
    audience += [
        a for (a,) in db.fetchall(
            "SELECT DISTINCT author FROM inbox_comment WHERE project = ? AND visibility = ? "
            "ORDER BY author", (project["id"], p["visibility"]))
    ]  # fmt: skip
    if not internal:
        audience += [u for units in _unit_people([project["unit"]]) for u in units]
    fields = {"who": who, "brand": brand, "kind": _comment_kind(p["visibility"]), "body": body}
    for username in audience:
        rows.setdefault(
            username, later("%(who)s 在「%(brand)s」发表了%(kind)s：%(body)s", **fields)
        )
    parent = _comment(p["parent_id"]) if p["parent_id"] else None
    if parent:
        rows[parent[1]] = later("%(who)s 回复了您在「%(brand)s」的%(kind)s：%(body)s", **fields)
    for username in p["mentions"]:
        if isinstance(username, str):
            rows[username] = later(
                "%(who)s 在「%(brand)s」的%(kind)s中提到了您：%(body)s", **fields
            )
    for username in sorted(rows):
        if username != e.actor and _may_read(username, project, p["visibility"]):
            _notify(e, [username], INFO, rows[username], link, **common)


@inbox.on("CommentEdited")
def comment_edited(e):
    """Only people newly mentioned by the edit are told."""
    p = e.payload
    found = _comment(p["comment_id"])
    if found is None:
        return
    pid, _author, visibility, before = found
    mentions = sorted({m for m in p["mentions"] if isinstance(m, str)})
    db.execute(
        "UPDATE inbox_comment SET mentions = ? WHERE comment_id = ?",
        (canonical_json(sorted(set(before) | set(mentions))), p["comment_id"]),
    )
    project = _project(pid)
    if project is None:
        return
    message = later("%(who)s 在「%(brand)s」的%(kind)s中提到了您：%(body)s", who=_who(e.actor),
                    brand=project["brand"], kind=_comment_kind(visibility),
                    body=_excerpt(p["body"]))  # fmt: skip
    link = project_link(pid, f"comment-{p['comment_id']}")
    for username in mentions:
        if username not in before and _may_read(username, project, visibility):
            _notify(e, [username], INFO, message, link, project=pid, campaign=project["campaign"])


@inbox.on("CommentResolved", "CommentReopened")
def comment_resolved(e):
    """The comment's author hears that it was resolved or reopened by someone else."""
    found = _comment(e.payload["comment_id"])
    if found is None:
        return
    pid, author, visibility, _mentions = found
    project = _project(pid)
    if project is None or not _may_read(author, project, visibility):
        return
    if e.type == "CommentResolved":
        message = later("%(who)s 将您在「%(brand)s」的评论标记为已解决。", who=_who(e.actor),
                        brand=project["brand"])  # fmt: skip
    else:
        message = later("%(who)s 将您在「%(brand)s」的评论重新打开。", who=_who(e.actor),
                        brand=project["brand"])  # fmt: skip
    _notify(e, [author], INFO, message,
            project_link(pid, f"comment-{e.payload['comment_id']}"), project=pid,
            campaign=project["campaign"])  # fmt: skip


# --- Reminders -------------------------------------------------------------------------------


@inbox.on("ReminderSent")
def reminded(e):
    p, campaign = e.payload, e.stream.split(":", 1)[1]
    db.execute(
        "INSERT INTO reminder_sent (position, campaign, unit, stage, kind, due, note, actor, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.position, campaign, p["unit"], p["stage"], p["kind"], p["due"], p["note"], e.actor,
         e.occurred_at),
    )  # fmt: skip
    topic = reminder_topic(campaign, p["unit"], p["stage"])
    _settle(topic, e.position)  # the newest reminder replaces the older ones
    applicants, approvers = _unit_people([p["unit"]])
    if p["kind"] == "overdue":
        message = later("逾期提醒：%(note)s", note=p["note"])
    else:
        message = later("截止提醒：%(note)s", note=p["note"])
    _notify(e, applicants + approvers, ACTION, message, "/",
            campaign=campaign, topic=topic)  # fmt: skip


# --- Deferrals, panels and results -----------------------------------------------------------

OUTCOME_NAMES = {
    "excellent": later("优秀（认定为党建品牌）"),
    "passed": later("验收通过"),
    "not_passed": later("验收未通过"),
}


def deferral_topic(pid: str, request_id: str) -> str:
    return f"deferral:{pid}:{request_id}"


@inbox.on("DeferralRequested")
def deferral_requested(e):
    """The unit asks for more time: the organizers decide (an action until decided)."""
    project = _project_of(e)
    if project is None:
        return
    p = e.payload
    _notify(e, _organizers(project["committee"]), ACTION,
            later("%(unit)s「%(brand)s」申请延期至 %(due)s（%(stage)s 阶段）：%(reason)s 请批复。",
                  unit=project["unit_name"], brand=project["brand"], due=p["due"],
                  stage=p["stage"], reason=_excerpt(p["reason"])),
            project_link(project["id"], "deferrals"), project=project["id"],
            campaign=project["campaign"], topic=deferral_topic(project["id"], p["request_id"]))  # fmt: skip


@inbox.on("DeferralGranted", "DeferralRefused")
def deferral_decided(e):
    """The organizer's answer reaches the unit's applicants and secretaries."""
    project = _project_of(e)
    if project is None:
        return
    p = e.payload
    _settle(deferral_topic(project["id"], p["request_id"]), e.position)
    who, brand = _who(e.actor), project["brand"]
    if e.type == "DeferralGranted":
        message = later("%(who)s 批准了「%(brand)s」的延期申请，新的截止时间为 %(due)s：%(note)s",
                        who=who, brand=brand, due=p["due"], note=_excerpt(p["note"]))  # fmt: skip
    else:
        message = later("%(who)s 不予批准「%(brand)s」的延期申请：%(reason)s", who=who, brand=brand,
                        reason=_excerpt(p["reason"]))  # fmt: skip
    applicants, approvers = _unit_people([project["unit"]])
    _notify(e, applicants + approvers, INFO, message, project_link(project["id"], "deferrals"),
            project=project["id"], campaign=project["campaign"])  # fmt: skip


@inbox.on("ReviewerAssigned")
def reviewer_assigned(e):
    """One row per reviewer per batch: assignments written together (same time, same round)
    update the count of one notification instead of adding a row per project."""
    p = e.payload
    campaign = e.stream.split(":", 1)[1]
    reviewer = p["reviewer"]
    if not reviewer or reviewer == e.actor:
        return
    topic = f"assigned:{campaign}:{p['round']}:{reviewer}"
    round_name = later("中期评估") if p["round"] == "midterm" else later("评估认定")
    row = db.fetchone(
        "SELECT position, message FROM notification WHERE recipient = ? AND topic = ? AND at = ?",
        (reviewer, topic, e.occurred_at),
    )
    count = json.loads(row[1])["params"]["n"] + 1 if row else 1
    message = later(
        "您被分配评审 %(n)s 个项目（%(round)s），请按时评分。", n=count, round=round_name
    )
    if row is None:
        _notify(e, [reviewer], ACTION, message, "/scoring", campaign=campaign, topic=topic)
        return
    db.execute(
        "UPDATE notification SET text = ?, message = ? WHERE position = ? AND recipient = ?",
        (render(message, translate=False), canonical_json(message), row[0], reviewer),
    )


@inbox.on("OutcomeFinalised", "CertificationRevoked")
def outcome(e):
    """Units hear their result only when it is final (never of a proposal), and of a revocation."""
    project = _project_of(e)
    if project is None:
        return
    p = e.payload
    outcome_name = OUTCOME_NAMES.get(p["outcome"], p["outcome"])
    if e.type == "OutcomeFinalised":
        message = later("「%(brand)s」评估认定结果：%(outcome)s。", brand=project["brand"],
                        outcome=outcome_name)  # fmt: skip
    else:
        message = later("%(who)s 撤销了「%(brand)s」的认定，结果改为%(outcome)s：%(reason)s",
                        who=_who(e.actor), brand=project["brand"], outcome=outcome_name,
                        reason=_excerpt(p["reason"]))  # fmt: skip
    applicants, approvers = _unit_people(_signing_units(project))
    _notify(e, applicants + approvers, INFO, message, project_link(project["id"]),
            project=project["id"], campaign=project["campaign"])  # fmt: skip
