"""Scoring in the browser: the rubric (edit, import, export), rounds and panels for the
organizer, the reviewer's score sheet with a running total, results with the ranking and a
chart, and score sheet exports (XLSX, CSV).

Organizer actions re-render the section they act on with the fresh stream version; a stale
version is a 409 showing the new state. A dry run (CSV, automatic proposal, closing a round)
renders its plan with a confirm form; nothing is written until it is confirmed.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Blueprint, Response, request

from .. import authz, db, lifecycle, log, rubric
from ..campaign_templates import CATEGORIES
from ..commands import assignment, campaigns, certification, scoring
from ..deadlines import show_utc_text
from ..errors import DomainError, Forbidden, NotFound
from ..exports import disposition, spreadsheet_safe
from ..i18n import N_, _, documents_language
from ..log import ConcurrencyError
from . import allow, current_actor, form_int, render
from .campaigns import load_campaign
from .projects import load_project

bp = Blueprint("scoring", __name__)

CONFLICT = N_("您提交前，这些内容已被他人修改（见下方最新状态），您的操作未执行。请核对后重试。")
MODE_HELP = {
    "range": N_("填写得分"),
    "bonus": N_("填写加分（可不填）"),
    "deduction": N_("填写缺项/扣分次数"),
    "count": N_("填写篇数/次数"),
    "levels": N_("选择等级"),
    "veto": N_("是否存在否决情形"),
}


def _page(fragment: str, **context):
    """The fragment alone for htmx; for a plain request the page around it."""
    return render("scoring/page.html", fragment, inner=fragment, **context)


def _act(action, fresh, notice: str = ""):
    """Run a command, then show the fresh section: with a notice, the error (400) or the
    conflict (409, with the state as it is now)."""
    try:
        action()
    except ConcurrencyError:
        return fresh(error=_(CONFLICT), status=409)
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        return fresh(error=exc.message, status=400)
    return fresh(notice=notice, status=200)


def _round(config: dict, round_: str) -> dict:
    stage = scoring.round_stage(config, round_)
    return {"code": round_, "name": stage["name"], "stage": stage,
            **scoring.round_state(config["slug"], round_)}  # fmt: skip


def _fmt(number) -> str:
    if number is None:
        return "—"
    return scoring._text(number)


def _when(text, config=None) -> str:
    if not text:
        return ""
    return show_utc_text(text, (config or {}).get("timezone", "Asia/Shanghai"))


# --- The rubric ----------------------------------------------------------------------------


def _rubric_rows(r: dict) -> list[dict]:
    rows = []
    for c, depth in rubric.walk(r["criteria"]):
        detail = []
        if c.get("per") is not None:
            detail.append(_("每次 %(per)s 分", per=c["per"]))
        if c.get("levels"):
            detail.append(_("；").join(f"{n}={p}" for n, p in c["levels"]))
        if c.get("mode") == "veto":
            detail.append(
                _("不合格")
                if c.get("effect", "fail") == "fail"
                else _("封顶 %(cap)s 分", cap=c.get("cap"))
            )
        if c.get("step") is not None:
            detail.append(_("步长 %(step)s", step=c["step"]))
        mode_label = rubric.MODES.get(c.get("mode", "range"))
        rows.append({**c, "depth": depth, "mode_label": _(mode_label) if mode_label else mode_label,
                     "detail": _("，").join(detail), "is_parent": bool(c.get("children")),
                     "levels_text": ";".join(f"{n}={p}" for n, p in c.get("levels") or []),
                     "max_text": _fmt(rubric.maximum(c)) if c.get("mode") != "veto" else "—"})  # fmt: skip
    return rows


def _rubric_section(config, editing=None, values=None, error=None, notice=None, status=200,
                    version=None):  # fmt: skip
    slug = config["slug"]
    r = scoring.current_rubric(slug)
    used = db.fetchone("SELECT COUNT(*) FROM score WHERE campaign = ?", (slug,))[0]
    context = dict(
        config=config, r=r, rows=_rubric_rows(r), editing=editing, values=values or {},
        error=error, notice=notice, history=scoring.rubric_history(slug), SOURCES=scoring.SOURCES,
        MODES=rubric.MODES, base_max=_fmt(rubric.base_maximum(r)), scores_made=used,
        version=log.stream_version(campaigns.stream(slug)) if version is None else version,
        may_edit=authz.can(current_actor(), "rubric.manage"), when=lambda t: _when(t, config),
        top_codes=[c["code"] for c in r["criteria"] if c.get("mode") not in ("veto", "bonus")],
    )  # fmt: skip
    return _page("scoring/rubric.html", **context), status


@bp.get("/campaigns/<slug>/rubric")
@allow("campaign.view")
def rubric_page(slug):
    """The campaign's rubric: criteria, points, guidance and evidence, its version history."""
    return _rubric_section(load_campaign(slug))


