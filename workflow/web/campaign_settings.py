"""The organizer edits a campaign in place: stage dates, form fields, quotas and the late
policy, per-unit deadline extensions, and a new round copied from this one.

Every edit is one event with a reason, appended with the stream version the edit form was
rendered with (a stale form is a 409, never a lost write). Edit forms are fetched fresh by
htmx; without JavaScript the same URLs serve a small page and saving redirects back.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta

from flask import Blueprint, make_response, redirect, request, url_for

from .. import db, log
from ..campaign_templates import CATEGORIES
from ..commands import campaigns
from ..deadlines import LOCAL_FORMAT, parse_local, show
from ..errors import DomainError, Forbidden, NotFound
from ..i18n import _
from . import allow, current_actor, is_htmx, render
from .campaigns import load_campaign, timeline

bp = Blueprint("campaign_settings", __name__, url_prefix="/campaigns")

LATE_POLICIES = {"refuse": "不予受理", "flag": "可提交，但标记为逾期"}
_SECONDS = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}):00$")


# --- helpers -------------------------------------------------------------------------------


def _local(text: str | None) -> str:
    """A datetime-local value ('2025-06-16T18:00') or 'YYYY-MM-DD HH:MM' -> the log's form."""
    text = (text or "").strip().replace("T", " ")
    match = _SECONDS.match(text)
    return match.group(1) if match else text


def _input_value(local: str) -> str:
    """'2025-06-16 18:00' -> the value of an <input type="datetime-local">."""
    return local.replace(" ", "T")


def _version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        raise DomainError(_("页面缺少版本信息，请刷新页面后重试。")) from None


def _reason_text() -> str:
    return request.form.get("reason", "")


def _stream_version(slug: str) -> int:
    return log.stream_version(campaigns.stream(slug))


def _attempt(action):
    """Run a command; a rule's refusal comes back as the error to show inline."""
    try:
        return action(), None
    except (Forbidden, NotFound):
        raise
    except DomainError as exc:
        return None, exc.message


def _page(fragment: str, config: dict, heading: str, status: int = 200, wrap=None, **context):
    """The fragment alone for htmx; for a plain request a small page around it."""
    return render("campaigns/settings_page.html", fragment, inner=fragment, config=config,
                  heading=heading, wrap=wrap, CATEGORIES=CATEGORIES,
                  **context), status  # fmt: skip


def _saved(slug: str, expected: int, events, body, anchor: str):
    """After a save: the fresh fragment for htmx (and the stream's new version, so other edit
    forms still open on the same state stay valid); a redirect for a plain form post."""
    if not is_htmx():
        return redirect(url_for("campaigns.show_campaign", slug=slug) + "#" + anchor, 303)
    response = make_response(body)
    if events:
        response.headers["HX-Trigger"] = json.dumps(
            {
                "campaign-version": {
                    "stream": campaigns.stream(slug),
                    "from": expected,
                    "to": events[-1].version,
                }
            }
        )
    return response


def _no_change():
    return _("没有修改任何内容。")


# --- stages --------------------------------------------------------------------------------


def _stage(config: dict, code: str) -> dict:
    for s in timeline(config):
        if s["code"] == code:
            return s
    raise NotFound(_("阶段 %(code)s 不存在。", code=code))


def _stage_row(config, code, status=200):
    return _page("campaigns/settings_stage_row.html", config, _("阶段安排"), status, wrap="ol",
                 s=_stage(config, code))  # fmt: skip


def _stage_form(config, code, values=None, error=None, version=None, status=200):
    s = _stage(config, code)
    values = values or {"opens": s["opens"], "due": s["due"], "reason": ""}
    return _page("campaigns/settings_stage_form.html", config,
                 _("修改阶段：%(name)s", name=s["name"]), status,
                 wrap="ol", s=s, values=values, error=error,
                 version=_stream_version(config["slug"]) if version is None else version,
                 input_value=_input_value)  # fmt: skip


