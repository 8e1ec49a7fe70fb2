"""The organizer's overview of a campaign: every eligible unit × category with its status."""

from __future__ import annotations

from datetime import UTC, datetime

from . import db, deadlines
from .campaign_templates import CATEGORIES
from .i18n import N_, _
from .lifecycle import STATES
from .orgtree import unit_label

# Overview statuses beyond the project states.
EXTRA = {"not_started": N_("未申报"), "overdue": N_("逾期未申报")}
# States that count as "past" each step, for the per-stage progress bars.
SUBMITTED = set(STATES) - {"draft"}
OPINIONS_DONE = SUBMITTED - {"submitted", "returned"}


def rows(config: dict, now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(UTC)
    units = db.fetchall(
        "SELECT u.code, u.name, u.level, u.kind, p.level FROM org_unit u "
        "LEFT JOIN org_unit p ON p.code = u.parent WHERE u.root = ? ORDER BY u.code",
        (config["committee"],),
    )
    projects = {
        (r[0], r[1]): r[2:]
        for r in db.fetchall(
            "SELECT unit, category, id, state, brand_name, late, submitted_at, pending_approvals "
            "FROM project WHERE campaign = ?",
            (config["slug"],),
        )
    }
    out = []
    for code, name, level, kind, parent_level in units:
        for category in config["categories"]:
            if CATEGORIES[category]["unit_level"] != level:
                continue
            found = projects.get((code, category))
            row = {"unit": code, "unit_name": name, "unit_label": unit_label(level, parent_level),
                   "kind": kind, "category": category, "category_name": CATEGORIES[category]["name"]}  # fmt: skip
            if found:
                pid, state, brand, late, submitted_at, _pending = found
                row.update(project=pid, status=state, brand_name=brand, late=bool(late),
                           submitted_at=submitted_at)  # fmt: skip
            else:
                overdue = deadlines.window(config, "apply", code).late(now)
                row.update(project=None, status="overdue" if overdue else "not_started",
                           brand_name="", late=False, submitted_at=None)  # fmt: skip
            label = STATES.get(row["status"]) or EXTRA[row["status"]]
            row["status_label"] = _(label)
            out.append(row)
    return out


def summary(config: dict, table: list[dict]) -> dict:
    """Counts per category and status, and the share of units past each step."""
    per_category = {}
    for row in table:
        counts = per_category.setdefault(row["category"], {"total": 0})
        counts["total"] += 1
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    total = len(table) or 1
    progress = [
        (_("已提交申报"), sum(r["status"] in SUBMITTED for r in table)),
        (_("单位意见已齐"), sum(r["status"] in OPINIONS_DONE for r in table)),
        (
            _("已立项"),
            sum(r["status"] in OPINIONS_DONE - {"under_review", "rejected"} for r in table),
        ),
    ]
    return {
        "per_category": per_category,
        "progress": [(label, n, round(100 * n / total)) for label, n in progress],
        "total": len(table),
    }


def filtered(table: list[dict], status: str | None, category: str | None, q: str | None):
    q = (q or "").strip()
    return [
        r
        for r in table
        if (not status or r["status"] == status)
        and (not category or r["category"] == category)
        and (not q or q in r["unit_name"] or q in r["brand_name"] or q in r["unit"])
    ]
