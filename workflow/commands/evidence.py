"""Cultivation evidence (培育创建): news articles, activities and photos.

Who: only the project's own unit (its applicant, or its secretary) posts; the organizer and
the auditor read. When: in the states lifecycle.MOVES["evidence"] allows; after the evidence
stage's due (cultivate, or midterm where the campaign has no cultivate stage; a per-unit
extension counts) an item is flagged late, or refused when the campaign's late policy is
"refuse" (the unit then asks for a deferral, see commands/deferrals.py).

The first evidence on an `approved` project also appends CultivationStarted to the project
stream, in the same transaction: that event is what moves the project to `cultivating`.
Every check runs before anything is stored, so a refused request leaves no file, no row and
no event behind.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .. import db, deadlines, lifecycle, log, photos
from ..authz import Actor
from ..campaign_templates import NEWS_LEVELS
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns
from .applications import FormErrors, get_project
from .applications import stream as project_stream

ACTIVITY_KINDS = {
    "theme_day": N_("主题党日"),
    "three_one": N_("三会一课"),
    "study": N_("专题学习"),
    "volunteer": N_("志愿服务"),
    "practice": N_("社会实践"),
    "service": N_("品牌服务"),
    "other": N_("其他活动"),
}
WITHDRAW_KINDS = {
    "news": N_("宣传报道"),
    "activity": N_("活动记录"),
    "photo": N_("照片"),
    "expense": N_("经费支出"),
}
TITLE_MAX, PLATFORM_MAX, PLACE_MAX, SUMMARY_MAX, CAPTION_MAX, URL_MAX = 100, 60, 60, 2000, 100, 500
MAX_FILES = 20
EARLIEST = date(2000, 1, 1)


def stream(pid: str) -> str:
    return f"evidence:{pid}"


# --- Who, when ------------------------------------------------------------------------------


def load(pid: str) -> dict:
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    return project


def standing_photos(pid: str) -> list[dict]:
    """The project's photos that stand (not withdrawn), in upload order, as pages show them."""
    keys = ("photo_id", "sha256", "thumb_sha", "caption", "width", "height")
    rows = db.fetchall(
        "SELECT photo_id, sha256, thumb_sha, caption, width, height FROM project_photo "
        "WHERE project = ? AND withdrawn_position IS NULL ORDER BY position",
        (pid,),
    )
    return [dict(zip(keys, r)) for r in rows]


def may_post(actor: Actor | None, project: dict) -> bool:
    """The project's own unit: its applicant or its secretary."""
    return bool(actor and actor.has("applicant", "approver") and actor.unit == project["unit"])


def require_poster(actor: Actor, project: dict) -> None:
    if not may_post(actor, project):
        raise Forbidden(_("您没有权限进行此操作：只有本单位的申报人或书记可以提交培育创建材料。"))


def evidence_stage(config: dict) -> str | None:
    """The stage evidence belongs to: `cultivate` (notice 000) or `midterm` (notice 001)."""
    codes = [s["code"] for s in config["stages"]]
    wanted = config.get("evidence", {}).get("stage")
    for code in (wanted, "cultivate", "midterm"):
        if code and code in codes:
            return code
    return None


def late_flag(config: dict, unit: str, now: datetime, action: str) -> bool:
    """Late after the evidence stage's due (extension included); refused under 'refuse'.
    `action` (N_-marked) names what is being done, as deadlines.check_window's does."""
    code = evidence_stage(config)
    if code is None:
        return False
    w = deadlines.window(config, code, unit)
    if not w.late(now):
        return False
    if config.get("late_policy") == "refuse":
        name = deadlines.stage(config, code)["name"]
        raise DomainError(
            _(
                "“%(name)s”阶段已于 %(due)s 截止，不能再%(action)s。如需更多时间，请在本页“延期申请”中提出。",
                name=name,
                due=deadlines.show(w.due, config["timezone"]),
                action=_(action),
            )
        )
    return True


def captions_required(config: dict) -> bool:
    rules = config.get("evidence", {})
    return bool(rules.get("photo_captions", rules.get("photos_min", 0) > 0))


def today(config: dict, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config["timezone"])).date()


