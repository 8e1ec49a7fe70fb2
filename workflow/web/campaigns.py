"""Campaign pages: the list, a campaign's timeline and settings, the organizer's overview."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, request

from .. import authz, db, overview
from ..campaign_templates import CATEGORIES
from ..commands import campaigns
from ..deadlines import parse_local, show
from ..errors import Forbidden
from ..exports import spreadsheet_safe
from ..i18n import _, documents_language
from . import allow, current_actor, render

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


def load_campaign(slug: str) -> dict:
    config = campaigns.get(slug)
    if not any(c["slug"] == slug for c in campaigns.list_for(current_actor())):
        raise Forbidden(_("您不能查看该创建活动。"))
    return config


def timeline(config: dict) -> list[dict]:
    tz = config["timezone"]
    return [
        {**s, "opens_text": show(parse_local(s["opens"], tz), tz),
         "due_text": show(parse_local(s["due"], tz), tz)}
        for s in config["stages"]
    ]  # fmt: skip


@bp.get("")
@allow("campaign.view")
def index():
    """Campaigns this user takes part in."""
    return render("campaigns/index.html", "campaigns/index.html",
                  campaigns=campaigns.list_for(current_actor()))  # fmt: skip


@bp.get("/<slug>")
@allow("campaign.view")
def show_campaign(slug):
    """A campaign: its stages with dates, categories, rules and quotas."""
    config = load_campaign(slug)
    return render("campaigns/show.html", "campaigns/show.html", config=config,
                  stages=timeline(config), CATEGORIES=CATEGORIES)  # fmt: skip


def _overview_table(config):
    table = overview.rows(config)
    status, category, q = (request.args.get(k) for k in ("status", "category", "q"))
    return table, overview.filtered(table, status, category, q)


@bp.get("/<slug>/overview")
@allow("campaign.overview")
def overview_page(slug):
    """All units × status, with counts per category and progress per step."""
    config = load_campaign(slug)
    table, shown = _overview_table(config)
    return render("campaigns/overview.html", "campaigns/overview_table.html", config=config,
                  rows=shown, summary=overview.summary(config, table), CATEGORIES=CATEGORIES,
                  statuses={**overview.STATES, **overview.EXTRA}, args=request.args)  # fmt: skip


@bp.get("/<slug>/overview.csv")
@allow("campaign.overview")
@documents_language()
def overview_csv(slug):
    """The overview as CSV (UTF-8 with BOM so Excel reads the Chinese)."""
    config = load_campaign(slug)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["组织编码", "组织名称", "类别", "创建类型", "状态", "品牌名称", "逾期", "项目编号"]
    )
    _table, shown = _overview_table(config)
    for r in shown:
        writer.writerow([r["unit"], r["unit_name"], r["unit_label"], r["category_name"],
                         r["status_label"], spreadsheet_safe(r["brand_name"]),
                         "是" if r["late"] else "", r["project"] or ""])  # fmt: skip
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={slug}-overview.csv"})  # fmt: skip


def my_projects(actor: authz.Actor) -> list[dict]:
    """For a unit member: each campaign and category open to their unit, with its status."""
    if not actor.unit:
        return []
    out = []
    level = db.fetchone("SELECT level FROM org_unit WHERE code = ?", (actor.unit,))
    for c in campaigns.list_for(actor):
        config = campaigns.get(c["slug"])
        for category in config["categories"]:
            if level and CATEGORIES[category]["unit_level"] == level[0]:
                row = db.fetchone(
                    "SELECT id, state FROM project WHERE campaign = ? AND unit = ? AND category = ?",
                    (c["slug"], actor.unit, category),
                )
                out.append({"config": config, "category": category,
                            "category_name": CATEGORIES[category]["name"],
                            "project": row[0] if row else None, "state": row[1] if row else None})  # fmt: skip
    return out
