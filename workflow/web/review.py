"""The review queue, review decisions (single and bulk with a dry run) and revision diffs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, Response, request, url_for

from .. import authz, db, diff, lifecycle, log
from ..campaign_templates import CATEGORIES
from ..commands import applications, campaigns, review
from ..deadlines import show_utc_text
from ..errors import DomainError
from ..i18n import _
from ..log import ConcurrencyError
from . import allow, current_actor, form_int, render
from .projects import load_project

bp = Blueprint("review", __name__)

WAITING_STATES = ("under_review", "submitted")


def _waiting_days(text: str, now: datetime) -> int:
    return max(0, (now - log.parse_time(text)).days)


def queue(actor, slug: str | None, category: str | None, state: str) -> list[dict]:
    """Projects waiting for the organizer (or still for unit opinions), longest wait first."""
    now = datetime.now(UTC)
    rows = db.fetchall(
        "SELECT p.id, p.campaign, p.unit, p.category, p.state, p.revision, p.brand_name, "
        "p.updated_at, p.late, u.name, u.parent, u.root, c.title FROM project p "
        "JOIN org_unit u ON u.code = p.unit JOIN campaign c ON c.slug = p.campaign "
        "WHERE p.state = ? ORDER BY p.updated_at",
        (state,),
    )
    out, may_see = [], authz.scope(actor)
    for pid, camp, unit, cat, st, rev, brand, updated, late, unit_name, parent, root, title in rows:
        if (slug and camp != slug) or (category and cat != category):
            continue
        if not may_see(unit, parent, root):
            continue
        out.append({"id": pid, "campaign": camp, "campaign_title": title, "unit_name": unit_name,
                    "category_name": CATEGORIES[cat]["name"], "state": st, "revision": rev,
                    "brand_name": brand, "late": bool(late), "since": show_utc_text(updated),
                    "waiting_days": _waiting_days(updated, now)})  # fmt: skip
    return out


@bp.get("/review")
@allow("review.act")
def index():
    """The organizer's queue: by campaign, category and waiting time."""
    actor = current_actor()
    slug, category = request.args.get("campaign") or None, request.args.get("category") or None
    state = request.args.get("state", "under_review")
    if state not in WAITING_STATES:
        raise DomainError(_("状态筛选只能是“组织部审核中”或“待单位意见”。"))
    return render("review/index.html", "review/queue.html",
                  rows=queue(actor, slug, category, state), campaigns=campaigns.list_for(actor),
                  CATEGORIES=CATEGORIES, args=request.args, state=state,
                  STATES=lifecycle.STATES)  # fmt: skip


@bp.post("/projects/<pid>/review")
@allow("review.act")
def decide(pid):
    """Return for revision (reason required), approve (立项) or reject (reason required)."""
    load_project(pid)
    action = request.form.get("action", "")
    try:
        review.decide(current_actor(), pid, action, request.form.get("text", ""),
                      form_int(request.form.get("version")))  # fmt: skip
    except ConcurrencyError:
        fresh = load_project(pid)
        return render("review/panel_page.html", "review/conflict.html", project=fresh,
                      state_label=lifecycle.label(fresh["state"]), decisions=decisions(pid)), 409  # fmt: skip
    except DomainError as exc:
        if exc.status != 400:
            raise
        return render("review/panel_page.html", "review/error.html", message=exc.message), 400
    target = url_for("projects.show", pid=pid)
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": target})
    from flask import redirect

    return redirect(target)


@bp.post("/review/bulk")
@allow("review.act")
def bulk():
    """Bulk approve or return: first a dry run listing what would change, then the real run."""
    actor = current_actor()
    pids = request.form.getlist("pid")
    action, text = request.form.get("action", ""), request.form.get("text", "")
    confirmed = request.form.get("confirm") == "1"
    try:
        plan = (review.run_bulk if confirmed else review.plan_bulk)(actor, pids, action, text)
    except DomainError as exc:
        if exc.status != 400:
            raise
        return render("review/bulk_page.html", "review/error.html", message=exc.message), 400
    return render("review/bulk_page.html", "review/bulk_result.html", plan=plan, done=confirmed,
                  action=action, text=text, STATES=lifecycle.STATES,
                  action_label=_(review.ACTIONS[action][1]))  # fmt: skip


@bp.get("/projects/<pid>/diff")
@allow("project.view")
def compare(pid):
    """Two revisions field by field, additions and deletions highlighted."""
    project = load_project(pid)
    latest = project["revision"]
    a = form_int(request.args.get("a"), max(1, latest - 1))
    b = form_int(request.args.get("b"), latest)
    if not (1 <= a <= latest and 1 <= b <= latest):
        raise DomainError(_("版本号须在 1–%(latest)s 之间。", latest=latest))
    texts = dict(
        db.fetchall(
            "SELECT revision, fields FROM project_revision WHERE project = ? AND revision IN (?, ?)",
            (pid, a, b),
        )
    )
    config = campaigns.get(project["campaign"])
    rows = diff.compare_fields(config["form"], json.loads(texts[a]), json.loads(texts[b]))
    return render("review/diff_page.html", "review/diff.html", project=project, rows=rows,
                  a=a, b=b, revisions=range(1, latest + 1))  # fmt: skip


def decisions(pid: str) -> list[dict]:
    rows = db.fetchall(
        "SELECT d.revision, d.action, d.text, d.at, a.display_name FROM review_decision d "
        "LEFT JOIN user_account a ON a.username = d.actor WHERE d.project = ? ORDER BY d.position",
        (pid,),
    )
    return [{"revision": r, "action": _(review.ACTIONS[act][1]), "text": t, "at": show_utc_text(at),
             "who": who or ""} for r, act, t, at, who in rows]  # fmt: skip


@bp.get("/projects/<pid>/review-panel")
@allow("project.view")
def panel(pid):
    """Revisions with a compare link, the review history, and for the organizer the actions."""
    project = load_project(pid)
    actor = current_actor()
    may_act = authz.can(actor, "review.act") and project["state"] == "under_review"
    return render("review/panel_page.html", "review/panel.html", project=project,
                  decisions=decisions(pid), may_act=may_act,
                  version=applications.version(pid))  # fmt: skip