@bp.get("/campaigns/<slug>/rubric/<criterion>/edit")
@allow("rubric.manage")
def rubric_edit(slug, criterion):
    """One criterion as a form, in place."""
    config = load_campaign(slug)
    rows = {row["code"]: row for row in _rubric_rows(scoring.current_rubric(slug))}
    if criterion not in rows:
        raise NotFound(_("指标 %(code)s 不存在。", code=criterion))
    return _rubric_section(config, editing=criterion, values=rows[criterion])


def _criterion_values() -> dict:
    return {k: request.form.get(k, "") for k in scoring.CRITERION_KEYS}


@bp.post("/campaigns/<slug>/rubric/<criterion>")
@allow("rubric.manage")
def rubric_save(slug, criterion):
    """Save one criterion: a new rubric version, with the reason."""
    config = load_campaign(slug)
    values = _criterion_values()
    actor = current_actor()

    def fresh(error=None, notice=None, status=200):
        if error and status == 400:
            return _rubric_section(config, editing=criterion, status=400, error=error,
                                   version=request.form.get("version"),
                                   values={**values, "code": criterion,
                                           "reason": request.form.get("reason", "")})  # fmt: skip
        return _rubric_section(config, error=error, notice=notice, status=status)

    return _act(lambda: scoring.edit_criterion(actor, slug, criterion, values,
                request.form.get("reason"), request.form.get("version")), fresh,
                _("已保存，评分细则版本已更新。"))  # fmt: skip


@bp.post("/campaigns/<slug>/rubric/add")
@allow("rubric.manage")
def rubric_add(slug):
    """Add a criterion (top level, or under a 一级指标)."""
    config = load_campaign(slug)
    values = _criterion_values()
    actor = current_actor()

    def fresh(error=None, notice=None, status=200):
        return _rubric_section(config, error=error, notice=notice, status=status)

    return _act(lambda: scoring.add_criterion(actor, slug, request.form.get("parent") or None,
                request.form.get("code"), values, request.form.get("reason"),
                request.form.get("version")), fresh, _("已添加指标，评分细则版本已更新。"))  # fmt: skip


@bp.post("/campaigns/<slug>/rubric/<criterion>/delete")
@allow("rubric.manage")
def rubric_delete(slug, criterion):
    """Remove a criterion (and its sub-criteria), with the reason."""
    config = load_campaign(slug)
    actor = current_actor()

    def fresh(error=None, notice=None, status=200):
        return _rubric_section(config, error=error, notice=notice, status=status)

    return _act(lambda: scoring.remove_criterion(actor, slug, criterion,
                request.form.get("reason"), request.form.get("version")), fresh,
                _("已删除指标 %(code)s，评分细则版本已更新。", code=criterion))  # fmt: skip


@bp.post("/campaigns/<slug>/rubric/import")
@allow("rubric.manage")
def rubric_import(slug):
    """Replace the rubric from a CSV or JSON file (or pasted text): all or nothing."""
    config = load_campaign(slug)
    upload = request.files.get("file")
    text = request.form.get("text", "")
    name = ""
    if upload is not None and upload.filename:
        name = upload.filename.lower()
        raw = upload.read(1024 * 1024 + 1)
        if len(raw) > 1024 * 1024:
            raise DomainError(_("评分细则文件不超过 1 MB。"))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                text = ""
    fmt = request.form.get("format") or ("json" if name.endswith(".json") else "csv")
    if fmt not in ("csv", "json"):
        fmt = "csv"
    actor = current_actor()

    def fresh(error=None, notice=None, status=200):
        return _rubric_section(config, error=error, notice=notice, status=status)

    return _act(lambda: scoring.import_rubric(actor, slug, text, fmt, request.form.get("reason"),
                request.form.get("version")), fresh, _("导入成功，评分细则版本已更新。"))  # fmt: skip


