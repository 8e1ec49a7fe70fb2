"""Campaign commands: create from a template, edit dates, form, settings; extend a deadline;
start a new round from an existing campaign."""

from __future__ import annotations

import re
from datetime import timedelta

from .. import campaign_templates, db, log
from ..authz import Actor, require
from ..deadlines import LOCAL_FORMAT, parse_local
from ..errors import DomainError, NotFound
from ..events import NewEvent
from ..i18n import _
from ..projections.campaigns import load_config

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,39}$")
# Settings the organizer may change in place, with the check each value must pass.
SETTINGS = {
    "title": lambda v: isinstance(v, str) and 0 < len(v) <= 80,
    "late_policy": lambda v: v in ("refuse", "flag"),
    "quotas": lambda v: (
        isinstance(v, dict)
        and all(x is None or (isinstance(x, int) and 0 <= x <= 1000) for x in v.values())
    ),
    "publicity_days": lambda v: isinstance(v, int) and 1 <= v <= 60,
    "deferral_max_days": lambda v: isinstance(v, int) and 0 <= v <= 366,
    "reminder_days": lambda v: (
        isinstance(v, list) and all(isinstance(x, int) and 0 < x <= 60 for x in v)
    ),
}


def stream(slug: str) -> str:
    return f"campaign:{slug}"


def get(slug: str) -> dict:
    config = load_config(slug)
    if config is None:
        raise NotFound(_("创建活动 %(slug)s 不存在。", slug=slug))
    return config


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写修改原因（将记入日志）。"), "reason")
    if len(reason) > 500:
        raise DomainError(_("修改原因不超过 500 个字符。"), "reason")
    return reason


def create(actor: Actor, config: dict, template: str, now=None):
    require(actor, "campaign.manage")
    slug = config["slug"]
    if not SLUG_RE.match(slug):
        raise DomainError(_("活动编码须为 3–40 位小写字母、数字或横线。"), "slug")
    if load_config(slug) is not None:
        raise DomainError(_("活动编码 %(slug)s 已被使用。", slug=slug), "slug")
    if not db.fetchone("SELECT 1 FROM org_unit WHERE code = ?", (config["committee"],)):
        raise DomainError(
            _("党委 %(code)s 不在组织架构中，请先导入组织。", code=config["committee"])
        )
    event = NewEvent("CampaignCreated", {"slug": slug, "template": template, "config": config})
    return log.append(stream(slug), 0, [event], actor.username, now)


def create_from_template(actor: Actor, template: str, now=None):
    return create(actor, campaign_templates.template(template), template, now)


def new_round(actor: Actor, source: str, slug: str, title: str, first_opens: str, now=None):
    """Copy a campaign's structure with every stage shifted so the first opens at `first_opens`."""
    config = get(source)
    # The new round starts from the rubric as the organizer last edited it, not the template's.
    from .scoring import current_rubric

    config["rubric"] = current_rubric(source)
    config["rubric"]["version"] = 1  # the new campaign's rubric history starts here
    start = parse_local(first_opens, config["timezone"])
    shift = start - parse_local(config["stages"][0]["opens"], config["timezone"])
    # Whole hours only: stage times stay "to the hour".
    shift = timedelta(hours=round(shift.total_seconds() / 3600))
    for s in config["stages"]:
        for key in ("opens", "due"):
            moved = parse_local(s[key], config["timezone"]) + shift
            s[key] = moved.strftime(LOCAL_FORMAT)
    config["slug"], config["title"] = slug, (title or "").strip()
    if not SETTINGS["title"](config["title"]):
        raise DomainError(_("请填写活动名称（不超过 80 个字符）。"), "title")
    return create(actor, config, source, now)


def reschedule_stage(actor: Actor, slug, stage_code, opens, due, reason, version=None, now=None):
    require(actor, "campaign.manage")
    config = get(slug)
    if not any(s["code"] == stage_code for s in config["stages"]):
        raise DomainError(_("阶段 %(code)s 不存在。", code=stage_code))
    tz = config["timezone"]
    if parse_local(due, tz) <= parse_local(opens, tz):
        raise DomainError(_("截止时间必须晚于开始时间。"), "due")
    opens = parse_local(opens, tz).strftime(LOCAL_FORMAT)
    due = parse_local(due, tz).strftime(LOCAL_FORMAT)
    event = NewEvent(
        "CampaignStageRescheduled",
        {"stage": stage_code, "opens": opens, "due": due, "reason": _reason(reason)},
    )
    return _append(actor, slug, event, version, now)