@bp.get("/<slug>/stages/<code>")
@allow("campaign.manage")
def stage_row(slug, code):
    """One stage as shown on the campaign page (what "cancel" brings back)."""
    return _stage_row(load_campaign(slug), code)


@bp.get("/<slug>/stages/<code>/edit")
@allow("campaign.manage")
def stage_edit(slug, code):
    """The stage's row as a small form: opening and due time, and the reason."""
    return _stage_form(load_campaign(slug), code)


@bp.post("/<slug>/stages/<code>")
@allow("campaign.manage")
def stage_save(slug, code):
    """Reschedule one stage: one CampaignStageRescheduled event with the reason."""
    config = load_campaign(slug)
    s = _stage(config, code)
    values = {"opens": _local(request.form.get("opens")), "due": _local(request.form.get("due")),
              "reason": _reason_text()}  # fmt: skip
    posted = request.form.get("version", "")
    version, error = _attempt(_version)
    if error is None and (values["opens"], values["due"]) == (s["opens"], s["due"]):
        error = _no_change()
    if error is None:
        events, error = _attempt(lambda: campaigns.reschedule_stage(
            current_actor(), slug, code, values["opens"], values["due"], values["reason"],
            version=version))  # fmt: skip
    if error:
        return _stage_form(config, code, values, error, posted, status=400)
    body, _status = _stage_row(campaigns.get(slug), code)
    return _saved(slug, version, events, body, f"stage-{code}")


# --- form fields ---------------------------------------------------------------------------


def _field_index(config: dict, key: str) -> int:
    for index, f in enumerate(config["form"]):
        if f["key"] == key:
            return index
    raise NotFound(_("申报表字段 %(key)s 不存在。", key=key))


def _form_list(config, editing=None, values=None, error=None, version=None, status=200):
    return _page("campaigns/settings_form.html", config, _("申报表字段"), status, editing=editing,
                 values=values, error=error,
                 version=_stream_version(config["slug"]) if version is None else version)  # fmt: skip


@bp.get("/<slug>/form")
@allow("campaign.manage")
def form_list(slug):
    """The form's fields with their edit controls."""
    return _form_list(load_campaign(slug))


@bp.get("/<slug>/form/<key>/edit")
@allow("campaign.manage")
def field_edit(slug, key):
    """One field as a form (label, help, required, max length, position); ?to=N preselects a
    new position, which is how the up/down buttons start a move."""
    config = load_campaign(slug)
    index = _field_index(config, key)
    f = config["form"][index]
    try:
        to = int(request.args.get("to", index + 1))
    except ValueError:
        to = index + 1
    to = min(max(to, 1), len(config["form"]))
    values = {"label": f["label"], "help": f["help"], "required": f["required"],
              "max_length": f["max_length"], "position": to, "reason": ""}  # fmt: skip
    return _form_list(config, editing=key, values=values)


@bp.post("/<slug>/form/<key>")
@allow("campaign.manage")
def field_save(slug, key):
    """Save one field's edit as one CampaignFormChanged event carrying the whole new list."""
    config = load_campaign(slug)
    index = _field_index(config, key)
    form = request.form
    values = {"label": form.get("label", "").strip(), "help": form.get("help", "").strip(),
              "required": "required" in form, "max_length": form.get("max_length", "").strip(),
              "position": form.get("position", str(index + 1)), "reason": _reason_text()}  # fmt: skip
    posted = form.get("version", "")
    version, error = _attempt(_version)
    new_form = copy.deepcopy(config["form"])
    if error is None:
        try:
            max_length = int(values["max_length"])
            position = int(values["position"])
        except ValueError:
            error = _("最大长度和位置须为整数。")
    if error is None:
        if not 1 <= position <= len(new_form):
            error = _("位置须在 1–%(n)s 之间。", n=len(new_form))
    if error is None:
        field = new_form.pop(index)
        field.update(label=values["label"], help=values["help"], required=values["required"],
                     max_length=max_length)  # fmt: skip
        new_form.insert(position - 1, field)
        if new_form == config["form"]:
            error = _no_change()
    if error is None:
        events, error = _attempt(lambda: campaigns.change_form(
            current_actor(), slug, new_form, values["reason"], version=version))  # fmt: skip
    if error:
        return _form_list(config, key, values, error, posted, status=400)
    body, _status = _form_list(campaigns.get(slug))
    return _saved(slug, version, events, body, "form-fields")


