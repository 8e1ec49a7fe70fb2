"""Demo of the review stage: unit opinions completed, one application returned, revised and
resubmitted after a discussion, one rejected, the rest approved (立项)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from .. import db
from ..commands import applications, campaigns, review
from ..commands.accounts import get_account
from ..deadlines import parse_local
from .units import PEOPLE

RETURN_REASON = (
    "申报方案总体可行。请进一步细化“年度工作目标”，写成可考核的量化指标（如主题党日次数、"
    "新闻稿篇数、覆盖党员比例），并说明与本单位中心工作的结合点后重新提交。"
)
REJECT_REASON = (
    "品牌定位与本单位中心工作结合不够紧密，创建措施较为笼统，本轮暂不立项，建议明年重新申报。"
)


def _complete_opinions(pid: str, clock):
    """Every opinion still pending is given (agree) by the right secretary."""
    project = applications.get_project(pid)
    while project["state"] == "submitted":
        step = project["pending_approvals"][0]
        clock += timedelta(hours=2)
        secretary = get_account(f"s-{step['unit']}")
        applications.record_opinion(
            secretary, pid, "agree", "同意上报。", PEOPLE[step["unit"]][0],
            clock.date().isoformat(), applications.version(pid), now=clock,
        )  # fmt: skip
        project = applications.get_project(pid)
    return clock


def _revise(pid: str, config: dict, clock):
    """The applicant answers the return: sharper yearly goals, then resubmits."""
    project = applications.get_project(pid)
    row = db.fetchone(
        "SELECT fields FROM project_revision WHERE project = ? AND revision = ?",
        (pid, project["revision"]),
    )
    import json

    fields = json.loads(row[0])
    key = "plan_annual" if "plan_annual" in fields else "outcomes"
    fields[key] = (
        "全年开展主题党日不少于 8 次，党员参与率不低于 95%；在学院及以上平台刊发新闻稿不少于 3 篇；"
        "形成 1 个可推广的典型案例，服务师生不少于 300 人次。"
    )
    applicant = get_account(f"a-{project['unit']}")
    applications.submit(applicant, config["slug"], project["category"], fields, str(uuid.uuid4()),
                        now=clock)  # fmt: skip


def drive_approved(slug: str, discuss=None) -> dict:
    """Bring every demo project of the campaign through review. `discuss(pid, clock)` may add a
    discussion thread on the returned project; it returns the clock after it."""
    from . import ORGANIZER

    config = campaigns.get(slug)
    tz = config["timezone"]
    review_stage = next((s for s in config["stages"] if s["code"] == "review"), None)
    apply_due = parse_local(next(s for s in config["stages"] if s["code"] == "apply")["due"], tz)
    clock = parse_local(review_stage["opens"], tz) if review_stage else apply_due
    clock += timedelta(hours=9)
    pids = [
        r[0] for r in db.fetchall("SELECT id FROM project WHERE campaign = ? ORDER BY id", (slug,))
    ]
    for pid in pids:
        clock = _complete_opinions(pid, clock)
    waiting = [p for p in pids if applications.get_project(p)["state"] == "under_review"]
    counts = {"approved": 0, "returned_and_resubmitted": 0, "rejected": 0}
    if len(waiting) >= 3:
        returned, rejected = waiting[1], waiting[-1]
        clock += timedelta(days=1)
        review.decide(
            ORGANIZER, returned, "return", RETURN_REASON, applications.version(returned), now=clock
        )
        if discuss:
            clock = discuss(returned, clock)
        clock += timedelta(days=1)
        _revise(returned, config, clock)
        clock = _complete_opinions(returned, clock + timedelta(hours=1))
        counts["returned_and_resubmitted"] = 1
        clock += timedelta(hours=3)
        review.decide(
            ORGANIZER, rejected, "reject", REJECT_REASON, applications.version(rejected), now=clock
        )
        counts["rejected"] = 1
    for pid in pids:
        if applications.get_project(pid)["state"] == "under_review":
            clock += timedelta(hours=1)
            review.decide(
                ORGANIZER,
                pid,
                "approve",
                "同意立项，进入培育创建阶段。",
                applications.version(pid),
                now=clock,
            )
            counts["approved"] += 1
    return counts