def append(actor: Actor, pid: str, events: list[NewEvent], trigger: str, now=None) -> list:
    """Append to the evidence stream; the first evidence of an approved project starts
    cultivation (CultivationStarted on the project stream), all in one transaction."""
    with db.writer_transaction():
        db.take_writer_lock()
        project = load(pid)  # re-read under the lock: one CultivationStarted, ever
        if project["state"] == "approved" and trigger:
            start = NewEvent(
                "CultivationStarted", {"revision": project["revision"], "trigger": trigger}
            )
            version = log.stream_version(project_stream(pid))
            log.append(project_stream(pid), version, [start], actor.username, now)
        version = log.stream_version(stream(pid))
        return log.append(stream(pid), version, events, actor.username, now)


def _checked(actor: Actor, pid: str, move: str = "evidence") -> tuple[dict, dict]:
    project = load(pid)
    require_poster(actor, project)
    lifecycle.require_state(move, project["state"])
    return project, campaigns.get(project["campaign"])


# --- Field checks ---------------------------------------------------------------------------


def text(value, label: str, limit: int, errors: dict, key: str, required=True, multiline=False):
    """A text field, checked; `label` names it (an N_-marked label, translated here)."""
    value = str(value or "").replace("\r\n", "\n").strip()
    if not multiline:
        value = " ".join(value.split())
    if required and not value:
        errors[key] = _("请填写%(label)s。", label=_(label))
    elif len(value) > limit:
        errors[key] = _("%(label)s最多 %(limit)s 字，当前 %(n)s 字。", label=_(label), limit=limit,
                        n=len(value))  # fmt: skip
    return value


def past_date(value, label: str, config: dict, now: datetime, errors: dict, key: str) -> str:
    """An ISO date, not in the future (in the campaign's time zone); `label` is N_-marked."""
    value = str(value or "").strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[key] = _("请填写%(label)s，格式如 2025-06-15。", label=_(label))
        return value
    if day > today(config, now):
        errors[key] = _("%(label)s不能晚于今天（%(today)s）。", label=_(label),
                        today=today(config, now).isoformat())  # fmt: skip
    elif day < EARLIEST:
        errors[key] = _("%(label)s不正确。", label=_(label))
    return day.isoformat()


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def clean_url(value, errors: dict, key: str = "url") -> str:
    """A complete http(s) address. Checked by form only: the server never fetches it."""
    value = str(value or "").strip()
    if not value:
        errors[key] = _("请填写报道链接。")
        return value
    if len(value) > URL_MAX:
        errors[key] = _("报道链接最多 %(max)s 个字符。", max=URL_MAX)
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if (
        parts is None
        or _CONTROL.search(value)
        or parts.scheme.lower() not in ("http", "https")
        or not host
    ):
        errors[key] = _(
            "报道链接须是以 http:// 或 https:// 开头的完整网址，例如 https://news.example.edu.cn/a/123.html。"
        )
    return value


def participants_count(value, errors: dict, key: str = "participants") -> int:
    try:
        n = int(str(value or "").strip())
    except ValueError:
        errors[key] = _("请填写参加人数（整数）。")
        return 0
    if not 1 <= n <= 100000:
        errors[key] = _("参加人数须在 1–100000 之间。")
    return n


def clean_caption(value, config: dict, errors: dict, key: str, name: str = "") -> str:
    caption = " ".join(str(value or "").split())
    if not caption and captions_required(config):
        if name:
            errors[key] = _(
                "请为照片“%(name)s”填写注释（本活动要求每张照片附简要注释）。", name=name
            )
        else:
            errors[key] = _("请为照片填写注释（本活动要求每张照片附简要注释）。")
    elif len(caption) > CAPTION_MAX:
        errors[key] = _("照片注释最多 %(max)s 字，当前 %(n)s 字。", max=CAPTION_MAX, n=len(caption))
    return caption