# --- quotas and the late policy -----------------------------------------------------------


def _policy(config, editing=False, values=None, error=None, version=None, status=200):
    return _page("campaigns/settings_policy.html", config, _("逾期与认定名额"), status,
                 editing=editing, values=values or {}, error=error or {},
                 version=_stream_version(config["slug"]) if version is None else version)  # fmt: skip


@bp.get("/<slug>/policy")
@allow("campaign.manage")
def policy(slug):
    """The late policy and the quotas, with an edit button."""
    return _policy(load_campaign(slug))


@bp.get("/<slug>/policy/edit")
@allow("campaign.manage")
def policy_edit(slug):
    """Two small forms: quotas per category, and the late policy; each saves with a reason."""
    return _policy(load_campaign(slug), editing=True)


def _quota(category: str, text: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,4}", text) or int(text) > 1000:
        name = CATEGORIES[category]["name"]
        raise DomainError(_("“%(name)s”的认定名额须为 0–1000 的整数，留空表示不限。", name=_(name)))
    return int(text)


@bp.post("/<slug>/policy/quotas")
@allow("campaign.manage")
def quotas_save(slug):
    """Certification quotas per category (empty: no limit): one CampaignSettingChanged event."""
    config = load_campaign(slug)
    texts = {c: request.form.get(f"quota-{c}", "") for c in config["categories"]}
    values = {"quotas": texts, "quota_reason": _reason_text()}
    posted = request.form.get("version", "")
    version, error = _attempt(_version)
    quotas = dict(config.get("quotas") or {})
    if error is None:
        try:
            quotas.update({c: _quota(c, t) for c, t in texts.items()})
        except DomainError as exc:
            error = exc.message
    if error is None and quotas == config.get("quotas"):
        error = _no_change()
    if error is None:
        events, error = _attempt(lambda: campaigns.change_setting(
            current_actor(), slug, "quotas", quotas, values["quota_reason"], version=version))  # fmt: skip
    if error:
        return _policy(config, True, values, {"quotas": error}, posted, status=400)
    body, _status = _policy(campaigns.get(slug))
    return _saved(slug, version, events, body, "campaign-policy")


@bp.post("/<slug>/policy/late")
@allow("campaign.manage")
def late_save(slug):
    """What a late action gets: refused, or allowed and flagged. One event with the reason."""
    config = load_campaign(slug)
    choice = request.form.get("late_policy", "")
    values = {"late_policy": choice, "late_reason": _reason_text()}
    posted = request.form.get("version", "")
    version, error = _attempt(_version)
    if error is None and choice not in LATE_POLICIES:
        error = _("请选择逾期提交的处理方式。")
    if error is None and choice == config.get("late_policy"):
        error = _no_change()
    if error is None:
        events, error = _attempt(lambda: campaigns.change_setting(
            current_actor(), slug, "late_policy", choice, values["late_reason"], version=version))  # fmt: skip
    if error:
        return _policy(config, True, values, {"late": error}, posted, status=400)
    body, _status = _policy(campaigns.get(slug))
    return _saved(slug, version, events, body, "campaign-policy")


# --- per-unit extensions --------------------------------------------------------------------


def committee_units(config: dict) -> list[tuple[str, str]]:
    """(code, name) of the units under the campaign's committee, which may get an extension."""
    return [
        (code, name)
        for code, name in db.fetchall(
            "SELECT code, name FROM org_unit WHERE root = ? AND code <> ? ORDER BY code",
            (config["committee"], config["committee"]),
        )
    ]