def change_form(actor: Actor, slug, form: list, reason, version=None, now=None):
    require(actor, "campaign.manage")
    get(slug)
    keys = set()
    for f in form:
        if not f.get("key") or f["key"] in keys:
            raise DomainError(_("字段标识不能为空或重复。"))
        keys.add(f["key"])
        if not (f.get("label") or "").strip() or len(f["label"]) > 40:
            raise DomainError(_("字段名称不能为空，且不超过 40 个字符。"))
        if not isinstance(f.get("max_length"), int) or not 1 <= f["max_length"] <= 20000:
            raise DomainError(_("字段“%(label)s”的最大长度须在 1–20000 字之间。", label=f["label"]))
        if len(f.get("help") or "") > 200:
            raise DomainError(_("字段“%(label)s”的填写说明不超过 200 个字符。", label=f["label"]))
    if "brand_name" not in keys:
        raise DomainError(_("申报表必须保留“品牌名称”字段。"))
    event = NewEvent("CampaignFormChanged", {"form": form, "reason": _reason(reason)})
    return _append(actor, slug, event, version, now)


def change_setting(actor: Actor, slug, key, value, reason, version=None, now=None):
    require(actor, "campaign.manage")
    get(slug)
    if key not in SETTINGS or not SETTINGS[key](value):
        raise DomainError(_("设置值无效。"), key)
    event = NewEvent(
        "CampaignSettingChanged", {"key": key, "value": value, "reason": _reason(reason)}
    )
    return _append(actor, slug, event, version, now)


def extend_deadline(actor: Actor, slug, unit, stage_code, due, reason, now=None):
    """Give one unit a later due time for one stage (at most deferral_max_days later)."""
    require(actor, "campaign.manage")
    config = get(slug)
    stage = next((s for s in config["stages"] if s["code"] == stage_code), None)
    if stage is None:
        raise DomainError(_("阶段 %(code)s 不存在。", code=stage_code))
    if not db.fetchone("SELECT 1 FROM org_unit WHERE code = ?", (unit,)):
        raise DomainError(_("组织 %(code)s 不存在。", code=unit))
    tz = config["timezone"]
    new_due, old_due = parse_local(due, tz), parse_local(stage["due"], tz)
    if new_due <= old_due:
        raise DomainError(_("延长后的截止时间必须晚于原截止时间。"), "due")
    if new_due - old_due > timedelta(days=config["deferral_max_days"]):
        raise DomainError(_("最多只能延长 %(days)s 天。", days=config["deferral_max_days"]), "due")
    event = NewEvent(
        "DeadlineExtended",
        {"unit": unit, "stage": stage_code, "due": new_due.strftime(LOCAL_FORMAT),
         "reason": _reason(reason)},
    )  # fmt: skip
    return _append(actor, slug, event, None, now)


def _append(actor, slug, event, version, now):
    """Append with the version the editor saw (a stale page is a conflict), else the current."""
    current = log.stream_version(stream(slug))
    return log.append(stream(slug), current if version is None else version, [event],
                      actor.username, now)  # fmt: skip


def list_for(actor: Actor) -> list[dict]:
    from ..authz import in_scope

    rows = db.fetchall("SELECT slug, title, committee FROM campaign ORDER BY slug")
    return [
        {"slug": s, "title": t, "committee": c}
        for s, t, c in rows
        if in_scope(actor, c) or _member_of(actor, c)
    ]


def _member_of(actor: Actor, committee: str) -> bool:
    """Unit members and reviewers see the campaigns of their own committee."""
    if actor.unit is None:
        return actor.has("reviewer")
    row = db.fetchone("SELECT root FROM org_unit WHERE code = ?", (actor.unit,))
    return row is not None and row[0] == committee
