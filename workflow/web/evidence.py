"""Cultivation in the browser: the evidence panel of a project (news, activities, photos,
funding, deferrals, the live checklist) and the organizer's compliance matrix with its
CSV/XLSX export and chart.

Every post answers an htmx request with the refreshed panel (errors inline, status 400) and a
plain form post with a redirect to the project page, or the full page with the errors.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for

from .. import authz, compliance, db, deadlines, lifecycle, photos
from ..campaign_templates import CATEGORIES, NEWS_LEVELS
from ..commands import campaigns, deferrals, evidence, funding
from ..commands.applications import FormErrors
from ..deadlines import show_utc_text
from ..errors import DomainError
from ..exports import disposition, spreadsheet_safe
from ..i18n import _, documents_language
from ..log import ConcurrencyError
from . import allow, current_actor, is_htmx, render
from .campaigns import load_campaign
from .projects import load_project

bp = Blueprint("evidence", __name__)

FORMS = ("news", "activity", "photos", "caption", "withdraw", "budget", "expense", "deferral",
         "decide")  # fmt: skip


# --- Reading --------------------------------------------------------------------------------


def _rows(sql: str, params, keys: tuple) -> list[dict]:
    return [dict(zip(keys, r)) for r in db.fetchall(sql, params)]


def panel_context(project: dict, form: str | None = None, errors=None, values=None,
                  notice=None) -> dict:  # fmt: skip
    """Everything the evidence panel shows, for the current user."""
    pid, actor = project["id"], current_actor()
    config = campaigns.get(project["campaign"])
    tz = config["timezone"]
    news = _rows(
        "SELECT news_id, title, url, platform, level, published_on, screenshot_sha, "
        "screenshot_thumb, late, actor, at FROM evidence_news "
        "WHERE project = ? AND withdrawn_position IS NULL ORDER BY published_on DESC, position",
        (pid,),
        ("news_id", "title", "url", "platform", "level", "published_on", "screenshot_sha",
         "screenshot_thumb", "late", "actor", "at"),
    )  # fmt: skip
    activities = _rows(
        "SELECT activity_id, kind, title, held_on, place, participants, summary, late, at "
        "FROM evidence_activity WHERE project = ? AND withdrawn_position IS NULL "
        "ORDER BY held_on DESC, position",
        (pid,),
        ("activity_id", "kind", "title", "held_on", "place", "participants", "summary", "late",
         "at"),
    )  # fmt: skip
    photo_rows = _rows(
        "SELECT photo_id, activity, sha256, thumb_sha, name, width, height, size, caption, late "
        "FROM project_photo WHERE project = ? AND withdrawn_position IS NULL ORDER BY position",
        (pid,),
        ("photo_id", "activity", "sha256", "thumb_sha", "name", "width", "height", "size",
         "caption", "late"),
    )  # fmt: skip
    by_activity: dict[str, list] = {}
    for p in photo_rows:
        by_activity.setdefault(p["activity"] or "", []).append(p)
    requests = _rows(
        "SELECT request_id, stage, wanted_due, reason, status, granted_due, decision_text, "
        "requested_by, requested_at, decided_at FROM deferral_request WHERE project = ? "
        "ORDER BY requested_at DESC",
        (pid,),
        ("request_id", "stage", "wanted_due", "reason", "status", "granted_due",
         "decision_text", "requested_by", "requested_at", "decided_at"),
    )  # fmt: skip
    stage_names = {s["code"]: s["name"] for s in config["stages"]}
    stages = []
    for s in deferrals.stages_for(config):
        w = deadlines.window(config, s["code"], project["unit"])
        stages.append({**s, "due_text": deadlines.show(w.due, tz), "extended": w.extended})
    is_organizer = authz.can(actor, "campaign.manage") and authz.in_scope(actor, project["unit"])
    window_note = None
    code = evidence.evidence_stage(config)
    if code:
        w = deadlines.window(config, code, project["unit"])
        if w.late(datetime.now(UTC)):
            when = _("“%(name)s”阶段已于 %(due)s 截止", name=stage_names[code],
                     due=deadlines.show(w.due, tz))  # fmt: skip
            window_note = (_("%(when)s，补充材料需先申请延期，经组织部批准后再登记。", when=when)
                           if config.get("late_policy") == "refuse"
                           else _("%(when)s，现在登记的材料将标记为“逾期登记”。", when=when))  # fmt: skip
    state = project["state"]
    return {
        "project": project,
        "config": config,
        "checklist": compliance.checklist(project, config),
        "news": news,
        "activities": activities,
        "photos_by_activity": by_activity,
        "photo_count": len(photo_rows),
        "loose_photos": by_activity.get("", []),
        "requests": requests,
        "stages": stages,
        "stage_names": stage_names,
        "funding": funding.summary(pid) if config.get("funding") else None,
        "may_post": evidence.may_post(actor, project),
        "is_organizer": is_organizer,
        "evidence_open": state in lifecycle.MOVES["evidence"][1],
        "funding_open": state in lifecycle.MOVES["funding"][1],
        "deferral_open": state in lifecycle.MOVES["deferral"][1],
        "captions_required": evidence.captions_required(config),
        "min_side": int(config.get("evidence", {}).get("photo_min_pixels") or 0),
        "max_mb": photos.MAX_PHOTO_BYTES // (1024 * 1024),
        "NEWS_LEVELS": NEWS_LEVELS,
        "qualifying": set(config.get("evidence", {}).get("news_levels", [])),
        "ACTIVITY_KINDS": evidence.ACTIVITY_KINDS,
        "DEFERRAL_STATUS": deferrals.STATUS,
        "STATUS": compliance.STATUS,
        "state_label": lifecycle.label(state),
        "window_note": window_note,
        "form": form,
        "errors": errors or {},
        "values": values or {},
        "notice": notice,
        "show_time": lambda t: show_utc_text(t, tz) if t else "",
        "today": evidence.today(config, datetime.now(UTC)).isoformat(),
    }


@bp.get("/projects/<pid>/evidence")
@allow("project.view")
def panel(pid):
    """The cultivation panel: checklist, news, activities, photos, funding, deferrals."""
    project = load_project(pid)
    return render("evidence/page.html", "evidence/panel.html", **panel_context(project))


# --- Posting --------------------------------------------------------------------------------


def _uploads(name: str, limit: int) -> list[tuple[bytes, str]]:
    return [(f.read(limit + 1), f.filename) for f in request.files.getlist(name)
            if f and f.filename]  # fmt: skip


def _one_upload(name: str, limit: int):
    files = _uploads(name, limit)
    return files[0] if files else None


def _captions(count: int) -> list[str]:
    """Per-file captions (added by app.js), else the one caption typed for all."""
    each = request.form.getlist("captions")
    common = request.form.get("caption", "")
    return [(each[i] if i < len(each) and each[i].strip() else common) for i in range(count)]


def _done(project: dict, notice: str):
    """After a successful post: the refreshed panel (htmx) or back to the project page."""
    fresh = load_project(project["id"])
    if not is_htmx():
        return redirect(url_for("projects.show", pid=project["id"]) + "#evidence")
    if fresh["state"] != project["state"]:  # e.g. approved -> cultivating: the header changes
        target = url_for("projects.show", pid=project["id"])
        # Already on the project page, a redirect to it + "#evidence" would only scroll (a
        # same-document fragment navigation), leaving the stale panel: reload it instead.
        if urlsplit(request.headers.get("HX-Current-URL", "")).path == target:
            return Response(status=204, headers={"HX-Refresh": "true"})
        return Response(status=204, headers={"HX-Redirect": target + "#evidence"})
    return render("evidence/page.html", "evidence/panel.html",
                  **panel_context(fresh, notice=notice))  # fmt: skip


def _failed(project: dict, form: str, exc: DomainError):
    """Field errors inline (400); Forbidden and NotFound go to the error pages."""
    if exc.status != 400:
        raise exc
    errors = exc.errors if isinstance(exc, FormErrors) else {"_": exc.message}
    if isinstance(exc, FormErrors):
        errors = {**errors, "_": exc.message}
    values = {k: request.form.get(k, "") for k in request.form}
    context = panel_context(project, form=form, errors=errors, values=values)
    return render("evidence/page.html", "evidence/panel.html", **context), 400


def _run(pid: str, form: str, action, notice: str):
    project = load_project(pid)
    try:
        action(project)
    except DomainError as exc:
        return _failed(project, form, exc)
    except ConcurrencyError:
        exc = DomainError(_("您提交前，本项目的材料已有新的变化，请核对后重试。"))
        return _failed(load_project(pid), form, exc)
    return _done(project, notice)


def _upload_dir() -> str:
    return current_app.config["UPLOAD_DIR"]


@bp.post("/projects/<pid>/evidence/news")
@allow("project.view")
def add_news(pid):
    """Register a news article (宣传报道) with an optional screenshot."""

    def action(project):
        shot = _one_upload("screenshot", photos.MAX_PHOTO_BYTES)
        evidence.add_news(current_actor(), pid, request.form, shot, _upload_dir())

    return _run(pid, "news", action, _("宣传报道已登记。"))


@bp.post("/projects/<pid>/evidence/activities")
@allow("project.view")
def add_activity(pid):
    """Record an activity (主题党日 and others) with its photos."""

    def action(project):
        uploads = _uploads("photos", photos.MAX_PHOTO_BYTES)
        evidence.record_activity(current_actor(), pid, request.form, uploads,
                                 _captions(len(uploads)), _upload_dir())  # fmt: skip

    return _run(pid, "activity", action, _("活动记录已登记。"))


@bp.post("/projects/<pid>/evidence/photos")
@allow("project.view")
def add_photos(pid):
    """Upload one or many captioned photos (htmx, with a progress bar)."""

    def action(project):
        uploads = _uploads("photos", photos.MAX_PHOTO_BYTES)
        evidence.add_photos(current_actor(), pid, uploads, _captions(len(uploads)),
                            _upload_dir(), activity=request.form.get("activity") or None)  # fmt: skip

    return _run(pid, "photos", action, _("照片已上传。"))


@bp.post("/projects/<pid>/evidence/caption")
@allow("project.view")
def caption(pid):
    """Change a photo's caption."""

    def action(project):
        evidence.change_caption(current_actor(), pid, request.form.get("photo_id", ""),
                                request.form.get("caption", ""))  # fmt: skip

    return _run(pid, "caption", action, _("照片注释已保存。"))