@bp.get("/campaigns/<slug>/rubric.<fmt>")
@allow("campaign.view")
def rubric_export(slug, fmt):
    """The current rubric as CSV (UTF-8 with BOM) or JSON: the same shape import reads."""
    load_campaign(slug)
    r = scoring.current_rubric(slug)
    version = r.get("version", 1)
    if fmt == "json":
        return Response(rubric.to_json(r), mimetype="application/json",
                        headers=_attachment(f"{slug}-rubric-v{version}.json"))  # fmt: skip
    if fmt == "csv":
        return Response("\ufeff" + rubric.to_csv(r), mimetype="text/csv; charset=utf-8",
                        headers=_attachment(f"{slug}-rubric-v{version}.csv"))  # fmt: skip
    raise NotFound(_("只能导出 CSV 或 JSON。"))


def _attachment(name: str) -> dict:
    return {"Content-Disposition": disposition(name)}


# --- Rounds and panels (organizer, auditor) ------------------------------------------------


@bp.get("/campaigns/<slug>/scoring")
@allow("scoring.view")
def rounds(slug):
    """The campaign's scoring rounds with their state, and where to go next."""
    config = load_campaign(slug)
    items = []
    for r in scoring.rounds_of(config):
        projects = scoring.round_projects(slug, r["code"])
        assigned = db.fetchone(
            "SELECT COUNT(DISTINCT project) FROM panel_assignment WHERE campaign = ? AND round = ? "
            "AND active = 1", (slug, r["code"]))[0]  # fmt: skip
        items.append({**r, "projects": len(projects), "assigned": assigned,
                      "state_label": scoring.ROUND_STATES[r["state"]]})  # fmt: skip
    return _page("scoring/rounds.html", config=config, rounds=items)


def _chart(rows: list[dict], maximum: Decimal) -> dict:
    """Geometry of a horizontal bar chart (server-rendered SVG): one bar per scored project,
    with its min–max range as a thin line."""
    scored = [r for r in rows if r["aggregate"] is not None]
    top = max([maximum, *(Decimal(str(r["spread"]["max"])) for r in scored)]) or Decimal(100)
    label_w, bar_w, row_h = 190, 330, 26
    bars = []
    for index, r in enumerate(scored):
        y = 10 + index * row_h
        scale = float(bar_w) / float(top)
        bars.append({
            "y": y, "label": f"{r['rank']}. {r['unit_name'] or r['id']}", "tied": r["tied"],
            "w": round(float(r["aggregate"]) * scale, 1), "value": _fmt(r["aggregate"]),
            "min_x": round(label_w + r["spread"]["min"] * scale, 1),
            "max_x": round(label_w + r["spread"]["max"] * scale, 1),
            "text_x": round(label_w + max(float(r["aggregate"]), r["spread"]["max"]) * scale + 6, 1),
            "top": r["rank"] is not None and r["rank"] <= 3,
            "brand": r["brand_name"]})  # fmt: skip
    ticks = [{"x": round(label_w + bar_w * i / 4, 1), "v": _fmt(top * i / 4)} for i in range(5)]
    return {"bars": bars, "label_w": label_w, "bar_w": bar_w,
            "height": 30 + len(bars) * row_h, "width": label_w + bar_w + 60, "ticks": ticks}  # fmt: skip


def _round_section(config, round_, error=None, notice=None, status=200, plan=None):
    slug = config["slug"]
    info = _round(config, round_)
    rows = scoring.round_table(config, round_)
    rows.sort(key=lambda row: (row["category"], row["unit"]))
    names = scoring.reviewer_names()
    r = scoring.current_rubric(slug)
    by_category = scoring.ranking(config, round_, rows)
    charts = {c: _chart(items, rubric.base_maximum(r)) for c, items in by_category.items()}
    agg = config.get("aggregation") or {}
    context = dict(
        config=config, info=info, rows=rows, by_category=by_category, charts=charts, names=names,
        pool=assignment.pool(config), conflicts=assignment.conflicts(slug),
        exclusions=assignment.automatic_exclusions(config), error=error, notice=notice,
        version=log.stream_version(scoring.panel_stream(slug)), CATEGORIES=CATEGORIES,
        STATES=lifecycle.STATES, ROUND_STATES=scoring.ROUND_STATES, fmt=_fmt,
        may_manage=authz.can(current_actor(), "scoring.manage"), plan=plan,
        method=(_("去掉一个最高分和一个最低分后取平均（%(n)s 位及以上评审时）",
                  n=agg.get("trim_from", 5))
                if agg.get("method") == "trimmed_mean" else _("算术平均")),
        when=lambda t: _when(t, config),
    )  # fmt: skip
    return _page("scoring/round.html", **context), status


