"""The application stage in the browser: the form (autosaved), submission, the project page,
unit opinions, the signed paper copy and the application PDF."""

from __future__ import annotations

import json
import uuid

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField

from .. import authz, db, lifecycle
from ..campaign_templates import CATEGORIES
from ..commands import applications, campaigns
from ..commands.applications import DECISIONS, OPINION_LEVELS, FormErrors
from ..deadlines import show as show_time
from ..deadlines import show_utc_text, window
from ..errors import DomainError, Forbidden, NotFound
from ..exports import disposition
from ..i18n import _, documents_language
from ..log import ConcurrencyError
from . import allow, current_actor, render
from .forms import OpinionForm, PaperCopyForm

bp = Blueprint("projects", __name__)


def application_form(config: dict, data=None):
    """A WTForms form built from the campaign's form definition (data, not code)."""

    class ApplicationForm(FlaskForm):
        submission_id = HiddenField()

    for f in config["form"]:
        kind = TextAreaField if f["multiline"] else StringField
        setattr(ApplicationForm, f["key"], kind(f["label"], description=f["help"],
                render_kw={"data-maxchars": f["max_length"], "rows": 6 if f["multiline"] else None}))  # fmt: skip
    return ApplicationForm(data=data)


def load_project(pid: str) -> dict:
    """The project if the current user may see it: 404 or 403 otherwise."""
    project = applications.get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    actor = current_actor()
    if not authz.may_view_project(actor, project):
        raise Forbidden(_("您只能查看本单位的项目。"))
    return project


def _campaign_for_unit(slug: str, category: str):
    actor = current_actor()
    config = campaigns.get(slug)
    if not actor.unit:
        raise Forbidden(_("您的账号没有所属组织，不能申报。"))
    applications.check_category(config, actor.unit, category)
    return config


@bp.route("/campaigns/<slug>/apply/<category>", methods=["GET", "POST"])
@allow("project.apply")
def apply(slug, category):
    """Fill in and submit the unit's application; errors inline, nothing saved on error."""
    config = _campaign_for_unit(slug, category)
    actor = current_actor()
    pid = applications.project_id(slug, actor.unit, category)
    project = applications.get_project(pid)
    if request.method == "GET":
        data = applications.load_draft(slug, actor.unit, category)
        if not data and project:
            data = _revision_fields(pid, project["revision"])
        form = application_form(config, data=data)
        form.submission_id.data = str(uuid.uuid4())
        return _apply_page(config, category, form, project)
    form = application_form(config)
    values = {f["key"]: request.form.get(f["key"], "") for f in config["form"]}
    try:
        submission_id = str(uuid.UUID(request.form.get("submission_id", "")))
    except ValueError:
        submission_id = str(uuid.uuid4())
    if not form.validate_on_submit():  # CSRF is checked globally; this only parses
        pass
    try:
        applications.submit(actor, slug, category, values, submission_id)
    except FormErrors as exc:
        for key, message in exc.errors.items():
            getattr(form, key).errors = [message]
        return _apply_page(config, category, form, project, error=exc.message, status=400)
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        if exc.field == "submission_id":
            form.submission_id.data = str(uuid.uuid4())
        return _apply_page(config, category, form, project, error=exc.message, status=400)
    except ConcurrencyError:
        # Someone else of the unit submitted meanwhile: show what is there now.
        project = applications.get_project(pid)
        return _apply_page(config, category, form, project, status=409,
                           error=_("您提交前，本单位的申报已由他人提交或修改，请查看最新状态。"))  # fmt: skip
    target = url_for("projects.show", pid=pid)
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target)


def _apply_page(config, category, form, project, error=None, status=200):
    apply_window = window(config, "apply", current_actor().unit)
    # A project that is not back with the unit cannot be submitted again: say so, no form.
    closed = project is not None and project["state"] not in lifecycle.MOVES["submit"][1]
    return render("projects/apply.html", "projects/apply.html", config=config,
                  category=category, category_name=CATEGORIES[category]["name"], form=form,
                  project=project, error=error, due=show_time(apply_window.due, config["timezone"]),
                  extended=apply_window.extended, fields=config["form"], closed=closed,
                  state_label=lifecycle.label(project["state"]) if project else None), status  # fmt: skip


