"""Demo of scoring and certification, driven by the commands the UI uses under a simulated
clock inside each stage's window.

- `midterm` (notice 001 only; a campaign without the stage is passed over): the organizer
  opens the round, confirms a balanced automatic panel of 3, widens the 一系一品牌 panels to 5
  (so the trimmed mean applies), a reviewer declares a conflict and is replaced; reviewers
  with a unit are excluded from their own 党总支 automatically. Reviewers score with a
  realistic spread (strict and lenient ones, some noise), one revises a score, one leaves a
  project unscored, and the round is closed.
- `final`: the same for 评估认定, on projects in cultivating / midterm_scored.
- `certified`: outcomes proposed from the ranking within the quotas (2 + 7 in minbei-2025 bind),
  a 公示 of publicity_days with one objection verified and answered, then finalised.
"""

from __future__ import annotations

import random
import zlib
from datetime import timedelta
from decimal import Decimal

from .. import db, log, rubric
from ..commands import accounts, assignment, campaigns, certification, scoring
from ..commands.accounts import get_account
from ..deadlines import parse_local
from ..errors import DomainError

# Reviewers who belong to a unit, so the automatic exclusion shows: (username, name, unit).
UNIT_REVIEWERS = [
    ("reviewer6", "评审专家 何工（机电工程系党总支）", "mb-jd"),
    ("reviewer7", "评审专家 邱老师（信息与设计系教工党支部）", "mb-xx-t"),
    ("reviewer8", "评审专家 马老师（计算机系教工党支部）", "ncut-cs-t"),
]
# How each reviewer tends to score, in points out of 100 (strict < 0 < lenient).
BIAS = {"reviewer1": -3.0, "reviewer2": 2.0, "reviewer3": 0.0, "reviewer4": -1.0,
        "reviewer5": 3.0, "reviewer6": 1.0, "reviewer7": -2.0, "reviewer8": 0.5}  # fmt: skip
REMARKS = {
    "high": ["特色鲜明，载体扎实，示范带动作用明显。", "品牌内涵清晰，成效可量化，建议总结推广。",
             "党员参与度高，师生认可度好。"],
    "mid": ["措施较具体，建议进一步凝练品牌特色。", "活动开展较规律，宣传推广仍需加强。",
            "成效初步显现，建议补充量化指标。"],
    "low": ["品牌定位不够聚焦，载体较单一。", "创建措施落实不够，过程材料不完整。",
            "宣传报道数量不足，示范作用有待加强。"],
}  # fmt: skip


def seed_reviewers(tree, password: str) -> int:
    """The demo reviewers who belong to a unit of this tree."""
    from ..authz import SYSTEM

    codes = {code for code, *_ in tree}
    made = 0
    for username, name, unit in UNIT_REVIEWERS:
        if unit in codes and get_account(username) is None:
            if db.fetchone("SELECT 1 FROM user_account WHERE username = ?", (username,)):
                continue
            accounts.create_user(SYSTEM, username, name, ["reviewer"], unit, password)
            made += 1
    return made


def _seed(*parts) -> int:
    return zlib.crc32("|".join(parts).encode("utf-8"))


def quality(pid: str, round_: str) -> float:
    """A project's underlying quality (out of 100), stable per project, a little different at
    the final than at mid-term."""
    base = 66 + _seed(pid) % 27  # 66–92
    drift = (_seed(pid, round_) % 7) - 2 if round_ == "final" else 0
    return float(base + drift)


def _step(value: float, step: Decimal) -> str:
    points = (Decimal(str(value)) / step).quantize(Decimal(1)) * step
    return f"{points.normalize():f}"


