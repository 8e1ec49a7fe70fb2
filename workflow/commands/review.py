"""The organizer's review (审核论证): return for revision, approve (立项) or reject, one by
one or in bulk after a dry run."""

from __future__ import annotations

from .. import authz, db, lifecycle, log
from ..authz import Actor, require
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from .applications import get_project, stream

ACTIONS = {
    "return": ("ReviewReturned", N_("退回修改"), "returned"),
    "approve": ("ProjectApproved", N_("立项"), "approved"),
    "reject": ("ProjectRejected", N_("不予立项"), "rejected"),
}
TEXT_MAX = 1000


def _checked_text(action: str, text: str) -> str:
    text = (text or "").strip()
    if action in ("return", "reject") and not text:
        raise DomainError(_("退回或不予立项时必须写明原因（申报单位会看到）。"), "text")
    if len(text) > TEXT_MAX:
        raise DomainError(
            _("原因或意见最多 %(max)s 字，当前 %(n)s 字。", max=TEXT_MAX, n=len(text)), "text"
        )
    return text


def _event(action: str, revision: int, text: str) -> NewEvent:
    type_ = ACTIONS[action][0]
    key = "note" if action == "approve" else "reason"
    return NewEvent(type_, {"revision": revision, key: text})


def _reviewable(actor: Actor, pid: str) -> dict:
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    if not authz.in_scope(actor, project["unit"]):
        raise Forbidden(_("您不能审核该单位的项目。"))
    lifecycle.require_state("review", project["state"])
    return project


def decide(actor: Actor, pid: str, action: str, text: str, version: int, now=None):
    """One review decision, appended only if the project is still at `version`."""
    require(actor, "review.act")
    if action not in ACTIONS:
        raise DomainError(_("未知的审核操作。"))
    text = _checked_text(action, text)
    current = log.stream_version(stream(pid))
    if version != current:  # someone acted since this page was shown
        raise log.ConcurrencyError(stream(pid), version, current)
    project = _reviewable(actor, pid)
    event = _event(action, project["revision"], text)
    return log.append(stream(pid), version, [event], actor.username, now)[0]


def plan_bulk(actor: Actor, pids: list[str], action: str, text: str) -> list[dict]:
    """The dry run: what each selected project would become, or why it would be skipped."""
    require(actor, "review.act")
    if action not in ("return", "approve"):
        raise DomainError(_("批量操作只能是批量立项或批量退回。"))
    _checked_text(action, text)
    if not pids:
        raise DomainError(_("请先勾选项目。"))
    plan = []
    for pid in dict.fromkeys(pids):  # keep order, drop duplicates
        row = {"id": pid, "brand_name": "", "from": None, "to": ACTIONS[action][2], "skip": None}
        try:
            project = _reviewable(actor, pid)
            row.update(brand_name=project["brand_name"], revision=project["revision"],
                       version=log.stream_version(stream(pid)))  # fmt: skip
            row["from"] = project["state"]
        except DomainError as exc:
            project = get_project(pid)
            row.update(brand_name=project["brand_name"] if project else pid, skip=exc.message)
        plan.append(row)
    return plan


def run_bulk(actor: Actor, pids: list[str], action: str, text: str, now=None) -> list[dict]:
    """Apply the plan in one transaction: all listed changes happen, or none."""
    text = _checked_text(action, text)
    plan = plan_bulk(actor, pids, action, text)
    todo = [row for row in plan if not row["skip"]]
    if not todo:
        raise DomainError(_("所选项目都不处于“组织部审核中”，没有可执行的操作。"))
    with db.writer_transaction():
        db.take_writer_lock()
        for row in todo:
            event = _event(action, row["revision"], text)
            log.append(stream(row["id"]), row["version"], [event], actor.username, now)
    return plan
