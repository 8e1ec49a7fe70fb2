"""Scoring (中期评估, 评估认定): the versioned rubric, rounds, reviewers' scores and the results.

- The rubric lives on the campaign stream: every change is a RubricChanged event carrying the
  whole new rubric, a reason and the next version number. Scores name the version they used.
- A round ("midterm" or "final") is opened and closed by the organizer on the campaign's panel
  stream; panels and conflicts are in `assignment.py`.
- A reviewer's score on a project in a round is its own stream, so two reviewers never make
  each other stale; each later submission there is a revision. Drafts are scratch work kept
  outside the log (table `score_draft`), like application drafts.
- Closing a round appends ProjectScored to every project with at least one counted score: the
  project moves to `midterm_scored` / `final_scored`.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from decimal import Decimal

from .. import db, deadlines, lifecycle, log, rubric
from ..authz import Actor, require
from ..errors import DomainError, Forbidden, NotFound
from ..events import NewEvent, canonical_json
from ..i18n import N_, _
from ..rubric import RubricError
from . import campaigns
from .applications import get_project
from .applications import stream as project_stream

ROUNDS = {"midterm": N_("中期评估"), "final": N_("评估认定")}
ROUND_MOVES = {"midterm": "score_midterm", "final": "score_final"}
COMMENT_MAX = 500
REASON_MAX = 500


def panel_stream(slug: str) -> str:
    return f"panel:{slug}"


def score_stream(pid: str, round_: str, reviewer: str) -> str:
    return f"score:{pid}:{round_}:{reviewer}"


def reason_text(reason: str, what: str = N_("原因")) -> str:
    """The reason, required and bounded; `what` names it (an N_-marked label)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写%(what)s（将记入日志）。", what=_(what)), "reason")
    if len(reason) > REASON_MAX:
        raise DomainError(
            _("%(what)s不超过 %(max)s 个字符，当前 %(n)s 个。", what=_(what), max=REASON_MAX,
              n=len(reason)),
            "reason",
        )  # fmt: skip
    return reason


def check_version(stream: str, version) -> int:
    """The version the page was rendered with; a stale one is a conflict (409)."""
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise DomainError(_("页面缺少版本信息，请刷新页面后重试。")) from None
    current = log.stream_version(stream)
    if version != current:
        raise log.ConcurrencyError(stream, version, current)
    return version


# --- The rubric ----------------------------------------------------------------------------


def rubric_at(slug: str, version: int | None = None) -> dict:
    """The rubric of a campaign, at a version (the latest by default)."""
    if version is None:
        row = db.fetchone(
            "SELECT rubric FROM rubric_version WHERE campaign = ? ORDER BY version DESC LIMIT 1",
            (slug,),
        )
    else:
        row = db.fetchone(
            "SELECT rubric FROM rubric_version WHERE campaign = ? AND version = ?",
            (slug, version),
        )
    if row is None:
        if version is None:
            return copy.deepcopy(campaigns.get(slug)["rubric"])
        raise NotFound(_("评分细则第 %(version)s 版不存在。", version=version))
    return json.loads(row[0])


def current_rubric(slug: str) -> dict:
    return rubric_at(slug)


def rubric_history(slug: str) -> list[dict]:
    rows = db.fetchall(
        "SELECT r.version, r.reason, r.source, r.at, COALESCE(a.display_name, r.actor) "
        "FROM rubric_version r LEFT JOIN user_account a ON a.username = r.actor "
        "WHERE r.campaign = ? ORDER BY r.version DESC",
        (slug,),
    )
    return [{"version": v, "reason": reason, "source": source, "at": at, "who": who}
            for v, reason, source, at, who in rows]  # fmt: skip


SOURCES = {"template": N_("模板默认"), "edit": N_("在线修改"), "csv": N_("导入 CSV"),
           "json": N_("导入 JSON")}  # fmt: skip


