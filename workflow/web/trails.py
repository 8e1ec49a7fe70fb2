"""The auditor's desk: trails of a campaign, a unit, a project or a user, with filters and
"load more"; a permalink per event with its payload and what it changed; time travel of a
project and of a campaign's overview; exports (bundle, CSV, PDF), each logged; and the log of
the downloads that matter."""

from __future__ import annotations

import hashlib
import re

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.http import parse_options_header

from .. import authz, bundle, checkpoint, log, queries, timetravel, trail
from ..campaign_templates import CATEGORIES
from ..commands import campaigns
from ..errors import DomainError, Forbidden, NotFound
from ..events import CATALOGUE
from ..exports import disposition
from ..i18n import _, documents_language
from . import allow, current_actor, is_htmx, render

bp = Blueprint("trails", __name__, url_prefix="/audit")

# URL segment -> scope kind
KINDS = {"campaigns": "campaign", "units": "unit", "projects": "project", "users": "user"}
SEGMENTS = {v: k for k, v in KINDS.items()}


@bp.app_template_filter("beijing")
def beijing(text: str) -> str:
    """An occurred_at (UTC) text shown in Beijing time."""
    try:
        return trail.local(text)
    except (TypeError, ValueError):
        return text or ""


def _scope(segment: str, key: str):
    if segment not in KINDS:
        raise NotFound(_("没有这种审计范围。"))
    return trail.viewer_scope(current_actor(), KINDS[segment], key)


# --- The desk ----------------------------------------------------------------------------------


@bp.get("")
@allow("trail.view")
def desk():
    """Where an auditor starts: campaigns, the org tree, a user; a unit member their unit."""
    actor = current_actor()
    wanted = (request.args.get("user") or "").strip()
    if wanted:
        if not trail.reads_all(actor):
            raise Forbidden(_("您只能查看本单位的操作记录。"))
        if not trail.USERNAME.match(wanted):
            raise DomainError(_("账号格式不正确：只能包含小写字母、数字、点、横线和下划线。"))
        return redirect(url_for("trails.trail_page", kind="users", ref=wanted))
    full = trail.reads_all(actor)
    forest = queries.org_forest(actor) if full else []
    mine = []
    if not full and actor.unit:
        codes = trail.descendants(actor.unit) if actor.has("approver") else [actor.unit]
        names = trail.Names()
        mine = [{"code": c, "name": names.unit(c)} for c in codes]
    return render("audit/desk.html", "audit/desk.html", full=full, forest=forest, mine=mine,
                  campaigns=campaigns.list_for(actor) if full else [],
                  may_export=authz.can(actor, "audit.export"))  # fmt: skip


# --- Trails --------------------------------------------------------------------------------------


def _filter_choices(scope: trail.Scope, full: bool) -> dict:
    types = sorted(
        ((name, _(et.label) if et.label else name) for name, et in CATALOGUE.items()
         if full or name in trail.UNIT_VISIBLE),
        key=lambda t: t[1],
    )  # fmt: skip
    return {"types": types, "stages": trail.stage_options(scope.campaigns)}


@bp.get("/<kind>/<ref>/trail")
@allow("trail.view")
def trail_page(kind, ref):
    """Every event of the scope in order: who, when (Beijing time, UTC kept), what in plain
    Chinese, the payload on demand; filtered by type, actor, dates and stage; paged by position."""
    scope, full = _scope(kind, ref)
    names = trail.Names()
    context = {"scope": scope, "segment": kind, "full": full, "rows": [], "more_url": None,
               "args": request.args, "error": None, "head": log.head()[0],
               **_filter_choices(scope, full)}  # fmt: skip
    try:
        filters = trail.parse_filters(request.args, scope)
    except DomainError as exc:
        context["error"] = exc.message
        fragment = "audit/trail_list.html"
        return render("audit/trail.html", fragment, **context), 400
    events, next_after = trail.Reader(scope, full, names).page(filters)
    context["rows"] = [trail.row(e, names) for e in events]
    context["filters"] = filters
    context["query"] = filters.args
    if next_after:
        context["more_url"] = url_for("trails.trail_page", kind=kind, ref=ref, after=next_after,
                                      **filters.args)  # fmt: skip
    if is_htmx() and filters.after:
        return render_template("audit/trail_rows.html", **context)
    return render("audit/trail.html", "audit/trail_list.html", **context)


def _export(scope, kind: str, data: bytes, name: str, mimetype: str, events: int, upto: int,
            filters: dict) -> Response:  # fmt: skip
    """Hand out an export, logging who exported what, when, and the digest of the bytes."""
    digest = hashlib.sha256(data).hexdigest()
    trail.record_read(
        current_actor().username, "ExportMade",
        {"export": kind, "scope": scope.ref, "upto": upto, "events": events, "name": name,
         "sha256": digest, "filters": filters},
        scope.ref,
    )  # fmt: skip
    g.access_logged = True
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": disposition(name), "X-Content-SHA256": digest})  # fmt: skip


