"""Threaded comments on a project (and its revisions and fields): post, reply, edit, resolve.

Each project has one stream, "comments:<project id>". A new comment or reply never conflicts
with another, so it is appended at the stream's current version (retried if the stream moved);
an edit carries the number of edits its author saw, and a different number is a conflict.

Who sees what: organizer and reviewers ("staff") and auditors see every comment; the members of
the applicant unit (its applicant and secretaries, and the secretary of its general branch) see
only comments marked visible to the unit, never an internal one. A reply to an internal comment
is internal, so hiding internal comments never hides the parent of a comment the unit sees.
"""

from __future__ import annotations

import json
import re
import uuid

from .. import authz, db, lifecycle, log
from ..authz import APPLICANT, APPROVER, AUDITOR, ORGANIZER, REVIEWER, Actor, require
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from ..log import ConcurrencyError
from . import campaigns
from .accounts import get_account
from .applications import get_project

MAX_CHARS = 2000
MAX_MENTIONS = 20
RETRIES = 5
INTERNAL, UNIT = "internal", "unit"
VISIBILITY = {INTERNAL: N_("内部（仅组织部和评审专家）"), UNIT: N_("申报单位可见")}
# A mention is "@username" not glued to a preceding word (so an e-mail address is not one).
MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.@-])@([A-Za-z0-9][A-Za-z0-9_.-]{0,39})")
# Control characters other than tab and line break are dropped (PostgreSQL text refuses NUL).
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

COLUMNS = (
    "id", "project", "parent_id", "root_id", "depth", "revision", "target_kind",
    "target_revision", "target_field", "target_ref", "visibility", "body", "mentions", "author",
    "posted_at", "position", "edits", "edited_at", "edited_position", "resolved", "resolved_by",
    "resolved_at", "updated_position",
)  # fmt: skip
SELECT = "SELECT " + ", ".join(f"c.{c}" for c in COLUMNS) + ", a.display_name, r.display_name "
FROM = (
    "FROM project_comment c LEFT JOIN user_account a ON a.username = c.author "
    "LEFT JOIN user_account r ON r.username = c.resolved_by "
)


class NeedsConfirmation(DomainError):
    """Staff asked for a comment visible to the unit without confirming it: nothing was saved."""

    status = 200


class StaleComment(ConcurrencyError):
    """The comment was edited by someone else since the editor opened it."""


def stream(pid: str) -> str:
    return f"comments:{pid}"


# --- Reading ---------------------------------------------------------------------------------


def _row(row) -> dict:
    comment = dict(zip(COLUMNS, row[: len(COLUMNS)]))
    comment["mentions"] = json.loads(comment["mentions"])
    comment["resolved"] = bool(comment["resolved"])
    comment["author_name"] = row[len(COLUMNS)] or comment["author"]
    comment["resolved_by_name"] = row[len(COLUMNS) + 1] or comment["resolved_by"]
    return comment


def get_comment(cid: str) -> dict | None:
    row = db.fetchone(SELECT + FROM + "WHERE c.id = ?", (cid,))
    return _row(row) if row else None


def project_comments(pid: str, audience: str) -> list[dict]:
    """The project's comments the audience may see, in the order they were posted.

    The visibility filter is in the query itself: a unit member's rows never contain an internal
    comment, whatever the page does with them afterwards.
    """
    if audience == "all":
        rows = db.fetchall(SELECT + FROM + "WHERE c.project = ? ORDER BY c.position", (pid,))
    else:
        rows = db.fetchall(
            SELECT + FROM + "WHERE c.project = ? AND c.visibility = ? ORDER BY c.position",
            (pid, UNIT),
        )
    return [_row(r) for r in rows]


def versions(cid: str) -> list[dict]:
    """Every text the comment has had, the original first."""
    rows = db.fetchall(
        "SELECT v.version, v.body, v.actor, v.at, a.display_name FROM project_comment_version v "
        "LEFT JOIN user_account a ON a.username = v.actor WHERE v.comment_id = ? "
        "ORDER BY v.version",
        (cid,),
    )
    keys = ("version", "body", "actor", "at", "actor_name")
    return [dict(zip(keys, r)) for r in rows]


