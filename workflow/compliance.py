"""The compliance checklist of a project and the organizer's matrix of all units × rules.

Computed on read from the projection tables and the campaign's rules (config["evidence"],
config["funding"], the stages and per-unit extensions), never stored: a rule changed by the
organizer shows at once everywhere.

Status of a cell, worst first: fail (未达标且已到期、超预算), todo (尚未达标，仍在期限内),
pending (待后续阶段，例如待评估验收阶段才有总结报告), ok (达标), na (不适用：尚未立项等).

The final report is built by another module later. Until it registers `report_lookup`
(pid -> {"sections": [present section titles], "chars": int} or None), the report rows show
"待评估验收阶段".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from . import db, deadlines
from .campaign_templates import CATEGORIES, NEWS_LEVELS
from .commands import applications
from .commands.deferrals import stages_for
from .commands.evidence import captions_required, evidence_stage
from .i18n import N_, _, pgettext
from .lifecycle import STATES
from .orgtree import unit_label

STATUS = {
    "fail": N_("未达标"),
    "todo": N_("进行中"),
    "pending": N_("待评估验收阶段"),
    "ok": N_("达标"),
    "na": N_("不适用"),
}
SEVERITY = {"fail": 0, "todo": 1, "pending": 2, "ok": 3, "na": 4}
# States in which the project is a cultivation project (立项之后).
CULTIVATED = {"approved", "cultivating", "midterm_scored", "final_submitted", "final_scored",
              "proposed", "certified", "passed", "not_passed"}  # fmt: skip
OPINION_DONE = CULTIVATED | {"under_review", "rejected"}

report_lookup: Callable[[str], dict | None] | None = None


def _cell(code, status, value, detail="", count=None, target=None) -> dict:
    return {"code": code, "status": status, "status_label": _(STATUS[status]), "value": value,
            "detail": detail, "count": count, "target": target}  # fmt: skip


def levels_text(levels: list[str]) -> str:
    """['college', 'school', 'province', 'national'] -> '学院及以上'."""
    order = list(NEWS_LEVELS)
    chosen = sorted((lv for lv in levels if lv in NEWS_LEVELS), key=order.index)
    if chosen and chosen == order[order.index(chosen[0]) :]:
        first = _(NEWS_LEVELS[chosen[0]])
        return _("%(level)s及以上", level=first) if len(chosen) > 1 else first
    return _("、").join(_(NEWS_LEVELS[lv]) for lv in chosen) or _("任意")


def rules(config: dict) -> list[dict]:
    """The columns: one per rule of this campaign, in the order the notice states them.
    `label` says the rule in full; `short` heads the matrix's narrow columns."""
    ev = config.get("evidence", {})
    levels, news_min = levels_text(ev.get("news_levels", [])), ev.get("news_min", 0)
    photos_min = ev.get("photos_min", 0)
    if captions_required(config):
        photos_label = _("工作照片（≥%(n)s 张，均有注释）", n=photos_min)
    else:
        photos_label = _("工作照片（≥%(n)s 张）", n=photos_min)
    out = [
        {"code": "application", "label": _("申报与单位意见"), "short": _("申报与意见")},
        {"code": "news", "label": _("宣传报道（%(levels)s≥%(n)s 篇）", levels=levels, n=news_min),
         "short": _("宣传报道≥%(n)s", n=news_min)},
        {"code": "activities", "label": _("活动记录"), "short": pgettext("evidence", "活动")},
        {"code": "photos", "label": photos_label, "short": _("照片≥%(n)s", n=photos_min)},
    ]  # fmt: skip
    if config.get("funding"):
        out.append({"code": "funding", "label": _("经费（预算与支出）"), "short": _("经费")})
    sections = _("、").join(ev.get("report_sections", []))
    out += [
        {"code": "report_sections", "label": _("总结报告体例（%(sections)s）", sections=sections),
         "short": _("报告体例")},
        {"code": "report_length",
         "label": _("总结报告字数（≤%(n)s 字）", n=ev.get("report_max_chars", 0)),
         "short": _("报告字数")},
        {"code": "deadlines", "label": _("期限"), "short": _("期限")},
    ]  # fmt: skip
    return out


# --- Reading the projections ----------------------------------------------------------------


def _news(pids: list[str]) -> dict[str, list[tuple]]:
    return _group("SELECT project, level, late FROM evidence_news", pids)


def _photos(pids):
    return _group("SELECT project, caption, late FROM project_photo", pids)


def _activities(pids):
    return _group("SELECT project, late FROM evidence_activity", pids)


