"""Time travel: a project and a campaign's overview as they stood at a past date/time or position,
rebuilt from the log (never from the live projections), rendered with the live page's templates
under a banner; bad input gets clear messages."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from workflow import db, log, timetravel, trail

DEMO_PASSWORD = "demo12345"
PID = "minbei-2025.mb-jd-t.branch_feature"  # returned on 06-18, resubmitted, approved
BANNER = re.compile(r"以下为 (\d{4}-\d{2}-\d{2} \d{2}:\d{2})（位置 (\d+)）时的状态")


@pytest.fixture
def history(seeded):
    return seeded("approved")


def text(response) -> str:
    return response.get_data(as_text=True)


def position_of(type_, stream=f"project:{PID}", which="MIN"):
    return db.fetchone(
        f"SELECT {which}(position) FROM event WHERE type = ? AND stream = ?", (type_, stream)
    )[0]


def test_the_day_before_approval(history, as_user):
    """An auditor opens the project as of the day before its approval (立项): still under the
    organizer's review after the resubmission, no decision yet but the return."""
    auditor = as_user("auditor")
    approved = log.get(position_of("ProjectApproved"))
    day = date.fromisoformat(trail.local(approved.occurred_at)[:10])  # in Beijing time
    before_day = (day - timedelta(days=1)).isoformat()
    page = text(auditor.get(f"/audit/projects/{PID}/as-of?at={before_day}"))
    banner = BANNER.search(page)
    assert banner and banner.group(1) == f"{before_day} 23:59"
    assert int(banner.group(2)) < approved.position
    assert "组织部审核中" in page and "第 2 版" in page
    assert "同意立项" not in page
    # The live page's markup; its panels load as they stood then, without any action.
    position = banner.group(2)
    panels = re.findall(r'hx-get="(/[^"]+)"', page.split('<section id="project">')[1])
    assert panels and all("/as-of/" in u and f"position={position}" in u for u in panels)
    review = text(auditor.get(f"/audit/projects/{PID}/as-of/review?position={position}", htmx=True))
    assert "<html" not in review and "退回修改" in review and "同意立项" not in review
    assert "<form" not in review
    live = text(auditor.get(f"/projects/{PID}"))
    assert "已立项" in live and "以下为" not in live


def test_state_at_each_position_follows_the_log(history, as_user):
    auditor = as_user("auditor")
    submitted = position_of("ApplicationSubmitted")
    returned = position_of("ReviewReturned")
    resubmitted = position_of("ApplicationSubmitted", which="MAX")
    first = text(auditor.get(f"/audit/projects/{PID}/as-of?position={submitted}"))
    assert f"（位置 {submitted}）" in first and "第 1 版" in first
    assert "已提交（待单位意见）" in first and "尚无单位意见" in first
    at_return = text(auditor.get(f"/audit/projects/{PID}/as-of?position={returned}"))
    assert "退回修改" in at_return and "请进一步细化" in at_return and "第 1 版" in at_return
    after = text(auditor.get(f"/audit/projects/{PID}/as-of?position={resubmitted}"))
    assert "第 2 版" in after and "全年开展主题党日不少于 8 次" in after
    assert "全年开展主题党日不少于 8 次" not in at_return


def test_at_the_head_it_equals_the_live_page(history, app):
    moment = timetravel.resolve(None, str(log.head()[0]))
    with app.test_request_context():
        from flask_login import login_user

        from workflow.commands import applications
        from workflow.commands.accounts import get_account
        from workflow.web import User
        from workflow.web.projects import project_context

        login_user(User(get_account("auditor")))
        rebuilt = timetravel.project_context(PID, moment)
        live = project_context(applications.get_project(PID))
    for key in ("project", "fields", "opinions", "copies", "unit_name", "state_label", "config"):
        assert rebuilt[key] == live[key], key


def test_built_from_the_log_not_from_the_projections(history, as_user):
    """Someone edits a projection table behind the log's back: the live page shows it, the
    time-travel view (rebuilt from the log) does not."""
    db.execute("UPDATE project SET brand_name = ? WHERE id = ?", ("被改过的品牌", PID))
    db.execute(
        "UPDATE project_revision SET fields = ? WHERE project = ?", ('{"brand_name":"假"}', PID)
    )
    auditor = as_user("auditor")
    assert "被改过的品牌" in text(auditor.get(f"/projects/{PID}"))
    page = text(auditor.get(f"/audit/projects/{PID}/as-of?position={log.head()[0]}"))
    assert "工匠党员工作室" in page and "被改过的品牌" not in page