# --- Who sees and who writes -----------------------------------------------------------------


def is_unit_member(actor: Actor, project: dict) -> bool:
    """The applicant unit's own people: its applicant and secretary, and its general branch's."""
    if not actor.has(APPLICANT, APPROVER) or not actor.unit:
        return False
    parent = db.fetchone("SELECT parent FROM org_unit WHERE code = ?", (project["unit"],))
    return actor.unit in (project["unit"], parent[0] if parent else None)


def audience(actor: Actor | None, project: dict) -> str | None:
    """Which comments the actor sees on the project: "all" (internal ones too), "unit"
    (unit-visible only), or None (not this project at all).

    Whoever belongs to the applicant unit sees only unit-visible comments, whatever other role
    they also hold; organizer, reviewers and auditors see everything.
    """
    if actor is None or not authz.can(actor, "project.view"):
        return None
    if not authz.may_view_project(actor, project):  # a panel reviewer too
        return None
    if is_unit_member(actor, project):
        return UNIT
    if actor.has(ORGANIZER, REVIEWER, AUDITOR):
        return "all"
    return UNIT


def may_see(actor: Actor, project: dict, comment: dict) -> bool:
    seen_by = audience(actor, project)
    return seen_by == "all" or (seen_by == UNIT and comment["visibility"] == UNIT)


def may_post(actor: Actor, project: dict) -> bool:
    return authz.can(actor, "comment.post") and audience(actor, project) is not None


def may_post_internal(actor: Actor, project: dict) -> bool:
    return (
        may_post(actor, project)
        and audience(actor, project) == "all"
        and actor.has(ORGANIZER, REVIEWER)
    )


def is_open_for_comments(project: dict) -> bool:
    return project["state"] in lifecycle.MOVES["comment"][1]


def may_resolve(actor: Actor, project: dict, comment: dict) -> bool:
    """A thread is resolved or reopened by the one who started it, or by the organizer and
    reviewers (who see it)."""
    if comment["parent_id"] is not None or not may_post(actor, project):
        return False
    if not may_see(actor, project, comment):
        return False
    return comment["author"] == actor.username or may_post_internal(actor, project)


def load(actor: Actor, pid: str, cid: str | None = None) -> tuple[dict, dict | None]:
    """The project (and comment) if the actor may see them: NotFound or Forbidden otherwise.

    A comment of another project is "not found" here, never served under this project's URL.
    """
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    if audience(actor, project) is None:
        raise Forbidden(_("您只能查看本单位的项目。"))
    if cid is None:
        return project, None
    comment = get_comment(cid)
    if comment is None or comment["project"] != pid:
        raise NotFound(_("评论不存在。"))
    if not may_see(actor, project, comment):
        raise Forbidden(_("这是组织部和评审专家之间的内部评论，申报单位无权查看。"))
    return project, comment


# --- Input -----------------------------------------------------------------------------------


