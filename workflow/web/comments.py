"""Threaded comments on a project, in place with htmx: the thread, posting and replying (with a
confirmation before anything becomes visible to the unit), editing with history, resolving.

Every response is built from `comments.project_comments` / `comments.load`, which filter by the
viewer: a unit member's page, fragment or error never carries an internal comment.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from .. import visits
from ..commands import campaigns
from ..commands import comments as cmd
from ..deadlines import show_utc_text
from ..errors import DomainError
from ..i18n import _
from . import allow, current_actor, form_int, is_htmx

bp = Blueprint("comments", __name__)

MAX_INDENT = 4  # replies nest this deep; deeper ones are listed flat, marked "回复 @name"
PAGE = "comments/page.html"


# --- Context ---------------------------------------------------------------------------------


def _context(project: dict, seen: int) -> dict:
    """What every comment fragment needs, for the current user."""
    actor = current_actor()
    config = campaigns.get(project["campaign"])
    labels = {f["key"]: f["label"] for f in config["form"]}
    return {
        "project": project,
        "seen": seen,
        "may_post": cmd.may_post(actor, project) and cmd.is_open_for_comments(project),
        "may_post_internal": cmd.may_post_internal(actor, project),
        "open": cmd.is_open_for_comments(project),
        "may_resolve": lambda c: (
            cmd.is_open_for_comments(project) and cmd.may_resolve(actor, project, c)
        ),
        "field_labels": labels,
        "form_fields": config["form"],
        "show_time": lambda t: show_utc_text(t, config["timezone"]) if t else "",
        "body_html": body_html,
        "about_label": lambda c: about_label(c, labels),
        "VISIBILITY": cmd.VISIBILITY,
        "MAX_CHARS": cmd.MAX_CHARS,
        "reply_form": _form,
    }


def body_html(comment: dict) -> Markup:
    """The text escaped (HTML and script show as text), line breaks kept by CSS, and the
    checked @mentions highlighted."""
    text = str(escape(comment["body"]))
    mentioned = set(comment["mentions"])

    def mark(match):
        name = match.group(1).rstrip(".-_").lower()
        if name not in mentioned:
            return match.group(0)
        rest = match.group(1)[len(name) :]
        return f'<strong class="mention">@{name}</strong>{rest}'

    return Markup(cmd.MENTION_RE.sub(mark, text))


def about_label(comment: dict, labels: dict) -> str:
    kind = comment["target_kind"]
    if kind == "revision":
        return _("针对第 %(revision)s 版", revision=comment["target_revision"])
    if kind == "field":
        label = labels.get(comment["target_field"], comment["target_field"])
        return _(
            "针对“%(label)s”（第 %(revision)s 版）",
            label=label,
            revision=comment["target_revision"],
        )
    return ""


def thread_nodes(rows: list[dict]) -> list[dict]:
    """Roots in posting order, each with `replies`: the replies shown inside it.

    Replies nest up to MAX_INDENT levels; below that a whole branch is listed flat under its
    deepest indented ancestor, each item naming whom it answers ("回复 @name").
    """
    by_id = {c["id"]: {**c, "children": [], "replies": [], "reply_to": None} for c in rows}
    roots = []
    for node in by_id.values():
        parent = by_id.get(node["parent_id"]) if node["parent_id"] else None
        if parent:
            parent["children"].append(node)
        elif node["parent_id"] is None:
            roots.append(node)

    def flatten(nodes):
        for node in nodes:
            yield node
            yield from flatten(node["children"])

    for node in by_id.values():
        if node["depth"] < MAX_INDENT - 1:
            node["replies"] = node["children"]
        elif node["depth"] == MAX_INDENT - 1:
            node["replies"] = list(flatten(node["children"]))
        if node["depth"] > MAX_INDENT and node["parent_id"] in by_id:
            parent = by_id[node["parent_id"]]
            node["reply_to"] = parent["author_name"]
    return roots


def _form(parent=None, **values) -> dict:
    """A new-comment or reply form's state: what was typed, errors, the confirmation step."""
    form = {
        "parent": parent,
        "parent_id": parent["id"] if parent else None,
        "body": "",
        "visibility": cmd.INTERNAL if parent is None or parent["visibility"] == cmd.INTERNAL
        else cmd.UNIT,
        "about": "project",
        "comment_id": str(uuid.uuid4()),
        "error": None,
        "confirm": False,
        "notice": None,
    }  # fmt: skip
    form.update(values)
    return form


def _fragment(fragment: str, status: int = 200, headers=None, **context):
    """An htmx request gets the fragment; a plain request a page around it."""
    if is_htmx():
        body = render_template(fragment, **context)
    else:
        body = render_template(PAGE, fragment=fragment, **context)
    return Response(body, status=status, headers=headers or {})


def _thread(project: dict, status: int = 200, headers=None):
    """The whole thread for the current user, marking what is new since their last visit."""
    actor = current_actor()
    seen = visits.record(actor.username, project["id"])
    rows = cmd.project_comments(project["id"], cmd.audience(actor, project))
    context = _context(project, seen)
    return _fragment("comments/thread.html", status, headers, roots=thread_nodes(rows),
                     count=len(rows), unresolved=sum(1 for c in rows if c["parent_id"] is None
                                                     and not c["resolved"]),
                     new_form=_form(), **context)  # fmt: skip