def _round_fresh(config, round_):
    def fresh(error=None, notice=None, status=200):
        return _round_section(config, round_, error=error, notice=notice, status=status)

    return fresh


@bp.get("/campaigns/<slug>/scoring/<round_>")
@allow("scoring.view")
def round_page(slug, round_):
    """A round: its state, the panel of every project, the results and ranking with a chart."""
    config = load_campaign(slug)
    return _round_section(config, round_)


@bp.post("/campaigns/<slug>/scoring/<round_>/open")
@allow("scoring.manage")
def round_open(slug, round_):
    """Open the round for scoring."""
    config = load_campaign(slug)
    scoring.round_stage(config, round_)
    return _act(lambda: scoring.open_round(current_actor(), slug, round_, request.form.get("note"),
                request.form.get("version")), _round_fresh(config, round_), _("评分已开启。"))  # fmt: skip


@bp.post("/campaigns/<slug>/scoring/<round_>/close")
@allow("scoring.manage")
def round_close(slug, round_):
    """Close the round: first a preview of what moves and who has not scored; then for real."""
    config = load_campaign(slug)
    scoring.round_stage(config, round_)
    if request.form.get("confirm") != "1":
        if scoring.round_state(slug, round_)["state"] != "open":
            return _round_section(config, round_, error=_("该轮评分未开启或已经结束。"), status=400)
        plan = scoring.close_plan(slug, round_)
        return _page("scoring/close_plan.html", config=config,
                      info=_round(config, round_), plan=plan, names=scoring.reviewer_names(),
                      version=form_int(request.form.get("version")), fmt=_fmt,
                      STATES=lifecycle.STATES, after=_(lifecycle.label(
                          scoring.lifecycle_state_after(round_))))  # fmt: skip
    return _act(lambda: scoring.close_round(current_actor(), slug, round_,
                request.form.get("version")), _round_fresh(config, round_),
                _("评分已结束，已评分的项目状态已更新。"))  # fmt: skip


@bp.post("/campaigns/<slug>/scoring/<round_>/assign")
@allow("scoring.manage")
def assign(slug, round_):
    """Assign one reviewer to one project."""
    config = load_campaign(slug)
    scoring.round_stage(config, round_)
    return _act(lambda: assignment.assign(current_actor(), slug, round_,
                request.form.get("project"), request.form.get("reviewer"),
                request.form.get("version")), _round_fresh(config, round_), _("已分配。"))  # fmt: skip


@bp.post("/campaigns/<slug>/scoring/<round_>/unassign")
@allow("scoring.manage")
def unassign(slug, round_):
    """Take a reviewer off a project's panel, with a reason."""
    config = load_campaign(slug)
    scoring.round_stage(config, round_)
    return _act(lambda: assignment.unassign(current_actor(), slug, round_,
                request.form.get("project"), request.form.get("reviewer"),
                request.form.get("reason"), request.form.get("version")),
                _round_fresh(config, round_), _("已取消分配。"))  # fmt: skip


def _plan_page(config, round_, status=200, **context):
    return _page("scoring/plan.html", config=config,
                  info=_round(config, round_), **context), status  # fmt: skip


