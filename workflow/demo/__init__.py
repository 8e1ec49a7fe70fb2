"""seed-demo: both notices' org trees, demo accounts, campaigns and projects (idempotent).

`--through STAGE` drives every demo project with the same commands the UI uses, under a
simulated clock inside each stage's window, so the history reads like the real campaign.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from .. import db
from ..authz import SYSTEM, Actor
from ..campaign_templates import CATEGORIES, TEMPLATES
from ..commands import accounts, applications, campaigns, orgs
from ..commands.accounts import get_account
from ..deadlines import parse_local
from .content import BRANDS, fields_for
from .review import drive_approved
from .scoring import seed_reviewers
from .units import MINBEI, NCUT, PEOPLE, STAFF

TREES = {"ncut-info-2023": NCUT, "minbei-2025": MINBEI}
THROUGH = ["submitted", "approved", "cultivating", "midterm", "final", "certified", "showcased"]
ORGANIZER = Actor("org", frozenset({"organizer"}), None, "组织部 王老师")


def _exists(table: str, key: str, value: str) -> bool:
    return db.fetchone(f"SELECT 1 FROM {table} WHERE {key} = ?", (value,)) is not None


def seed_orgs(tree) -> int:
    created = 0
    for code, name, level, kind, parent in tree:
        if not _exists("org_unit", "code", code):
            orgs.create_unit(SYSTEM, code, name, level, kind, parent)
            created += 1
    return created


def seed_accounts(tree, password: str) -> int:
    created = 0
    wanted = list(STAFF)
    for code, _name, level, _kind, _parent in tree:
        if level == "committee":
            continue
        secretary, lead = PEOPLE[code]
        wanted.append((f"s-{code}", f"{secretary}（书记）", ["approver"], code))
        wanted.append((f"a-{code}", f"{lead}（品牌负责人）", ["applicant"], code))
    for username, name, roles, unit in wanted:
        if not _exists("user_account", "username", username):
            accounts.create_user(SYSTEM, username, name, roles, unit, password)
            created += 1
    return created


def seed_campaign(slug: str) -> bool:
    if _exists("campaign", "slug", slug):
        return False
    notice_day = parse_local(TEMPLATES[slug]["notice_date"] + " 09:00")
    campaigns.create_from_template(ORGANIZER, slug, now=notice_day)
    return True


def _eligible(config):
    """(unit row, category) for every demo unit that may apply in this campaign."""
    units = db.fetchall(
        "SELECT code, name, level FROM org_unit WHERE root = ? ORDER BY code",
        (config["committee"],),
    )
    for code, name, level in units:
        for category in config["categories"]:
            if CATEGORIES[category]["unit_level"] == level and code in BRANDS:
                yield code, name, category


def drive_submitted(slug: str) -> int:
    """Every demo unit submits inside the apply window; most opinions are recorded, a few wait."""
    config = campaigns.get(slug)
    tz = config["timezone"]
    apply = next(s for s in config["stages"] if s["code"] == "apply")
    clock = parse_local(apply["opens"], tz) + timedelta(days=1)
    moved = 0
    for index, (code, name, category) in enumerate(_eligible(config)):
        pid = applications.project_id(slug, code, category)
        if applications.get_project(pid):
            continue
        applicant = get_account(f"a-{code}")
        lead = PEOPLE[code][1]
        clock += timedelta(hours=5)
        values = fields_for(config["layout"], name, code, lead)
        applications.submit(applicant, slug, category, values, str(uuid.uuid4()), now=clock)
        moved += 1
        if index % 4 == 3:  # a few wait for their secretary, so the overview shows it
            continue
        for step in applications.get_project(pid)["pending_approvals"]:
            clock += timedelta(hours=3)
            secretary = get_account(f"s-{step['unit']}")
            applications.record_opinion(
                secretary, pid, "agree", "同意申报。该品牌定位准确、措施可行，支部将全力支持。",
                PEOPLE[step["unit"]][0], clock.date().isoformat(),
                applications.version(pid), now=clock,
            )  # fmt: skip
    return moved


def discussion(pid, clock):
    """A thread on the returned application, when the comments module is available."""
    try:
        from .threads import discuss
    except ImportError:
        return clock
    return discuss(pid, clock)


def seed(slugs: list[str], password: str, through: str | None = None, echo=print) -> None:
    if through and through not in THROUGH:
        raise ValueError(f"--through 只能是：{', '.join(THROUGH)}")
    for slug in slugs:
        tree = TREES[slug]
        units = seed_orgs(tree)
        users = seed_accounts(tree, password)
        users += seed_reviewers(tree, password)
        made = seed_campaign(slug)
        echo(f"{slug}: {units} 个组织、{users} 个账号已创建" + ("，创建活动已建立" if made else ""))
        if through:
            moved = drive_submitted(slug)
            echo(f"{slug}: {moved} 个项目已提交申报")
        if through and THROUGH.index(through) >= THROUGH.index("approved"):
            counts = drive_approved(slug, discuss=discussion)
            echo(f"{slug}: 审核论证完成：立项 {counts['approved']} 个，"
                 f"退回后重新提交 {counts['returned_and_resubmitted']} 个，不予立项 {counts['rejected']} 个")  # fmt: skip
        if through and THROUGH.index(through) >= THROUGH.index("cultivating"):
            from .cultivation import drive_cultivating

            c = drive_cultivating(slug)
            echo(f"{slug}: 培育创建：{c['projects']} 个项目登记宣传报道 {c['news']} 篇、"
                 f"活动 {c['activities']} 次、照片 {c['photos']} 张，延期申请 {c['deferrals']} 份")  # fmt: skip
        if through and THROUGH.index(through) >= THROUGH.index("midterm"):
            from .scoring import drive_certified, drive_final, drive_midterm

            for stage, drive in (("midterm", drive_midterm), ("final", drive_final),
                                 ("certified", drive_certified)):  # fmt: skip
                if THROUGH.index(through) >= THROUGH.index(stage):
                    if stage in ("midterm", "final"):  # the reports come before the round
                        from .reports import drive_reports

                        wrote = drive_reports(slug, stage)
                        if wrote is not None:
                            echo(f"{slug}: {stage}: 提交报告 {wrote['reports']} 份")
                    done = drive(slug)
                    echo(f"{slug}: {stage}: " + ("本活动没有该阶段，跳过" if done is None else
                         "，".join(f"{k} {v}" for k, v in done.items())))  # fmt: skip
        if through == "showcased":
            from .showcase import drive_documents, drive_showcased

            done = drive_showcased(slug)
            echo(f"{slug}: showcased: " + ("没有认定为优秀的项目，未发布成果展示" if done is None
                 else "，".join(f"{k} {v}" for k, v in done.items())))  # fmt: skip
            if done is not None:
                made = drive_documents(slug)
                echo(f"{slug}: 成果文档：" + "，".join(f"{k} {v}" for k, v in made.items()))