def test_overview_as_of_a_date(history, as_user):
    auditor = as_user("auditor")
    before = text(auditor.get("/audit/campaigns/minbei-2025/as-of?at=2025-06-06 10:00"))
    banner = BANNER.search(before)
    assert banner and banner.group(1) == "2025-06-06 10:00"
    assert "申报总览" in before and "已提交申报：0 /" in before and "未申报" in before
    assert "一键提醒" not in before and 'class="filters"' not in before  # no live actions
    later = text(auditor.get("/audit/campaigns/minbei-2025/as-of?at=2025-06-16"))
    assert "组织部审核中" in later and "已立项：0 /" in later and "tag state-approved" not in later
    links = re.findall(r'href="(/audit/projects/[^"]+/as-of\?position=\d+)"', later)
    assert links and all(f"position={BANNER.search(later).group(2)}" in u for u in links)
    now = text(auditor.get(f"/audit/campaigns/minbei-2025/as-of?position={log.head()[0]}"))
    assert "tag state-approved" in now and "已立项：0 /" not in now


BAD_MOMENTS = [
    ("at=2025-02-30", 400, "时间格式不正确"),
    ("at=tomorrow", 400, "时间格式不正确"),
    ("at=2025-06-16%2025:00", 400, "时间格式不正确"),
    ("at=2025-06-16&position=3", 400, "只填写时间或位置中的一项"),
    ("position=0", 400, "位置须从 1 开始"),
    ("position=-1", 400, "位置须为正整数"),
    ("position=99999999", 400, "超出了日志头"),
    ("position=1%20OR%201=1", 400, "位置须为正整数"),
    ("at=1999-01-01", 400, "之前日志中还没有任何事件"),
    ("position=5", 404, "尚未提交申报"),
    ("", 200, "按时间回溯"),
]


def test_bad_moments_get_clear_messages(history, as_user):
    auditor = as_user("auditor")
    before = log.head()
    for query, status, message in BAD_MOMENTS:
        response = auditor.get(f"/audit/projects/{PID}/as-of?{query}")
        assert response.status_code == status and message in text(response), query
    assert log.head() == before


def test_only_full_readers_travel(history, as_user):
    for username in ("s-mb-jd", "a-mb-jd-t", "reviewer1"):
        browser = as_user(username)
        assert browser.get(f"/audit/projects/{PID}/as-of?position=5").status_code == 403
        assert browser.get("/audit/campaigns/minbei-2025/as-of").status_code == 403
    assert as_user("auditor").get("/audit/projects/nope/as-of").status_code == 404


def test_the_scratch_database_never_leaks(history, app):
    """After a time-travel view this thread's queries go to the real database again."""
    moment = timetravel.resolve(None, "3")
    with app.test_request_context():
        with timetravel.replayed(moment.position):
            assert db.fetchone("SELECT COUNT(*) FROM event")[0] == 3
        assert db.fetchone("SELECT COUNT(*) FROM event")[0] == log.head()[0]


def test_panels_as_of_a_position_without_their_forms(history, as_user):
    """The organizer's review panel of a project waiting for review carries the decision form
    live; as of that moment it shows the same state, read-only."""
    org = as_user("org")
    resubmitted = position_of("ApplicationSubmitted", which="MAX")
    opinions = db.fetchone(
        "SELECT MAX(position) FROM event WHERE stream = ? AND type = 'UnitOpinionRecorded'",
        (f"project:{PID}",),
    )[0]
    assert resubmitted < opinions
    panel = text(org.get(f"/audit/projects/{PID}/as-of/review?position={opinions}", htmx=True))
    assert "共 2 个版本" in panel and "<form" not in panel and "提交审核结论" not in panel
    for query, status in (("", 400), ("?position=999999", 400), ("?position=x", 400)):
        assert org.get(f"/audit/projects/{PID}/as-of/review{query}").status_code == status
    assert org.get(f"/audit/projects/{PID}/as-of/nothing?position=3").status_code == 404
    assert (
        as_user("s-mb-jd")
        .get(f"/audit/projects/{PID}/as-of/review?position={opinions}")
        .status_code
        == 403
    )
