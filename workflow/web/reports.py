"""Reports in the browser: the mid-term report (中期报告) and the final summary report (总结报告)
of a project. One page per kind shows the latest submitted revision and, to the unit while the
project may still report, the form: the campaign's sections with a live character count, the
project's photos to pick (3–5 for the final report) each with a caption, and attachments.

A refused submission shows the form again with the message and everything the unit typed, and
writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import deadlines, files, lifecycle
from ..commands import applications, campaigns, evidence, reports
from ..commands.evidence import may_post
from ..errors import DomainError, Forbidden, NotFound
from ..exports import disposition
from ..i18n import _
from ..log import ConcurrencyError
from . import allow, current_actor, form_int, render
from .projects import load_project

bp = Blueprint("reports", __name__)

MOVES = {"final": "report_final", "midterm": "report_midterm"}


def _readable(project: dict, kind: str | None = None) -> dict:
    """The project's campaign config, when the user may read its reports (and `kind` is one of
    the campaign's reports)."""
    config = campaigns.get(project["campaign"])
    if kind is not None and kind not in dict(reports.kinds(config)):
        raise NotFound(_("本次活动没有这一报告。"))
    if not reports.may_read(current_actor(), project):
        raise Forbidden(_("您没有权限查看该项目的报告。"))
    return config


def _page(project: dict, config: dict, kind: str, error=None, values=None, status=200):
    actor = current_actor()
    report = reports.get_report(project["id"], kind)
    rules = reports.rules(config, kind)
    may_write = may_post(actor, project) and project["state"] in lifecycle.MOVES[MOVES[kind]][1]
    picked = {}
    if values is None and report:  # the form starts from the latest revision
        values = {s["code"]: s["text"] for s in report["sections"]}
        picked = {p["photo_id"]: (i, p["caption"]) for i, p in enumerate(report["photos"], 1)}
    elif values is not None:
        picked = values.get("_picked", {})
    window = deadlines.window(config, rules["stage"], project["unit"])
    tz = config["timezone"]
    body = render_template(
        "reports/page.html",
        project=project,
        kind=kind,
        kind_label=reports.KINDS[kind],
        report=report,
        rules=rules,
        sections=[{"code": f"s{i}", "title": t} for i, t in enumerate(rules["titles"], 1)],
        values=values or {},
        picked=picked,
        photos=evidence.standing_photos(project["id"]) if may_write else [],
        may_write=may_write,
        error=error,
        version=applications.version(project["id"]),
        due_text=deadlines.show(window.due, tz) if window.due else "",
        overdue=bool(window.due and window.late(datetime.now(UTC))),
        late_policy=config.get("late_policy"),
        state_label=lifecycle.label(project["state"]),
        show_time=lambda t: deadlines.show_utc_text(t, tz) if t else "",
    )
    return body, status


@bp.get("/projects/<pid>/reports")
@allow("project.view")
def panel(pid):
    """The project page's reports panel: each report of the campaign, submitted or not, with its
    content folded away. It is also the audit time-travel view of the reports."""
    project = load_project(pid)
    config = _readable(project)
    tz = config["timezone"]
    kinds = [(kind, label, reports.get_report(pid, kind)) for kind, label in reports.kinds(config)]
    return render("reports/panel_page.html", "reports/panel.html", project=project, kinds=kinds,
                  show_time=lambda t: deadlines.show_utc_text(t, tz) if t else "")  # fmt: skip


@bp.get("/projects/<pid>/reports/<kind>")
@allow("project.view")
def show(pid, kind):
    project = load_project(pid)
    return _page(project, _readable(project, kind), kind)


def _picks(photo_ids: list[str]) -> tuple[list[tuple[str, str]], dict]:
    """The ticked photos in the order the unit numbered them (then page order), with captions."""
    chosen = []
    for index, photo_id in enumerate(photo_ids):
        order = form_int(request.form.get(f"order-{photo_id}"), default=99)
        chosen.append((order, index, photo_id, request.form.get(f"caption-{photo_id}", "")))
    chosen.sort()
    picks = [(photo_id, caption) for _o, _i, photo_id, caption in chosen]
    kept = {photo_id: (order, caption) for order, _i, photo_id, caption in chosen}
    return picks, kept


@bp.post("/projects/<pid>/reports/<kind>")
@allow("project.view")
def submit(pid, kind):
    project = load_project(pid)
    if not may_post(current_actor(), project):  # before anything about the report
        raise Forbidden(_("您没有权限进行此操作：只有本单位的申报人或书记可以提交报告。"))
    config = _readable(project, kind)
    sections = len(reports.rules(config, kind)["titles"])
    texts = {f"s{i}": request.form.get(f"s{i}", "") for i in range(1, sections + 1)}
    picks, kept = _picks(request.form.getlist("photo"))
    limit = reports.ATTACHMENT_MAX_BYTES
    uploads = [(f.filename, f.read(limit + 1)) for f in request.files.getlist("attachments")
               if f and f.filename]  # fmt: skip
    try:
        reports.submit(
            current_actor(), pid, kind, texts, picks, uploads,
            request.form.getlist("keep"), form_int(request.form.get("version")),
            current_app.config["UPLOAD_DIR"],
        )  # fmt: skip
    except DomainError as exc:
        if exc.status != 400:
            raise
        return _page(project, config, kind, exc.message, {**texts, "_picked": kept}, 400)
    except ConcurrencyError:
        message = _(
            "您提交前，本项目已有新的变化（例如另一位同事已提交报告）。请核对最新内容后再提交。"
        )
        return _page(load_project(pid), config, kind, message, {**texts, "_picked": kept}, 409)
    return redirect(url_for("reports.show", pid=pid, kind=kind) + "#submitted")


@bp.get("/projects/<pid>/reports/<kind>/files/<sha256>")
@allow("project.view")
def attachment(pid, sha256, kind):
    """An attachment of the latest revision (the file store keeps every revision's files)."""
    _readable(load_project(pid), kind)
    report = reports.get_report(pid, kind)
    found = next((a for a in (report or {}).get("attachments", []) if a["sha256"] == sha256), None)
    if found is None:
        raise DomainError(_("该文件不是本报告最新版本的附件。"))
    data = files.read(current_app.config["UPLOAD_DIR"], sha256)
    return Response(data, mimetype=found["mime"],
                    headers={"Content-Disposition": disposition(found["name"])})  # fmt: skip
