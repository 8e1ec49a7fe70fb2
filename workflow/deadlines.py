"""Stage windows in the campaign's time zone, extensions per unit, and the late policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from . import db, log
from .errors import DomainError
from .i18n import _, is_english

LOCAL_FORMAT = "%Y-%m-%d %H:%M"


def parse_local(text: str, tz: str = "Asia/Shanghai") -> datetime:
    """'2025-06-16 18:00' in the campaign's zone -> an aware datetime."""
    try:
        naive = datetime.strptime(text.strip(), LOCAL_FORMAT)
    except (ValueError, AttributeError):
        raise DomainError(
            _("时间格式应为“年-月-日 时:分”，例如 2025-06-16 18:00：%(text)s", text=text)
        ) from None
    return naive.replace(tzinfo=ZoneInfo(tz))


def show(moment: datetime, tz: str = "Asia/Shanghai") -> str:
    """A deadline for people: '2025年07月01日 18:00', or '1 Jul 2025 18:00' in the English UI."""
    local = moment.astimezone(ZoneInfo(tz))
    if is_english():
        return format_datetime(local, "d MMM y HH:mm", locale="en")
    return local.strftime("%Y年%m月%d日 %H:%M")


def show_utc_text(text: str, tz: str = "Asia/Shanghai") -> str:
    """An occurred_at string (UTC, ...Z) shown in the campaign's zone."""
    return show(log.parse_time(text), tz)


def stage(config: dict, code: str) -> dict | None:
    return next((s for s in config["stages"] if s["code"] == code), None)


@dataclass
class Window:
    opens: datetime
    due: datetime
    extended: bool

    def late(self, now: datetime) -> bool:
        return now > self.due


def window(config: dict, code: str, unit: str) -> Window:
    s = stage(config, code)
    tz = config["timezone"]
    row = db.fetchone(
        "SELECT due FROM campaign_extension WHERE slug = ? AND unit = ? AND stage = ?",
        (config["slug"], unit, code),
    )
    due = parse_local(row[0] if row else s["due"], tz)
    return Window(parse_local(s["opens"], tz), due, row is not None)


def check_window(config: dict, code: str, unit: str, now: datetime, action: str) -> bool:
    """Raise when the stage is not open (or closed under a 'refuse' policy); return `late`."""
    w = window(config, code, unit)
    tz = config["timezone"]
    name = stage(config, code)["name"]
    if now < w.opens:
        raise DomainError(
            _(
                "“%(stage)s”阶段尚未开始（%(opens)s 开始），暂不能%(action)s。",
                stage=name,
                opens=show(w.opens, tz),
                action=_(action),
            )
        )
    if w.late(now):
        if config.get("late_policy") == "refuse":
            raise DomainError(
                _(
                    "“%(stage)s”阶段已于 %(due)s 截止，不能再%(action)s。如需延期，请联系组织部。",
                    stage=name,
                    due=show(w.due, tz),
                    action=_(action),
                )
            )
        return True
    return False
