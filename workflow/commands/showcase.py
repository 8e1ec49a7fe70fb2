"""The showcase (成果展示, 专题交流展览): the organizer publishes a campaign's certified brands.

Stream "showcase:<campaign>", short (one event per edit), folded straight from the log:
``ShowcasePublished`` (with its audience), ``ShowcaseWithdrawn``, and ``ShowcaseBrandSet``
(per brand: the cover photo and a short introduction). Only projects whose outcome is final and
excellent (state ``certified``) are shown: a revoked certification leaves the showcase at once.

Audience: ``college`` (logged-in users of the campaign's college/committee) or ``intranet``
(anyone who reaches the site; the deployment's nginx restricts the site to the intranet).
"""

from __future__ import annotations

import json
from datetime import datetime

from .. import db, log
from ..authz import Actor, require
from ..errors import DomainError, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns, evidence
from .applications import get_project
from .scoring import check_version

AUDIENCES = {"college": N_("本学院（登录用户）"), "intranet": N_("校内网（无需登录）")}
MAX_INTRO = 200
SECTION_TITLES = {"brand_name": N_("品牌名称"), "background": N_("创建背景"),
                  "connotation": N_("品牌内涵"), "measures": N_("主要举措"),
                  "outcomes": N_("取得成效")}  # fmt: skip
CATEGORY_LABELS = {"dept_brand": N_("一系一品牌"), "branch_feature": N_("一支部一特色")}


def stream(slug: str) -> str:
    return f"showcase:{slug}"


def state(slug: str) -> dict:
    """{"published", "audience", "brands": {pid: {"cover", "intro"}}, "version"}."""
    out = {"published": False, "audience": None, "brands": {}, "version": 0}
    for e in log.read_stream(stream(slug)):
        if e.type == "ShowcasePublished":
            out["published"], out["audience"] = True, e.payload["audience"]
        elif e.type == "ShowcaseWithdrawn":
            out["published"] = False
        elif e.type == "ShowcaseBrandSet":
            out["brands"][e.payload["project"]] = {
                "cover": e.payload["cover"],
                "intro": e.payload["intro"],
            }
    out["version"] = log.stream_version(stream(slug))
    return out


def certified(slug: str) -> list[str]:
    """Projects of the campaign certified excellent (final, not revoked), by category and unit."""
    rows = db.fetchall(
        "SELECT c.project FROM cert_outcome c JOIN project p ON p.id = c.project "
        "WHERE c.campaign = ? AND c.outcome = 'excellent' AND c.revoked_at IS NULL "
        "AND p.state = 'certified' ORDER BY p.category, p.unit, p.id",
        (slug,),
    )
    return [r[0] for r in rows]


def results_final(slug: str) -> bool:
    return db.fetchone("SELECT 1 FROM cert_outcome WHERE campaign = ?", (slug,)) is not None


def _report(pid: str) -> dict | None:
    try:
        from . import reports
    except ImportError:
        return None
    get = getattr(reports, "get_report", None)
    return get(pid, kind="final") if get else None


def _fields(pid: str, revision: int) -> dict:
    row = db.fetchone(
        "SELECT fields FROM project_revision WHERE project = ? AND revision = ?", (pid, revision)
    )
    return json.loads(row[0]) if row else {}


def _unit_name(code: str) -> str:
    row = db.fetchone("SELECT name FROM org_unit WHERE code = ?", (code,))
    return row[0] if row else code