def prepare_photos(
    config: dict,
    uploads: list[tuple[bytes, str]],
    captions: list[str],
    errors: dict,
    key: str = "photos",
) -> list:
    """Check and process every upload before anything is stored: all, or none."""
    if len(uploads) > MAX_FILES:
        errors[key] = _("一次最多上传 %(max)s 张照片。", max=MAX_FILES)
        return []
    min_side = int(config.get("evidence", {}).get("photo_min_pixels") or 0)
    out, problems = [], []
    for index, (data, name) in enumerate(uploads):
        caption = clean_caption(captions[index] if index < len(captions) else "", config,
                                errors, f"caption_{index}", name)  # fmt: skip
        if f"caption_{index}" in errors:
            problems.append(errors.pop(f"caption_{index}"))
        try:
            out.append((photos.process(data, name, min_side), caption))
        except DomainError as exc:
            problems.append(exc.message)
    if problems:
        errors[key] = " ".join(dict.fromkeys(problems))
    return out


def photo_events(upload_dir: str, prepared: list, activity: str | None, late: bool):
    events = []
    for processed, caption in prepared:
        ref, thumb = photos.store(upload_dir, processed)
        events.append(NewEvent("PhotoAdded", {
            "photo_id": str(uuid.uuid4()), "activity": activity, "caption": caption,
            "file": ref, "thumb": thumb, "width": processed.width, "height": processed.height,
            "late": late}))  # fmt: skip
    return events


def _duplicate_photos(pid: str, prepared: list, errors: dict, key: str) -> None:
    seen = set()
    for processed, _caption in prepared:
        sha = hashlib.sha256(processed.data).hexdigest()
        if sha in seen:
            errors[key] = _(
                "照片“%(name)s”在本次选择中重复了，请去掉重复的照片。", name=processed.name
            )
            return
        seen.add(sha)
        row = db.fetchone(
            "SELECT caption FROM project_photo WHERE project = ? AND sha256 = ? "
            "AND withdrawn_position IS NULL",
            (pid, sha),
        )
        if row:
            errors[key] = _("照片“%(name)s”已上传过（注释：%(caption)s），不必重复上传。",
                            name=processed.name, caption=row[0] or _("无"))  # fmt: skip
            return


# --- Commands -------------------------------------------------------------------------------


def add_news(actor: Actor, pid: str, values: dict, screenshot, upload_dir: str, now=None):
    """Register a news article (宣传报道); `screenshot` is (bytes, name) or None."""
    now = now or datetime.now(UTC)
    project, config = _checked(actor, pid)
    errors: dict[str, str] = {}
    title = text(values.get("title"), N_("报道标题"), TITLE_MAX, errors, "title")
    url = clean_url(values.get("url"), errors)
    platform = text(values.get("platform"), N_("刊发平台"), PLATFORM_MAX, errors, "platform")
    level = str(values.get("level") or "")
    if level not in NEWS_LEVELS:
        errors["level"] = _("请选择平台级别（系、学院、学校、省、国家）。")
    published = past_date(values.get("published_on"), N_("刊发日期"), config, now, errors,
                          "published_on")  # fmt: skip
    shot = None
    if screenshot is not None:
        try:
            shot = photos.process(*screenshot)
        except DomainError as exc:
            errors["screenshot"] = exc.message
    if not errors.get("url") and db.fetchone(
        "SELECT 1 FROM evidence_news WHERE project = ? AND url = ? AND withdrawn_position IS NULL",
        (pid, url),
    ):
        errors["url"] = _("这篇报道的链接已经登记过了。")
    if errors:
        raise FormErrors(errors)
    late = late_flag(config, project["unit"], now, N_("登记宣传报道"))
    ref = None
    if shot is not None:
        file, thumb = photos.store(upload_dir, shot)
        ref = {"file": file, "thumb": thumb}
    event = NewEvent("NewsArticleAdded", {
        "news_id": str(uuid.uuid4()), "title": title, "url": url, "platform": platform,
        "level": level, "published_on": published, "screenshot": ref, "late": late})  # fmt: skip
    return append(actor, pid, [event], "news", now)[0]


