"""Roles, permissions and unit scope: the one authorization check every route and command uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import db
from .errors import Forbidden
from .i18n import N_, _

ORGANIZER, APPLICANT, APPROVER, REVIEWER, AUDITOR, ADMIN = (
    "organizer",
    "applicant",
    "approver",
    "reviewer",
    "auditor",
    "admin",
)
ROLES = {
    ORGANIZER: N_("组织部（管理员）"),
    APPLICANT: N_("申报人"),
    APPROVER: N_("支部/总支书记（审批）"),
    REVIEWER: N_("评审专家"),
    AUDITOR: N_("审计（纪检）"),
    ADMIN: N_("系统管理员"),
}

# permission -> roles that hold it. Scope (which units) is checked separately by `in_scope`.
PERMISSIONS: dict[str, set[str]] = {
    "home": set(ROLES),
    "org.view": {ORGANIZER, AUDITOR, ADMIN},
    "org.manage": {ORGANIZER, ADMIN},
    "users.view": {ORGANIZER, AUDITOR, ADMIN},
    "users.manage": {ORGANIZER, ADMIN},
    "log.verify": {ORGANIZER, AUDITOR, ADMIN},
    "log.checkpoint": {ORGANIZER, ADMIN},
    "campaign.view": set(ROLES),
    "campaign.manage": {ORGANIZER},
    "campaign.overview": {ORGANIZER, AUDITOR},
    "project.view": {ORGANIZER, AUDITOR, APPLICANT, APPROVER, REVIEWER},
    "project.apply": {APPLICANT},
    "project.opinion": {APPROVER},
    "review.act": {ORGANIZER},
    "comment.post": {ORGANIZER, REVIEWER, APPLICANT, APPROVER},
    "inbox.view": set(ROLES),
    "reminders.send": {ORGANIZER},
    # Scoring and certification (workflow/commands/scoring.py, certification.py).
    "rubric.manage": {ORGANIZER},
    "scoring.manage": {ORGANIZER},
    "scoring.view": {ORGANIZER, AUDITOR},
    "scoring.score": {REVIEWER},
    "certify.manage": {ORGANIZER},
    # Anyone logged in may object during the 公示, except the auditor, who writes nothing.
    "objection.lodge": {ORGANIZER, APPLICANT, APPROVER, REVIEWER, ADMIN},
    # Audit trails: the full trail (internal comments, audit reads, time travel) and exports;
    # unit members read their own unit's trail without what is internal (workflow/trail.py).
    "audit.trail": {ORGANIZER, AUDITOR, ADMIN},
    "audit.export": {ORGANIZER, AUDITOR, ADMIN},
    "trail.view": {ORGANIZER, AUDITOR, ADMIN, APPLICANT, APPROVER},
}


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    unit: str | None = None
    display_name: str = ""

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


SYSTEM = Actor("system", frozenset({ADMIN}), None, "系统")


def can(actor: Actor | None, permission: str) -> bool:
    if actor is None:
        return False
    return bool(actor.roles & PERMISSIONS[permission])


def require(actor: Actor | None, permission: str) -> None:
    if not can(actor, permission):
        raise Forbidden(_("您没有权限进行此操作。"))


def _unit_row(code: str):
    return db.fetchone("SELECT code, parent, root FROM org_unit WHERE code = ?", (code,))


def scope(actor: Actor):
    """The actor's unit scope as a test of (code, parent, root) -> bool, with the actor's own
    unit read once: lists filter many rows with it without a query per row.

    College-wide roles see their committee's tree (all trees when they belong to none);
    an applicant sees their own unit; an approver their unit and the branches under it.
    """
    if actor.has(ORGANIZER, AUDITOR, ADMIN):
        if actor.unit is None:
            return lambda code, parent, root: True
        mine = _unit_row(actor.unit)
        my_root = mine[2] if mine else None
        return lambda code, parent, root: my_root is not None and root == my_root
    if actor.has(APPROVER):
        return lambda code, parent, root: actor.unit in (code, parent)
    return lambda code, parent, root: actor.unit == code


def in_scope(actor: Actor, unit_code: str) -> bool:
    """May `actor` see things of `unit_code`?"""
    row = _unit_row(unit_code)
    return row is not None and scope(actor)(*row)


def is_assigned(username: str, project_id: str) -> bool:
    """Is this reviewer on the project's panel in some round (and not excluded)?"""
    return (
        db.fetchone(
            "SELECT 1 FROM panel_assignment WHERE project = ? AND reviewer = ? AND active = 1",
            (project_id, username),
        )
        is not None
    )


def may_view_project(actor: Actor, project: dict) -> bool:
    """Unit scope as `in_scope`; a reviewer also sees the projects assigned to them, and a
    reviewer with no other role sees exactly those."""
    if actor.has(REVIEWER) and is_assigned(actor.username, project["id"]):
        return True
    if actor.roles <= {REVIEWER}:
        return False
    return in_scope(actor, project["unit"])


def require_scope(actor: Actor, unit_code: str) -> None:
    if not in_scope(actor, unit_code):
        raise Forbidden(_("您只能查看本单位的内容。"))