def brand(slug: str, pid: str, settings: dict | None = None) -> dict:
    """One certified brand as shown: report sections (or the application text), photos, intro."""
    project = get_project(pid)
    fields = _fields(pid, project["revision"])
    report = _report(pid)
    own = evidence.standing_photos(pid)
    thumbs = {p["sha256"]: p["thumb_sha"] for p in own}
    if report:
        sections = [
            {"code": s.get("code"), "text": s.get("text") or "",
             "title": s.get("title") or _label(SECTION_TITLES, s.get("code"))}
            for s in report.get("sections") or []
        ]  # fmt: skip
        photos = [
            {"sha256": p["sha256"], "thumb_sha": p.get("thumb_sha") or thumbs.get(p["sha256"]),
             "caption": p.get("caption") or ""}
            for p in report.get("photos") or []
        ]  # fmt: skip
    else:
        sections = [{"code": "intro", "title": _("品牌简介"), "text": fields.get("intro", "")}]
        photos = [
            {"sha256": p["sha256"], "thumb_sha": p["thumb_sha"], "caption": p["caption"]}
            for p in own
            if p["caption"]
        ]
    settings = settings if settings is not None else state(slug)["brands"].get(pid, {})
    cover = settings.get("cover")
    if cover not in {p["sha256"] for p in photos}:
        cover = photos[0]["sha256"] if photos else None
    intro = settings.get("intro") or _default_intro(sections, fields)
    return {
        "id": pid,
        "brand_name": project["brand_name"] or fields.get("brand_name", ""),
        "unit": project["unit"],
        "unit_name": _unit_name(project["unit"]),
        "category": project["category"],
        "category_label": _label(CATEGORY_LABELS, project["category"]),
        "outcome_label": _("认定为优秀"),
        "sections": sections,
        "photos": photos,
        "cover": cover,
        "intro": intro,
    }


def _label(labels: dict, code: str | None) -> str:
    """The label of a code in the request's language; an unknown code as it is."""
    return _(labels[code]) if code in labels else code or ""


def _default_intro(sections: list[dict], fields: dict) -> str:
    text = fields.get("intro") or next(
        (s["text"] for s in sections if s["code"] in ("connotation", "intro")), ""
    )
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_INTRO else text[: MAX_INTRO - 1] + "…"


def brands(slug: str) -> list[dict]:
    settings = state(slug)["brands"]
    return [brand(slug, pid, settings.get(pid, {})) for pid in certified(slug)]


def photo_allowed(slug: str, sha256: str) -> bool:
    """Is this file (photo or its thumbnail) on a brand of this showcase?"""
    for b in brands(slug):
        for p in b["photos"]:
            if sha256 in (p["sha256"], p.get("thumb_sha")):
                return True
    return False


# --- Commands -------------------------------------------------------------------------------


def publish(actor: Actor, slug: str, audience: str, version, now: datetime | None = None):
    require(actor, "campaign.manage")
    campaigns.get(slug)
    if audience not in AUDIENCES:
        raise DomainError(_("请选择展示范围：本学院（登录用户）或校内网（无需登录）。"))
    if not results_final(slug):
        raise DomainError(_("认定结果确定后才能发布成果展示。"))
    if not certified(slug):
        raise DomainError(_("本活动没有认定为优秀的项目，无需发布成果展示。"))
    current = state(slug)
    if current["published"] and current["audience"] == audience:
        raise DomainError(_("成果展示已按该范围发布。"))
    with db.writer_transaction():
        expected = check_version(stream(slug), version)
        event = NewEvent("ShowcasePublished", {"audience": audience})
        return log.append(stream(slug), expected, [event], actor.username, now)[0]


def withdraw(actor: Actor, slug: str, version, now: datetime | None = None):
    require(actor, "campaign.manage")
    campaigns.get(slug)
    if not state(slug)["published"]:
        raise DomainError(_("成果展示尚未发布。"))
    with db.writer_transaction():
        expected = check_version(stream(slug), version)
        event = NewEvent("ShowcaseWithdrawn", {"published": False})
        return log.append(stream(slug), expected, [event], actor.username, now)[0]


def set_brand(actor: Actor, slug: str, pid: str, cover: str | None, intro: str, version,
              now: datetime | None = None):  # fmt: skip
    require(actor, "campaign.manage")
    campaigns.get(slug)
    with db.writer_transaction():
        expected = check_version(stream(slug), version)
        if pid not in certified(slug):
            raise NotFound(_("该项目不在成果展示中。"))
        intro = " ".join(str(intro or "").split())
        if len(intro) > MAX_INTRO:
            raise DomainError(
                _("简介不能超过 %(max)s 字（现为 %(n)s 字）。", max=MAX_INTRO, n=len(intro))
            )
        cover = cover or None
        if cover is not None and cover not in {p["sha256"] for p in brand(slug, pid, {})["photos"]}:
            raise DomainError(_("封面照片须是该项目带说明的照片之一。"))
        event = NewEvent("ShowcaseBrandSet", {"project": pid, "cover": cover, "intro": intro})
        return log.append(stream(slug), expected, [event], actor.username, now)[0]
