"""Panels: who reviews which project in which round.

The organizer assigns reviewers one by one, in bulk from CSV (project id, reviewer username)
after a dry run, or confirms a balanced automatic proposal. A reviewer who belongs to the
project's unit or its general branch (党总支) is excluded automatically; a declared conflict
(by the reviewer, or recorded by the organizer) excludes them too and takes them off the
project. All of it lives on the campaign's panel stream, so two organizers acting at once
conflict (409) instead of both writing.
"""

from __future__ import annotations

import csv
import hashlib
import io

from .. import db, log
from ..authz import Actor, require
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns
from .applications import get_project
from .scoring import (
    ROUNDS,
    check_version,
    eligible_states,
    panel_of,
    panel_stream,
    reason_text,
    round_stage,
    round_state,
)

CSV_MAX_ROWS = 1000
PER_PROJECT_MAX = 9


def _unit(code: str | None):
    if not code:
        return None
    return db.fetchone("SELECT code, name, level, parent, root FROM org_unit WHERE code = ?",
                       (code,))  # fmt: skip


def _circle(code: str | None) -> dict[str, str]:
    """A unit and the general branch it is part of: {code: name}."""
    out = {}
    row = _unit(code)
    if row is None:
        return out
    out[row[0]] = row[1]
    if row[2] == "branch" and row[3]:
        parent = _unit(row[3])
        if parent and parent[2] == "general_branch":
            out[parent[0]] = parent[1]
    return out


def reviewer_row(username: str) -> dict | None:
    row = db.fetchone(
        "SELECT username, display_name, roles, unit, active FROM user_account WHERE username = ?",
        (username,),
    )
    if row is None:
        return None
    return {"username": row[0], "name": row[1], "roles": set(row[2].split(",")),
            "unit": row[3], "active": bool(row[4])}  # fmt: skip


def pool(config: dict) -> list[dict]:
    """Active reviewers who may sit on this campaign's panels (no unit, or a unit under the
    campaign's committee)."""
    rows = db.fetchall(
        "SELECT a.username, a.display_name, a.roles, a.unit, u.root, u.name FROM user_account a "
        "LEFT JOIN org_unit u ON u.code = a.unit WHERE a.active = 1 ORDER BY a.username"
    )
    out = []
    for username, name, roles, unit, root, unit_name in rows:
        if "reviewer" not in roles.split(","):
            continue
        if unit and root != config["committee"]:
            continue
        out.append({"username": username, "name": name, "unit": unit,
                    "unit_name": unit_name or ""})  # fmt: skip
    return out


def declared_conflict(pid: str, reviewer: str) -> str | None:
    row = db.fetchone(
        "SELECT reason FROM panel_conflict WHERE project = ? AND reviewer = ?", (pid, reviewer)
    )
    return row[0] if row else None


def exclusion_reason(pid: str, reviewer: str) -> str | None:
    """Why this reviewer may not review this project, or None."""
    project = get_project(pid)
    person = reviewer_row(reviewer)
    if project is None or person is None:
        return None
    shared = set(_circle(person["unit"])) & set(_circle(project["unit"]))
    if shared:
        name = _circle(person["unit"]).get(sorted(shared)[0])
        return _("评审专家所在单位与该项目同属%(unit)s，自动回避", unit=name)
    declared = declared_conflict(pid, reviewer)
    if declared:
        return _("已申报利益冲突：%(reason)s", reason=declared)
    return None


