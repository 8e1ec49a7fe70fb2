"""Certification in the browser: proposals from the ranking within the quotas, the 公示 with
its objections, finalising, and revoking.

What a visitor sees depends on who they are: the organizer and the auditor see the ranking,
scores, proposals and every objection; everyone else sees a running 公示 (its period and the
projects under it, never the proposed outcomes or scores) with a form to object, their own
objections with the answers, and the outcomes once they are final.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, request

from .. import authz, lifecycle, log
from ..campaign_templates import CATEGORIES
from ..commands import certification, scoring
from ..deadlines import LOCAL_FORMAT, parse_local, show, show_utc_text
from ..errors import DomainError
from ..i18n import _
from . import allow, current_actor
from .campaigns import load_campaign
from .projects import load_project
from .scoring import _act, _fmt, _page, _panel

bp = Blueprint("certification", __name__)


def _local_text(text: str, tz: str) -> str:
    return show(parse_local(text, tz), tz)


def _section(config, error=None, notice=None, status=200, wanted=None):
    actor = current_actor()
    slug = config["slug"]
    tz = config["timezone"]
    staff = authz.can(actor, "scoring.view")
    running = certification.running_publicity(slug)
    history = certification.publicities(slug)
    context = dict(config=config, error=error, notice=notice, staff=staff, running=running,
                   history=history, CATEGORIES=CATEGORIES, OUTCOMES=certification.OUTCOMES,
                   local=lambda t: _local_text(t, tz), when=lambda t: show_utc_text(t, tz),
                   version=log.stream_version(certification.stream(slug)), fmt=_fmt,
                   may_manage=authz.can(actor, "certify.manage"), STATES=lifecycle.STATES)  # fmt: skip
    projects = {p["id"]: p for p in scoring.round_projects(slug, "final")}
    context["project_names"] = {pid: p for pid, p in projects.items()}
    if running:
        start, end = certification.publicity_window(config, running)
        now = datetime.now(UTC)
        context["running_open"] = start <= now <= end
        context["running_over"] = now > end
    default_start = datetime.now(UTC).astimezone(parse_local("2000-01-01 00:00", tz).tzinfo)
    context["default_start"] = default_start.strftime(LOCAL_FORMAT).replace(" ", "T")
    context["default_end"] = (
        (default_start + timedelta(days=int(config.get("publicity_days") or 5)))
        .strftime(LOCAL_FORMAT).replace(" ", "T")
    )  # fmt: skip
    if staff:
        proposals = certification.proposals(slug)
        suggested = certification.suggest(config)
        ranking = scoring.ranking(config, "final")
        quotas = certification.quota_status(config)
        for rows in ranking.values():
            for r in rows:
                r["proposal"] = proposals.get(r["id"])
                r["suggested"] = suggested.get(r["id"], "")
                r["outcome"] = certification.outcome_of(r["id"])
                chosen = (wanted or {}).get(r["id"])
                r["selected"] = chosen if chosen is not None else (
                    r["proposal"]["outcome"] if r["proposal"] else "")  # fmt: skip
                # A passed project may be proposed again only for a place set free.
                free = quotas[r["category"]]["remaining"]
                r["may_propose"] = r["state"] in ("final_scored", "proposed") or (
                    r["state"] == "passed" and free is not None and free > 0)  # fmt: skip
        context.update(ranking=ranking, quotas=quotas,
                       objections=certification.objections(slug))  # fmt: skip
    else:
        context["objections"] = certification.objections(slug, lodged_by=actor.username)
        finals = []
        for p in projects.values():
            outcome = certification.outcome_of(p["id"])
            if outcome and p["state"] == "certified":
                finals.append({**p, "outcome": outcome["outcome"]})
        context["finals"] = sorted(finals, key=lambda p: (p["category"], p["id"]))
    return _page("scoring/certification.html", **context), status


def _fresh(config):
    def fresh(error=None, notice=None, status=200):
        return _section(config, error=error, notice=notice, status=status)

    return fresh


@bp.get("/campaigns/<slug>/certification")
@allow("campaign.view")
def page(slug):
    """Certification: ranking, quotas and proposals (organizer); the 公示 and objections."""
    return _section(load_campaign(slug))


@bp.post("/campaigns/<slug>/certification/propose")
@allow("certify.manage")
def propose(slug):
    """Save proposed outcomes for the listed projects, all or none (quotas enforced)."""
    config = load_campaign(slug)
    wanted = {k[8:]: v for k, v in request.form.items() if k.startswith("outcome-")}
    actor = current_actor()

    def action():
        if not wanted:
            raise DomainError(_("没有可提交的认定建议。"))
        certification.propose(actor, slug, wanted, request.form.get("note"),
                              request.form.get("version"))  # fmt: skip

    def fresh(error=None, notice=None, status=200):
        return _section(config, error=error, notice=notice, status=status,
                        wanted=wanted if status == 400 else None)  # fmt: skip

    return _act(action, fresh, _("认定建议已保存。"))


@bp.post("/campaigns/<slug>/certification/publicity")
@allow("certify.manage")
def publicity(slug):
    """Start the 公示 of the pending proposals (projects → 公示中)."""
    config = load_campaign(slug)
    return _act(lambda: certification.start_publicity(current_actor(), slug,
                request.form.get("starts"), request.form.get("ends"),
                request.form.get("version")), _fresh(config), _("公示已开始。"))  # fmt: skip


@bp.post("/campaigns/<slug>/certification/objections")
@allow("objection.lodge")
def objection(slug):
    """Lodge an objection during the 公示 (or record one received, for the organizer)."""
    config = load_campaign(slug)
    return _act(lambda: certification.lodge_objection(current_actor(), slug,
                request.form.get("project"), request.form.get("text"),
                request.form.get("on_behalf_of", "")), _fresh(config),
                _("异议已提交，组织部核实后将答复。"))  # fmt: skip


@bp.post("/campaigns/<slug>/certification/objections/answer")
@allow("certify.manage")
def answer(slug):
    """Record how an objection was verified and the answer given."""
    config = load_campaign(slug)
    oid = request.form.get("objection", "")

    def action():
        if not oid:
            raise DomainError(_("请选择要答复的异议。"))
        certification.answer_objection(current_actor(), slug, oid,
                                       request.form.get("verification"),
                                       request.form.get("answer"),
                                       request.form.get("upheld") == "1",
                                       request.form.get("version"))  # fmt: skip

    return _act(action, _fresh(config), _("答复已记录。"))


@bp.post("/campaigns/<slug>/certification/finalise")
@allow("certify.manage")
def finalise(slug):
    """End the 公示: the outcomes become final (then a checkpoint, when available)."""
    config = load_campaign(slug)
    done = []

    def action():
        done.append(certification.finalise(current_actor(), slug, request.form.get("version")))

    response = _act(action, _fresh(config), _("认定结果已确定并公布。"))
    if done:
        try:
            certification.after_finalise(current_app.config)
        except Exception:  # the results stand; the checkpoint can be written by hand
            current_app.logger.exception("auto checkpoint after finalising failed")
    return response


@bp.post("/projects/<pid>/revoke")
@allow("certify.manage")
def revoke(pid):
    """Revoke a certification with a reason; its place is free again."""
    load_project(pid)

    def fresh(error=None, notice=None, status=200):
        return _panel(load_project(pid), error=error, notice=notice, status=status)

    return _act(lambda: certification.revoke(current_actor(), pid, request.form.get("reason"),
                request.form.get("outcome") or "passed", request.form.get("version")), fresh,
                _("已撤销认定，名额已释放。"))  # fmt: skip