@bp.post("/campaigns/<slug>/scoring/<round_>/assign-csv")
@allow("scoring.manage")
def assign_csv(slug, round_):
    """Bulk assignment from CSV (project id, reviewer username): a dry run, then confirm."""
    config = load_campaign(slug)
    scoring.round_stage(config, round_)
    actor = current_actor()
    fresh = _round_fresh(config, round_)
    if request.form.get("confirm") == "1":
        pairs = list(zip(request.form.getlist("project"), request.form.getlist("reviewer")))
        return _act(lambda: assignment.run_pairs(actor, slug, round_, pairs, "csv",
                    request.form.get("version")), fresh, _("已导入 %(n)s 条分配。", n=len(pairs)))  # fmt: skip
    text = request.form.get("text", "")
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        text = upload.read(256 * 1024).decode("utf-8-sig", errors="replace")
    try:
        plan = assignment.plan_csv(actor, slug, round_, text)
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        return _plan_page(config, round_, 400, error=exc.message, kind="csv")
    return _plan_page(config, round_, kind="csv", rows=plan,
                      version=log.stream_version(scoring.panel_stream(slug)))  # fmt: skip


@bp.post("/campaigns/<slug>/scoring/<round_>/auto")
@allow("scoring.manage")
def auto(slug, round_):
    """A balanced automatic proposal (N reviewers per project, conflicts respected); the
    organizer confirms it as shown."""
    config = load_campaign(slug)
    scoring.round_stage(config, round_)
    actor = current_actor()
    if request.form.get("confirm") == "1":
        pairs = list(zip(request.form.getlist("project"), request.form.getlist("reviewer")))
        return _act(lambda: assignment.run_pairs(actor, slug, round_, pairs, "auto",
                    request.form.get("version")), _round_fresh(config, round_),
                    _("已按方案分配 %(n)s 人次。", n=len(pairs)))  # fmt: skip
    try:
        proposal = assignment.propose(actor, slug, round_, form_int(request.form.get("per_project")),
                                      set(request.form.getlist("pool")) or None)  # fmt: skip
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        return _plan_page(config, round_, 400, error=exc.message, kind="auto")
    return _plan_page(config, round_, kind="auto", proposal=proposal,
                      version=log.stream_version(scoring.panel_stream(slug)))  # fmt: skip


@bp.post("/campaigns/<slug>/scoring/conflicts")
@allow("scoring.manage")
def record_conflict(slug):
    """The organizer records a reviewer's conflict of interest on a project."""
    config = load_campaign(slug)
    round_ = request.form.get("round") or "midterm"
    if round_ not in scoring.ROUNDS or not scoring.deadlines.stage(config, round_):
        round_ = "final"
    project = request.form.get("project", "")
    pid = project if project.startswith(slug + ".") else ""

    def action():
        if not pid:
            raise DomainError(_("请选择项目。"))
        assignment.declare_conflict(current_actor(), pid, request.form.get("reviewer"),
                                    request.form.get("reason"), request.form.get("version"))  # fmt: skip

    return _act(action, _round_fresh(config, round_), _("已登记回避。"))


# --- A project's scores --------------------------------------------------------------------


def _criteria_rows(r: dict) -> list[dict]:
    return [{**c, "depth": depth, "is_parent": bool(c.get("children")),
             "mode": c.get("mode", "range"), "max_text": _fmt(rubric.maximum(c)),
             "help": _help(c.get("mode", "range"))}
            for c, depth in rubric.walk(r["criteria"])]  # fmt: skip


def _help(mode: str) -> str:
    """What to enter for a criterion of this mode, in the UI language."""
    text = MODE_HELP.get(mode)
    return _(text) if text else ""


def _per_criterion(slug: str, score: dict) -> dict:
    """Points per criterion code for a stored score, under the rubric version it used."""
    try:
        r = scoring.rubric_at(slug, score["rubric_version"])
        return {k: _fmt(v) for k, v in rubric.total(r, score["inputs"]).per_criterion.items()}
    except (DomainError, rubric.RubricError):
        return {}


def _sheet(config: dict, project: dict, round_: str) -> dict:
    """The organizer's (and auditor's) view of one project in one round."""
    slug = config["slug"]
    result = scoring.project_result(config, project["id"], round_)
    names = scoring.reviewer_names()
    for s in result["scores"]:
        s["per"] = _per_criterion(slug, s)
        s["name"] = names.get(s["reviewer"], s["reviewer"])
    r = scoring.current_rubric(slug)
    return {"result": result, "criteria": _criteria_rows(r), "r": r, "names": names,
            "editions": db.fetchall(
                "SELECT reviewer, edition, total, rubric_version, revision, at FROM score_edition "
                "WHERE project = ? AND round = ? ORDER BY position", (project["id"], round_))}  # fmt: skip