def _slug_name(scope) -> str:
    return scope.key.replace("/", "_")


@bp.get("/<kind>/<ref>/trail.csv")
@allow("audit.export")
@documents_language()
def trail_csv(kind, ref):
    """The trail (with the page's filters) as CSV, UTF-8 with BOM for Excel; the export is logged."""
    scope, full = _scope(kind, ref)
    filters = trail.parse_filters(request.args, scope)
    upto = log.head()[0]
    names = trail.Names()
    events = list(trail.Reader(scope, full, names).events(filters, upto=upto))
    data = trail.csv_text(events, names).encode("utf-8")
    return _export(scope, "csv", data, f"审计轨迹-{_slug_name(scope)}-{upto}.csv",
                   "text/csv; charset=utf-8", len(events), upto, filters.as_payload())  # fmt: skip


@bp.get("/<kind>/<ref>/report.pdf")
@allow("audit.export")
@documents_language()
def report_pdf(kind, ref):
    """The audit report PDF of the trail (with the page's filters); the export is logged."""
    from ..documents import audit_report

    scope, full = _scope(kind, ref)
    filters = trail.parse_filters(request.args, scope)
    data, count, upto = audit_report.build_pdf(scope, full, filters, current_actor())
    return _export(scope, "pdf", data, f"审计报告-{_slug_name(scope)}-{upto}.pdf",
                   "application/pdf", count, upto, filters.as_payload())  # fmt: skip


@bp.get("/<kind>/<ref>/bundle.zip")
@allow("audit.export")
@documents_language()
def bundle_zip(kind, ref):
    """The audit bundle: the scope's events, the chain, the checkpoints and the offline
    verifier (tools/verify_bundle.py), in one zip; the export is logged."""
    scope, _full = _scope(kind, ref)
    actor = current_actor()
    data, manifest = bundle.build(scope, f"{actor.display_name}（{actor.username}）",
                                  checkpoint.directory())  # fmt: skip
    upto = manifest["head"]["position"]
    return _export(scope, "bundle", data, f"审计包-{_slug_name(scope)}-{upto}.zip",
                   "application/zip", manifest["events"], upto, {})  # fmt: skip


# --- One event -----------------------------------------------------------------------------------


def _load_event(text: str):
    if not text.isdigit() or len(text) > 18:
        raise NotFound(_("位置须为正整数，收到“%(text)s”。", text=text[:20]))
    position = int(text)
    event = log.get(position)
    if event is None:
        head = log.head()[0]
        raise NotFound(
            _("位置 %(position)s 没有事件：当前日志头为 %(head)s。", position=position, head=head)
        )
    names = trail.Names()
    if not trail.may_read_event(current_actor(), event, names):
        raise Forbidden(_("您没有权限查看这条事件。"))
    return event, names


def _event_context(event, names) -> dict:
    actor = current_actor()
    full = trail.reads_all(actor)
    pid = names.project_of(event)
    slug = names.campaign_of(event)
    return {
        "row": trail.row(event, names),
        "event": event,
        "payload": trail.pretty_payload(event),
        "changes": trail.changes(event, names),
        "project": pid,
        "campaign": slug if slug in names.campaigns else None,
        "full": full,
    }


@bp.get("/events/<position>")
@allow("trail.view")
def event(position):
    """The permalink of one event: who, when, what, its payload, its hash and what it changed."""
    ev, names = _load_event(position)
    return render("audit/event.html", "audit/event.html", **_event_context(ev, names))


@bp.get("/events/<position>/payload")
@allow("trail.view")
def payload(position):
    """An event's payload and what it changed, loaded on demand into a trail line."""
    ev, names = _load_event(position)
    return render("audit/event.html", "audit/event_detail.html", **_event_context(ev, names))


# --- Time travel ---------------------------------------------------------------------------------


def _moment_or_chooser(title, back, moments):
    """The moment asked for; or (response) the chooser page with the error to show."""
    try:
        moment = timetravel.resolve(request.args.get("at"), request.args.get("position"))
    except DomainError as exc:
        return None, _chooser(title, back, moments, exc.message, 400)
    if moment is None:
        return None, _chooser(title, back, moments, None, 200)
    return moment, None


def _chooser(title, back, moments, error, status):
    return render_template("audit/as_of.html", title=title, back=back, moments=moments,
                           error=error, args=request.args, head=log.head()[0]), status  # fmt: skip