@bp.post("/campaigns/<slug>/apply/<category>/draft")
@allow("project.apply")
def save_draft(slug, category):
    """Autosave (htmx, on change): drafts live outside the log."""
    config = _campaign_for_unit(slug, category)
    values = {f["key"]: request.form.get(f["key"], "") for f in config["form"]}
    applications.save_draft(current_actor(), slug, category, values)
    return render("projects/draft_saved.html", "projects/draft_saved.html")


def _revision_fields(pid, revision) -> dict:
    row = db.fetchone(
        "SELECT fields FROM project_revision WHERE project = ? AND revision = ?", (pid, revision)
    )
    return json.loads(row[0]) if row else {}


def project_context(project: dict) -> dict:
    config = campaigns.get(project["campaign"])
    unit = db.fetchone("SELECT name FROM org_unit WHERE code = ?", (project["unit"],))
    opinions = db.fetchall(
        "SELECT revision, level, unit, decision, text, signer, signed_on, actor, at "
        "FROM unit_opinion WHERE project = ? ORDER BY position", (project["id"],))  # fmt: skip
    copies = db.fetchall(
        "SELECT revision, level, sha256, name, mime, size, at FROM paper_copy "
        "WHERE project = ? ORDER BY position", (project["id"],))  # fmt: skip
    unit_names = dict(
        db.fetchall("SELECT code, name FROM org_unit WHERE root = ?", (config["committee"],))
    )
    return {
        "project": project,
        "config": config,
        "unit_name": unit[0] if unit else project["unit"],
        "state_label": lifecycle.label(project["state"]),
        "fields": _revision_fields(project["id"], project["revision"]),
        "opinions": [
            dict(
                zip(
                    (
                        "revision",
                        "level",
                        "unit",
                        "decision",
                        "text",
                        "signer",
                        "signed_on",
                        "actor",
                        "at",
                    ),
                    o,
                )
            )
            for o in opinions
        ],  # fmt: skip
        "copies": [
            dict(zip(("revision", "level", "sha256", "name", "mime", "size", "at"), c))
            for c in copies
        ],
        "unit_names": unit_names,
        "category_name": CATEGORIES[project["category"]]["name"],
        "OPINION_LEVELS": OPINION_LEVELS,
        "DECISIONS": DECISIONS,
        "show_time": lambda t: show_utc_text(t, config["timezone"]),
    }


def next_action(actor, project, unit_names) -> str:
    state = project["state"]
    if state == "submitted":
        step = project["pending_approvals"][0]
        opinion = step["level"]
        level = _(OPINION_LEVELS[opinion])
        if actor.has("approver") and actor.unit == step["unit"]:
            return _("请您填写%(level)s：同意上报，或退回修改并写明原因。", level=level)
        who = _("%(unit)s的%(level)s", unit=unit_names.get(step["unit"], step["unit"]), level=level)
        return _("等待%(who)s。", who=who)
    if state == "returned":
        if actor.has("applicant") and actor.unit == project["unit"]:
            return _("申报已被退回：请根据退回意见修改后重新提交。")
        return _("已退回申报单位修改。")
    if state == "under_review":
        return _("单位意见已齐全，等待党委组织部审核。")
    return _(lifecycle.label(state))


def page_context(project: dict, opinion_form=None, error=None) -> dict:
    """Everything the project page shows, for the current user."""
    context = project_context(project)
    actor = current_actor()
    context["next_action"] = next_action(actor, project, context["unit_names"])
    step = project["pending_approvals"][0] if project["state"] == "submitted" else None
    context["my_turn"] = bool(step and actor.has("approver") and actor.unit == step["unit"])
    context["step"] = step
    context["opinion_form"] = opinion_form or OpinionForm(
        version=applications.version(project["id"])
    )
    context["may_upload"] = applications.may_attach_paper_copy(actor, project)
    context["copy_form"] = PaperCopyForm()
    levels = [s["level"] for s in applications.opinion_steps(project)]
    context["copy_form"].level.choices = [(k, _(OPINION_LEVELS[k])) for k in levels]
    context["error"] = error
    context["report_links"] = report_links(actor, project)
    return context


