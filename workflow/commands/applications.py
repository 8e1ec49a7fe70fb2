"""The application stage: drafts, submission, unit opinions and the signed paper copy."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from .. import db, deadlines, files, lifecycle, log
from ..authz import Actor, require
from ..campaign_templates import CATEGORIES
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent, canonical_json
from ..i18n import N_, _
from ..orgtree import LEVELS
from . import campaigns
from .orgs import get_unit

OPINION_LEVELS = {"branch": N_("党支部意见"), "general_branch": N_("党总支意见")}
DECISIONS = {"agree": N_("同意"), "return": N_("退回修改")}


class FormErrors(DomainError):
    """Field-by-field errors, shown inline; nothing was saved."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(_("请修改标出的内容后再提交。"))
        self.errors = errors


def project_id(slug: str, unit: str, category: str) -> str:
    return f"{slug}.{unit}.{category}"


def stream(pid: str) -> str:
    return f"project:{pid}"


def version(pid: str) -> int:
    """The project stream's version: what a form carries so a stale action is a conflict."""
    return log.stream_version(stream(pid))


def get_project(pid: str) -> dict | None:
    row = db.fetchone(
        "SELECT id, campaign, unit, category, state, revision, brand_name, pending_approvals, "
        "returned_reason, late, first_submitted_at, submitted_at, updated_at FROM project "
        "WHERE id = ?",
        (pid,),
    )
    if row is None:
        return None
    keys = ("id", "campaign", "unit", "category", "state", "revision", "brand_name",
            "pending_approvals", "returned_reason", "late", "first_submitted_at",
            "submitted_at", "updated_at")  # fmt: skip
    project = dict(zip(keys, row))
    project["pending_approvals"] = json.loads(project["pending_approvals"])
    return project


def clean_fields(form: list[dict], values: dict) -> dict[str, str]:
    """Normalise and check the values against the campaign's form definition.

    Length is counted in characters (code points), the way the notice counts 字, never bytes.
    """
    cleaned, errors = {}, {}
    for f in form:
        value = str(values.get(f["key"]) or "").replace("\r\n", "\n").strip()
        if not f.get("multiline"):
            value = " ".join(value.split())
        if f["required"] and not value:
            errors[f["key"]] = _("请填写“%(label)s”。", label=f["label"])
        elif len(value) > f["max_length"]:
            errors[f["key"]] = _(
                "“%(label)s”最多 %(max)s 字，当前 %(n)s 字，请删减 %(cut)s 字。",
                label=f["label"], max=f["max_length"], n=len(value),
                cut=len(value) - f["max_length"],
            )  # fmt: skip
        cleaned[f["key"]] = value
    if errors:
        raise FormErrors(errors)
    return cleaned


def check_category(config: dict, unit_code: str, category: str) -> dict:
    """The unit may apply in this category of this campaign; returns the unit row as a dict."""
    unit = get_unit(unit_code)
    if unit is None:
        raise DomainError(_("您的账号没有所属组织，不能申报。"))
    code, name, level, _kind, parent, root = unit
    if root != config["committee"]:
        raise Forbidden(_("本单位不在该创建活动的范围内。"))
    if category not in config["categories"]:
        raise DomainError(_("该创建活动没有这个创建类型。"))
    needed, label = CATEGORIES[category]["unit_level"], CATEGORIES[category]["name"]
    if level != needed:
        raise DomainError(
            _("“%(category)s”只能由%(needed)s申报，%(unit)s是%(level)s。", category=_(label),
              needed=_(LEVELS[needed]), unit=name, level=_(LEVELS[level]))
        )  # fmt: skip
    return {"code": code, "name": name, "level": level, "parent": parent}


def approvals_for(config: dict, unit: dict) -> list[dict]:
    """Which unit opinions a submission needs, in order (notice 001: branch, then general branch)."""
    needed = []
    for level in config["approval_chain"]:
        if level == unit["level"]:
            needed.append({"level": level, "unit": unit["code"]})
        elif level == "general_branch" and unit["parent"]:
            parent = get_unit(unit["parent"])
            if parent and parent[2] == "general_branch":
                needed.append({"level": level, "unit": parent[0]})
    return needed


# --- Drafts (outside the log) ---------------------------------------------------------------


def load_draft(slug: str, unit: str, category: str) -> dict:
    row = db.fetchone(
        "SELECT fields FROM application_draft WHERE campaign = ? AND unit = ? AND category = ?",
        (slug, unit, category),
    )
    return json.loads(row[0]) if row else {}


def save_draft(actor: Actor, slug: str, category: str, values: dict, now=None) -> None:
    """Autosave: keeps whatever was typed (even over the limit), so nothing typed is lost."""
    require(actor, "project.apply")
    config = campaigns.get(slug)
    check_category(config, actor.unit, category)
    keys = {f["key"] for f in config["form"]}
    kept = {k: str(v)[:20000] for k, v in values.items() if k in keys}
    at = log.format_time(now)
    # An upsert, not "delete, then insert": two members of a unit autosaving at once must not
    # collide on the key (a 500 on PostgreSQL); the later save wins.
    db.execute(
        "INSERT INTO application_draft (campaign, unit, category, fields, username, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (campaign, unit, category) DO UPDATE SET "
        "fields = excluded.fields, username = excluded.username, updated_at = excluded.updated_at",
        (slug, actor.unit, category, canonical_json(kept), actor.username, at),
    )


