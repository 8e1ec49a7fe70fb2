"""Builds the application PDF's document from the projections (or a blank one to print)."""

from __future__ import annotations

import json

from .. import db
from ..commands import applications, campaigns
from ..deadlines import show_utc_text


def _opinion(pid: str, revision: int, level: str) -> dict | None:
    row = db.fetchone(
        "SELECT text, signer, signed_on, decision FROM unit_opinion "
        "WHERE project = ? AND revision = ? AND level = ? ORDER BY position DESC LIMIT 1",
        (pid, revision, level),
    )
    if row is None:
        return None
    return {"text": row[0], "signer": row[1], "date": row[2]}


def build(slug: str, pid: str | None) -> dict:
    config = campaigns.get(slug)
    doc = {
        "layout": config["layout"],
        "campaign_title": config["title"],
        "unit_name": "",
        "category": None,
        "fields": {},
        "opinions": {"branch": None, "general_branch": None},
        "submitted_at": None,
        "revision": None,
    }
    if pid is None:
        return doc
    project = applications.get_project(pid)
    if project is None or project["campaign"] != slug:
        raise ValueError(f"项目 {pid} 不属于活动 {slug}")
    fields = db.fetchone(
        "SELECT fields FROM project_revision WHERE project = ? AND revision = ?",
        (pid, project["revision"]),
    )[0]
    unit = db.fetchone("SELECT name FROM org_unit WHERE code = ?", (project["unit"],))
    doc.update(
        unit_name=unit[0] if unit else project["unit"],
        category=project["category"],
        fields=json.loads(fields),
        submitted_at=show_utc_text(project["submitted_at"], config["timezone"]),
        revision=project["revision"],
        opinions={
            level: _opinion(pid, project["revision"], level)
            for level in ("branch", "general_branch")
        },
    )
    return doc


def application_pdf_bytes(pid: str) -> bytes:
    from .application import render_application

    project = applications.get_project(pid)
    return render_application(build(project["campaign"], pid))