def record_activity(actor: Actor, pid: str, values: dict, uploads, captions, upload_dir: str,
                    now=None):  # fmt: skip
    """Record an activity (主题党日 and others) with its photos, in one append."""
    now = now or datetime.now(UTC)
    project, config = _checked(actor, pid)
    errors: dict[str, str] = {}
    kind = str(values.get("kind") or "")
    if kind not in ACTIVITY_KINDS:
        errors["kind"] = _("请选择活动类型。")
    title = text(values.get("title"), N_("活动主题"), TITLE_MAX, errors, "title")
    held_on = past_date(values.get("held_on"), N_("活动日期"), config, now, errors, "held_on")
    place = text(values.get("place"), N_("活动地点"), PLACE_MAX, errors, "place")
    participants = participants_count(values.get("participants"), errors)
    summary = text(values.get("summary"), N_("活动简介"), SUMMARY_MAX, errors, "summary",
                   multiline=True)  # fmt: skip
    prepared = prepare_photos(config, uploads, captions, errors)
    if prepared and "photos" not in errors:
        _duplicate_photos(pid, prepared, errors, "photos")
    if errors:
        raise FormErrors(errors)
    late = late_flag(config, project["unit"], now, N_("登记活动记录"))
    activity_id = str(uuid.uuid4())
    events = [NewEvent("ActivityRecorded", {
        "activity_id": activity_id, "kind": kind, "title": title, "held_on": held_on,
        "place": place, "participants": participants, "summary": summary, "late": late})]  # fmt: skip
    events += photo_events(upload_dir, prepared, activity_id, late)
    return append(actor, pid, events, "activity", now)


def add_photos(actor: Actor, pid: str, uploads, captions, upload_dir: str, activity=None,
               now=None):  # fmt: skip
    """Upload one or many captioned photos (all are stored, or none)."""
    now = now or datetime.now(UTC)
    project, config = _checked(actor, pid)
    errors: dict[str, str] = {}
    if not uploads:
        errors["photos"] = _("请选择要上传的照片。")
    if activity and not db.fetchone(
        "SELECT 1 FROM evidence_activity WHERE activity_id = ? AND project = ? "
        "AND withdrawn_position IS NULL",
        (activity, pid),
    ):
        errors["activity"] = _("所选活动不存在或已撤回。")
    prepared = prepare_photos(config, uploads, captions, errors) if uploads else []
    if prepared and "photos" not in errors:
        _duplicate_photos(pid, prepared, errors, "photos")
    if errors:
        raise FormErrors(errors)
    late = late_flag(config, project["unit"], now, N_("上传照片"))
    return append(actor, pid, photo_events(upload_dir, prepared, activity or None, late),
                  "photo", now)  # fmt: skip


def change_caption(actor: Actor, pid: str, photo_id: str, caption: str, now=None):
    project, config = _checked(actor, pid)
    row = db.fetchone(
        "SELECT caption FROM project_photo WHERE photo_id = ? AND project = ? "
        "AND withdrawn_position IS NULL",
        (photo_id, pid),
    )
    if row is None:
        raise FormErrors({"photo_id": _("照片不存在或已撤回。")})
    errors: dict[str, str] = {}
    caption = clean_caption(caption, config, errors, "caption")
    if errors:
        raise FormErrors(errors)
    if caption == row[0]:
        return None
    event = NewEvent("PhotoCaptionChanged", {"photo_id": photo_id, "caption": caption})
    return append(actor, pid, [event], "", now)[0]


def withdraw(actor: Actor, pid: str, kind: str, item_id: str, reason: str, now=None):
    """Take back an item entered by mistake (the row and its history stay, marked withdrawn)."""
    from ..projections.evidence import TABLES

    project = load(pid)
    require_poster(actor, project)
    if kind not in WITHDRAW_KINDS:
        raise FormErrors({"kind": _("要撤回的材料类型不正确。")})
    lifecycle.require_state("funding" if kind == "expense" else "evidence", project["state"])
    table, key = TABLES[kind]
    found = db.fetchone(
        f"SELECT 1 FROM {table} WHERE {key} = ? AND project = ? AND withdrawn_position IS NULL",
        (item_id or "", pid),
    )
    errors: dict[str, str] = {}
    if not found:
        errors["item_id"] = _("该%(kind)s不存在或已撤回。", kind=_(WITHDRAW_KINDS[kind]))
    reason = text(reason, N_("撤回原因"), 200, errors, "reason")
    if errors:
        raise FormErrors(errors)
    event = NewEvent("EvidenceWithdrawn", {"kind": kind, "item_id": item_id, "reason": reason})
    return append(actor, pid, [event], "", now)[0]