def _group(select: str, pids: list[str]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {pid: [] for pid in pids}
    if not pids:
        return out
    marks = ", ".join("?" * len(pids))
    for row in db.fetchall(
        f"{select} WHERE withdrawn_position IS NULL AND project IN ({marks})", tuple(pids)
    ):
        out[row[0]].append(row[1:])
    return out


def _pending_deferrals(pids) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {pid: [] for pid in pids}
    if pids:
        marks = ", ".join("?" * len(pids))
        for pid, stage in db.fetchall(
            f"SELECT project, stage FROM deferral_request WHERE status = 'pending' "
            f"AND project IN ({marks})",
            tuple(pids),
        ):
            out[pid].append(stage)
    return out


# --- One project ----------------------------------------------------------------------------


def checklist(project: dict, config: dict, now: datetime | None = None) -> list[dict]:
    """The live checklist of one project."""
    pid = project["id"]
    data = {
        "news": _news([pid])[pid],
        "photos": _photos([pid])[pid],
        "activities": _activities([pid])[pid],
        "deferrals": _pending_deferrals([pid])[pid],
    }
    return _evaluate(project, config, data, now or datetime.now(UTC), rules(config))


def _evaluate(project: dict, config: dict, data: dict, now: datetime, columns) -> list[dict]:
    """The cells of one project for `columns` (the campaign's rules, made once per matrix)."""
    ev = config.get("evidence", {})
    cultivated = project["state"] in CULTIVATED
    cells = {"application": _application(project)}
    news_levels = set(ev.get("news_levels", []))
    news_min = int(ev.get("news_min", 0))
    qualifying = [n for n in data["news"] if n[0] in news_levels]
    on_time = [n for n in qualifying if not n[1]]
    others = len(data["news"]) - len(qualifying)
    photos_min = int(ev.get("photos_min", 0))
    need_caption = captions_required(config)
    captioned = [p for p in data["photos"] if p[0] or not need_caption]
    missing_caption = len(data["photos"]) - len(captioned)
    if not cultivated:
        for code in ("news", "activities", "photos", "funding", "deadlines"):
            cells[code] = _cell(code, "na", "—", _("立项后开始培育创建"))
    else:
        stage = evidence_stage(config)
        overdue = bool(stage) and deadlines.window(config, stage, project["unit"]).late(now)
        detail = _("%(levels)s平台 %(n)s 篇", levels=levels_text(list(news_levels)),
                   n=len(qualifying))  # fmt: skip
        if others:
            detail += _("；另有 %(n)s 篇级别不够，不计入", n=others)
        cells["news"] = _cell("news", _meets(len(qualifying), news_min, overdue),
                              _("%(n)s / %(target)s 篇", n=len(qualifying), target=news_min),
                              detail, len(qualifying), news_min)  # fmt: skip
        n = len(data["activities"])
        cells["activities"] = _cell("activities", "ok" if n else "todo", _("%(n)s 次", n=n),
                                    _("已登记活动") if n else _("尚未登记活动"), n)  # fmt: skip
        pdetail = _("共 %(n)s 张", n=len(data["photos"]))
        if missing_caption:
            pdetail += _("，%(n)s 张缺注释（不计入）", n=missing_caption)
        # photos go with the final report: late only once the final stage is over
        final = deadlines.stage(config, "final")
        photos_overdue = bool(final) and deadlines.window(config, "final", project["unit"]).late(
            now
        )
        cells["photos"] = _cell("photos", _meets(len(captioned), photos_min, photos_overdue),
                                _("%(n)s / %(target)s 张", n=len(captioned), target=photos_min),
                                pdetail, len(captioned),
                                photos_min)  # fmt: skip
        if config.get("funding"):
            cells["funding"] = _funding(project["id"])
        cells["deadlines"] = _deadlines(project, config, len(on_time) >= news_min,
                                        data["deferrals"], now)  # fmt: skip
    if cultivated:
        cells.update(_report(project, config))
    else:
        for code in ("report_sections", "report_length"):
            cells[code] = _cell(code, "na", "—", _("立项后开始培育创建"))
    out = []
    for rule in columns:
        cell = cells.get(rule["code"]) or _cell(rule["code"], "na", "—")
        out.append({**cell, "code": rule["code"], "label": rule["label"]})
    return out


def _meets(count: int, target: int, overdue: bool) -> str:
    if count >= target:
        return "ok"
    return "fail" if overdue else "todo"


def _application(project: dict) -> dict:
    steps = applications.opinion_steps(project)
    rows = db.fetchall(
        "SELECT level, decision FROM unit_opinion WHERE project = ? AND revision = ?",
        (project["id"], project["revision"]),
    )
    agreed = {level for level, decision in rows if decision == "agree"}
    done = sum(1 for s in steps if s["level"] in agreed)
    if project["state"] in OPINION_DONE:
        done = len(steps)  # every needed opinion was given before it reached the organizer
    levels = [applications.OPINION_LEVELS[s["level"]] for s in steps]
    names = _("、").join(_(level) for level in levels)
    names = names or _("无需单位意见")
    status = "ok" if done == len(steps) and project["state"] in OPINION_DONE else "todo"
    return _cell("application", status,
                 _("已提交 · 意见 %(done)s / %(total)s", done=done, total=len(steps)),
                 _("申报表第 %(revision)s 版；%(names)s", revision=project["revision"], names=names),
                 done, len(steps))  # fmt: skip


def _funding(pid: str) -> dict:
    from .commands.funding import summary

    s = summary(pid)
    if s["budget"] is None:
        text = (
            _("已支出 %(amount)s 元", amount=f"{s['spent']:,}")
            if s["expenses"]
            else _("未核定预算")
        )
        return _cell("funding", "todo", text, _("组织部尚未核定预算"))
    value = _("%(spent)s / %(budget)s 元", spent=f"{s['spent']:,}", budget=f"{s['budget']:,}")
    if s["over"]:
        return _cell(
            "funding", "fail", value, _("超出预算 %(amount)s 元", amount=f"{-s['remaining']:,}")
        )
    return _cell("funding", "ok", value, _("结余 %(amount)s 元", amount=f"{s['remaining']:,}"))


def _deadlines(project, config, met: bool, pending_stages, now) -> dict:
    code = evidence_stage(config)
    if code is None:
        return _cell("deadlines", "na", "—")
    tz = config["timezone"]
    w = deadlines.window(config, code, project["unit"])
    name = deadlines.stage(config, code)["name"]
    due = deadlines.show(w.due, tz)
    detail = _("“%(stage)s”截止 %(due)s", stage=name, due=due) + (
        _("（已延期）") if w.extended else ""
    )
    waiting = [deadlines.stage(config, s)["name"] for s in pending_stages
               if deadlines.stage(config, s)]  # fmt: skip
    if waiting:
        detail += _("；延期申请待审批：%(stages)s", stages=_("、").join(waiting))
    later = [s for s in stages_for(config) if s["code"] != code]
    for s in later:
        lw = deadlines.window(config, s["code"], project["unit"])
        if lw.extended:
            detail += _(
                "；“%(stage)s”已延期至 %(due)s", stage=s["name"], due=deadlines.show(lw.due, tz)
            )
    if met:
        return _cell(
            "deadlines", "ok", _("按期完成") if not w.extended else _("延期后按期完成"), detail
        )
    if w.late(now):
        return _cell("deadlines", "fail", _("逾期未完成"), detail)
    value = _("已延期至 %(due)s", due=due) if w.extended else _("截止 %(due)s", due=due)
    return _cell("deadlines", "todo", value, detail)


def _report(project: dict, config: dict) -> dict:
    ev = config.get("evidence", {})
    found = report_lookup(project["id"]) if report_lookup else None
    if not found:
        wait = _cell("", "pending", _("待评估验收阶段"), _("总结报告提交后自动检查"))
        return {"report_sections": {**wait, "code": "report_sections"},
                "report_length": {**wait, "code": "report_length"}}  # fmt: skip
    wanted = ev.get("report_sections", [])
    missing = [s for s in wanted if s not in found.get("sections", [])]
    limit, chars = int(ev.get("report_max_chars", 0)), int(found.get("chars", 0))
    return {
        "report_sections": _cell(
            "report_sections", "fail" if missing else "ok",
            _("%(n)s / %(total)s 部分", n=len(wanted) - len(missing), total=len(wanted)),
            _("缺少：%(sections)s", sections=_("、").join(missing)) if missing else _("五部分齐全")),
        "report_length": _cell(
            "report_length", "fail" if limit and chars > limit else "ok",
            _("%(chars)s / %(limit)s 字", chars=chars, limit=limit), _("按字符计数（不是字节）")),
    }  # fmt: skip


# --- The matrix -----------------------------------------------------------------------------


def matrix(config: dict, now: datetime | None = None) -> list[dict]:
    """Every eligible unit of the campaign (with or without a project) × the rules."""
    now = now or datetime.now(UTC)
    units = db.fetchall(
        "SELECT u.code, u.name, u.level, p.level FROM org_unit u "
        "LEFT JOIN org_unit p ON p.code = u.parent WHERE u.root = ? ORDER BY u.code",
        (config["committee"],),
    )
    found = {}
    for row in db.fetchall(
        "SELECT id, campaign, unit, category, state, revision, brand_name, pending_approvals, "
        "returned_reason, late, first_submitted_at, submitted_at, updated_at FROM project "
        "WHERE campaign = ?",
        (config["slug"],),
    ):
        keys = ("id", "campaign", "unit", "category", "state", "revision", "brand_name",
                "pending_approvals", "returned_reason", "late", "first_submitted_at",
                "submitted_at", "updated_at")  # fmt: skip
        project = dict(zip(keys, row))
        project["pending_approvals"] = json.loads(project["pending_approvals"])
        found[(project["unit"], project["category"])] = project
    pids = [p["id"] for p in found.values()]
    news, photos, acts, defer = (
        _news(pids),
        _photos(pids),
        _activities(pids),
        _pending_deferrals(pids),
    )
    columns = rules(config)
    out = []
    for code, name, level, parent_level in units:
        for category in config["categories"]:
            if CATEGORIES[category]["unit_level"] != level:
                continue
            project = found.get((code, category))
            row = {"unit": code, "unit_name": name, "unit_label": unit_label(level, parent_level),
                   "category": category, "category_name": CATEGORIES[category]["name"],
                   "project": project["id"] if project else None,
                   "brand_name": project["brand_name"] if project else "",
                   "state": project["state"] if project else "none",
                   "state_label": STATES.get(project["state"]) if project else N_("未申报")}  # fmt: skip
            if project:
                data = {"news": news[project["id"]], "photos": photos[project["id"]],
                        "activities": acts[project["id"]], "deferrals": defer[project["id"]]}  # fmt: skip
                cells = _evaluate(project, config, data, now, columns)
            else:
                cells = [{**_cell(r["code"], "na", "—", _("未申报")), "label": r["label"]}
                         for r in columns]  # fmt: skip
            row["cells"] = {c["code"]: c for c in cells}
            row["gaps"] = sum(c["status"] in ("fail", "todo") for c in cells)
            out.append(row)
    return out


def select(table: list[dict], args) -> list[dict]:
    """Filter (q, category, state, rule+status, gaps only) and sort (sort, dir) the matrix."""
    q = (args.get("q") or "").strip()
    category, state = args.get("category") or "", args.get("state") or ""
    rule, status = args.get("rule") or "", args.get("status") or ""
    gaps = args.get("gaps") == "1"
    shown = [
        r for r in table
        if (not q or q in r["unit_name"] or q in r["brand_name"] or q in r["unit"])
        and (not category or r["category"] == category)
        and (not state or r["state"] == state)
        and (not rule or not status or (rule in r["cells"] and r["cells"][rule]["status"] == status))
        and (not gaps or r["gaps"])
    ]  # fmt: skip
    key = args.get("sort") or "unit"
    reverse = args.get("dir") == "desc"
    if key in ("unit", "unit_name"):
        shown.sort(key=lambda r: r["unit"], reverse=reverse)
    elif key == "state":
        shown.sort(key=lambda r: (r["state_label"], r["unit"]), reverse=reverse)
    elif key == "gaps":
        shown.sort(key=lambda r: (r["gaps"], r["unit"]), reverse=reverse)
    elif table and key in table[0]["cells"]:
        shown.sort(key=lambda r: _cell_key(r["cells"][key], r["unit"]), reverse=reverse)
    return shown


def _cell_key(cell: dict, unit: str):
    count = cell["count"] if isinstance(cell["count"], int) else -1
    return (SEVERITY[cell["status"]], count, unit)


def progress(config: dict, table: list[dict]) -> list[dict]:
    """Per rule, how many units are in each status: the bars of the chart."""
    out = []
    for rule in rules(config):
        counts = {s: 0 for s in STATUS}
        for row in table:
            counts[row["cells"][rule["code"]]["status"]] += 1
        counted = len(table) - counts["na"]
        out.append({**rule, "counts": counts, "total": counted,
                    "ok_pct": round(100 * counts["ok"] / counted) if counted else 0})  # fmt: skip
    return out


def export_rows(config: dict, table: list[dict]) -> tuple[list[str], list[list]]:
    """Header and rows for CSV/XLSX: per rule its value and its status."""
    columns = rules(config)
    header = ["组织编码", "组织名称", "类别", "创建类型", "品牌名称", "项目状态"]
    for r in columns:
        header += [r["label"], f"{r['label']}·结论"]
    header.append("待改进项数")
    out = []
    for row in table:
        line = [row["unit"], row["unit_name"], row["unit_label"], row["category_name"],
                row["brand_name"], row["state_label"]]  # fmt: skip
        for r in columns:
            cell = row["cells"][r["code"]]
            line += [cell["value"], cell["status_label"]]
        line.append(row["gaps"])
        out.append(line)
    return header, out


def _register_reports() -> None:
    from .commands import reports

    global report_lookup
    report_lookup = reports.compliance_lookup


_register_reports()
