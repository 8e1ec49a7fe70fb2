"""Results documents in the browser: the final report (PDF, Word), the application in Word, the
荣誉证书 (one project, or the campaign's batch) and the compiled booklet, generated in the
background with a progress bar and cached until its content changes.

Downloads are attachments, so the reads that matter are logged by ``trails.log_download``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField

from .. import authz, jobs
from ..commands import booklets
from ..documents import results_doc
from ..errors import DomainError
from ..exports import disposition
from ..i18n import _, documents_language
from ..log import ConcurrencyError
from . import allow, current_actor, render
from .campaigns import load_campaign
from .projects import load_project

bp = Blueprint("results", __name__)
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class ForewordForm(FlaskForm):
    text = TextAreaField()
    version = HiddenField()


def _file(data: bytes, mime: str, name: str) -> Response:
    return Response(data, mimetype=mime, headers={"Content-Disposition": disposition(name),
                                                  "X-Content-Type-Options": "nosniff"})  # fmt: skip


def _report(pid: str) -> tuple[dict, dict]:
    """The project's final report (scores and outcome in it only once final)."""
    project = load_project(pid)
    return project, results_doc.report_doc(project["campaign"], project["id"])


@bp.get("/projects/<pid>/report.pdf")
@allow("project.view")
@documents_language()
def report_pdf(pid):
    from ..documents.report import render_report

    project, doc = _report(pid)
    return _file(render_report(doc), PDF, f"总结报告-{project['id']}.pdf")


@bp.get("/projects/<pid>/report.docx")
@allow("project.view")
@documents_language()
def report_docx(pid):
    from ..documents.word import report_docx as make

    project, doc = _report(pid)
    return _file(make(doc), DOCX, f"总结报告-{project['id']}.docx")


@bp.get("/projects/<pid>/application.docx")
@allow("project.view")
@documents_language()
def application_docx(pid):
    from ..documents.application_doc import build
    from ..documents.word import application_docx as make

    project = load_project(pid)
    doc = build(project["campaign"], project["id"])
    return _file(make(doc), DOCX, f"申报表-{project['id']}.docx")


@bp.get("/projects/<pid>/certificate.pdf")
@allow("project.view")
@documents_language()
def certificate_pdf(pid):
    from ..documents.certificate import render_certificates

    project = load_project(pid)
    certs = results_doc.certificate_docs(project["campaign"], project["id"])
    return _file(render_certificates(certs), PDF, f"荣誉证书-{project['id']}.pdf")


@bp.get("/campaigns/<slug>/certificates.pdf")
@allow("campaign.overview")
@documents_language()
def certificates_pdf(slug):
    from ..documents.certificate import render_certificates

    load_campaign(slug)
    data = render_certificates(results_doc.certificate_docs(slug), "荣誉证书")
    return _file(data, PDF, f"荣誉证书-{slug}.pdf")


# --- The compiled booklet ------------------------------------------------------------------


def _passed() -> bool:
    return (request.values.get("passed") or "") in ("1", "on", "true")


def _job_kind(slug: str, passed: bool) -> str:
    return f"booklet:{slug}:{int(passed)}"


def _page(slug: str, **extra):
    config = load_campaign(slug)
    passed = extra.pop("passed", _passed())
    text, version = booklets.foreword(slug)
    form = extra.pop("form", None) or ForewordForm(data={"text": text, "version": version})
    doc, _path, ready = results_doc.cached_booklet(slug, passed)
    context = {
        "config": config,
        "slug": slug,
        "passed": passed,
        "ready": ready,
        "chapters": [c["brand_name"] for c in doc["chapters"]],
        "form": form,
        "job": None,
        "missing": False,
        "may_manage": authz.can(current_actor(), "campaign.manage"),
    }
    context.update(extra)
    return context


@bp.get("/campaigns/<slug>/booklet")
@allow("campaign.overview")
def booklet(slug):
    """The booklet page: chapters it would hold, the foreword, generate and download."""
    return render("documents/booklet.html", "documents/booklet.html", **_page(slug))


@bp.post("/campaigns/<slug>/booklet/foreword")
@allow("campaign.manage")
def foreword(slug):
    load_campaign(slug)
    form = ForewordForm()
    try:
        booklets.set_foreword(current_actor(), slug, form.text.data, form.version.data)
    except ConcurrencyError:
        context = _page(slug, form=form, error=_("前言已被他人修改，请刷新页面后再改。"))
        return render("documents/booklet.html", "documents/booklet.html", **context), 409
    except DomainError as exc:
        context = _page(slug, form=form, error=exc.message)
        return render("documents/booklet.html", "documents/booklet.html", **context), 400
    return render("documents/booklet.html", "documents/booklet.html",
                  **_page(slug, notice=_("前言已保存。")))  # fmt: skip


@bp.post("/campaigns/<slug>/booklet/generate")
@allow("campaign.manage")
def generate(slug):
    """Start generating (or join the generation running); a cached booklet is ready at once."""
    load_campaign(slug)
    passed = _passed()
    doc, path, ready = results_doc.cached_booklet(slug, passed)
    if ready:
        return render("documents/booklet.html", "documents/booklet_job.html",
                      **_page(slug, passed=passed))  # fmt: skip
    if not doc["chapters"]:
        raise DomainError(_("该活动还没有已认定且提交了总结报告的项目，无法汇编成册。"))
    total = 2 * len(doc["chapters"])

    def work(progress):
        results_doc.write_booklet(doc, path, lambda done, _total: progress(done))
        return path

    job = jobs.start(_job_kind(slug, passed), total, work)
    return render("documents/booklet.html", "documents/booklet_job.html",
                  **_page(slug, passed=passed, job=job))  # fmt: skip


@bp.get("/campaigns/<slug>/booklet/jobs/<job_id>")
@allow("campaign.manage")
def booklet_job(slug, job_id):
    """The progress of a booklet generation (polled by htmx)."""
    load_campaign(slug)
    found = jobs.get(job_id)
    if found is not None and not found.kind.startswith(f"booklet:{slug}:"):
        found = None
    passed = bool(found and found.kind.endswith(":1"))
    return render("documents/booklet.html", "documents/booklet_job.html",
                  **_page(slug, passed=passed, job=found, missing=found is None))  # fmt: skip


@bp.get("/campaigns/<slug>/booklet.pdf")
@allow("campaign.overview")
def booklet_pdf(slug):
    """The generated booklet (immediate: it is the cached file of the current content)."""
    load_campaign(slug)
    _doc, path, ready = results_doc.cached_booklet(slug, _passed())
    if not ready:
        raise DomainError(_("汇编尚未生成或内容已变化，请先生成。"))
    with open(path, "rb") as fh:
        data = fh.read()
    return _file(data, PDF, f"成果汇编-{slug}.pdf")
