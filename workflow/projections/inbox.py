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
        indexes=[
            "CREATE INDEX IF NOT EXISTS notification_recipient ON notification (recipient, position)",
            "CREATE INDEX IF NOT EXISTS notification_topic ON notification (topic)",
            "CREATE INDEX IF NOT EXISTS inbox_comment_project ON inbox_comment (project)",
            "CREATE INDEX IF NOT EXISTS reminder_sent_unit ON reminder_sent (campaign, unit, stage)",
        ],
    )
)

ACTION, INFO = "action", "info"
LEVEL_NAMES = {"branch": "党支部意见", "general_branch": "党总支意见"}
EXCERPT = 80


# --- Reading the earlier projections ---------------------------------------------------------


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(username: str) -> str:
    row = db.fetchone("SELECT display_name FROM user_account WHERE username = ?", (username,))
    if row:
        return row[0]
    return "系统" if username == "system" else username


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
        "brand": brand or "（未命名）",
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


def _notify(e, recipients, kind, text, link, *, project=None, campaign=None, topic=None):
    """One row per recipient (the event's actor excluded, duplicates dropped)."""
    seen = set()
    for username in recipients:
        if not username or username == e.actor or username in seen:
            continue
        seen.add(username)
        db.execute(
            "INSERT INTO notification (position, recipient, kind, event_type, campaign, project, "
            "topic, text, link, at, done_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
            "ON CONFLICT (position, recipient) DO NOTHING",
            (e.position, username, kind, e.type, campaign, project, topic or project or "",
             text, link, e.occurred_at),
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
    again = f"（修改后重新提交，第 {p['revision']} 版）" if p["revision"] > 1 else ""
    link, common = project_link(pid), {"project": pid, "campaign": p["campaign"]}
    if p["approvals"]:
        step = p["approvals"][0]
        _notify(e, _members(step["unit"], "approver"), ACTION,
                f"{unit_name}「{brand}」已提交申报{again}，请填写{LEVEL_NAMES.get(step['level'], '单位意见')}。",
                link, **common)  # fmt: skip
    else:
        _notify(e, _organizers(project["committee"]), ACTION,
                f"{unit_name}「{brand}」已提交申报{again}，请审核。", link, **common)  # fmt: skip
    _notify(e, _members(p["unit"], "applicant"), INFO,
            f"{_who(e.actor)} 提交了「{brand}」的申报{again}。", link, **common)  # fmt: skip


@inbox.on("UnitOpinionRecorded")
def opinion(e):
    p = e.payload
    project = _project_of(e)
    if project is None:
        return
    pid, brand, unit_name = project["id"], project["brand"], project["unit_name"]
    _settle(pid, e.position)
    level = LEVEL_NAMES.get(p["level"], "单位意见")
    link, common = project_link(pid), {"project": pid, "campaign": project["campaign"]}
    applicants = _members(project["unit"], "applicant")
    if p["decision"] == "return":
        text = f"{_who(e.actor)} 将「{brand}」退回修改（{level}）：{_excerpt(p['text'])}"
        _notify(e, applicants, ACTION, text + " 请修改后重新提交。", link, **common)
        if p["unit"] != project["unit"]:  # a general branch returned it: the branch hears too
            _notify(e, _members(project["unit"], "approver"), INFO, text, link, **common)
        return
    _notify(e, applicants, INFO, f"{_who(e.actor)} 已填写{level}：同意上报「{brand}」。", link,
            **common)  # fmt: skip
    if project["pending"]:
        step = project["pending"][0]
        _notify(e, _members(step["unit"], "approver"), ACTION,
                f"{unit_name}「{brand}」的{level}已同意，请填写{LEVEL_NAMES.get(step['level'], '单位意见')}。",
                link, **common)  # fmt: skip
    else:
        _notify(e, _organizers(project["committee"]), ACTION,
                f"{unit_name}「{brand}」单位意见已齐全，请审核。", link, **common)  # fmt: skip


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
        text = f"{who} 将「{brand}」退回修改：{_excerpt(e.payload['reason'])}"
        _notify(e, applicants, ACTION, text + " 请修改后重新提交。", link, **common)
        _notify(e, approvers, INFO, text, link, **common)
        return
    if e.type == "ProjectApproved":
        note = _excerpt(e.payload["note"])
        text = f"「{brand}」已审核通过，正式立项" + (f"：{note}" if note else "。")
    else:
        text = f"「{brand}」未获立项：{_excerpt(e.payload['reason'])}"
    _notify(e, applicants + approvers, INFO, text, link, **common)


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
    rows: dict[str, str] = {}  # recipient -> text: the most specific reason wins
    audience = _organizers(project["committee"])
    # Reviewers and organizers who already wrote in this project's threads follow them.
    audience += [
        a for (a,) in db.fetchall(
            "SELECT DISTINCT author FROM inbox_comment WHERE project = ? AND visibility = ? "
            "ORDER BY author", (project["id"], p["visibility"]))
    ]  # fmt: skip
    if not internal:
        audience += [u for units in _unit_people([project["unit"]]) for u in units]
    kind_text = "内部评论" if internal else "评论"
    for username in audience:
        rows.setdefault(username, f"{who} 在「{brand}」发表了{kind_text}：{body}")
    parent = _comment(p["parent_id"]) if p["parent_id"] else None
    if parent:
        rows[parent[1]] = f"{who} 回复了您在「{brand}」的{kind_text}：{body}"
    for username in p["mentions"]:
        if isinstance(username, str):
            rows[username] = f"{who} 在「{brand}」的{kind_text}中提到了您：{body}"
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
    kind_text = "内部评论" if visibility != "unit" else "评论"
    text = f"{_who(e.actor)} 在「{project['brand']}」的{kind_text}中提到了您：{_excerpt(p['body'])}"
    link = project_link(pid, f"comment-{p['comment_id']}")
    for username in mentions:
        if username not in before and _may_read(username, project, visibility):
            _notify(e, [username], INFO, text, link, project=pid, campaign=project["campaign"])


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
    verb = "标记为已解决" if e.type == "CommentResolved" else "重新打开"
    _notify(e, [author], INFO, f"{_who(e.actor)} 将您在「{project['brand']}」的评论{verb}。",
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
    label = "逾期提醒" if p["kind"] == "overdue" else "截止提醒"
    _notify(e, applicants + approvers, ACTION, f"{label}：{p['note']}", "/",
            campaign=campaign, topic=topic)  # fmt: skip


# --- Deferrals, panels and results -----------------------------------------------------------

OUTCOME_NAMES = {
    "excellent": "优秀（认定为党建品牌）",
    "passed": "验收通过",
    "not_passed": "验收未通过",
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
            f"{project['unit_name']}「{project['brand']}」申请延期至 {p['due']}（{p['stage']} 阶段）："
            f"{_excerpt(p['reason'])} 请批复。",
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
    if e.type == "DeferralGranted":
        text = f"{_who(e.actor)} 批准了「{project['brand']}」的延期申请，新的截止时间为 {p['due']}：{_excerpt(p['note'])}"
    else:
        text = f"{_who(e.actor)} 不予批准「{project['brand']}」的延期申请：{_excerpt(p['reason'])}"
    applicants, approvers = _unit_people([project["unit"]])
    _notify(e, applicants + approvers, INFO, text, project_link(project["id"], "deferrals"),
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
    round_name = "中期评估" if p["round"] == "midterm" else "评估认定"
    row = db.fetchone(
        "SELECT position, text FROM notification WHERE recipient = ? AND topic = ? AND at = ?",
        (reviewer, topic, e.occurred_at),
    )
    link = "/scoring"
    if row is None:
        _notify(e, [reviewer], ACTION, f"您被分配评审 1 个项目（{round_name}），请按时评分。", link,
                campaign=campaign, topic=topic)  # fmt: skip
        return
    count = int(row[1].split("评审 ", 1)[1].split(" ", 1)[0]) + 1
    db.execute(
        "UPDATE notification SET text = ? WHERE position = ? AND recipient = ?",
        (f"您被分配评审 {count} 个项目（{round_name}），请按时评分。", row[0], reviewer),
    )


@inbox.on("OutcomeFinalised", "CertificationRevoked")
def outcome(e):
    """Units hear their result only when it is final (never of a proposal), and of a revocation."""
    project = _project_of(e)
    if project is None:
        return
    p = e.payload
    if e.type == "OutcomeFinalised":
        text = (
            f"「{project['brand']}」评估认定结果：{OUTCOME_NAMES.get(p['outcome'], p['outcome'])}。"
        )
    else:
        text = (
            f"{_who(e.actor)} 撤销了「{project['brand']}」的认定，结果改为"
            f"{OUTCOME_NAMES.get(p['outcome'], p['outcome'])}：{_excerpt(p['reason'])}"
        )
    applicants, approvers = _unit_people(_signing_units(project))
    _notify(e, applicants + approvers, INFO, text, project_link(project["id"]),
            project=project["id"], campaign=project["campaign"])  # fmt: skip
