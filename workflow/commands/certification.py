"""Certification (评估认定): proposals from the final ranking within the quotas, the 公示 with
its objections, the final outcomes, and revocation.

Proposals, the 公示 and objections live on the campaign's certification stream; the project
moves (proposed → certified / passed / not_passed) by events on its own stream, appended in
the same transaction. Outcomes: excellent (认定为优秀, state `certified`), passed (验收通过),
not_passed (验收未通过). A campaign's `quotas` caps excellent outcomes per category; a revoked
certification frees its place.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .. import db, lifecycle, log
from ..authz import Actor, require
from ..campaign_templates import CATEGORIES
from ..deadlines import LOCAL_FORMAT, parse_local, show
from ..errors import DomainError, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns, scoring
from .applications import get_project
from .applications import stream as project_stream
from .scoring import check_version, reason_text

OUTCOMES = {"excellent": N_("优秀"), "passed": N_("验收通过"), "not_passed": N_("验收未通过")}
RANK = {"excellent": 3, "passed": 2, "not_passed": 1}
FINAL_STATES = ("certified", "passed", "not_passed")
TEXT_MAX = 1000


def stream(slug: str) -> str:
    return f"certification:{slug}"


# --- Reading -------------------------------------------------------------------------------


def proposals(slug: str) -> dict[str, dict]:
    rows = db.fetchall(
        "SELECT project, category, outcome, score, rank, note, publicity, at FROM cert_proposal "
        "WHERE campaign = ?",
        (slug,),
    )
    keys = ("project", "category", "outcome", "score", "rank", "note", "publicity", "at")
    return {r[0]: dict(zip(keys, r)) for r in rows}


def certified_count(slug: str, category: str) -> int:
    row = db.fetchone(
        "SELECT COUNT(*) FROM project WHERE campaign = ? AND category = ? AND state = 'certified'",
        (slug, category),
    )
    return row[0]


def quota_status(config: dict, pending: dict | None = None) -> dict[str, dict]:
    """Per category: the quota, places taken by certified projects and by excellent proposals
    not yet final, and what remains. `pending` (pid -> outcome) overrides stored proposals."""
    slug = config["slug"]
    current = {pid: p["outcome"] for pid, p in proposals(slug).items()}
    current.update(pending or {})
    out = {}
    for category in config["categories"]:
        quota = (config.get("quotas") or {}).get(category)
        proposed = []
        for pid, outcome in current.items():
            if outcome != "excellent":
                continue
            project = get_project(pid)
            if project and project["category"] == category and project["state"] != "certified":
                proposed.append(pid)
        certified = certified_count(slug, category)
        remaining = None if quota is None else quota - certified - len(proposed)
        label = CATEGORIES[category]["name"]
        out[category] = {"name": _(label), "quota": quota,
                         "certified": certified, "proposed": len(proposed),
                         "remaining": remaining}  # fmt: skip
    return out


def running_publicity(slug: str) -> dict | None:
    row = db.fetchone(
        "SELECT number, starts, ends, projects, at FROM publicity WHERE campaign = ? "
        "AND state = 'running' ORDER BY number DESC LIMIT 1",
        (slug,),
    )
    if row is None:
        return None
    return {"number": row[0], "starts": row[1], "ends": row[2], "projects": json.loads(row[3]),
            "at": row[4]}  # fmt: skip


def publicities(slug: str) -> list[dict]:
    rows = db.fetchall(
        "SELECT number, starts, ends, state, projects, concluded_at FROM publicity "
        "WHERE campaign = ? ORDER BY number",
        (slug,),
    )
    return [{"number": n, "starts": s, "ends": e, "state": st, "projects": json.loads(p),
             "concluded_at": c} for n, s, e, st, p, c in rows]  # fmt: skip


def objections(slug: str, publicity: int | None = None, lodged_by: str | None = None):
    sql = (
        "SELECT o.id, o.publicity, o.project, o.text, o.on_behalf_of, o.lodged_by, o.lodged_at, "
        "o.verification, o.answer, o.upheld, o.answered_at, p.brand_name, "
        "COALESCE(a.display_name, o.lodged_by) FROM objection o "
        "LEFT JOIN project p ON p.id = o.project "
        "LEFT JOIN user_account a ON a.username = o.lodged_by WHERE o.campaign = ?"
    )
    params: list = [slug]
    if publicity is not None:
        sql += " AND o.publicity = ?"
        params.append(publicity)
    if lodged_by is not None:
        sql += " AND o.lodged_by = ?"
        params.append(lodged_by)
    keys = ("id", "publicity", "project", "text", "on_behalf_of", "lodged_by", "lodged_at",
            "verification", "answer", "upheld", "answered_at", "brand_name", "lodger_name")  # fmt: skip
    return [dict(zip(keys, r)) for r in db.fetchall(sql + " ORDER BY o.position", tuple(params))]


def outcome_of(pid: str) -> dict | None:
    row = db.fetchone(
        "SELECT outcome, publicity, at, revoked_reason, revoked_at FROM cert_outcome "
        "WHERE project = ?",
        (pid,),
    )
    if row is None:
        return None
    return dict(zip(("outcome", "publicity", "at", "revoked_reason", "revoked_at"), row))


def suggest(config: dict) -> dict[str, str]:
    """Outcomes suggested from the final ranking: with a quota, the best-ranked up to the
    places left (a tie across the last place is left to the organizer); without one, the top
    grade. The lowest grade, or a veto, is not passed; the rest passed."""
    status = quota_status(config, {})
    out = {}
    grades = sorted(config["grades"], key=lambda g: -float(g[1]))
    top, bottom = grades[0][0], grades[-1][0]
    for category, rows in scoring.ranking(config, "final").items():
        quota = status.get(category, {}).get("quota")
        free = None
        if quota is not None:
            free = quota - status[category]["certified"]
        eligible = [r for r in rows if r["state"] in lifecycle.MOVES["propose"][1]
                    and r["aggregate"] is not None]  # fmt: skip
        for r in eligible:
            if r["failed"] or r["grade"] == bottom:
                outcome = "not_passed"
            elif free is None:
                outcome = "excellent" if r["grade"] == top else "passed"
            else:
                within = sum(1 for o in eligible if o["rank"] <= r["rank"])
                outcome = "excellent" if within <= free else "passed"
            out[r["id"]] = outcome
    return out


# --- Proposals -----------------------------------------------------------------------------


def _ranks(config: dict) -> dict[str, dict]:
    out = {}
    for rows in scoring.ranking(config, "final").values():
        for r in rows:
            out[r["id"]] = r
    return out


def propose(actor: Actor, slug: str, wanted: dict[str, str], note: str, version, now=None):
    """Record proposed outcomes (pid -> outcome, or "" to withdraw a proposal), all or none.

    Refused, with the reason, when the excellent ones would pass a category's quota.
    """
    require(actor, "certify.manage")
    config = campaigns.get(slug)
    note = (note or "").strip()
    if len(note) > TEXT_MAX:
        raise DomainError(_("说明不超过 %(max)s 字。", max=TEXT_MAX))
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(stream(slug), version)
        current = proposals(slug)
        ranks = _ranks(config)
        changes: dict[str, str] = {}
        for pid, outcome in wanted.items():
            outcome = (outcome or "").strip()
            project = get_project(pid)
            if project is None or project["campaign"] != slug:
                raise NotFound(_("项目 %(pid)s 不存在或不属于本活动。", pid=pid))
            before = current.get(pid, {}).get("outcome", "")
            if outcome == before:
                continue
            if outcome and outcome not in OUTCOMES:
                raise DomainError(_("认定建议只能是：优秀、验收通过、验收未通过。"))
            if project["state"] == "proposed":
                # During the 公示 an outcome may only be lowered (raising needs a new 公示).
                if not outcome or RANK[outcome] > RANK.get(before, 0):
                    raise DomainError(
                        _("「%(brand)s」正在公示，只能下调认定建议，不能撤回或上调。",
                          brand=project["brand_name"])
                    )  # fmt: skip
            else:
                lifecycle.require_state("propose", project["state"])
                if project["state"] == "passed" and outcome != "excellent":
                    raise DomainError(
                        _("「%(brand)s」已验收通过，只能在有空余名额时再建议为优秀。",
                          brand=project["brand_name"])
                    )  # fmt: skip
            changes[pid] = outcome
        if not changes:
            raise DomainError(_("认定建议没有变化。"))
        _check_quota(config, changes)
        events = []
        for pid, outcome in changes.items():
            if not outcome:
                events.append(NewEvent("ProposalWithdrawn", {"project": pid,
                              "reason": note or "组织部调整认定建议"}))  # fmt: skip
                continue
            r = ranks.get(pid) or {}
            events.append(NewEvent("OutcomeProposed", {
                "project": pid, "outcome": outcome, "score": scoring._text(r.get("aggregate")),
                "rank": r.get("rank"), "note": note}))  # fmt: skip
        return log.append(stream(slug), expected, events, actor.username, now)


def _check_quota(config: dict, changes: dict[str, str]) -> None:
    status = quota_status(config, changes)
    for category, s in status.items():
        if s["quota"] is None or s["remaining"] >= 0:
            continue
        names = [
            _("「%(brand)s」", brand=get_project(pid)["brand_name"])
            for pid, outcome in changes.items()
            if outcome == "excellent" and get_project(pid)["category"] == category
        ]
        raise DomainError(
            _("“%(name)s”优秀名额为 %(quota)s 个：已认定 %(certified)s 个，连同本次共拟认定 %(proposed)s 个，超出 %(over)s 个。不能再将%(names)s建议为优秀；请先把其他项目调整为“验收通过”。",
              name=s["name"], quota=s["quota"], certified=s["certified"], proposed=s["proposed"],
              over=-s["remaining"], names=_("、").join(names))
        )  # fmt: skip


# --- 公示 ----------------------------------------------------------------------------------


def _local(text: str, tz: str, what: str) -> datetime:
    """A local time typed in a form; `what` names the field (an N_-marked label)."""
    text = (text or "").strip().replace("T", " ")
    if len(text) == 19 and text.endswith(":00"):
        text = text[:16]
    try:
        return parse_local(text, tz)
    except DomainError:
        raise DomainError(
            _("%(what)s格式应为“年-月-日 时:分”，例如 2025-11-10 09:00。", what=_(what))
        ) from None


def start_publicity(actor: Actor, slug: str, starts: str, ends: str, version, now=None):
    """Put every pending proposal under 公示 from `starts` to `ends` (default: the campaign's
    publicity_days after the start)."""
    require(actor, "certify.manage")
    now = now or datetime.now(UTC)
    config = campaigns.get(slug)
    tz = config["timezone"]
    if (starts or "").strip():
        start = _local(starts, tz, N_("公示开始时间"))
    else:
        start = now.astimezone(ZoneInfo(tz))
    start = start.replace(second=0, microsecond=0)
    if (ends or "").strip():
        end = _local(ends, tz, N_("公示结束时间"))
    else:
        end = start + timedelta(days=int(config.get("publicity_days") or 5))
    if end <= start:
        raise DomainError(_("公示结束时间必须晚于开始时间。"))
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(stream(slug), version)
        if running_publicity(slug):
            raise DomainError(_("已有一轮公示正在进行，请先结束该轮公示。"))
        pending = {pid: p for pid, p in proposals(slug).items() if p["publicity"] is None}
        if not pending:
            raise DomainError(_("没有待公示的认定建议，请先提出认定建议。"))
        for pid in pending:
            lifecycle.require_state("publicize", get_project(pid)["state"])
        _check_quota(config, {})
        number = len(publicities(slug)) + 1
        local = {
            "starts": start.strftime(LOCAL_FORMAT),
            "ends": end.strftime(LOCAL_FORMAT),
        }
        head = NewEvent("PublicityStarted", {"publicity": number, **local,
                        "projects": {pid: p["outcome"] for pid, p in sorted(pending.items())}})  # fmt: skip
        written = log.append(stream(slug), expected, [head], actor.username, now)
        for pid in sorted(pending):
            event = NewEvent("ProjectPublicized", {"publicity": number, "ends": local["ends"]})
            s = project_stream(pid)
            written += log.append(s, log.stream_version(s), [event], actor.username, now)
        return written


def publicity_window(config: dict, publicity: dict) -> tuple[datetime, datetime]:
    tz = config["timezone"]
    return parse_local(publicity["starts"], tz), parse_local(publicity["ends"], tz)


def lodge_objection(actor: Actor, slug: str, pid: str | None, text: str, on_behalf_of: str = "",
                    now=None, objection_id: str | None = None):  # fmt: skip
    """Anyone logged in may object during the 公示; the organizer may record an objection
    received on paper or by phone, naming who raised it."""
    require(actor, "objection.lodge")
    now = now or datetime.now(UTC)
    config = campaigns.get(slug)
    text = (text or "").replace("\r\n", "\n").strip()
    on_behalf_of = (on_behalf_of or "").strip()
    if not text:
        raise DomainError(_("请写明异议的内容和理由。"), "text")
    if len(text) > TEXT_MAX:
        raise DomainError(
            _("异议内容不超过 %(max)s 字，当前 %(n)s 字。", max=TEXT_MAX, n=len(text)), "text"
        )
    if on_behalf_of and not actor.has("organizer"):
        raise DomainError(_("只有组织部可以代为登记他人的异议。"))
    if len(on_behalf_of) > 60:
        raise DomainError(_("异议人信息不超过 60 个字符。"))
    with db.writer_transaction():
        db.take_writer_lock()
        publicity = running_publicity(slug)
        if publicity is None:
            raise DomainError(_("目前没有正在进行的公示，不能提出异议。"))
        start, end = publicity_window(config, publicity)
        tz = config["timezone"]
        if now < start:
            raise DomainError(_("公示将于 %(start)s 开始，届时可提出异议。", start=show(start, tz)))
        if now > end:
            raise DomainError(_("公示已于 %(end)s 结束，不能再提出异议。", end=show(end, tz)))
        pid = (pid or "").strip() or None
        if pid is not None and pid not in publicity["projects"]:
            raise DomainError(_("所选项目不在本次公示名单中。"))
        event = NewEvent("ObjectionLodged", {
            "objection_id": objection_id or str(uuid.uuid4()), "publicity": publicity["number"],
            "project": pid, "text": text, "on_behalf_of": on_behalf_of})  # fmt: skip
        s = stream(slug)
        return log.append(s, log.stream_version(s), [event], actor.username, now)[0]


def answer_objection(actor: Actor, slug: str, objection_id: str, verification: str, answer: str,
                     upheld: bool, version, now=None):  # fmt: skip
    """How the objection was verified, the answer given, and whether it was upheld."""
    require(actor, "certify.manage")
    campaigns.get(slug)
    verification, answer = (verification or "").strip(), (answer or "").strip()
    if not verification or not answer:
        raise DomainError(_("请填写核实情况和答复意见。"))
    if len(verification) > TEXT_MAX or len(answer) > TEXT_MAX:
        raise DomainError(_("核实情况和答复意见各不超过 %(max)s 字。", max=TEXT_MAX))
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(stream(slug), version)
        found = [o for o in objections(slug) if o["id"] == objection_id]
        if not found:
            raise NotFound(_("异议不存在。"))
        if found[0]["answered_at"]:
            raise DomainError(_("该异议已经答复。"))
        event = NewEvent("ObjectionAnswered", {"objection_id": objection_id,
                         "verification": verification, "answer": answer, "upheld": bool(upheld)})  # fmt: skip
        return log.append(stream(slug), expected, [event], actor.username, now)[0]


def finalise(actor: Actor, slug: str, version, now=None):
    """When the 公示 has ended and every objection is answered: the outcomes become final."""
    require(actor, "certify.manage")
    now = now or datetime.now(UTC)
    config = campaigns.get(slug)
    tz = config["timezone"]
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(stream(slug), version)
        publicity = running_publicity(slug)
        if publicity is None:
            raise DomainError(_("没有正在进行的公示，无需确定结果。"))
        _start, end = publicity_window(config, publicity)
        if now < end:
            raise DomainError(
                _("公示期至 %(end)s 结束，公示期间不能确定认定结果。", end=show(end, tz))
            )
        open_ones = [o for o in objections(slug, publicity["number"]) if not o["answered_at"]]
        if open_ones:
            raise DomainError(
                _("尚有 %(n)s 条异议未核实答复，请全部答复后再确定认定结果。", n=len(open_ones))
            )
        current = proposals(slug)
        outcomes = {pid: current[pid]["outcome"] for pid in publicity["projects"] if pid in current}
        _check_quota(config, {})
        head = NewEvent("PublicityConcluded", {"publicity": publicity["number"],
                                               "outcomes": outcomes})  # fmt: skip
        written = log.append(stream(slug), expected, [head], actor.username, now)
        for pid, outcome in sorted(outcomes.items()):
            project = get_project(pid)
            lifecycle.require_state("finalise", project["state"])
            event = NewEvent("OutcomeFinalised",
                             {"outcome": outcome, "publicity": publicity["number"]})  # fmt: skip
            s = project_stream(pid)
            written += log.append(s, log.stream_version(s), [event], actor.username, now)
        return written


def after_finalise(app_config) -> bool:
    """The hook after finalising: write a checkpoint if workflow.checkpoint offers
    `auto_checkpoint(app_config)`. A failure there never undoes the results."""
    from .. import checkpoint

    hook = getattr(checkpoint, "auto_checkpoint", None)
    if hook is None or app_config is None:
        return False
    hook(app_config)
    return True


def revoke(actor: Actor, pid: str, reason: str, outcome: str, version, now=None):
    """Revoke a certification (with a reason): the project becomes passed or not passed and its
    place is free again."""
    require(actor, "certify.manage")
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    reason = reason_text(reason, N_("撤销原因"))
    if outcome not in ("passed", "not_passed"):
        raise DomainError(_("撤销后的结果只能是“验收通过”或“验收未通过”。"))
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(project_stream(pid), version)
        lifecycle.require_state("revoke", get_project(pid)["state"])
        event = NewEvent("CertificationRevoked", {"reason": reason, "outcome": outcome})
        return log.append(project_stream(pid), expected, [event], actor.username, now)[0]