def clean_body(body: str | None) -> str:
    """The text as it is kept: line breaks normalised, control characters dropped, trimmed.
    Counted in characters (code points), never bytes."""
    text = CONTROL_RE.sub("", str(body or "").replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise DomainError(_("评论内容不能为空。"), "body")
    if len(text) > MAX_CHARS:
        raise DomainError(
            _(
                "评论最多 %(max)s 字，当前 %(n)s 字，请删减 %(cut)s 字。",
                max=MAX_CHARS,
                n=len(text),
                cut=len(text) - MAX_CHARS,
            ),
            "body",
        )
    return text


def find_mentions(body: str) -> list[str]:
    """The usernames mentioned, in order of first appearance (trailing punctuation dropped)."""
    names = []
    for match in MENTION_RE.finditer(body):
        name = match.group(1).rstrip(".-_").lower()
        if name and name not in names:
            names.append(name)
    return names


def check_mentions(body: str, project: dict, visibility: str) -> list[str]:
    """Every @mention must name an active user who can see the comment and answer it: for an
    internal comment the organizer or a reviewer, for a unit-visible one anyone of the project."""
    names = find_mentions(body)
    if len(names) > MAX_MENTIONS:
        raise DomainError(_("一条评论最多提及 %(max)s 人。", max=MAX_MENTIONS), "body")
    problems = []
    for name in names:
        user = get_account(name)
        if user is None:
            problems.append(_("找不到用户 @%(name)s", name=name))
        elif visibility == INTERNAL and not may_post_internal(user, project):
            problems.append(
                _("@%(name)s（%(display)s）看不到内部评论", name=name, display=user.display_name)
            )
        elif not may_post(user, project):
            problems.append(
                _("@%(name)s（%(display)s）无权查看该项目", name=name, display=user.display_name)
            )
    if problems:
        raise DomainError(
            _("不能提及：%(problems)s。只能提及能看到这条评论的项目相关人员。",
              problems=_("；").join(problems)),
            "body",
        )  # fmt: skip
    return names


def _target(project: dict, about: str | None) -> dict:
    """What a new thread is about: the project, its current revision, or one field of it."""
    about = about or "project"
    target = {"kind": "project", "revision": None, "field": None, "ref": None}
    if about == "project":
        return target
    if about == "revision":
        return {**target, "kind": "revision", "revision": project["revision"]}
    keys = {f["key"] for f in campaigns.get(project["campaign"])["form"]}
    if about not in keys:
        raise DomainError(
            _("请选择评论针对的内容：整个项目、当前版本或申报表中的某一项。"), "about"
        )
    return {**target, "kind": "field", "revision": project["revision"], "field": about}


def _comment_id(value: str | None) -> str:
    if not value:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise DomainError(_("评论编号无效，请刷新页面后重试。"), "comment_id") from None


# --- Commands --------------------------------------------------------------------------------


def _writable(actor: Actor, pid: str, cid: str | None = None):
    """The project (and comment) the actor may write on, with the project open for comments."""
    require(actor, "comment.post")
    project, comment = load(actor, pid, cid)
    lifecycle.require_state("comment", project["state"])
    return project, comment


def _append(pid: str, build, actor: Actor, now) -> log.Event:
    """Read the state and append under the writer lock; if the stream still moved (another
    writer), read again and retry: a stale *edit* (StaleComment) is not retried."""
    name = stream(pid)
    for attempt in range(RETRIES):
        try:
            with db.writer_transaction():
                db.take_writer_lock()
                event = build()
                if isinstance(event, log.Event):  # already stored (a repeated click)
                    return event
                return log.append(name, log.stream_version(name), [event], actor.username, now)[0]
        except StaleComment:
            raise
        except ConcurrencyError:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def post(
    actor: Actor,
    pid: str,
    body: str,
    visibility: str = INTERNAL,
    parent_id: str | None = None,
    about: str | None = None,
    confirmed: bool = False,
    comment_id: str | None = None,
    now=None,
) -> log.Event:
    """A new comment, or a reply to one of this project's comments.

    Staff choose internal or unit-visible (the latter only once confirmed); unit members post
    only unit-visible comments; a reply to an internal comment is internal. `comment_id` comes
    from the form so that a double-clicked send posts once.
    """
    project, _comment = _writable(actor, pid)
    body = clean_body(body)
    cid = _comment_id(comment_id)
    parent = None
    if parent_id:
        parent = get_comment(str(parent_id))
        if parent is None or parent["project"] != pid:
            raise DomainError(_("只能回复本项目中的评论。"), "parent_id")
        if not may_see(actor, project, parent):
            raise Forbidden(_("这是组织部和评审专家之间的内部评论，申报单位无权查看或回复。"))
    if visibility not in VISIBILITY:
        raise DomainError(_("请选择评论的可见范围：内部，或申报单位可见。"), "visibility")
    if visibility == INTERNAL and not may_post_internal(actor, project):
        raise Forbidden(_("申报单位成员只能发表对本单位可见的评论。"))
    if parent and parent["visibility"] == INTERNAL and visibility != INTERNAL:
        raise DomainError(_("回复内部评论只能是内部评论，不能对申报单位可见。"), "visibility")
    mentions = check_mentions(body, project, visibility)
    if visibility == UNIT and may_post_internal(actor, project) and not confirmed:
        raise NeedsConfirmation(_("这条评论将对申报单位可见，发表后对方即可看到。请确认后再发表。"))
    target = parent_target(parent) if parent else _target(project, about)
    event = NewEvent(
        "CommentPosted",
        {"comment_id": cid, "parent_id": parent["id"] if parent else None, "project": pid,
         "revision": project["revision"], "target": target, "visibility": visibility,
         "body": body, "mentions": mentions},
    )  # fmt: skip

    def build():
        existing = get_comment(cid)
        if existing is None:
            return event
        if existing["project"] != pid or existing["author"] != actor.username:
            raise DomainError(_("评论编号无效，请刷新页面后重试。"), "comment_id")
        return _posted_event(pid, cid)

    return _append(pid, build, actor, now)


def parent_target(parent: dict) -> dict:
    """A reply is about what its thread is about."""
    return {"kind": parent["target_kind"], "revision": parent["target_revision"],
            "field": parent["target_field"], "ref": parent["target_ref"]}  # fmt: skip


def _posted_event(pid: str, cid: str) -> log.Event:
    for event in log.read_stream(stream(pid)):
        if event.type == "CommentPosted" and event.payload["comment_id"] == cid:
            return event
    raise NotFound(_("评论不存在。"))


def editable(actor: Actor, pid: str, cid: str) -> tuple[dict, dict]:
    """The project and comment if the actor may edit it now (their own, project open)."""
    project, comment = _writable(actor, pid, cid)
    if comment["author"] != actor.username:
        raise Forbidden(_("只能修改自己发表的评论。"))
    return project, comment


def edit(actor: Actor, pid: str, cid: str, body: str, seen_edits: int, now=None) -> log.Event:
    """Change one's own comment; the old text stays in its history. `seen_edits` is the number
    of edits the author saw when opening the form: if it changed meanwhile, nothing is saved."""
    project, comment = editable(actor, pid, cid)
    body = clean_body(body)
    mentions = check_mentions(body, project, comment["visibility"])

    def build():
        current = get_comment(cid)
        if current["edits"] != seen_edits:
            raise StaleComment(stream(pid), seen_edits, current["edits"])
        if current["body"] == body:
            raise DomainError(_("内容没有变化。"), "body")
        return NewEvent("CommentEdited", {"comment_id": cid, "body": body, "mentions": mentions})

    return _append(pid, build, actor, now)


def resolve(actor: Actor, pid: str, cid: str, now=None) -> log.Event:
    """Mark a thread resolved (its first comment)."""
    return _resolution(actor, pid, cid, True, now)


def reopen(actor: Actor, pid: str, cid: str, now=None) -> log.Event:
    """Open a resolved thread again."""
    return _resolution(actor, pid, cid, False, now)


def _resolution(actor: Actor, pid: str, cid: str, resolved: bool, now) -> log.Event:
    project, comment = _writable(actor, pid, cid)
    if comment["parent_id"] is not None:
        raise DomainError(_("只能对整条讨论（首条评论）标记已解决或重新打开。"))
    if not may_resolve(actor, project, comment):
        raise Forbidden(_("只有发起这条讨论的人、组织部或评审专家可以标记已解决或重新打开。"))

    def build():
        current = get_comment(cid)
        if current["resolved"] == resolved:
            state = _("已解决") if resolved else _("未解决")
            raise DomainError(
                _("这条讨论已经是“%(state)s”状态（可能刚被他人修改），请刷新查看。", state=state)
            )
        type_ = "CommentResolved" if resolved else "CommentReopened"
        return NewEvent(type_, {"comment_id": cid})

    return _append(pid, build, actor, now)