@bp.post("/projects/<pid>/evidence/withdraw")
@allow("project.view")
def withdraw(pid):
    """Withdraw an item entered by mistake (kept in the history, marked withdrawn)."""

    def action(project):
        evidence.withdraw(current_actor(), pid, request.form.get("kind", ""),
                          request.form.get("item_id", ""), request.form.get("reason", ""))  # fmt: skip

    return _run(pid, "withdraw", action, _("已撤回。"))


@bp.post("/projects/<pid>/funding/budget")
@allow("campaign.manage")
def set_budget(pid):
    """The organizer sets the project's budget."""

    def action(project):
        funding.set_budget(current_actor(), pid, request.form.get("amount"),
                           request.form.get("note", ""))  # fmt: skip

    return _run(pid, "budget", action, _("预算已保存。"))


@bp.post("/projects/<pid>/funding/expenses")
@allow("project.view")
def add_expense(pid):
    """The unit reports an expense line with an optional receipt scan."""

    def action(project):
        receipt = _one_upload("receipt", funding.files.MAX_SCAN_BYTES)
        funding.record_expense(current_actor(), pid, request.form, receipt, _upload_dir())

    return _run(pid, "expense", action, _("支出已登记。"))


@bp.post("/projects/<pid>/deferrals")
@allow("project.view")
def request_deferral(pid):
    """The unit asks for more time for a stage."""

    def action(project):
        deferrals.request(current_actor(), pid, request.form.get("stage", ""),
                          request.form.get("due", ""), request.form.get("reason", ""))  # fmt: skip

    return _run(pid, "deferral", action, _("延期申请已提交，等待组织部审批。"))