def check_pair(config: dict, round_: str, pid: str, username: str, taken: set) -> dict:
    """One (project, reviewer) pair checked for assignment; `skip` says why it cannot be."""
    row = {"project": pid, "reviewer": username, "brand_name": "", "unit_name": "",
           "reviewer_name": "", "skip": None}  # fmt: skip
    project = get_project(pid)
    person = reviewer_row(username)
    if project is None or project["campaign"] != config["slug"]:
        row["skip"] = _("项目 %(pid)s 不存在或不属于本活动", pid=pid)
        return row
    unit = _unit(project["unit"])
    row.update(brand_name=project["brand_name"], unit_name=unit[1] if unit else "")
    if person is None:
        row["skip"] = _("账号 %(username)s 不存在", username=username)
        return row
    row["reviewer_name"] = person["name"]
    if not person["active"] or "reviewer" not in person["roles"]:
        row["skip"] = _("%(name)s 不是在用的评审专家账号", name=person["name"])
    elif username not in {p["username"] for p in pool(config)}:
        row["skip"] = _("%(name)s 不属于本活动的评审专家范围", name=person["name"])
    elif project["state"] not in eligible_states(round_):
        row["skip"] = _("项目当前状态不参加%(round)s", round=_(ROUNDS[round_]))
    elif (reason := exclusion_reason(pid, username)) is not None:
        row["skip"] = reason
    elif (pid, username) in taken:
        row["skip"] = _("已经分配")
    return row


def _assigned_pairs(round_: str, slug: str) -> set[tuple[str, str]]:
    return set(
        db.fetchall(
            "SELECT project, reviewer FROM panel_assignment WHERE campaign = ? AND round = ? "
            "AND active = 1",
            (slug, round_),
        )
    )


def _open_for_panel(config: dict, round_: str) -> dict:
    stage = round_stage(config, round_)
    if round_state(config["slug"], round_)["state"] == "closed":
        raise DomainError(_("“%(stage)s”评分已经结束，不能再调整评审分配。", stage=stage["name"]))
    return stage


def _append(actor, slug, expected, events, now):
    return log.append(panel_stream(slug), expected, events, actor.username, now)


def assign(actor: Actor, slug: str, round_: str, pid: str, reviewer: str, version, now=None):
    """Put one reviewer on one project's panel for a round."""
    require(actor, "scoring.manage")
    config = campaigns.get(slug)
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(panel_stream(slug), version)
        _open_for_panel(config, round_)
        row = check_pair(config, round_, (pid or "").strip(), (reviewer or "").strip(),
                         _assigned_pairs(round_, slug))  # fmt: skip
        if row["skip"]:
            raise DomainError(_("不能分配：%(reason)s。", reason=row["skip"]))
        event = NewEvent("ReviewerAssigned", {"round": round_, "project": row["project"],
                         "reviewer": row["reviewer"], "source": "manual"})  # fmt: skip
        return _append(actor, slug, expected, [event], now)[0]


def unassign(actor: Actor, slug: str, round_: str, pid: str, reviewer: str, reason, version,
             now=None):  # fmt: skip
    """Take a reviewer off a panel (with a reason); a score they submitted no longer counts."""
    require(actor, "scoring.manage")
    config = campaigns.get(slug)
    reason = reason_text(reason, N_("取消原因"))
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(panel_stream(slug), version)
        _open_for_panel(config, round_)
        if (pid, reviewer) not in _assigned_pairs(round_, slug):
            raise DomainError(_("该评审专家不在此项目的评审名单中。"))
        event = NewEvent("ReviewerUnassigned", {"round": round_, "project": pid,
                         "reviewer": reviewer, "reason": reason})  # fmt: skip
        return _append(actor, slug, expected, [event], now)[0]


# --- Bulk from CSV -------------------------------------------------------------------------


