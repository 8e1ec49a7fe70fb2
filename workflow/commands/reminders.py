"""Reminders: tell units what they still owe before a deadline, and chase overdue items.

Each stage that asks units for something registers a function saying who still owes what
(`@owes("apply")`); later stages (final report, evidence, …) add their own. `send_reminders`
(run from cron by `flask send-reminders`) sends, for every campaign,
- "due_soon" when the due time is within one of the campaign's `reminder_days` (e.g. 7, 3 and
  1 days before: one reminder per threshold), and
- "overdue" once per local day for the first max(reminder_days) days after the due time;
`remind_overdue` is the organizer's button: every overdue unit, now (once per day).

Idempotent: a reminder's event id is derived from (campaign, unit, stage, kind, bucket, due),
so the same reminder is never appended twice, whoever runs it and however often. A deadline
extended for a unit starts a new series (the due time is part of the key).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .. import authz, db, deadlines, log, overview
from ..authz import SYSTEM, Actor, require
from ..deadlines import LOCAL_FORMAT
from ..errors import Forbidden
from ..events import NewEvent
from ..i18n import _, documents_language
from . import campaigns

NAMESPACE = uuid.UUID("5f0c3c1e-9a55-4d0e-a7a4-6b7d1f0e4c21")
DUE_SOON, OVERDUE = "due_soon", "overdue"


@dataclass(frozen=True)
class Owed:
    """One unit still owes something for one stage."""

    unit: str
    stage: str
    opens: datetime
    due: datetime
    what: str  # what to do, e.g. "提交申报表"
    chase_overdue: bool = True  # False: remind before the due time only


OWED: dict[str, Callable[[dict, datetime], list[Owed]]] = {}


def owes(stage: str):
    """Register who still owes what for `stage`: fn(config, now) -> [Owed]."""

    def register(fn):
        OWED[stage] = fn
        return fn

    return register


@owes("apply")
def apply_owed(config: dict, now: datetime) -> list[Owed]:
    """Units that have not applied; units whose application came back for revision.

    A returned application is reminded before the apply deadline only: resubmissions answer a
    return and are not held to that deadline.
    """
    out: dict[str, Owed] = {}
    for row in overview.rows(config, now):
        if row["status"] in ("not_started", "overdue"):
            what, chase = "提交申报表", True
        elif row["status"] == "returned":
            what, chase = "根据退回意见修改并重新提交申报表", False
        else:
            continue
        w = deadlines.window(config, "apply", row["unit"])
        out.setdefault(row["unit"], Owed(row["unit"], "apply", w.opens, w.due, what, chase))
    return list(out.values())


# --- Deciding ------------------------------------------------------------------------------


def _thresholds(config: dict) -> list[int]:
    return sorted({d for d in config.get("reminder_days") or [] if isinstance(d, int) and d > 0})


def due_bucket(config: dict, owed: Owed, now: datetime) -> tuple[str, str] | None:
    """(kind, bucket) of the reminder cron should send now, or None."""
    if now < owed.opens:
        return None
    days = _thresholds(config)
    left = owed.due - now
    if left > timedelta(0):
        for d in days:
            if left <= timedelta(days=d):
                return DUE_SOON, f"{d}d"
        return None
    if owed.chase_overdue and now - owed.due <= timedelta(days=max(days, default=7)):
        return OVERDUE, _local_day(config, now)
    return None


def _local_day(config: dict, now: datetime) -> str:
    return now.astimezone(ZoneInfo(config["timezone"])).date().isoformat()


def _note(config: dict, owed: Owed, kind: str, now: datetime) -> str:
    """The reminder's text, stored in its event: Chinese whatever the sender's UI language
    (built like a document, so the due time is the Chinese date too)."""
    with documents_language():
        return _note_text(config, owed, kind, now)


def _note_text(config: dict, owed: Owed, kind: str, now: datetime) -> str:
    tz = config["timezone"]
    stage = deadlines.stage(config, owed.stage)
    name, due = stage["name"] if stage else owed.stage, deadlines.show(owed.due, tz)
    if kind == OVERDUE:
        tail = (
            "，请联系党委组织部申请延期"
            if config.get("late_policy") == "refuse"
            else "，请尽快补交"
        )
        return f"「{config['title']}」的“{name}”阶段已于 {due} 截止，本单位尚未{owed.what}{tail}。"
    left = owed.due - now
    hours = int(left.total_seconds() // 3600)
    remaining = f"{hours // 24} 天 {hours % 24} 小时" if hours >= 24 else f"{max(hours, 1)} 小时"
    return (f"「{config['title']}」的“{name}”阶段将于 {due} 截止（剩余约 {remaining}），"
            f"本单位尚未{owed.what}，请抓紧办理。")  # fmt: skip


def _event(config: dict, owed: Owed, kind: str, bucket: str, now: datetime) -> NewEvent:
    tz = ZoneInfo(config["timezone"])
    due = owed.due.astimezone(tz).strftime(LOCAL_FORMAT)
    key = "|".join((config["slug"], owed.unit, owed.stage, kind, bucket, due))
    return NewEvent(
        "ReminderSent",
        {"unit": owed.unit, "stage": owed.stage, "kind": kind, "due": due,
         "note": _note(config, owed, kind, now)},
        event_id=str(uuid.uuid5(NAMESPACE, key)),
    )  # fmt: skip


def _append_new(slug: str, events: list[NewEvent], actor: Actor, now: datetime) -> list:
    """Append the reminders not yet sent, in one transaction under the writer lock."""
    if not events:
        return []
    stream = campaigns.stream(slug)
    with db.writer_transaction():
        db.take_writer_lock()
        fresh = [e for e in events if log.find(e.event_id) is None]
        if not fresh:
            return []
        return log.append(stream, log.stream_version(stream), fresh, actor.username, now)


def _plan(config: dict, now: datetime, pick) -> list[NewEvent]:
    events = []
    for stage, owed_fn in OWED.items():
        if deadlines.stage(config, stage) is None:
            continue
        for owed in owed_fn(config, now):
            decided = pick(config, owed, now)
            if decided:
                events.append(_event(config, owed, *decided, now))
    return events


# --- Commands ------------------------------------------------------------------------------


def _may_send(actor: Actor) -> None:
    if actor.username != SYSTEM.username:
        require(actor, "reminders.send")


def send_reminders(actor: Actor, now: datetime | None = None, slug: str | None = None) -> list:
    """The cron job: due-soon and overdue reminders of every campaign. Returns the events sent."""
    _may_send(actor)
    now = now or datetime.now(UTC)
    slugs = (
        [slug] if slug else [r[0] for r in db.fetchall("SELECT slug FROM campaign ORDER BY slug")]
    )
    sent = []
    for s in slugs:
        config = campaigns.get(s)
        sent += _append_new(s, _plan(config, now, due_bucket), actor, now)
    return sent


def overdue_now(config: dict, owed: Owed, now: datetime):
    if owed.chase_overdue and now >= owed.opens and now > owed.due:
        return OVERDUE, _local_day(config, now)
    return None


@dataclass
class RemindResult:
    sent: list
    overdue: int  # overdue items found (sent now or already reminded today)


def remind_overdue(actor: Actor, slug: str, now: datetime | None = None) -> RemindResult:
    """The organizer chases every overdue unit of a campaign at once (once per day each)."""
    require(actor, "reminders.send")
    now = now or datetime.now(UTC)
    config = campaigns.get(slug)
    if actor.unit is not None and not authz.in_scope(actor, config["committee"]):
        raise Forbidden(_("您不能管理该创建活动。"))
    planned = _plan(config, now, overdue_now)
    return RemindResult(_append_new(slug, planned, actor, now), len(planned))


def recent(slug: str, limit: int = 20) -> list[dict]:
    """The latest reminders of a campaign, newest first (for the organizer)."""
    rows = db.fetchall(
        "SELECT r.unit, u.name, r.stage, r.kind, r.due, r.at FROM reminder_sent r "
        "LEFT JOIN org_unit u ON u.code = r.unit WHERE r.campaign = ? "
        "ORDER BY r.position DESC LIMIT ?",
        (slug, limit),
    )
    keys = ("unit", "unit_name", "stage", "kind", "due", "at")
    return [dict(zip(keys, r)) for r in rows]