@bp.post("/projects/<pid>/deferrals/decide")
@allow("campaign.manage")
def decide_deferral(pid):
    """The organizer grants (new due) or refuses (reason) a deferral request."""

    def action(project):
        deferrals.decide(current_actor(), pid, request.form.get("request_id", ""),
                         request.form.get("decision", ""), request.form.get("due", ""),
                         request.form.get("note", ""))  # fmt: skip

    return _run(pid, "decide", action, _("已答复延期申请。"))


# Where a project's files are recorded: (table, hash column, name column, mime or None).
FILE_SOURCES = (
    ("project_photo", "sha256", "name", "mime"),
    ("project_photo", "thumb_sha", "name", None),
    ("evidence_news", "screenshot_sha", "screenshot_name", None),
    ("evidence_news", "screenshot_thumb", "screenshot_name", None),
    ("project_expense", "receipt_sha", "receipt_name", "receipt_mime"),
    ("paper_copy", "sha256", "name", "mime"),
)


@bp.get("/projects/<pid>/evidence/files/<sha256>")
@allow("project.view")
def attachment(pid, sha256):
    """A file attached to this project (photo, thumbnail, screenshot, receipt, scan)."""
    project = load_project(pid)
    found = None
    for table, column, name_col, mime_col in FILE_SOURCES:
        row = db.fetchone(
            f"SELECT {name_col}, {mime_col or 'NULL'} FROM {table} "
            f"WHERE project = ? AND {column} = ?",
            (project["id"], sha256),
        )
        if row:
            found = row
            break
    if found is None:
        abort(404)
    data = funding.files.read(_upload_dir(), sha256)
    kind = photos.sniff(data)
    mime = {"jpeg": "image/jpeg", "png": "image/png"}.get(kind) or found[1] or "application/pdf"
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": disposition(found[0] or sha256, inline=bool(kind)),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=31536000, immutable"})  # fmt: skip