def parse_csv(text: str) -> list[tuple[int, str, str]]:
    """(line, project id, reviewer username) from CSV text; a header line is recognised."""
    text = (text or "").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    out = []
    for line, cells in enumerate(rows, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if line == 1 and cells[0].lower() in ("project", "project_id", "项目编号", "项目", "id"):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise DomainError(_("第 %(line)s 行须有两列：项目编号, 评审专家账号。", line=line))
        out.append((line, cells[0], cells[1]))
    if not out:
        raise DomainError(_("CSV 中没有分配记录（每行：项目编号, 评审专家账号）。"))
    if len(out) > CSV_MAX_ROWS:
        raise DomainError(_("一次最多导入 %(max)s 行。", max=CSV_MAX_ROWS))
    return out


def plan_csv(actor: Actor, slug: str, round_: str, text: str) -> list[dict]:
    """The dry run: each line checked; nothing is written."""
    require(actor, "scoring.manage")
    config = campaigns.get(slug)
    _open_for_panel(config, round_)
    taken = _assigned_pairs(round_, slug)
    plan = []
    for line, pid, username in parse_csv(text):
        row = check_pair(config, round_, pid, username, taken)
        row["line"] = line
        if not row["skip"]:
            taken.add((pid, username))
        plan.append(row)
    return plan


def run_pairs(actor: Actor, slug: str, round_: str, pairs: list[tuple[str, str]], source: str,
              version, now=None) -> list[dict]:  # fmt: skip
    """Apply confirmed pairs (from the CSV dry run or the automatic proposal) in one append:
    every pair is re-checked; if the panel changed since the dry run, nothing is written."""
    require(actor, "scoring.manage")
    config = campaigns.get(slug)
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(panel_stream(slug), version)
        _open_for_panel(config, round_)
        taken = _assigned_pairs(round_, slug)
        rows, events = [], []
        for pid, username in dict.fromkeys(pairs):
            row = check_pair(config, round_, pid, username, taken)
            rows.append(row)
            if row["skip"]:
                continue
            taken.add((pid, username))
            events.append(NewEvent("ReviewerAssigned", {"round": round_, "project": pid,
                          "reviewer": username, "source": source}))  # fmt: skip
        if not events:
            raise DomainError(_("没有可以执行的分配。"))
        _append(actor, slug, expected, events, now)
        return rows


# --- Balanced automatic assignment ---------------------------------------------------------


def _spread_key(pid: str, username: str) -> str:
    """A stable tie-break that does not always favour the same reviewer."""
    return hashlib.sha256(f"{pid}|{username}".encode()).hexdigest()


def propose(actor: Actor, slug: str, round_: str, per_project: int, chosen=None) -> dict:
    """A balanced proposal: each eligible project gets up to `per_project` reviewers in all,
    load spread as evenly as the exclusions allow. Nothing is written."""
    require(actor, "scoring.manage")
    config = campaigns.get(slug)
    _open_for_panel(config, round_)
    if not isinstance(per_project, int) or not 1 <= per_project <= PER_PROJECT_MAX:
        raise DomainError(_("每个项目的评审专家人数须在 1–%(max)s 之间。", max=PER_PROJECT_MAX))
    reviewers = [p for p in pool(config) if not chosen or p["username"] in chosen]
    if not reviewers:
        raise DomainError(_("没有可用的评审专家，请先选择评审专家。"))
    names = {p["username"]: p["name"] for p in reviewers}
    taken = _assigned_pairs(round_, slug)
    load = {p["username"]: 0 for p in reviewers}
    for _pid, username in taken:
        if username in load:
            load[username] += 1
    projects = [r[0] for r in db.fetchall(
        "SELECT id FROM project WHERE campaign = ? ORDER BY id", (slug,))]  # fmt: skip
    needs = []
    for pid in projects:
        project = get_project(pid)
        if project["state"] not in eligible_states(round_):
            continue
        have = len(panel_of(pid, round_))
        if have >= per_project:
            continue
        candidates = [u for u in load if (pid, u) not in taken and not exclusion_reason(pid, u)]
        needs.append((pid, per_project - have, candidates, project))
    # The most constrained projects first, so they are not left with nobody.
    needs.sort(key=lambda n: (len(n[2]) - n[1], n[0]))
    pairs, short = [], []
    for pid, need, candidates, project in needs:
        ranked = sorted(candidates, key=lambda u: (load[u], _spread_key(pid, u)))
        picked = ranked[:need]
        for u in picked:
            load[u] += 1
            pairs.append({"project": pid, "reviewer": u, "reviewer_name": names[u],
                          "brand_name": project["brand_name"]})  # fmt: skip
        if len(picked) < need:
            short.append({"project": pid, "brand_name": project["brand_name"],
                          "missing": need - len(picked)})  # fmt: skip
    pairs.sort(key=lambda p: (p["project"], p["reviewer"]))
    return {"pairs": pairs, "short": short, "per_project": per_project,
            "load": sorted(((names[u], n) for u, n in load.items()), key=lambda x: -x[1])}  # fmt: skip


# --- Conflicts -----------------------------------------------------------------------------


def declare_conflict(actor: Actor, pid: str, reviewer: str | None, reason: str, version=None,
                     now=None):  # fmt: skip
    """A reviewer declares a conflict of interest on a project (or the organizer records one
    for a reviewer): the reviewer is excluded from it in every round."""
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    if actor.has("organizer") and reviewer and reviewer != actor.username:
        require(actor, "scoring.manage")
    else:
        require(actor, "scoring.score")
        reviewer = actor.username
    person = reviewer_row(reviewer or "")
    if person is None or "reviewer" not in person["roles"]:
        raise DomainError(_("请选择一位评审专家。"))
    reason = reason_text(reason, N_("回避原因"))
    slug = project["campaign"]
    with db.writer_transaction():
        db.take_writer_lock()
        if version is None:  # a reviewer's own declaration never goes stale
            expected = log.stream_version(panel_stream(slug))
        else:
            expected = check_version(panel_stream(slug), version)
        if declared_conflict(pid, reviewer):
            raise DomainError(_("该回避申报已经登记。"))
        if actor.username == reviewer and not _ever_assigned(pid, reviewer):
            raise Forbidden(_("您只能对分配给您的项目申报回避。"))
        event = NewEvent("ConflictDeclared", {"project": pid, "reviewer": reviewer,
                                              "reason": reason})  # fmt: skip
        return log.append(panel_stream(slug), expected, [event], actor.username, now)[0]


def _ever_assigned(pid: str, reviewer: str) -> bool:
    return db.fetchone("SELECT 1 FROM panel_assignment WHERE project = ? AND reviewer = ?",
                       (pid, reviewer)) is not None  # fmt: skip


def conflicts(slug: str) -> list[dict]:
    rows = db.fetchall(
        "SELECT c.project, c.reviewer, c.reason, c.declared_by, c.at, a.display_name, "
        "p.brand_name, u.name FROM panel_conflict c "
        "LEFT JOIN user_account a ON a.username = c.reviewer "
        "LEFT JOIN project p ON p.id = c.project LEFT JOIN org_unit u ON u.code = p.unit "
        "WHERE c.campaign = ? ORDER BY c.position",
        (slug,),
    )
    keys = ("project", "reviewer", "reason", "declared_by", "at", "reviewer_name", "brand_name",
            "unit_name")  # fmt: skip
    return [dict(zip(keys, r)) for r in rows]


def automatic_exclusions(config: dict) -> list[dict]:
    """Reviewer × project pairs excluded because they share a unit or general branch."""
    out = []
    projects = db.fetchall(
        "SELECT p.id, p.brand_name, u.name, p.unit FROM project p "
        "LEFT JOIN org_unit u ON u.code = p.unit WHERE p.campaign = ? ORDER BY p.id",
        (config["slug"],),
    )
    for person in pool(config):
        if not person["unit"]:
            continue
        mine = _circle(person["unit"])
        for pid, brand, unit_name, unit in projects:
            shared = set(mine) & set(_circle(unit))
            if shared:
                out.append({"project": pid, "brand_name": brand, "unit_name": unit_name,
                            "reviewer_name": person["name"],
                            "via": mine[sorted(shared)[0]]})  # fmt: skip
    return out