# --- Submission ------------------------------------------------------------------------------


def submit(actor: Actor, slug: str, category: str, values: dict, submission_id: str, now=None):
    """Submit (or resubmit after a return): one event carrying the full content.

    `submission_id` comes from the form, so a double-clicked submit appends once.
    """
    require(actor, "project.apply")
    now = now or datetime.now(UTC)
    config = campaigns.get(slug)
    unit = check_category(config, actor.unit, category)
    pid = project_id(slug, unit["code"], category)
    stored = log.find(submission_id)
    if stored is not None:
        if stored.type != "ApplicationSubmitted" or stored.stream != stream(pid):
            # Not this form's earlier click: an id that names someone else's event.
            raise DomainError(_("本次提交的编号无效，请重新提交。"), "submission_id")
        return stored
    project = get_project(pid)
    lifecycle.require_state("submit", project["state"] if project else "draft")
    fields = clean_fields(config["form"], values)
    late = False
    if project is None:  # resubmissions answer a return and are not held to the apply deadline
        late = deadlines.check_window(config, "apply", unit["code"], now, "提交申报")
    revision = (project["revision"] if project else 0) + 1
    event = NewEvent(
        "ApplicationSubmitted",
        {"campaign": slug, "unit": unit["code"], "category": category, "revision": revision,
         "fields": fields, "late": late, "approvals": approvals_for(config, unit)},
        event_id=submission_id,
    )  # fmt: skip
    with db.writer_transaction():
        db.take_writer_lock()
        events = log.append(stream(pid), log.stream_version(stream(pid)) if project else 0,
                            [event], actor.username, now)  # fmt: skip
        db.execute(
            "DELETE FROM application_draft WHERE campaign = ? AND unit = ? AND category = ?",
            (slug, unit["code"], category),
        )
    return events[0]


# --- Unit opinions -------------------------------------------------------------------------


def record_opinion(actor: Actor, pid, decision, text, signer, signed_on, version, now=None):
    """The unit secretary agrees (passes it on) or returns it to the applicant with a reason."""
    require(actor, "project.opinion")
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    lifecycle.require_state("opinion", project["state"])
    step = project["pending_approvals"][0]
    if actor.unit != step["unit"]:
        opinion = OPINION_LEVELS[step["level"]]
        raise Forbidden(_("该申报正等待%(opinion)s，您不是该单位的书记。", opinion=_(opinion)))
    if decision not in DECISIONS:
        raise DomainError(_("请选择“同意”或“退回修改”。"), "decision")
    text, signer = (text or "").strip(), (signer or "").strip()
    errors = {}
    if not text:
        errors["text"] = _("请填写意见；退回时请写明原因。")
    elif len(text) > 1000:
        errors["text"] = _("意见最多 1000 字，当前 %(n)s 字。", n=len(text))
    if not signer or len(signer) > 20:
        errors["signer"] = _("请填写签字人姓名（不超过 20 字）。")
    try:
        date.fromisoformat(signed_on or "")
    except ValueError:
        errors["signed_on"] = _("请填写日期，格式如 2025-06-15。")
    if errors:
        raise FormErrors(errors)
    event = NewEvent(
        "UnitOpinionRecorded",
        {"level": step["level"], "unit": step["unit"], "decision": decision, "text": text,
         "signer": signer, "date": signed_on, "revision": project["revision"]},
    )  # fmt: skip
    return log.append(stream(pid), version, [event], actor.username, now)[0]


def opinion_steps(project: dict) -> list[dict]:
    """The opinions this project's unit needs in its campaign (level and unit, in order)."""
    config = campaigns.get(project["campaign"])
    unit = get_unit(project["unit"])
    return approvals_for(config, {"code": unit[0], "level": unit[2], "parent": unit[4]})


def may_attach_paper_copy(actor: Actor, project: dict) -> bool:
    """The unit's applicant, or a secretary whose unit signs an opinion on this project."""
    if actor.has("applicant") and actor.unit == project["unit"]:
        return True
    units = {project["unit"], *(s["unit"] for s in opinion_steps(project))}
    return actor.has("approver") and actor.unit in units


def require_paper_copy_rights(actor: Actor, project: dict) -> None:
    if not may_attach_paper_copy(actor, project):
        raise Forbidden(_("您没有权限进行此操作：只有本单位的申报人或书记可以上传纸质版扫描件。"))


def attach_paper_copy(actor: Actor, pid, level, data: bytes, name: str, upload_dir, now=None):
    """Keep the scan of the signed and stamped paper form beside the opinion it carries."""
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    require_paper_copy_rights(actor, project)
    if level not in {s["level"] for s in opinion_steps(project)}:
        raise DomainError(_("请选择扫描件对应的意见。"), "level")
    lifecycle.require_state("paper_copy", project["state"])
    ref = files.store(upload_dir, data, name)
    event = NewEvent(
        "PaperCopyUploaded", {"level": level, "revision": project["revision"], "file": ref}
    )
    return log.append(stream(pid), log.stream_version(stream(pid)), [event], actor.username, now)[0]
