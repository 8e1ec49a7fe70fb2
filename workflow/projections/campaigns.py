"""Campaigns and their current configuration; per-unit deadline extensions."""

import json

from .. import db
from ..events import canonical_json
from . import Projection, register

campaigns = register(
    Projection(
        "campaigns",
        {
            "campaign": """CREATE TABLE IF NOT EXISTS campaign (
                slug TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                committee TEXT NOT NULL,
                template TEXT NOT NULL,
                config TEXT NOT NULL,
                position BIGINT NOT NULL)""",
            "campaign_extension": """CREATE TABLE IF NOT EXISTS campaign_extension (
                slug TEXT NOT NULL,
                unit TEXT NOT NULL,
                stage TEXT NOT NULL,
                due TEXT NOT NULL,
                reason TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (slug, unit, stage))""",
        },
    )
)


def slug_of(event) -> str:
    return event.stream.split(":", 1)[1]


def load_config(slug: str) -> dict | None:
    row = db.fetchone("SELECT config FROM campaign WHERE slug = ?", (slug,))
    return json.loads(row[0]) if row else None


def _save(slug, config, position):
    db.execute(
        "UPDATE campaign SET config = ?, title = ?, position = ? WHERE slug = ?",
        (canonical_json(config), config["title"], position, slug),
    )


@campaigns.on("CampaignCreated")
def created(e):
    c = e.payload["config"]
    db.execute(
        "INSERT INTO campaign (slug, title, committee, template, config, position) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (e.payload["slug"], c["title"], c["committee"], e.payload["template"],
         canonical_json(c), e.position),
    )  # fmt: skip


@campaigns.on("CampaignStageRescheduled")
def rescheduled(e):
    slug = slug_of(e)
    config = load_config(slug)
    for stage in config["stages"]:
        if stage["code"] == e.payload["stage"]:
            stage["opens"], stage["due"] = e.payload["opens"], e.payload["due"]
    _save(slug, config, e.position)


@campaigns.on("CampaignFormChanged")
def form_changed(e):
    slug = slug_of(e)
    config = load_config(slug)
    config["form"] = e.payload["form"]
    _save(slug, config, e.position)


@campaigns.on("CampaignSettingChanged")
def setting_changed(e):
    slug = slug_of(e)
    config = load_config(slug)
    config[e.payload["key"]] = e.payload["value"]
    _save(slug, config, e.position)


@campaigns.on("DeadlineExtended")
def extended(e):
    p, slug = e.payload, slug_of(e)
    db.execute(
        "DELETE FROM campaign_extension WHERE slug = ? AND unit = ? AND stage = ?",
        (slug, p["unit"], p["stage"]),
    )
    db.execute(
        "INSERT INTO campaign_extension (slug, unit, stage, due, reason, position) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (slug, p["unit"], p["stage"], p["due"], p["reason"], e.position),
    )
