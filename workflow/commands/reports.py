"""Mid-term reports (中期报告) and the final summary report (总结报告).

A report is sections of text from the campaign config (`evidence.report_sections` for the final
report, `evidence.midterm_report_sections` for the mid-term one), a character limit, photos picked
from the project's own photos with a caption each, and attachments (PDF or images, checked by
content). Submitting appends one ReportSubmitted event with the full content on the project
stream; resubmitting before the due time makes a new revision.

Counting: every character the user typed (len of the Python str, so one Chinese character is one
character, not three bytes), after dropping leading and trailing whitespace of each section.
Whitespace inside a section counts. The browser's counter follows the same rule; the server is
the authority.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .. import db, deadlines, files, lifecycle, log
from ..authz import Actor
from ..campaign_templates import MIDTERM_REPORT_SECTIONS
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns
from .applications import get_project
from .applications import stream as project_stream
from .evidence import may_post

KINDS = {"final": N_("总结报告"), "midterm": N_("中期报告")}
# Campaigns created before the mid-term report rules were configurable use these.
MIDTERM_MAX_CHARS_DEFAULT = 2000
ATTACHMENT_KINDS = ("pdf", "jpeg", "png")
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ATTACHMENTS_MAX = 5
CAPTION_MAX = 100


def rules(config: dict, kind: str) -> dict:
    """Sections, character limit and photo counts of a report kind under this campaign."""
    ev = config.get("evidence", {})
    if kind == "final":
        titles = list(ev.get("report_sections", []))
        return {"titles": titles, "max_chars": int(ev.get("report_max_chars", 3000)),
                "photos_min": int(ev.get("photos_min", 3)),
                "photos_max": int(ev.get("photos_max", 5)), "stage": "final"}  # fmt: skip
    titles = list(ev.get("midterm_report_sections") or MIDTERM_REPORT_SECTIONS)
    return {"titles": titles,
            "max_chars": int(ev.get("midterm_report_max_chars") or MIDTERM_MAX_CHARS_DEFAULT),
            "photos_min": 0, "photos_max": int(ev.get("photos_max", 5)), "stage": "midterm"}  # fmt: skip


def kinds(config: dict) -> list[tuple[str, str]]:
    """(kind, label) of the reports this campaign has."""
    return [(kind, label) for kind, label in KINDS.items() if has_kind(config, kind)]


def has_kind(config: dict, kind: str) -> bool:
    """A report kind exists when the campaign has its stage (`final`, `midterm`)."""
    return kind in KINDS and kind in {s["code"] for s in config["stages"]}


def count_chars(text: str) -> int:
    return len((text or "").strip())


# --- Who --------------------------------------------------------------------------------------


def may_read(actor: Actor | None, project: dict) -> bool:
    """The unit itself, the organizer, auditors and the reviewers assigned to the project."""
    if actor is None:
        return False
    if may_post(actor, project) or actor.has("organizer", "auditor", "admin"):
        return True
    if actor.has("reviewer"):
        row = db.fetchone(
            "SELECT 1 FROM panel_assignment WHERE project = ? AND reviewer = ? AND active = 1",
            (project["id"], actor.username),
        )
        return row is not None
    return False


# --- Reading ----------------------------------------------------------------------------------


def get_report(pid: str, kind: str = "final") -> dict | None:
    """The latest submitted report of a project, or None."""
    row = db.fetchone(
        "SELECT kind, revision, sections, chars, photos, attachments, at, actor, late, position "
        "FROM project_report WHERE project = ? AND kind = ?",
        (pid, kind),
    )
    if row is None:
        return None
    return {
        "kind": row[0],
        "revision": int(row[1]),
        "sections": json.loads(row[2]),
        "chars": int(row[3]),
        "photos": json.loads(row[4]),
        "attachments": json.loads(row[5]),
        "submitted_at": row[6],
        "submitted_by": row[7],
        "late": bool(row[8]),
        "position": int(row[9]),
    }


def compliance_lookup(pid: str) -> dict | None:
    """What the compliance checklist reads: the present section titles and the length."""
    report = get_report(pid, "final")
    if report is None:
        return None
    return {
        "sections": [s["title"] for s in report["sections"] if s["text"].strip()],
        "chars": report["chars"],
        "photos": len(report["photos"]),
        "captioned": sum(1 for p in report["photos"] if p["caption"].strip()),
    }


# --- Checking ---------------------------------------------------------------------------------


def clean_sections(config: dict, kind: str, texts: dict) -> tuple[list[dict], int]:
    """texts: title or code -> text. Every section required; the sum within the limit."""
    r = rules(config, kind)
    sections, missing = [], []
    for i, title in enumerate(r["titles"], 1):
        code = f"s{i}"
        text = (texts.get(code) if texts.get(code) is not None else texts.get(title)) or ""
        text = str(text).strip()
        if not text:
            missing.append(title)
        sections.append({"code": code, "title": title, "text": text})
    if missing:
        raise DomainError(
            _(
                "%(kind)s缺少以下部分：%(sections)s。每一部分都需要填写。",
                kind=_(KINDS[kind]),
                sections=_("、").join(missing),
            )
        )
    chars = sum(len(s["text"]) for s in sections)
    if chars > r["max_chars"]:
        raise DomainError(
            _(
                "%(kind)s共 %(chars)s 字，超过 %(max)s 字的限制（多出 %(over)s 字）。请删减后再提交。",
                kind=_(KINDS[kind]),
                chars=chars,
                max=r["max_chars"],
                over=chars - r["max_chars"],
            )
        )
    return sections, chars


def clean_photos(config: dict, kind: str, pid: str, picks: list) -> list[dict]:
    """picks: [(photo_id, caption)] in the order the unit chose."""
    r = rules(config, kind)
    picks = [(str(p or "").strip(), str(c or "").strip()) for p, c in picks if str(p or "").strip()]
    n = len(picks)
    if n < r["photos_min"] or n > r["photos_max"]:
        need = (f"{r['photos_min']}–{r['photos_max']}" if r["photos_min"]
                else _("至多 %(n)s", n=r["photos_max"]))  # fmt: skip
        raise DomainError(
            _(
                "%(kind)s需要 %(need)s 张照片，现在选了 %(n)s 张。",
                kind=_(KINDS[kind]),
                need=need,
                n=n,
            )
        )
    if len({p for p, _caption in picks}) != n:
        raise DomainError(_("同一张照片不能重复选入报告。"))
    out = []
    for i, (photo_id, caption) in enumerate(picks, 1):
        row = db.fetchone(
            "SELECT photo_id, sha256, caption, width, height, mime FROM project_photo "
            "WHERE photo_id = ? AND project = ? AND withdrawn_position IS NULL",
            (photo_id, pid),
        )
        if row is None:
            raise DomainError(_("第 %(i)s 张照片不是本项目的照片（或已撤回），不能选入报告。", i=i))
        if not caption:
            raise DomainError(_("第 %(i)s 张照片缺少说明文字。报告中的每张照片都需要说明。", i=i))
        if len(caption) > CAPTION_MAX:
            raise DomainError(_("第 %(i)s 张照片的说明超过 %(max)s 字。", i=i, max=CAPTION_MAX))
        out.append({"photo_id": row[0], "sha256": row[1], "caption": caption,
                    "width": int(row[3]), "height": int(row[4]), "mime": row[5]})  # fmt: skip
    return out


def check_attachments(uploads: list) -> list[tuple[dict, bytes]]:
    """uploads: [(name, bytes)]. Each checked by content (PDF, JPEG, PNG) within the size limit."""
    uploads = [(n, d) for n, d in uploads if d]
    if len(uploads) > ATTACHMENTS_MAX:
        raise DomainError(_("附件至多 %(n)s 个。", n=ATTACHMENTS_MAX))
    out = []
    for name, data in uploads:
        try:
            ref = files.check(data, name, allowed=ATTACHMENT_KINDS, max_bytes=ATTACHMENT_MAX_BYTES)
        except DomainError as exc:
            raise DomainError(
                _("附件“%(name)s”：%(error)s", name=files.safe_name(name), error=exc)
            ) from exc
        out.append((ref, data))
    return out


# --- Submitting -------------------------------------------------------------------------------


def submit(actor: Actor, pid: str, kind: str, texts: dict, picks: list, uploads: list,
           keep_attachments: list, version: int, upload_dir: str, now=None):  # fmt: skip
    """Submit (or resubmit) a report: one event with the full content.

    keep_attachments: sha256s of the previous revision's attachments the unit keeps.
    """
    now = now or datetime.now(UTC)
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    if not may_post(actor, project):
        raise Forbidden(_("您没有权限进行此操作：只有本单位的申报人或书记可以提交报告。"))
    config = campaigns.get(project["campaign"])
    if kind not in KINDS or not has_kind(config, kind):
        raise DomainError(_("本次活动没有这一报告。"))
    move = "report_final" if kind == "final" else "report_midterm"
    lifecycle.require_state(move, project["state"])
    stage = rules(config, kind)["stage"]
    # The move's label is the action: 提交总结报告 / 提交中期报告 (translated in check_window).
    late = deadlines.check_window(config, stage, project["unit"], now, lifecycle.MOVES[move][0])
    sections, chars = clean_sections(config, kind, texts)
    photos = clean_photos(config, kind, pid, picks)
    checked = check_attachments(uploads)
    previous = get_report(pid, kind)
    kept = [a for a in (previous["attachments"] if previous else [])
            if a["sha256"] in set(keep_attachments or [])]  # fmt: skip
    attachments = kept + [ref for ref, _data in checked]
    if len(attachments) > ATTACHMENTS_MAX:
        raise DomainError(_("附件至多 %(n)s 个。", n=ATTACHMENTS_MAX))
    revision = (previous["revision"] if previous else 0) + 1
    event = NewEvent(
        "ReportSubmitted",
        {"kind": kind, "revision": revision, "sections": sections, "chars": chars,
         "photos": photos, "attachments": attachments, "late": late},
    )  # fmt: skip
    for ref, data in checked:
        files.store(upload_dir, data, ref["name"], allowed=ATTACHMENT_KINDS,
                    max_bytes=ATTACHMENT_MAX_BYTES)  # fmt: skip
    with db.writer_transaction():
        db.take_writer_lock()
        events = log.append(project_stream(pid), version, [event], actor.username, now)
    return events[0]