def inputs_for(r: dict, fraction: float, rng: random.Random) -> dict:
    """A reviewer's inputs on every criterion for a project of this quality (0–1)."""
    out = {}
    for c in rubric.leaves(r):
        mode = c.get("mode", "range")
        f = max(0.2, min(1.0, fraction + rng.uniform(-0.06, 0.06)))
        if mode == "range":
            top = rubric.maximum(c)
            out[c["code"]] = _step(float(top) * f, Decimal(str(c.get("step", "0.5"))))
        elif mode == "bonus":
            out[c["code"]] = "2" if fraction > 0.9 and rng.random() < 0.5 else "0"
        elif mode == "deduction":
            lapses = round((1 - f) * float(c["max"]) / float(c["per"]) * 0.6)
            out[c["code"]] = str(max(0, lapses))
        elif mode == "count":
            out[c["code"]] = str(max(0, round(f * float(c["max"]) / float(c["per"]))))
        elif mode == "levels":
            target = float(rubric.maximum(c)) * f
            out[c["code"]] = min(c["levels"], key=lambda lv: abs(float(lv[1]) - target))[0]
        elif mode == "veto":
            out[c["code"]] = "no"
    return out


def _comments(r: dict, fraction: float, rng: random.Random) -> dict:
    tone = "high" if fraction >= 0.88 else "mid" if fraction >= 0.78 else "low"
    leaves = [c for c in rubric.leaves(r) if c.get("mode") not in ("veto", "bonus")]
    picked = rng.sample(leaves, k=min(2, len(leaves)))
    return {c["code"]: rng.choice(REMARKS[tone]) for c in picked}


def _panel_version(slug: str) -> int:
    return log.stream_version(scoring.panel_stream(slug))


def _window(config: dict, round_: str):
    stage = scoring.round_stage(config, round_)
    tz = config["timezone"]
    return parse_local(stage["opens"], tz), parse_local(stage["due"], tz)


def _projects_for(slug: str, round_: str) -> list[str]:
    states = scoring.eligible_states(round_)
    return [pid for pid, state in db.fetchall(
        "SELECT id, state FROM project WHERE campaign = ? ORDER BY id", (slug,)) if state in states]  # fmt: skip


def _score(slug: str, pid: str, round_: str, reviewer: str, clock, r: dict, weak=False) -> None:
    actor = get_account(reviewer)
    rng = random.Random(_seed(pid, round_, reviewer))
    points = 50.0 if weak else quality(pid, round_)  # a project that did little: not passed
    fraction = (points + BIAS.get(reviewer, 0) + rng.uniform(-3, 3)) / 100
    stream = scoring.score_stream(pid, round_, reviewer)
    scoring.submit(actor, pid, round_, inputs_for(r, fraction, rng), _comments(r, fraction, rng),
                   r.get("version", 1), log.stream_version(stream), now=clock)  # fmt: skip