@bp.get("/projects/<pid>/as-of")
@allow("audit.trail")
def project_as_of(pid):
    """A project as it stood at a chosen date/time or position, rebuilt from the log and shown
    with the live page's templates under a banner."""
    scope, _full = trail.viewer_scope(current_actor(), "project", pid)
    back = url_for("projects.show", pid=pid)
    moments = timetravel.moments_of({pid})
    moment, page = _moment_or_chooser(scope.title, back, moments)
    if page is not None:
        return page
    context = timetravel.project_context(pid, moment)
    if context is None:
        message = _("该项目在位置 %(position)s（%(time)s）时尚未提交申报。",
                    position=moment.position, time=moment.local_text)  # fmt: skip
        return _chooser(scope.title, back, moments, message, 404)
    context.update(as_of_live=back, as_of_choose=url_for("trails.project_as_of", pid=pid),
                   as_of_panels=[name for name, endpoint in AS_OF_PANELS.items()
                                 if endpoint in current_app.view_functions])  # fmt: skip
    return render_template("projects/show.html", **context)


# The panels a project page loads on its own (hx-get), by name -> endpoint taking `pid`.
AS_OF_PANELS = {
    "review": "review.panel",
    "scoring": "scoring.project_panel",
    "evidence": "evidence.panel",
    "comments": "comments.thread",
    "reports": "reports.panel",
}
FORM = re.compile(r"<form\b.*?</form>", re.S)


@bp.get("/projects/<pid>/as-of/<panel>")
@allow("audit.trail")
def project_panel_as_of(pid, panel):
    """One of the project page's panels as it stood at a position: the panel's own view, run
    against the replayed log, its forms taken out (the past is read-only)."""
    trail.viewer_scope(current_actor(), "project", pid)
    endpoint = AS_OF_PANELS.get(panel)
    if endpoint is None or endpoint not in current_app.view_functions:
        raise NotFound(_("没有这个栏目。"))
    position = trail.parse_position(request.args.get("position"))
    if not position:
        raise DomainError(_("请指定日志位置。"))
    with timetravel.replayed(position, timetravel.campaign_of(pid)):
        response = current_app.make_response(current_app.view_functions[endpoint](pid=pid))
        body = response.get_data(as_text=True)
    if response.status_code != 200:
        return body, response.status_code
    return FORM.sub("", body)


@bp.get("/campaigns/<slug>/as-of")
@allow("audit.trail")
def campaign_as_of(slug):
    """A campaign's overview as it stood at a chosen date/time or position."""
    scope, _full = trail.viewer_scope(current_actor(), "campaign", slug)
    back = url_for("campaigns.overview_page", slug=slug)
    moments = timetravel.moments_of({slug})
    moment, page = _moment_or_chooser(_("%(title)s · 申报总览", title=scope.title), back, moments)
    if page is not None:
        return page
    context = timetravel.overview_context(slug, moment)
    if context is None:
        message = _("该创建活动在位置 %(position)s（%(time)s）时尚未建立。",
                    position=moment.position, time=moment.local_text)  # fmt: skip
        return _chooser(scope.title, back, moments, message, 404)
    from .. import overview

    return render_template(
        "campaigns/overview.html", **context, CATEGORIES=CATEGORIES, args={},
        statuses={**overview.STATES, **overview.EXTRA}, is_new=lambda _pid: False,
        project_url=lambda pid: url_for("trails.project_as_of", pid=pid,
                                        position=moment.position),
        as_of_live=back, as_of_choose=url_for("trails.campaign_as_of", slug=slug),
    )  # fmt: skip


# --- Reads that matter ---------------------------------------------------------------------------

READERS = ("organizer", "auditor", "admin")


def _download_scope() -> str:
    args = request.view_args or {}
    for name, kind in (("pid", "project"), ("unit", "unit"), ("slug", "campaign"),
                       ("username", "user")):  # fmt: skip
        if args.get(name):
            return f"{kind}:{args[name]}"
    return "system"


@bp.after_app_request
def log_download(response):
    """A document handed out as an attachment to an organizer, auditor or admin is logged:
    who downloaded what (name, path, SHA-256 of the bytes), when."""
    if (
        request.method != "GET"
        or response.status_code != 200
        or g.get("access_logged")
        or not current_user.is_authenticated
        or not current_actor().has(*READERS)
    ):
        return response
    value, options = parse_options_header(response.headers.get("Content-Disposition", ""))
    if value != "attachment":
        return response
    digest, size = "", 0
    if not response.is_streamed and not response.direct_passthrough:
        data = response.get_data()
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
    name = options.get("filename") or request.path.rsplit("/", 1)[-1]
    trail.record_read(
        current_actor().username, "DocumentDownloaded",
        {"document": request.endpoint or "", "scope": _download_scope(), "name": name,
         "path": request.path[:500], "sha256": digest, "size": size},
        _download_scope(),
    )  # fmt: skip
    return response