def _change(actor: Actor, slug: str, new: dict, reason: str, source: str, version, now=None):
    require(actor, "rubric.manage")
    campaigns.get(slug)
    reason = reason_text(reason, N_("修改原因"))
    stream = campaigns.stream(slug)
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(stream, version)
        old = current_rubric(slug)
        new = copy.deepcopy(new)
        new["version"] = int(old.get("version", 1)) + 1
        try:
            rubric.validate(new)
        except RubricError as exc:
            raise DomainError(str(exc)) from None
        if canonical_json(_without_version(new)) == canonical_json(_without_version(old)):
            raise DomainError(_("评分细则没有变化。"))
        event = NewEvent(
            "RubricChanged",
            {"version": new["version"], "rubric": new, "reason": reason, "source": source},
        )
        return log.append(stream, expected, [event], actor.username, now)[0]


def _without_version(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "version"}


def _find(criteria: list, code: str) -> tuple[list, int] | None:
    for index, c in enumerate(criteria):
        if c["code"] == code:
            return criteria, index
        found = _find(c.get("children") or [], code)
        if found:
            return found
    return None


CRITERION_KEYS = ("name", "mode", "max", "step", "per", "levels", "effect", "cap", "guidance",
                  "evidence")  # fmt: skip


def _number(text, label: str):
    text = str(text or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except Exception:
        raise DomainError(_("%(label)s：“%(text)s”不是数字。", label=label, text=text)) from None
    if not value.is_finite():
        raise DomainError(_("%(label)s：“%(text)s”不是有效数字。", label=label, text=text))
    return int(value) if value == value.to_integral_value() else float(value)


def _levels(text: str) -> list:
    out = []
    for part in (text or "").replace("；", ";").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise DomainError(_("等级应写成“好=10;较好=8;一般=5;差=0”。"))
        name, points = part.split("=", 1)
        out.append([name.strip(), _number(points, _("等级“%(name)s”的分值", name=name.strip()))])
    return out


def criterion_from_form(values: dict, base: dict | None = None) -> dict:
    """A criterion dict from form text; empty optional fields are dropped."""
    c = dict(base or {})
    c["name"] = (values.get("name") or "").strip()
    if len(c["name"]) > 60:
        raise DomainError(_("指标名称不超过 60 个字符。"))
    mode = (values.get("mode") or c.get("mode") or "range").strip()
    if mode not in rubric.MODES:
        raise DomainError(_("请选择有效的计分方式。"))
    c["mode"] = mode
    for key, label in (("max", _("满分")), ("step", _("分值步长")), ("per", _("每次分值")),
                       ("cap", _("封顶分"))):  # fmt: skip
        number = _number(values.get(key), label)
        if number is None:
            c.pop(key, None)
        else:
            c[key] = number
    levels = _levels(values.get("levels") or "")
    if levels:
        c["levels"] = levels
    else:
        c.pop("levels", None)
    effect = (values.get("effect") or "").strip()
    if mode == "veto":
        c["effect"] = effect or "fail"
    else:
        c.pop("effect", None)
    for key, limit in (("guidance", 500), ("evidence", 200)):
        text = (values.get(key) or "").strip()
        if len(text) > limit:
            label = _("评分说明") if key == "guidance" else _("考评材料")
            raise DomainError(_("%(label)s不超过 %(limit)s 字。", label=label, limit=limit))
        if text:
            c[key] = text
        else:
            c.pop(key, None)
    return c


def edit_criterion(actor, slug, code, values: dict, reason, version, now=None):
    """Change one criterion's name, mode, points, guidance or evidence."""
    new = current_rubric(slug)
    found = _find(new["criteria"], code)
    if not found:
        raise NotFound(_("指标 %(code)s 不存在。", code=code))
    siblings, index = found
    siblings[index] = criterion_from_form(values, siblings[index])
    return _change(actor, slug, new, reason, "edit", version, now)


def add_criterion(actor, slug, parent, code, values: dict, reason, version, now=None):
    """A new criterion at the top level or under `parent` (一级指标 → 二级指标)."""
    new = current_rubric(slug)
    code = (code or "").strip()
    if not code or len(code) > 20:
        raise DomainError(_("请填写指标编号（不超过 20 个字符）。"))
    if _find(new["criteria"], code):
        raise DomainError(_("指标编号 %(code)s 已存在。", code=code))
    criterion = {"code": code, **criterion_from_form(values)}
    if parent:
        found = _find(new["criteria"], parent)
        if not found:
            raise NotFound(_("上级指标 %(code)s 不存在。", code=parent))
        siblings, index = found
        siblings[index].setdefault("children", []).append(criterion)
    else:
        new["criteria"].append(criterion)
    return _change(actor, slug, new, reason, "edit", version, now)


def remove_criterion(actor, slug, code, reason, version, now=None):
    new = current_rubric(slug)
    found = _find(new["criteria"], code)
    if not found:
        raise NotFound(_("指标 %(code)s 不存在。", code=code))
    siblings, index = found
    del siblings[index]
    return _change(actor, slug, new, reason, "edit", version, now)


def import_rubric(actor, slug, text: str, fmt: str, reason, version, now=None):
    """Replace the rubric from CSV or JSON: validated as a whole, all or nothing."""
    if not (text or "").strip():
        raise DomainError(_("请选择或粘贴要导入的评分细则。"))
    try:
        new = rubric.from_csv(text) if fmt == "csv" else rubric.from_json(text)
    except RubricError as exc:
        raise DomainError(_("导入失败，未做任何修改：%(error)s", error=exc)) from None
    return _change(actor, slug, new, reason, fmt, version, now)


# --- Rounds --------------------------------------------------------------------------------


def round_stage(config: dict, round_: str) -> dict:
    """The campaign stage a round scores in; a campaign without it has no such round."""
    if round_ not in ROUNDS:
        raise NotFound(_("评分轮次只能是中期评估（midterm）或评估认定（final）。"))
    stage = deadlines.stage(config, round_)
    if stage is None:
        raise NotFound(_("该创建活动没有“%(round)s”阶段。", round=_(ROUNDS[round_])))
    return stage


def rounds_of(config: dict) -> list[dict]:
    out = []
    for code in ROUNDS:
        stage = deadlines.stage(config, code)
        if stage:
            out.append({"code": code, "name": stage["name"], "stage": stage,
                        **round_state(config["slug"], code)})  # fmt: skip
    return out


def round_state(slug: str, round_: str) -> dict:
    row = db.fetchone(
        "SELECT state, late, note, opened_at, closed_at FROM scoring_round "
        "WHERE campaign = ? AND round = ?",
        (slug, round_),
    )
    if row is None:
        return {"state": "pending", "late": False, "note": "", "opened_at": None,
                "closed_at": None}  # fmt: skip
    return dict(zip(("state", "late", "note", "opened_at", "closed_at"), row))


ROUND_STATES = {"pending": N_("未开启"), "open": N_("评分中"), "closed": N_("已结束")}


def open_round(actor: Actor, slug: str, round_: str, note: str, version, now=None):
    """Open a round for scoring: not before its stage opens; after its due date it is flagged."""
    require(actor, "scoring.manage")
    now = now or datetime.now(UTC)
    config = campaigns.get(slug)
    stage = round_stage(config, round_)
    note = (note or "").strip()
    if len(note) > REASON_MAX:
        raise DomainError(_("说明不超过 %(max)s 个字符。", max=REASON_MAX))
    tz = config["timezone"]
    opens, due = deadlines.parse_local(stage["opens"], tz), deadlines.parse_local(stage["due"], tz)
    if now < opens:
        raise DomainError(
            _("“%(stage)s”阶段尚未开始（%(opens)s 开始），暂不能开启评分。", stage=stage["name"],
              opens=deadlines.show(opens, tz))
        )  # fmt: skip
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(panel_stream(slug), version)
        state = round_state(slug, round_)["state"]
        if state == "open":
            raise DomainError(_("“%(stage)s”评分已经开启。", stage=stage["name"]))
        if state == "closed":
            raise DomainError(_("“%(stage)s”评分已经结束，不能重新开启。", stage=stage["name"]))
        event = NewEvent("ScoringRoundOpened", {"round": round_, "late": now > due, "note": note})
        return log.append(panel_stream(slug), expected, [event], actor.username, now)[0]


def eligible_states(round_: str) -> set[str]:
    return lifecycle.MOVES[ROUND_MOVES[round_]][1]


def round_projects(slug: str, round_: str) -> list[dict]:
    """Projects of the campaign that take part in the round: in a state the round scores,
    or already scored by it."""
    states = eligible_states(round_) | {lifecycle_state_after(round_)}
    rows = db.fetchall(
        "SELECT p.id, p.unit, p.category, p.state, p.revision, p.brand_name, u.name "
        "FROM project p LEFT JOIN org_unit u ON u.code = p.unit WHERE p.campaign = ? "
        "ORDER BY p.category, p.id",
        (slug,),
    )
    keys = ("id", "unit", "category", "state", "revision", "brand_name", "unit_name")
    out = [dict(zip(keys, r)) for r in rows]
    scored = {r[0] for r in db.fetchall("SELECT project FROM round_result WHERE round = ?",
                                        (round_,))}  # fmt: skip
    return [p for p in out if p["state"] in states or p["id"] in scored]


def lifecycle_state_after(round_: str) -> str:
    return {"midterm": "midterm_scored", "final": "final_scored"}[round_]


def counted_scores(pid: str, round_: str) -> list[dict]:
    """Submitted scores that count: their reviewer is still on the panel."""
    rows = db.fetchall(
        "SELECT s.reviewer, s.total, s.failed, s.rubric_version, s.revision, s.editions, s.at, "
        "s.inputs, s.comments, s.base, s.bonus, s.vetoed FROM score s JOIN panel_assignment a "
        "ON a.project = s.project AND a.round = s.round AND a.reviewer = s.reviewer "
        "WHERE s.project = ? AND s.round = ? AND a.active = 1 ORDER BY s.position",
        (pid, round_),
    )
    keys = ("reviewer", "total", "failed", "rubric_version", "revision", "editions", "at",
            "inputs", "comments", "base", "bonus", "vetoed")  # fmt: skip
    out = []
    for r in rows:
        s = dict(zip(keys, r))
        s["inputs"], s["comments"] = json.loads(s["inputs"]), json.loads(s["comments"])
        s["vetoed"] = json.loads(s["vetoed"])
        s["failed"] = bool(s["failed"])
        out.append(s)
    return out


def panel_of(pid: str, round_: str) -> list[str]:
    return [r[0] for r in db.fetchall(
        "SELECT reviewer FROM panel_assignment WHERE project = ? AND round = ? AND active = 1 "
        "ORDER BY reviewer", (pid, round_))]  # fmt: skip


def aggregate_of(config: dict, totals: list) -> Decimal | None:
    agg = config.get("aggregation") or {"method": "mean", "trim_from": 5}
    return rubric.aggregate(totals, agg.get("method", "mean"), int(agg.get("trim_from", 5)))


def project_result(config: dict, pid: str, round_: str) -> dict:
    """Totals, aggregate, spread, grade and who has not scored, for one project in a round."""
    scores = counted_scores(pid, round_)
    totals = [Decimal(s["total"]) for s in scores]
    panel = panel_of(pid, round_)
    done = {s["reviewer"] for s in scores}
    aggregate = aggregate_of(config, totals)
    failed = any(s["failed"] for s in scores)
    agg = config.get("aggregation") or {}
    trimmed = agg.get("method") == "trimmed_mean" and len(totals) >= int(agg.get("trim_from", 5))
    return {
        "scores": scores,
        "totals": totals,
        "aggregate": aggregate,
        "trimmed": trimmed,
        "spread": rubric.spread(totals),
        "grade": rubric.grade(aggregate, config["grades"]) if aggregate is not None else "",
        "failed": failed,
        "panel": panel,
        "missing": [r for r in panel if r not in done],
        "versions": sorted({s["rubric_version"] for s in scores}),
    }


def close_plan(slug: str, round_: str) -> list[dict]:
    """What closing the round would do: each project moves (scored) or stays (no score)."""
    config = campaigns.get(slug)
    plan = []
    for p in round_projects(slug, round_):
        if p["state"] not in eligible_states(round_):
            continue
        result = project_result(config, p["id"], round_)
        plan.append({**p, "result": result, "moves": bool(result["scores"])})
    return plan


def close_round(actor: Actor, slug: str, round_: str, version, now=None):
    """Close the round: scoring stops; each project with a counted score gets its result and
    moves to midterm_scored / final_scored; the others stay where they are."""
    require(actor, "scoring.manage")
    config = campaigns.get(slug)
    stage = round_stage(config, round_)
    with db.writer_transaction():
        db.take_writer_lock()
        expected = check_version(panel_stream(slug), version)
        if round_state(slug, round_)["state"] != "open":
            raise DomainError(_("“%(stage)s”评分未开启或已经结束。", stage=stage["name"]))
        plan = close_plan(slug, round_)
        scored = [p for p in plan if p["moves"]]
        closing = NewEvent(
            "ScoringRoundClosed",
            {"round": round_, "scored": [p["id"] for p in scored],
             "unscored": [p["id"] for p in plan if not p["moves"]]},
        )  # fmt: skip
        written = log.append(panel_stream(slug), expected, [closing], actor.username, now)
        for p in scored:
            r = p["result"]
            event = NewEvent(
                "ProjectScored",
                {"round": round_, "score": _text(r["aggregate"]), "reviewers": len(r["scores"]),
                 "grade": r["grade"]},
            )  # fmt: skip
            stream = project_stream(p["id"])
            written += log.append(stream, log.stream_version(stream), [event], actor.username, now)
        return written


def _text(number) -> str | None:
    if number is None:
        return None
    return f"{Decimal(str(number)).normalize():f}"


# --- Scores --------------------------------------------------------------------------------


def leaf_codes(r: dict) -> list[str]:
    return [c["code"] for c in rubric.leaves(r)]


def clean_inputs(r: dict, values: dict) -> dict:
    """Inputs of the rubric's leaves, as typed (stripped); unknown keys dropped."""
    out = {}
    for c in rubric.leaves(r):
        value = values.get(c["code"])
        if value is None:
            continue
        value = str(value).strip()
        if c.get("mode") == "veto":
            value = "yes" if value in ("yes", "1", "是", "on", "true") else "no"
        out[c["code"]] = value[:40]
    return out


def clean_comments(r: dict, values: dict) -> dict:
    out = {}
    for c, _depth in rubric.walk(r["criteria"]):
        text = str(values.get(c["code"]) or "").replace("\r\n", "\n").strip()
        if len(text) > COMMENT_MAX:
            raise DomainError(
                _("“%(name)s”的评语不超过 %(max)s 字，当前 %(n)s 字。", name=c["name"],
                  max=COMMENT_MAX, n=len(text)),
                c["code"],
            )  # fmt: skip
        if text:
            out[c["code"]] = text
    return out


def _zero_input(c: dict):
    """The input that earns nothing on a criterion (for the running total of a draft)."""
    mode = c.get("mode", "range")
    if mode == "deduction":
        per = Decimal(str(c["per"]))
        return str(math.ceil(Decimal(str(c["max"])) / per)) if per > 0 else "0"
    if mode == "levels":
        return min(c["levels"], key=lambda lv: Decimal(str(lv[1])))[0]
    if mode == "veto":
        return "no"
    return "0"


def preview(config: dict, r: dict, values: dict) -> dict:
    """The running total of a (possibly incomplete) draft: each entered criterion scored, the
    errors by criterion, and the total so far with unscored items counted as nothing."""
    inputs = clean_inputs(r, values)
    errors, per, missing = {}, {}, []
    filled = dict(inputs)
    for c in rubric.leaves(r):
        value = inputs.get(c["code"], "")
        mode = c.get("mode", "range")
        if value == "" and mode not in ("bonus", "veto"):
            missing.append(c["name"])
            filled[c["code"]] = _zero_input(c)
            continue
        try:
            per[c["code"]] = rubric.score_leaf(c, value if value != "" else "0")
        except RubricError as exc:
            errors[c["code"]] = str(exc)
            filled[c["code"]] = _zero_input(c)
    result = rubric.total(r, filled)
    complete = not missing and not errors
    return {
        "complete": complete,
        "missing": missing,
        "errors": errors,
        "per": {k: _text(v) for k, v in result.per_criterion.items()},
        "total": _text(result.total),
        "base": _text(result.base),
        "bonus": _text(result.bonus),
        "failed": result.failed,
        "vetoed": result.vetoed,
        "grade": rubric.grade(result.total, config["grades"], result.failed) if complete else "",
        "maximum": _text(rubric.base_maximum(r)),
    }


def load_draft(pid: str, round_: str, reviewer: str) -> dict | None:
    row = db.fetchone(
        "SELECT rubric_version, inputs, comments, updated_at FROM score_draft "
        "WHERE project = ? AND round = ? AND reviewer = ?",
        (pid, round_, reviewer),
    )
    if row is None:
        return None
    return {"rubric_version": row[0], "inputs": json.loads(row[1]),
            "comments": json.loads(row[2]), "updated_at": row[3]}  # fmt: skip


def my_score(pid: str, round_: str, reviewer: str) -> dict | None:
    row = db.fetchone(
        "SELECT total, rubric_version, revision, inputs, comments, editions, at, failed "
        "FROM score WHERE project = ? AND round = ? AND reviewer = ?",
        (pid, round_, reviewer),
    )
    if row is None:
        return None
    keys = ("total", "rubric_version", "revision", "inputs", "comments", "editions", "at",
            "failed")  # fmt: skip
    s = dict(zip(keys, row))
    s["inputs"], s["comments"] = json.loads(s["inputs"]), json.loads(s["comments"])
    return s


def exclusion(pid: str, reviewer: str) -> str | None:
    from .assignment import exclusion_reason

    return exclusion_reason(pid, reviewer)


def require_scorer(actor: Actor, pid: str, round_: str) -> tuple[dict, dict, dict]:
    """The project, its campaign and stage, if `actor` may score it in this round now."""
    require(actor, "scoring.score")
    project = get_project(pid)
    if project is None:
        raise NotFound(_("项目不存在。"))
    config = campaigns.get(project["campaign"])
    stage = round_stage(config, round_)
    reason = exclusion(pid, actor.username)
    if reason:
        raise Forbidden(_("您与该项目存在利益冲突，须回避，不能评分：%(reason)s", reason=reason))
    if actor.username not in panel_of(pid, round_):
        raise Forbidden(_("您未被分配评审该项目的“%(stage)s”，不能评分。", stage=stage["name"]))
    state = round_state(project["campaign"], round_)["state"]
    if state == "pending":
        raise DomainError(_("“%(stage)s”评分尚未开启，不能评分或修改评分。", stage=stage["name"]))
    if state != "open":
        raise DomainError(_("“%(stage)s”评分已经结束，不能评分或修改评分。", stage=stage["name"]))
    lifecycle.require_state(ROUND_MOVES[round_], project["state"])
    return project, config, stage


def save_draft(actor: Actor, pid: str, round_: str, inputs: dict, comments: dict, now=None):
    """Keep a reviewer's unfinished scores (outside the log): anything typed, even invalid."""
    project, _config, _stage = require_scorer(actor, pid, round_)
    r = current_rubric(project["campaign"])
    kept_inputs = clean_inputs(r, inputs)
    kept_comments = {k: str(v)[: COMMENT_MAX * 2] for k, v in comments.items() if str(v).strip()}
    at = log.format_time(now)
    # An upsert: the same reviewer saving from two tabs at once must not collide on the key.
    db.execute(
        "INSERT INTO score_draft (project, round, reviewer, rubric_version, inputs, comments, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project, round, reviewer) DO "
        "UPDATE SET rubric_version = excluded.rubric_version, inputs = excluded.inputs, "
        "comments = excluded.comments, updated_at = excluded.updated_at",
        (pid, round_, actor.username, int(r.get("version", 1)), canonical_json(kept_inputs),
         canonical_json(kept_comments), at),
    )  # fmt: skip
    return at


def submit(actor: Actor, pid: str, round_: str, inputs: dict, comments: dict,
           rubric_version, version, now=None):  # fmt: skip
    """Submit (or revise) a score: every criterion scored within its rules, on the current
    rubric and the project's current revision. Appended only if the reviewer's score stream is
    still at `version` (two tabs, one lost write: no)."""
    stream = score_stream(pid, round_, actor.username)
    with db.writer_transaction():
        db.take_writer_lock()
        project, config, _stage = require_scorer(actor, pid, round_)
        r = current_rubric(project["campaign"])
        try:
            stated = int(rubric_version)
        except (TypeError, ValueError):
            stated = -1
        if stated != int(r.get("version", 1)):
            raise DomainError(
                _("评分细则已更新为第 %(current)s 版（您打开的是第 %(stated)s 版），请按新版细则核对后再提交。",
                  current=r.get("version", 1), stated=stated)
            )  # fmt: skip
        expected = check_version(stream, version)
        clean = clean_inputs(r, inputs)
        notes = clean_comments(r, comments)
        try:
            result = rubric.total(r, clean)
        except RubricError as exc:
            raise DomainError(_("评分未提交：%(error)s", error=exc)) from None
        event = NewEvent(
            "ScoreSubmitted",
            {"project": pid, "round": round_, "reviewer": actor.username,
             "revision": project["revision"], "rubric_version": int(r.get("version", 1)),
             "inputs": clean, "comments": notes, "total": _text(result.total),
             "base": _text(result.base), "bonus": _text(result.bonus), "failed": result.failed,
             "vetoed": result.vetoed},
        )  # fmt: skip
        written = log.append(stream, expected, [event], actor.username, now)[0]
        db.execute(
            "DELETE FROM score_draft WHERE project = ? AND round = ? AND reviewer = ?",
            (pid, round_, actor.username),
        )
        return written


# --- Reading for pages ---------------------------------------------------------------------


def reviewer_names() -> dict[str, str]:
    return dict(db.fetchall("SELECT username, display_name FROM user_account"))


def round_table(config: dict, round_: str) -> list[dict]:
    """Every project of the round with its panel, scores, aggregate, spread, missing reviewers
    and its rank within its category (ties share a rank)."""
    rows = []
    for p in round_projects(config["slug"], round_):
        rows.append({**p, **project_result(config, p["id"], round_)})
    by_category: dict[str, list] = {}
    for row in rows:
        by_category.setdefault(row["category"], []).append(row)
    for items in by_category.values():
        ranks = {pid: (rank, tied) for pid, _s, rank, tied in
                 rubric.rank([(i["id"], i["aggregate"]) for i in items])}  # fmt: skip
        for i in items:
            i["rank"], i["tied"] = ranks.get(i["id"], (None, False))
        items.sort(key=lambda i: (i["rank"] is None, i["rank"] or 0, i["id"]))
    return rows


def ranking(config: dict, round_: str, table: list | None = None) -> dict[str, list[dict]]:
    """Per category, in rank order (unscored last)."""
    out: dict[str, list] = {c: [] for c in config["categories"]}
    for row in round_table(config, round_) if table is None else table:
        out.setdefault(row["category"], []).append(row)
    for items in out.values():
        items.sort(key=lambda i: (i["rank"] is None, i["rank"] or 0, i["id"]))
    return out


def reviewer_tasks(actor: Actor) -> list[dict]:
    """A reviewer's assignments: project, round, whether the round is open and their status."""
    rows = db.fetchall(
        "SELECT a.campaign, a.round, a.project, p.brand_name, p.state, u.name, c.title, "
        "s.total, s.editions, d.updated_at, r.state FROM panel_assignment a "
        "JOIN project p ON p.id = a.project LEFT JOIN org_unit u ON u.code = p.unit "
        "JOIN campaign c ON c.slug = a.campaign "
        "LEFT JOIN score s ON s.project = a.project AND s.round = a.round AND s.reviewer = a.reviewer "
        "LEFT JOIN score_draft d ON d.project = a.project AND d.round = a.round "
        "AND d.reviewer = a.reviewer "
        "LEFT JOIN scoring_round r ON r.campaign = a.campaign AND r.round = a.round "
        "WHERE a.reviewer = ? AND a.active = 1 ORDER BY a.campaign, a.round, a.project",
        (actor.username,),
    )
    keys = ("campaign", "round", "project", "brand_name", "state", "unit_name", "campaign_title",
            "total", "editions", "draft_at", "round_state")  # fmt: skip
    out = []
    for r in rows:
        t = dict(zip(keys, r))
        t["round_state"] = t["round_state"] or "pending"
        code = t["round"]
        t["round_name"] = _(ROUNDS[code])
        out.append(t)
    return out
