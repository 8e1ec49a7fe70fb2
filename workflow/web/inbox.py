"""The inbox: notifications per user, the unread count in the header, mark read; the
organizer's "remind all overdue units"; "new since your last visit" markers on projects."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request, url_for
from flask_login import current_user

from .. import inbox, visits
from ..commands import reminders
from ..deadlines import show_utc_text
from ..errors import DomainError, NotFound
from ..i18n import N_, _
from . import allow, current_actor, is_htmx, render
from .campaigns import load_campaign

bp = Blueprint("inbox", __name__)
SHOW = {"all": N_("全部"), "unread": N_("未读"), "action": N_("待办")}
CHANGED = {"HX-Trigger": "inbox-changed"}  # the header badge listens and refreshes


def _show() -> str:
    show = request.args.get("show", "all")
    return show if show in SHOW else "all"


def _list_context(show: str, before: int | None = None) -> dict:
    username = current_actor().username
    items, more = inbox.listing(username, show, before)
    return {"items": items, "more": more, "show": show, "SHOW": SHOW,
            "unread": inbox.unread_count(username),
            "actions": inbox.open_actions_count(username)}  # fmt: skip


@bp.get("/inbox")
@allow("inbox.view")
def index():
    """My notifications, newest first: what needs my action and what happened."""
    before = request.args.get("before", type=int)
    context = _list_context(_show(), before)
    if before and is_htmx():  # "更多": the next page of items only
        return render("inbox/index.html", "fragments/inbox_more.html", **context)
    return render("inbox/index.html", "fragments/inbox_list.html", **context)


@bp.get("/inbox/count")
@allow("inbox.view")
def count():
    """The header badge (polled by htmx)."""
    return render("fragments/inbox_badge.html", "fragments/inbox_badge.html")


@bp.post("/inbox/read")
@allow("inbox.view")
def read_one():
    """Mark one notification read (form field `position`)."""
    try:
        position = int(request.form.get("position", ""))
    except ValueError:
        raise DomainError(_("缺少要标为已读的消息编号。")) from None
    username = current_actor().username
    if inbox.get(username, position) is None:
        raise NotFound(_("这条消息不存在。"))
    inbox.mark_read(username, [position])
    if not is_htmx():
        return redirect(url_for("inbox.index", show=_show()))
    item = inbox.get(username, position)
    body = render("inbox/index.html", "fragments/inbox_item.html", n=item)
    return Response(body, headers=CHANGED)


@bp.post("/inbox/read-all")
@allow("inbox.view")
def read_all():
    """Mark everything read."""
    inbox.mark_all_read(current_actor().username)
    if not is_htmx():
        return redirect(url_for("inbox.index"))
    body = render("inbox/index.html", "fragments/inbox_list.html", **_list_context(_show()))
    return Response(body, headers=CHANGED)


@bp.post("/campaigns/<slug>/remind-overdue")
@allow("reminders.send")
def remind_overdue(slug):
    """The organizer reminds every overdue unit of the campaign at once."""
    config = load_campaign(slug)
    result = reminders.remind_overdue(current_actor(), slug)
    return render("inbox/reminded.html", "fragments/reminded.html", config=config,
                  result=result)  # fmt: skip


# --- Across the app: the badge, "new" markers, visits -------------------------------------


@bp.app_context_processor
def inject():
    def inbox_unread() -> int:
        if not current_user.is_authenticated:
            return 0
        if "inbox_unread" not in g:
            g.inbox_unread = inbox.unread_count(current_actor().username)
        return g.inbox_unread

    def is_new(pid) -> bool:
        """Has this project changed since the current user last opened it?"""
        if not pid or not current_user.is_authenticated:
            return False
        if "changed_projects" not in g:
            actor = current_actor()
            internal = actor.has("organizer", "reviewer", "auditor")
            g.changed_projects = visits.changed_since_visit(actor.username, internal)
        return pid in g.changed_projects

    return {"inbox_unread": inbox_unread, "is_new": is_new, "utc_local": show_utc_text}


@bp.after_app_request
def read_on_open(response):
    """Opening a project page reads what the inbox said about it.

    (The visit itself, which "new since your last visit" is measured against, is recorded by
    the comment thread the page loads, so that the thread can still mark what is new.)
    """
    if (
        request.endpoint == "projects.show"
        and request.method == "GET"
        and response.status_code == 200
        and current_user.is_authenticated
    ):
        pid = (request.view_args or {}).get("pid")
        if pid:
            inbox.mark_project_read(current_actor().username, pid)
    return response