# --- The organizer's matrix -----------------------------------------------------------------


def _matrix(slug: str):
    config = load_campaign(slug)
    table = compliance.matrix(config)
    return config, table, compliance.select(table, request.args)


CHART = {"label": 230, "bar": 360, "row": 30, "top": 34}
COLOURS = {"ok": "#2e7d32", "todo": "#f0ad00", "fail": "#c8161d", "pending": "#9e9e9e"}


def chart(progress: list[dict]) -> dict:
    """Stacked bars per rule (units by status), laid out here; the template only draws them.
    Text goes through Jinja's escaping like every other page."""
    bars = []
    for i, rule in enumerate(progress):
        y, x, segments = CHART["top"] + i * CHART["row"], CHART["label"], []
        for status in ("ok", "todo", "fail", "pending"):
            n = rule["counts"][status]
            width = round(CHART["bar"] * n / rule["total"], 1) if rule["total"] else 0
            if width:
                segments.append({"x": x, "w": width, "n": n, "status": status,
                                 "colour": COLOURS[status], "label": _(compliance.STATUS[status])})  # fmt: skip
            x += width
        label = rule["label"] if len(rule["label"]) <= 15 else rule["label"][:14] + "…"
        bars.append({"y": y, "label": label, "full": rule["label"], "segments": segments,
                     "ok_pct": rule["ok_pct"], "total": rule["total"]})  # fmt: skip
    width = CHART["label"] + CHART["bar"] + 60
    height = CHART["top"] + len(bars) * CHART["row"] + 10
    legend = [{"x": CHART["label"] + i * 90, "colour": COLOURS[s], "label": _(compliance.STATUS[s])}
              for i, s in enumerate(("ok", "todo", "fail", "pending"))]  # fmt: skip
    return {"bars": bars, "width": width, "height": height, "legend": legend, **CHART}


def _sort_url(slug: str):
    current, direction = request.args.get("sort") or "unit", request.args.get("dir") or "asc"

    def url(code: str) -> str:
        params = request.args.to_dict()
        params["sort"] = code
        params["dir"] = "desc" if code == current and direction == "asc" else "asc"
        return url_for("evidence.matrix", slug=slug, **params)

    return url


@bp.get("/campaigns/<slug>/compliance")
@allow("campaign.overview")
def matrix(slug):
    """All units × the campaign's rules: colours, counts, sorting, filters, a chart."""
    config, table, shown = _matrix(slug)
    progress = compliance.progress(config, table)
    return render("evidence/matrix.html", "evidence/matrix_table.html", config=config,
                  rows=shown, total=len(table), rules=compliance.rules(config),
                  progress=progress, chart=chart(progress), STATUS=compliance.STATUS,
                  CATEGORIES=CATEGORIES, STATES=lifecycle.STATES, args=request.args,
                  sort=request.args.get("sort") or "unit", sort_url=_sort_url(slug),
                  direction=request.args.get("dir") or "asc", oob=is_htmx())  # fmt: skip


@bp.get("/campaigns/<slug>/compliance.csv")
@allow("campaign.overview")
@documents_language()
def matrix_csv(slug):
    """The matrix as CSV (UTF-8 with BOM so Excel reads the Chinese)."""
    config, _table, shown = _matrix(slug)
    header, rows = compliance.export_rows(config, shown)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={slug}-compliance.csv"})  # fmt: skip


FILLS = {"fail": "F8D7DA", "todo": "FFF3CD", "pending": "E2E3E5", "ok": "D4EDDA", "na": "F8F9FA"}


@bp.get("/campaigns/<slug>/compliance.xlsx")
@allow("campaign.overview")
@documents_language()
def matrix_xlsx(slug):
    """The matrix as an Excel workbook, each rule cell coloured by its status."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    config, _table, shown = _matrix(slug)
    header, rows = compliance.export_rows(config, shown)
    columns = compliance.rules(config)
    wb = Workbook()
    ws = wb.active
    ws.title = "合规矩阵"
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, (row, source) in enumerate(zip(rows, shown), start=2):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text, never a formula
        for i, rule in enumerate(columns):
            status = source["cells"][rule["code"]]["status"]
            fill = PatternFill("solid", fgColor=FILLS[status])
            for c in (7 + 2 * i, 8 + 2 * i):
                ws.cell(row=r, column=c).fill = fill
    for c in range(1, len(header) + 1):
        ws.column_dimensions[get_column_letter(c)].width = 14 if c > 6 else 18
    ws.freeze_panes = "C2"
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={slug}-compliance.xlsx"})  # fmt: skip