def report_links(actor, project: dict) -> list[tuple[str, str]]:
    """(kind, label) of the reports this campaign has, when this user may read them; whether
    each is submitted is the reports panel's to show (it replaces these links on load)."""
    from ..commands import campaigns, reports

    if not reports.may_read(actor, project):
        return []
    return reports.kinds(campaigns.get(project["campaign"]))


@bp.get("/projects/<pid>")
@allow("project.view")
def show(pid):
    """A project: its state, the next action spelled out, the content, opinions and scans."""
    project = load_project(pid)
    return render("projects/show.html", "projects/show.html", **page_context(project))


@bp.post("/projects/<pid>/opinion")
@allow("project.opinion")
def opinion(pid):
    """Record the branch / general-branch opinion: agree, or return with a reason."""
    project = load_project(pid)
    form = OpinionForm()
    try:
        version = int(form.version.data)
    except (TypeError, ValueError):
        version = -1
    try:
        applications.record_opinion(current_actor(), pid, form.decision.data, form.text.data,
                                    form.signer.data, form.signed_on.data, version)  # fmt: skip
    except FormErrors as exc:
        for key, message in exc.errors.items():
            getattr(form, key).errors = [message]
        return _opinion_fragment(project, form, exc.message), 400
    except DomainError as exc:
        if isinstance(exc, (Forbidden, NotFound)):
            raise
        return _opinion_fragment(project, form, exc.message), 400
    except ConcurrencyError:
        return _conflict_page(pid, form)
    target = url_for("projects.show", pid=pid)
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target)


def _opinion_fragment(project, form, error):
    context = page_context(project, opinion_form=form, error=error)
    context["my_turn"] = True  # the full page (no htmx) shows the message inside the form
    return render("projects/show.html", "projects/opinion_form.html", **context)


def _conflict_page(pid, form):
    """The project changed since the page was read: show the new state, keep what was typed,
    and let the form carry the new version."""
    project = applications.get_project(pid)
    form.version.data = str(applications.version(pid))
    message = _(
        "您提交前，这份申报已有新的变化（见本页最新内容），意见未保存。请核对后再次提交；您填写的内容已保留。"
    )
    body = render_template("projects/show.html", **page_context(project, form, message))
    headers = {}
    if request.headers.get("HX-Request"):
        headers = {"HX-Retarget": "#project", "HX-Reswap": "outerHTML", "HX-Reselect": "#project"}
    return Response(body, status=409, headers=headers)


@bp.post("/projects/<pid>/paper-copy")
@allow("project.view")
def paper_copy(pid):
    """Upload the scan of the signed and stamped paper form (PDF/JPEG/PNG, checked by content)."""
    project = load_project(pid)
    applications.require_paper_copy_rights(current_actor(), project)
    form = PaperCopyForm()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise DomainError(_("请选择要上传的扫描件。"))
    data = upload.read(applications.files.MAX_SCAN_BYTES + 1)
    applications.attach_paper_copy(current_actor(), pid, form.level.data, data, upload.filename,
                                   current_app.config["UPLOAD_DIR"])  # fmt: skip
    target = url_for("projects.show", pid=project["id"])
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target)


@bp.get("/projects/<pid>/files/<sha256>")
@allow("project.view")
def download(pid, sha256):
    """A file attached to this project (never any file by hash alone)."""
    project = load_project(pid)
    row = db.fetchone(
        "SELECT name, mime FROM paper_copy WHERE project = ? AND sha256 = ?",
        (project["id"], sha256),
    )
    if row is None:
        abort(404)
    data = applications.files.read(current_app.config["UPLOAD_DIR"], sha256)
    return Response(data, mimetype=row[1], headers={
        "Content-Disposition": disposition(row[0]), "X-Content-Type-Options": "nosniff"})  # fmt: skip


@bp.get("/projects/<pid>/application.pdf")
@allow("project.view")
@documents_language()
def application_pdf(pid):
    """The application form as a printable PDF laid out like the notice's annex."""
    from ..documents.application_doc import application_pdf_bytes

    project = load_project(pid)
    return Response(application_pdf_bytes(project["id"]), mimetype="application/pdf",
                    headers={"Content-Disposition": disposition(f"申报表-{project['id']}.pdf")})  # fmt: skip
