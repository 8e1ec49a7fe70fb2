"""Builds the results documents' plain data (report, booklet, certificates) from the projections.

The renderers (``report``, ``booklet``, ``certificate``) take only these dicts; this module is the
one place that reads the database for them. Scores and outcome appear only once final (the
project has a finalised outcome).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app

from .. import db
from ..commands import applications, campaigns
from ..deadlines import show, show_utc_text
from ..errors import DomainError
from ..i18n import documents_language
from .report import CATEGORY_LABELS

SECTION_TITLES = {
    "brand_name": "品牌名称",
    "background": "创建背景",
    "connotation": "品牌内涵",
    "measures": "主要举措",
    "outcomes": "取得成效",
}


def _get_report(pid: str):
    from ..commands import reports

    return reports.get_report(pid, kind="final")


def _unit_name(code: str) -> str:
    row = db.fetchone("SELECT name FROM org_unit WHERE code = ?", (code,))
    return row[0] if row else code


def _final(config: dict, pid: str) -> dict | None:
    from ..commands import certification, scoring

    outcome = certification.outcome_of(pid)
    if outcome is None:
        return None
    result = scoring.project_result(config, pid, "final")
    agg = result.get("aggregate")
    return {
        "score": None if agg is None else f"{agg:.2f}",
        "grade": result.get("grade") or None,
        "outcome": outcome["outcome"],
        "at": outcome["at"],
    }


def _photo_path(sha256: str) -> str:
    from .. import files

    return str(files.path_for(current_app.config["UPLOAD_DIR"], sha256))


def report_doc(slug: str, pid: str) -> dict:
    config = campaigns.get(slug)
    project = applications.get_project(pid)
    if project is None or project["campaign"] != slug:
        raise DomainError(f"项目 {pid} 不属于活动 {slug}。")
    report = _get_report(pid)
    if report is None:
        raise DomainError("该项目尚未提交总结报告。")
    return {
        "campaign_title": config["title"],
        "brand_name": project["brand_name"] or "",
        "unit_name": _unit_name(project["unit"]),
        "category_label": CATEGORY_LABELS.get(project["category"] or "", ""),
        "sections": [
            {
                "code": s.get("code"),
                "title": s.get("title") or SECTION_TITLES.get(s.get("code"), s.get("code")),
                "text": s.get("text") or "",
            }
            for s in report.get("sections") or []
        ],
        "photos": [
            {"caption": p.get("caption") or "", "image": _photo_path(p["sha256"])}
            for p in report.get("photos") or []
        ],
        "submitted_at": show_utc_text(report["submitted_at"], config["timezone"])
        if report.get("submitted_at")
        else None,
        "revision": report.get("revision"),
        "final": _final(config, pid),
    }


def finalised(slug: str, outcomes=("excellent",)) -> list[str]:
    """Projects of the campaign with one of ``outcomes``, excellent first, then by unit."""
    marks = ",".join("?" for _ in outcomes)
    rows = db.fetchall(
        f"SELECT c.project FROM cert_outcome c JOIN project p ON p.id = c.project "
        f"WHERE c.campaign = ? AND c.outcome IN ({marks}) "
        "ORDER BY CASE c.outcome WHEN 'excellent' THEN 0 ELSE 1 END, p.category, p.unit, p.id",
        (slug, *outcomes),
    )
    return [r[0] for r in rows]


def _latest_day(slug: str, config: dict) -> str:
    """The day of the latest finalised outcome (stable while nothing changes), else today."""
    row = db.fetchone("SELECT MAX(at) FROM cert_outcome WHERE campaign = ?", (slug,))
    if row and row[0]:
        return show_utc_text(row[0], config["timezone"]).split(" ")[0]
    return show(datetime.now(UTC), config["timezone"]).split(" ")[0]


def committee_name(config: dict) -> str:
    return _unit_name(config["committee"])


def booklet_doc(slug: str, include_passed: bool = False, foreword: str | None = None) -> dict:
    """The booklet's content; ``foreword`` None takes the one the organizer wrote."""
    config = campaigns.get(slug)
    if foreword is None:
        from ..commands import booklets

        foreword = booklets.foreword(slug)[0]
    outcomes = ("excellent", "passed") if include_passed else ("excellent",)
    chapters = []
    for pid in finalised(slug, outcomes):
        try:
            chapters.append(report_doc(slug, pid))
        except DomainError:
            continue  # no report: nothing to compile for this project
    return {
        "campaign_title": config["title"],
        "committee": committee_name(config),
        "date": _latest_day(slug, config),
        "foreword": foreword,
        "chapters": chapters,
    }


def certificate_docs(slug: str, pid: str | None = None) -> list[dict]:
    config = campaigns.get(slug)
    pids = finalised(slug)
    if pid is not None:
        if pid not in pids:
            raise DomainError(f"项目 {pid} 未被认定为优秀，没有荣誉证书。")
        pids = [pid]
    certs = []
    for p in pids:
        project = applications.get_project(p)
        outcome = _final(config, p) or {}
        certs.append(
            {
                "unit_name": _unit_name(project["unit"]),
                "brand_name": project["brand_name"] or "",
                "campaign_title": config["title"],
                "outcome": "excellent",
                "category_label": CATEGORY_LABELS.get(project["category"] or "", ""),
                "committee": committee_name(config),
                "date": show_utc_text(outcome["at"], config["timezone"]).split(" ")[0]
                if outcome.get("at")
                else "",
                "number": f"{slug}-{p}",
            }
        )
    if not certs:
        raise DomainError("该活动还没有认定为优秀的项目，没有可生成的荣誉证书。")
    return certs


BOOKLET_FORMAT = 1  # bump when the booklet's layout changes: older cached files are not reused


def booklet_key(doc: dict, include_passed: bool) -> str:
    """A key of everything the booklet shows: texts, scores, outcomes, photo contents, options."""
    import hashlib
    import json

    payload = json.dumps(
        {"format": BOOKLET_FORMAT, "passed": include_passed, "doc": doc},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def booklet_cache_path(slug: str, key: str) -> str:
    import os

    directory = os.path.join(current_app.instance_path, "booklets")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"{slug}-{key}.pdf")


@documents_language()  # the booklet page reads it too: its content and cache key stay Chinese
def cached_booklet(slug: str, include_passed: bool = False, foreword: str | None = None):
    """(doc, path, exists): the content now, its cache file, and whether it was generated."""
    import os

    doc = booklet_doc(slug, include_passed, foreword)
    path = booklet_cache_path(slug, booklet_key(doc, include_passed))
    return doc, path, os.path.isfile(path)


def write_booklet(doc: dict, path: str, progress=None) -> str:
    """Render the booklet into its cache file (atomically: a reader never sees half a file)."""
    import os

    from .booklet import render_booklet

    if not doc["chapters"]:
        raise DomainError("该活动还没有已认定且提交了总结报告的项目，无法汇编成册。")
    data = render_booklet(doc, progress=progress)
    tmp = f"{path}.{os.getpid()}.{id(doc)}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def booklet_pdf(
    slug: str, include_passed: bool = False, foreword: str | None = None, progress=None
):
    """The booklet's bytes and whether they came from the cache (no rebuild)."""
    doc, path, exists = cached_booklet(slug, include_passed, foreword)
    if not exists:
        write_booklet(doc, path, progress)
    with open(path, "rb") as fh:
        return fh.read(), exists
