"""Deferral requests (延期申请): the unit asks for more time for a stage, with a reason; the
organizer grants (a new due, at most config["deferral_max_days"] after the stage's original
due) or refuses with a reason.

One source of truth for extensions: a grant appends DeferralGranted on the evidence stream and,
in the same transaction, DeadlineExtended on the campaign stream through
commands.campaigns.extend_deadline, whose projection is the `campaign_extension` table that
deadlines.window reads.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from .. import authz, db, deadlines, lifecycle
from ..authz import Actor, require
from ..errors import DomainError, Forbidden
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns
from .applications import FormErrors
from .evidence import append, load, require_poster, text

# The stages in which the unit owes something and may ask for more time.
UNIT_STAGES = ("cultivate", "midterm", "final")
DECISIONS = {"grant": N_("批准延期"), "refuse": N_("不予延期")}
STATUS = {"pending": N_("待组织部审批"), "granted": N_("已批准"), "refused": N_("未批准")}


def stages_for(config: dict) -> list[dict]:
    return [s for s in config["stages"] if s["code"] in UNIT_STAGES]


def parse_due(value, config: dict, errors: dict, key: str = "due") -> datetime | None:
    """'2023-12-31 23:00' or the browser's '2023-12-31T23:00', in the campaign's zone."""
    raw = str(value or "").strip().replace("T", " ")
    if not raw:
        errors[key] = _("请填写希望延期到的时间。")
        return None
    try:
        return deadlines.parse_local(raw[:16], config["timezone"])
    except DomainError:
        errors[key] = _("时间格式应为“年-月-日 时:分”，例如 2024-03-31 17:00。")
        return None


def check_due(config: dict, unit: str, stage_code: str, due: datetime, errors: dict,
              key: str = "due") -> None:  # fmt: skip
    """Later than the current due, and within the limit after the original due."""
    tz = config["timezone"]
    stage = deadlines.stage(config, stage_code)
    original = deadlines.parse_local(stage["due"], tz)
    limit = original + timedelta(days=config["deferral_max_days"])
    current = deadlines.window(config, stage_code, unit).due
    if due <= current:
        errors[key] = _(
            "延期后的截止时间须晚于当前截止时间（%(due)s）。", due=deadlines.show(current, tz)
        )
    elif due > limit:
        errors[key] = _(
            "最多只能延期 %(days)s 天，即不晚于 %(limit)s（原截止时间 %(original)s）。",
            days=config["deferral_max_days"],
            limit=deadlines.show(limit, tz),
            original=deadlines.show(original, tz),
        )


def request(actor: Actor, pid: str, stage_code: str, due, reason: str, now=None):
    """The unit asks for more time for one stage."""
    now = now or datetime.now(UTC)
    project = load(pid)
    require_poster(actor, project)
    lifecycle.require_state("deferral", project["state"])
    config = campaigns.get(project["campaign"])
    errors: dict[str, str] = {}
    if stage_code not in {s["code"] for s in stages_for(config)}:
        errors["stage"] = _("请选择要延期的阶段。")
    when = parse_due(due, config, errors)
    reason = text(reason, N_("延期理由"), 500, errors, "reason", multiline=True)
    if when and "stage" not in errors:
        check_due(config, project["unit"], stage_code, when, errors)
        if db.fetchone(
            "SELECT 1 FROM deferral_request WHERE project = ? AND stage = ? AND status = 'pending'",
            (pid, stage_code),
        ):
            errors["stage"] = _("该阶段已有一份待审批的延期申请，请等待组织部答复。")
    if errors:
        raise FormErrors(errors)
    event = NewEvent("DeferralRequested", {
        "request_id": str(uuid.uuid4()), "stage": stage_code,
        "due": when.strftime(deadlines.LOCAL_FORMAT), "reason": reason})  # fmt: skip
    return append(actor, pid, [event], "", now)[0]


def decide(actor: Actor, pid: str, request_id: str, decision: str, due, note: str, now=None):
    """The organizer grants (with a due, by default the one asked for) or refuses (reason)."""
    require(actor, "campaign.manage")
    project = load(pid)
    if not authz.in_scope(actor, project["unit"]):
        raise Forbidden(_("您不能审批该单位的延期申请。"))
    lifecycle.require_state("deferral", project["state"])
    config = campaigns.get(project["campaign"])
    row = db.fetchone(
        "SELECT stage, wanted_due, reason, status FROM deferral_request "
        "WHERE request_id = ? AND project = ?",
        (request_id or "", pid),
    )
    errors: dict[str, str] = {}
    if row is None:
        raise FormErrors({"request_id": _("延期申请不存在。")})
    stage_code, wanted, asked_reason, status = row
    if status != "pending":
        raise FormErrors(
            {"request_id": _("该延期申请已处理（%(status)s）。", status=_(STATUS[status]))}
        )
    if decision not in DECISIONS:
        errors["decision"] = _("请选择“批准延期”或“不予延期”。")
    if decision == "refuse":
        note = text(note, N_("不予延期的理由"), 500, errors, "note", multiline=True)
        if errors:
            raise FormErrors(errors)
        event = NewEvent("DeferralRefused", {"request_id": request_id, "reason": note})
        return append(actor, pid, [event], "", now)
    note = text(note, N_("批复意见"), 500, errors, "note", required=False, multiline=True)
    when = parse_due(due or wanted, config, errors)
    if when:
        check_due(config, project["unit"], stage_code, when, errors)
    if errors:
        raise FormErrors(errors)
    due_text = when.strftime(deadlines.LOCAL_FORMAT)
    event = NewEvent("DeferralGranted", {
        "request_id": request_id, "stage": stage_code, "due": due_text,
        "note": note or "同意延期。"})  # fmt: skip
    with db.writer_transaction():
        db.take_writer_lock()
        written = append(actor, pid, [event], "", now)
        reason = f"批准{project['unit']}的延期申请：{asked_reason}"[:500]
        written += campaigns.extend_deadline(actor, project["campaign"], project["unit"],
                                             stage_code, due_text, reason, now)  # fmt: skip
    return written