def _reviewer_form(config, project, round_, values=None, comments=None, error=None, notice=None,
                   errors=None, version=None, stated_version=None):  # fmt: skip
    actor = current_actor()
    slug = config["slug"]
    r = scoring.current_rubric(slug)
    mine = scoring.my_score(project["id"], round_, actor.username)
    draft = scoring.load_draft(project["id"], round_, actor.username)
    if values is None:
        source = draft or mine or {"inputs": {}, "comments": {}}
        values, comments = source["inputs"], source["comments"]
    others = []
    if mine:
        names = {}
        for s in scoring.counted_scores(project["id"], round_):
            if s["reviewer"] == actor.username:
                continue
            names.setdefault(s["reviewer"], _("专家 %(letter)s", letter=chr(ord("A") + len(names))))
            others.append({"label": names[s["reviewer"]], "total": s["total"],
                           "per": _per_criterion(slug, s), "comments": s["comments"],
                           "failed": s["failed"]})  # fmt: skip
    info = _round(config, round_)
    stream = scoring.score_stream(project["id"], round_, actor.username)
    return {
        "config": config, "project": project, "info": info, "r": r,
        "criteria": _criteria_rows(r), "values": values, "comments": comments or {},
        "mine": mine, "draft": draft, "others": others,
        "mine_per": _per_criterion(slug, mine) if mine else {}, "error": error, "notice": notice,
        "errors": errors or {}, "rubric_version": stated_version or r.get("version", 1),
        "version": log.stream_version(stream) if version is None else version,
        "preview": scoring.preview(config, r, values), "open": info["state"] == "open",
        "when": lambda t: _when(t, config), "fmt": _fmt,
    }  # fmt: skip


def _scorer_project(pid: str, round_: str):
    """Project, campaign and stage for the reviewer's own sheet: 403 unless assigned."""
    from ..commands.applications import get_project

    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    config = campaigns.get(project["campaign"])
    stage = scoring.round_stage(config, round_)
    actor = current_actor()
    reason = assignment.exclusion_reason(pid, actor.username)
    if reason:
        raise Forbidden(_("您与该项目存在利益冲突，须回避，不能评分：%(reason)s", reason=reason))
    if actor.username not in scoring.panel_of(pid, round_):
        raise Forbidden(_("您未被分配评审该项目的“%(stage)s”，不能评分。", stage=stage["name"]))
    return load_project(pid), config


@bp.get("/projects/<pid>/scoring/<round_>")
@allow("project.view")
def sheet(pid, round_):
    """Organizer/auditor: every reviewer's scores, aggregate, spread, who has not scored.
    Reviewer on the panel: the score form (and others' scores once theirs is in)."""
    actor = current_actor()
    if authz.can(actor, "scoring.view"):
        project = load_project(pid)
        config = campaigns.get(project["campaign"])
        info = _round(config, round_)
        return _page("scoring/sheet.html", config=config,
                      project=project, info=info, fmt=_fmt, when=lambda t: _when(t, config),
                      **_sheet(config, project, round_))  # fmt: skip
    if not authz.can(actor, "scoring.score"):
        raise Forbidden(_("只有组织部、审计和分配的评审专家可以查看评分表。"))
    project, config = _scorer_project(pid, round_)
    return _page("scoring/score_form.html",
                  **_reviewer_form(config, project, round_))  # fmt: skip


def _posted() -> tuple[dict, dict]:
    inputs = {k[3:]: v for k, v in request.form.items() if k.startswith("in-")}
    comments = {k[5:]: v for k, v in request.form.items() if k.startswith("note-")}
    return inputs, comments


@bp.post("/projects/<pid>/scoring/<round_>/total")
@allow("scoring.score")
def running_total(pid, round_):
    """The running total of what is typed so far (htmx, on input): nothing is saved."""
    project, config = _scorer_project(pid, round_)
    inputs, _comments = _posted()
    r = scoring.current_rubric(project["campaign"])
    return _page("scoring/total.html", config=config,
                  preview=scoring.preview(config, r, inputs), fmt=_fmt)  # fmt: skip