def _card(project: dict, comment: dict, status: int = 200):
    actor = current_actor()
    context = _context(project, visits.last_seen(actor.username, project["id"]))
    return _fragment("comments/comment.html", status, c=comment, **context)


# --- Routes ----------------------------------------------------------------------------------


@bp.get("/projects/<pid>/comments")
@allow("project.view")
def thread(pid):
    """The project's comment threads (as a fragment for htmx, or a page)."""
    project, _unused = cmd.load(current_actor(), pid)
    return _thread(project)


@bp.post("/projects/<pid>/comments")
@allow("comment.post")
def post(pid):
    """A new comment or a reply; unit-visible comments by staff need a confirming second post."""
    actor = current_actor()
    project, _unused = cmd.load(actor, pid)
    parent_id = request.form.get("parent_id") or None
    parent = cmd.get_comment(parent_id) if parent_id else None
    if parent and (parent["project"] != pid or not cmd.may_see(actor, project, parent)):
        parent = None  # refused below; never shown, not even as the header of the reply form
    values = {
        "body": request.form.get("body", ""),
        "visibility": request.form.get("visibility") or (cmd.INTERNAL if cmd.may_post_internal(
            actor, project) else cmd.UNIT),
        "about": request.form.get("about") or "project",
        "comment_id": request.form.get("comment_id") or str(uuid.uuid4()),
    }  # fmt: skip
    try:
        cmd.post(actor, pid, values["body"], visibility=values["visibility"], parent_id=parent_id,
                 about=values["about"], confirmed=request.form.get("confirm_unit") == "1",
                 comment_id=values["comment_id"])  # fmt: skip
    except cmd.NeedsConfirmation as exc:
        form = _form(parent, parent_id=parent_id, confirm=True, notice=exc.message, **values)
        return _fragment("comments/form.html", 200, form=form,
                         **_context(project, visits.last_seen(actor.username, pid)))  # fmt: skip
    except DomainError as exc:
        if exc.status != 400:
            raise
        if exc.field == "comment_id":
            values["comment_id"] = str(uuid.uuid4())
        form = _form(parent, parent_id=parent_id, error=exc.message, **values)
        return _fragment("comments/form.html", 400, form=form,
                         **_context(project, visits.last_seen(actor.username, pid)))  # fmt: skip
    if not is_htmx():
        return redirect(url_for("comments.thread", pid=pid))
    project, _unused = cmd.load(actor, pid)
    return _thread(project, headers={"HX-Retarget": "#comments", "HX-Reswap": "innerHTML"})


@bp.route("/projects/<pid>/comments/<cid>/edit", methods=["GET", "POST"])
@allow("comment.post")
def edit(pid, cid):
    """Edit one's own comment; the earlier text stays in its history. A stale form is a 409
    showing the comment as it is now, with what was typed kept."""
    actor = current_actor()
    project, comment = cmd.editable(actor, pid, cid)
    context = _context(project, visits.last_seen(actor.username, pid))
    if request.method == "GET":
        return _fragment("comments/edit.html", c=comment, body=comment["body"],
                         edits=comment["edits"], **context)  # fmt: skip
    body, seen_edits = request.form.get("body", ""), form_int(request.form.get("edits"))
    try:
        cmd.edit(actor, pid, cid, body, seen_edits)
    except cmd.StaleComment:
        _unused, fresh = cmd.load(actor, pid, cid)
        return _fragment("comments/edit.html", 409, c=fresh, body=body,
                         edits=fresh["edits"], conflict=True, **context)  # fmt: skip
    except DomainError as exc:
        if exc.status != 400:
            raise
        return _fragment("comments/edit.html", 400, c=comment, body=body, edits=seen_edits,
                         error=exc.message, **context)  # fmt: skip
    _unused, comment = cmd.load(actor, pid, cid)
    return _card(project, comment)


@bp.get("/projects/<pid>/comments/<cid>/history")
@allow("project.view")
def history(pid, cid):
    """Every text the comment has had, oldest first."""
    actor = current_actor()
    project, comment = cmd.load(actor, pid, cid)
    context = _context(project, visits.last_seen(actor.username, pid))
    return _fragment("comments/history.html", c=comment, versions=cmd.versions(cid), **context)


@bp.post("/projects/<pid>/comments/<cid>/resolve")
@allow("comment.post")
def resolve(pid, cid):
    """Mark a thread resolved."""
    cmd.resolve(current_actor(), pid, cid)
    return _after_resolution(pid, cid)


@bp.post("/projects/<pid>/comments/<cid>/reopen")
@allow("comment.post")
def reopen(pid, cid):
    """Open a resolved thread again."""
    cmd.reopen(current_actor(), pid, cid)
    return _after_resolution(pid, cid)


def _after_resolution(pid, cid):
    project, comment = cmd.load(current_actor(), pid, cid)
    if not is_htmx():
        return redirect(url_for("comments.thread", pid=pid))
    return _card(project, comment)