def extension_rows(config: dict) -> list[dict]:
    names = dict(committee_units(config))
    stages = {s["code"]: s["name"] for s in config["stages"]}
    rows = db.fetchall(
        "SELECT unit, stage, due, reason FROM campaign_extension WHERE slug = ? "
        "ORDER BY position", (config["slug"],))  # fmt: skip
    tz = config["timezone"]
    return [{"unit": u, "unit_name": names.get(u, u), "stage": s, "stage_name": stages.get(s, s),
             "due_text": show(parse_local(d, tz), tz), "reason": r}
            for u, s, d, r in rows]  # fmt: skip


def _extensions(config, editing=False, values=None, error=None, version=None, status=200):
    return _page("campaigns/settings_extensions.html", config, _("单位延期"), status,
                 editing=editing, values=values or {}, error=error,
                 extensions=extension_rows(config), units=committee_units(config),
                 stages=timeline(config), input_value=_input_value,
                 version=_stream_version(config["slug"]) if version is None else version)  # fmt: skip


@bp.app_context_processor
def _inject():
    return {"campaign_extensions": extension_rows}


@bp.get("/<slug>/extensions")
@allow("campaign.manage")
def extensions(slug):
    """Extensions granted so far, with the button that opens the form."""
    return _extensions(load_campaign(slug))


@bp.get("/<slug>/extensions/new")
@allow("campaign.manage")
def extension_form(slug):
    """Grant one unit a later due time for one stage."""
    return _extensions(load_campaign(slug), editing=True)


@bp.post("/<slug>/extensions")
@allow("campaign.manage")
def extension_save(slug):
    """One DeadlineExtended event with the reason; at most deferral_max_days later."""
    config = load_campaign(slug)
    form = request.form
    values = {"unit": form.get("unit", ""), "stage": form.get("stage", ""),
              "due": _local(form.get("due")), "reason": _reason_text()}  # fmt: skip
    posted = form.get("version", "")
    version, error = _attempt(_version)
    if error is None and version != _stream_version(slug):
        # The command appends at the current version; a form rendered before another edit
        # (e.g. the stage's due time moved) is stale all the same.
        raise log.ConcurrencyError(campaigns.stream(slug), version, _stream_version(slug))
    if error is None and values["unit"] not in dict(committee_units(config)):
        error = _("请选择本活动所属党委下的组织。")
    if error is None:
        events, error = _attempt(lambda: campaigns.extend_deadline(
            current_actor(), slug, values["unit"], values["stage"], values["due"],
            values["reason"]))  # fmt: skip
    if error:
        return _extensions(config, True, values, error, posted, status=400)
    body, _status = _extensions(campaigns.get(slug))
    return _saved(slug, version, events, body, "extensions")


# --- a new round ---------------------------------------------------------------------------


def _new_round_page(config, values, error=None, status=200):
    return render("campaigns/settings_new_round.html", "campaigns/settings_new_round_form.html",
                  config=config, values=values, error=error,
                  input_value=_input_value), status  # fmt: skip


@bp.get("/<slug>/new-round")
@allow("campaign.manage")
def new_round_form(slug):
    """A new round from this campaign: new code, title and first opening time."""
    config = load_campaign(slug)
    tz = config["timezone"]
    first = parse_local(config["stages"][0]["opens"], tz)
    year_later = (first + timedelta(days=364)).strftime(LOCAL_FORMAT)
    values = {"slug": "", "title": config["title"], "first_opens": year_later}
    return _new_round_page(config, values)


@bp.post("/<slug>/new-round")
@allow("campaign.manage")
def new_round_save(slug):
    """Copy the structure (stages shifted, form, rules, quotas...) into a new campaign."""
    config = load_campaign(slug)
    values = {"slug": request.form.get("slug", "").strip(),
              "title": request.form.get("title", "").strip(),
              "first_opens": _local(request.form.get("first_opens"))}  # fmt: skip
    _events, error = _attempt(lambda: campaigns.new_round(
        current_actor(), slug, values["slug"], values["title"], values["first_opens"]))  # fmt: skip
    if error:
        return _new_round_page(config, values, error, status=400)
    target = url_for("campaigns.show_campaign", slug=values["slug"])
    if is_htmx():
        return make_response("", 204, {"HX-Redirect": target})
    return redirect(target, 303)