@bp.post("/projects/<pid>/scoring/<round_>/draft")
@allow("scoring.score")
def save_draft(pid, round_):
    """Save the unfinished score (kept outside the log until it is submitted)."""
    project, config = _scorer_project(pid, round_)
    inputs, comments = _posted()
    try:
        at = scoring.save_draft(current_actor(), pid, round_, inputs, comments)
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        return _page("scoring/draft_saved.html",
                      error=exc.message), 400  # fmt: skip
    return _page("scoring/draft_saved.html",
                  at=_when(at, config))  # fmt: skip


@bp.post("/projects/<pid>/scoring/<round_>/submit")
@allow("scoring.score")
def submit(pid, round_):
    """Submit (or revise) the score: every criterion within its rules, on the current rubric."""
    project, config = _scorer_project(pid, round_)
    inputs, comments = _posted()
    actor = current_actor()
    status, error, notice = 200, None, None
    try:
        scoring.submit(actor, pid, round_, inputs, comments, request.form.get("rubric_version"),
                       request.form.get("version"))  # fmt: skip
        notice = _("评分已提交。评分结束前您仍可修改，每次修改都会记录。")
    except ConcurrencyError:
        status, error = (
            409,
            _("您在别处（另一个窗口）已提交过新的评分，本次未保存。请核对下方最新评分后再修改。"),
        )
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        status, error = 400, exc.message
    if status == 200 or status == 409:
        context = _reviewer_form(config, project, round_, error=error, notice=notice)
        if status == 409:
            context["values"], context["comments"] = inputs, comments
            context["preview"] = scoring.preview(config, context["r"], inputs)
    else:
        context = _reviewer_form(config, project, round_, values=inputs, comments=comments,
                                 error=error, version=form_int(request.form.get("version")),
                                 errors=scoring.preview(config, scoring.current_rubric(
                                     project["campaign"]), inputs)["errors"])  # fmt: skip
    return _page("scoring/score_form.html", **context), status


@bp.post("/projects/<pid>/conflict")
@allow("scoring.score")
def declare_conflict(pid):
    """A reviewer declares a conflict of interest on a project assigned to them."""
    project = load_project(pid)
    try:
        assignment.declare_conflict(current_actor(), pid, None, request.form.get("reason"))
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        return _panel(project, error=exc.message, status=400)
    return _panel(project, notice=_("已申报回避：您不再评审该项目。"))


@bp.get("/scoring")
@allow("scoring.score")
def tasks():
    """A reviewer's assignments across campaigns and rounds, with what is left to do."""
    items = scoring.reviewer_tasks(current_actor())
    return _page("scoring/tasks.html", tasks=items,
                  STATES=lifecycle.STATES, ROUND_STATES=scoring.ROUND_STATES)  # fmt: skip


# --- The panel on the project page ---------------------------------------------------------


def _panel(project: dict, error=None, notice=None, status=200):
    actor = current_actor()
    config = campaigns.get(project["campaign"])
    pid = project["id"]
    rounds = []
    is_staff = authz.can(actor, "scoring.view")
    final = project["state"] in certification.FINAL_STATES
    for r in scoring.rounds_of(config):
        row = db.fetchone("SELECT score, reviewers, grade, at FROM round_result "
                          "WHERE project = ? AND round = ?", (pid, r["code"]))  # fmt: skip
        item = {**r, "result": dict(zip(("score", "reviewers", "grade", "at"), row)) if row else None,
                "state_label": scoring.ROUND_STATES[r["state"]]}  # fmt: skip
        if is_staff:
            live = scoring.project_result(config, pid, r["code"])
            item["live"] = live
            item["panel"] = [scoring.reviewer_names().get(u, u) for u in live["panel"]]
        if actor.has("reviewer"):
            item["assigned"] = actor.username in scoring.panel_of(pid, r["code"])
            item["mine"] = scoring.my_score(pid, r["code"], actor.username)
        rounds.append(item)
    outcome = certification.outcome_of(pid)
    proposal = certification.proposals(config["slug"]).get(pid) if is_staff else None
    declared = assignment.declared_conflict(pid, actor.username) if actor.has("reviewer") else None
    context = dict(
        project=project, config=config, rounds=rounds, is_staff=is_staff, final=final,
        outcome=outcome, proposal=proposal, OUTCOMES=certification.OUTCOMES, fmt=_fmt,
        may_revoke=authz.can(actor, "certify.manage") and project["state"] == "certified",
        version=log.stream_version(f"project:{pid}"), error=error, notice=notice,
        reviewer=actor.has("reviewer"), declared=declared, when=lambda t: _when(t, config),
        show_unit_result=final and not is_staff,
    )  # fmt: skip
    return _page("scoring/panel.html", **context), status