def drive_round(slug: str, round_: str) -> dict | None:
    """Open the round, build the panels, score with a realistic spread, close it."""
    from . import ORGANIZER

    config = campaigns.get(slug)
    try:
        opens, due = _window(config, round_)
    except DomainError:
        return None  # the campaign has no such stage: passed over
    state = scoring.round_state(slug, round_)["state"]
    if state == "closed":
        return {"skipped": True}
    span = due - opens
    clock = opens + (span * 0.55 if round_ == "midterm" else span * 0.2) + timedelta(hours=9)
    clock = clock.replace(minute=0, second=0, microsecond=0)
    counts = {"projects": 0, "scores": 0, "revised": 0, "conflicts": 0, "moved": 0}
    if state == "pending":
        scoring.open_round(ORGANIZER, slug, round_, f"{scoring.ROUNDS[round_]}评分开始",
                           _panel_version(slug), now=clock)  # fmt: skip
    pids = _projects_for(slug, round_)
    counts["projects"] = len(pids)
    if not pids:
        return counts
    # A balanced panel of 3, confirmed as proposed.
    clock += timedelta(hours=2)
    proposal = assignment.propose(ORGANIZER, slug, round_, 3)
    pairs = [(p["project"], p["reviewer"]) for p in proposal["pairs"]]
    if pairs:
        assignment.run_pairs(ORGANIZER, slug, round_, pairs, "auto", _panel_version(slug),
                             now=clock)  # fmt: skip
    # 一系一品牌 panels widened to 5: the trimmed mean drops the highest and the lowest.
    clock += timedelta(hours=3)
    wide = [pid for pid in pids if pid.endswith(".dept_brand")]
    if wide:
        proposal = assignment.propose(ORGANIZER, slug, round_, 5, None)
        extra = [(p["project"], p["reviewer"]) for p in proposal["pairs"] if p["project"] in wide]
        if extra:
            assignment.run_pairs(ORGANIZER, slug, round_, extra, "auto", _panel_version(slug),
                                 now=clock)  # fmt: skip
    # A reviewer declares a conflict on one of their projects and is replaced by hand.
    if round_ == pick_conflict_round(config):
        clock += timedelta(days=1)
        branch = [pid for pid in pids if pid.endswith(".branch_feature")]
        target = branch[len(branch) // 2] if branch else pids[0]
        panel = scoring.panel_of(target, round_)
        if panel:
            reviewer = panel[0]
            assignment.declare_conflict(get_account(reviewer), target, None,
                                        "本人曾任该支部书记（2021—2023 年），申请回避。", now=clock)  # fmt: skip
            counts["conflicts"] += 1
            clock += timedelta(hours=4)
            for candidate in assignment.pool(config):
                name = candidate["username"]
                if name in scoring.panel_of(target, round_) or name == reviewer:
                    continue
                if assignment.exclusion_reason(target, name):
                    continue
                assignment.assign(ORGANIZER, slug, round_, target, name, _panel_version(slug),
                                  now=clock)  # fmt: skip
                break
    # Scoring over the following weeks, spread evenly until a few days before closing.
    close_at = due - timedelta(days=(10 if round_ == "midterm" else 6))
    r = scoring.current_rubric(slug)
    panels = {pid: scoring.panel_of(pid, round_) for pid in pids}
    gap = (close_at - clock) / (sum(len(p) for p in panels.values()) + 4)
    skipped = None
    for index, pid in enumerate(pids):
        panel = panels[pid]
        for position, reviewer in enumerate(panel):
            if index == len(pids) - 1 and position == len(panel) - 1 and len(panel) > 1:
                skipped = (pid, reviewer)  # one reviewer never scores this one
                continue
            clock += gap
            _score(slug, pid, round_, reviewer, clock, r, weak=round_ == "final" and index == 0)
            counts["scores"] += 1
    # One reviewer revises a score after seeing the others'.
    first = pids[0]
    panel = scoring.panel_of(first, round_)
    if panel:
        reviewer = panel[0]
        mine = scoring.my_score(first, round_, reviewer)
        if mine:
            revised = dict(mine["inputs"])
            for c in rubric.leaves(r):
                if c.get("mode") == "range" and c["code"] in revised:
                    value = min(rubric.maximum(c), Decimal(revised[c["code"]]) + 1)
                    revised[c["code"]] = f"{value.normalize():f}"
                    break
            clock += gap
            notes = dict(mine["comments"]) or {}
            notes[rubric.leaves(r)[0]["code"]] = "复核材料后上调：载体活动记录完整。"
            stream = scoring.score_stream(first, round_, reviewer)
            scoring.submit(get_account(reviewer), first, round_, revised, notes, r.get("version", 1),
                           log.stream_version(stream), now=clock)  # fmt: skip
            counts["revised"] += 1
    written = scoring.close_round(ORGANIZER, slug, round_, _panel_version(slug), now=close_at)
    counts["moved"] = sum(1 for e in written if e.type == "ProjectScored")
    counts["unscored_by"] = skipped[1] if skipped else None
    return counts


def pick_conflict_round(config: dict) -> str:
    """The first round the campaign has: where the demo's declared conflict happens."""
    return "midterm" if any(s["code"] == "midterm" for s in config["stages"]) else "final"


def drive_midterm(slug: str) -> dict | None:
    return drive_round(slug, "midterm")


def drive_final(slug: str) -> dict | None:
    return drive_round(slug, "final")


def drive_certified(slug: str, app_config=None) -> dict | None:
    """Proposals from the final ranking within the quotas, a 公示 with one objection answered,
    then the outcomes finalised."""
    from . import ORGANIZER

    config = campaigns.get(slug)
    if scoring.round_state(slug, "final")["state"] != "closed":
        return None
    if certification.publicities(slug):
        return {"skipped": True}
    closed = scoring.round_state(slug, "final")["closed_at"]
    clock = log.parse_time(closed)
    clock += timedelta(days=1)
    suggested = certification.suggest(config)
    _fill_quota(config, suggested)
    counts = {k: sum(1 for o in suggested.values() if o == k) for k in certification.OUTCOMES}
    if not suggested:
        return counts
    cert = certification.stream(slug)
    certification.propose(ORGANIZER, slug, suggested, "按评估认定排名和认定名额提出建议",
                          log.stream_version(cert), now=clock)  # fmt: skip
    clock += timedelta(hours=2)
    certification.start_publicity(ORGANIZER, slug, "", "", log.stream_version(cert), now=clock)
    running = certification.running_publicity(slug)
    excellent = [pid for pid, o in sorted(suggested.items()) if o == "excellent"]
    if excellent:
        target = excellent[0]
        objector = _objector(config, target)
        clock += timedelta(days=2)
        certification.lodge_objection(
            objector, slug, target,
            "该项目申报材料中的部分宣传报道刊发于系部公众号，不属于学院及以上平台，请核实宣传报道篇数。",
            now=clock,
        )  # fmt: skip
        oid = certification.objections(slug, running["number"])[-1]["id"]
        clock += timedelta(days=1)
        certification.answer_objection(
            ORGANIZER, slug, oid,
            "经组织部核对原始链接，该项目在学院及以上平台刊发报道 3 篇，系部公众号报道未计入评分。",
            "异议反映的系部报道确未计入；符合“学院及以上平台至少 2 篇”的要求，维持认定建议。",
            False, log.stream_version(cert), now=clock,
        )  # fmt: skip
        counts["objections"] = 1
    _start, end = certification.publicity_window(config, running)
    certification.finalise(ORGANIZER, slug, log.stream_version(cert), now=end + timedelta(hours=16))
    certification.after_finalise(app_config or _app_config())
    return counts


def _fill_quota(config: dict, suggested: dict) -> None:
    """Where a tie across the last place left places free, the organizer decides by rank and
    then by project (the demo's stand-in for 组织部研究确定)."""
    status = certification.quota_status(config, {})
    for category, rows in scoring.ranking(config, "final").items():
        quota = status[category]["quota"]
        if quota is None:
            continue
        free = quota - status[category]["certified"]
        taken = sum(1 for r in rows if suggested.get(r["id"]) == "excellent")
        for r in rows:
            if taken >= free:
                break
            if suggested.get(r["id"]) == "passed":
                suggested[r["id"]] = "excellent"
                taken += 1


def _objector(config: dict, target: str):
    """An applicant of another unit of the same committee."""
    unit = db.fetchone("SELECT unit FROM project WHERE id = ?", (target,))[0]
    for (code,) in db.fetchall(
        "SELECT code FROM org_unit WHERE root = ? AND level = 'branch' ORDER BY code",
        (config["committee"],),
    ):
        if code != unit and get_account(f"a-{code}"):
            return get_account(f"a-{code}")
    return get_account("auditor")


def _app_config():
    try:
        from flask import current_app, has_app_context
    except ImportError:  # pragma: no cover
        return None
    return current_app.config if has_app_context() else None