@bp.get("/projects/<pid>/scoring")
@allow("project.view")
def project_panel(pid):
    """Scoring and certification on the project page, as the viewer may see them: the unit
    sees its results only once they are final; reviewers' names only organizer and auditor."""
    return _panel(load_project(pid))


# --- Exports -------------------------------------------------------------------------------

SHEET_HEADER = ["项目编号", "单位", "品牌名称", "创建类型", "评审专家", "账号", "细则版本",
                "申报版本", "指标编号", "指标", "输入", "得分", "评语", "总分", "提交次数",
                "提交时间"]  # fmt: skip
SUMMARY_HEADER = ["创建类型", "排名", "并列", "单位", "品牌名称", "项目编号", "状态", "评审人数",
                  "已评分", "汇总得分", "最低分", "最高分", "标准差", "等级", "未评分专家"]  # fmt: skip


def _export_rows(config: dict, round_: str):
    slug = config["slug"]
    names = scoring.reviewer_names()
    table = scoring.round_table(config, round_)
    summary, detail = [], []
    for row in sorted(table, key=lambda i: (i["category"], i["rank"] is None, i["rank"] or 0)):
        spread = row["spread"]
        summary.append([CATEGORIES[row["category"]]["name"], row["rank"] or "",
                        "是" if row["tied"] else "", row["unit_name"], row["brand_name"], row["id"],
                        lifecycle.label(row["state"]), len(row["panel"]), len(row["scores"]),
                        _num(row["aggregate"]), spread["min"], spread["max"], spread["stdev"],
                        row["grade"], "、".join(names.get(u, u) for u in row["missing"])])  # fmt: skip
        for s in row["scores"]:
            r = scoring.rubric_at(slug, s["rubric_version"])
            per = _per_criterion(slug, s)
            for c, _depth in rubric.walk(r["criteria"]):
                detail.append([row["id"], row["unit_name"], row["brand_name"],
                               CATEGORIES[row["category"]]["name"], names.get(s["reviewer"], ""),
                               s["reviewer"], s["rubric_version"], s["revision"], c["code"],
                               c["name"], s["inputs"].get(c["code"], ""),
                               _num(per.get(c["code"])), s["comments"].get(c["code"], ""),
                               _num(s["total"]), s["editions"], _when(s["at"], config)])  # fmt: skip
    return summary, detail


def _num(value):
    if value is None or value == "—" or value == "":
        return ""
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


@bp.get("/campaigns/<slug>/scoring/<round_>/scores.<fmt>")
@allow("scoring.view")
@documents_language()
def export(slug, round_, fmt):
    """Score sheets: XLSX (汇总 + 评分明细) or CSV (明细, UTF-8 with BOM)."""
    config = load_campaign(slug)
    info = _round(config, round_)
    summary, detail = _export_rows(config, round_)
    base = f"{slug}-{round_}-评分表"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(SHEET_HEADER)
        for line in detail:
            writer.writerow([spreadsheet_safe(v) for v in line])
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8",
                        headers=_attachment(base + ".csv"))  # fmt: skip
    if fmt != "xlsx":
        raise NotFound(_("只能导出 XLSX 或 CSV。"))
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = book.active
    first.title = "汇总"
    first.append([f"{config['title']} · {info['name']} 评分汇总"])
    first.append(SUMMARY_HEADER)
    for line in summary:
        first.append([spreadsheet_safe(v) for v in line])
    second = book.create_sheet("评分明细")
    second.append(SHEET_HEADER)
    for line in detail:
        second.append([spreadsheet_safe(v) for v in line])
    for sheet_ in (first, second):
        for cell in sheet_[1 if sheet_ is second else 2]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), headers=_attachment(base + ".xlsx"),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")  # fmt: skip
