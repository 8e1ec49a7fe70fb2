"""Review and argumentation through HTTP: the queue, decisions, bulk with dry run, diffs."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow import db, diff, log

DEMO_PASSWORD = "demo12345"

PID = "minbei-2025.mb-jd-t.branch_feature"
OTHER = "minbei-2025.mb-jd-s.branch_feature"


@pytest.fixture
def submitted(seeded):
    return seeded("submitted")


def state(pid):
    return db.fetchone("SELECT state FROM project WHERE id = ?", (pid,))[0]


def panel_version(browser, pid):
    html = browser.get(f"/projects/{pid}/review-panel", htmx=True).get_data(as_text=True)
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def test_queue_lists_projects_waiting_for_the_organizer(submitted, as_user):
    org = as_user("org")
    page = org.get("/review").get_data(as_text=True)
    assert "工匠党员工作室" in page and "审核论证" in page
    waiting = db.fetchone("SELECT COUNT(*) FROM project WHERE state = 'under_review'")[0]
    assert page.count('name="pid"') == waiting
    only = org.get("/review?campaign=ncut-info-2023", htmx=True).get_data(as_text=True)
    assert "工匠党员工作室" not in only and "<html" not in only


def test_return_resubmit_diff_and_approve(submitted, as_user):
    org = as_user("org")
    version = panel_version(org, PID)
    before = log.head()
    missing = org.post(
        f"/projects/{PID}/review", {"action": "return", "text": " ", "version": version}, htmx=True
    )
    assert missing.status_code == 400 and "必须写明原因" in missing.get_data(as_text=True)
    assert log.head() == before
    reason = "请把年度工作目标写成可考核的量化指标。"
    done = org.post(
        f"/projects/{PID}/review",
        {"action": "return", "text": reason, "version": version},
        htmx=True,
    )
    assert done.status_code == 204 and state(PID) == "returned"

    applicant = as_user("a-mb-jd-t")
    assert reason in applicant.get(f"/projects/{PID}").get_data(as_text=True)
    form = applicant.get("/campaigns/minbei-2025/apply/branch_feature").get_data(as_text=True)
    values = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', form))
    values.update(re.findall(r'<textarea[^>]*name="([a-z_]+)"[^>]*>\n?([^<]*)</textarea>', form))
    values["plan_annual"] = "2025 年完成 4 次主题党日、2 篇新闻稿；2026 年形成 1 个典型案例。"
    response = applicant.post("/campaigns/minbei-2025/apply/branch_feature", values)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert state(PID) == "submitted"

    # both sides see what changed, character by character for Chinese
    for who in (applicant, org):
        page = who.get(f"/projects/{PID}/diff?a=1&b=2").get_data(as_text=True)
        assert "<ins>" in page and "<del>" in page and "（未修改）" in page
        assert "典型案例" in page

    # the chain of unit opinions starts again before the organizer sees it
    for secretary in ("s-mb-jd-t", "s-mb-jd"):
        b = as_user(secretary)
        html = b.get(f"/projects/{PID}").get_data(as_text=True)
        v = re.search(r'name="version"[^>]*value="(\d+)"', html).group(1)
        r = b.post(
            f"/projects/{PID}/opinion",
            {
                "decision": "agree",
                "text": "同意。",
                "signer": "书记",
                "signed_on": "2025-06-20",
                "version": v,
            },
            htmx=True,
        )
        assert r.status_code == 204, r.get_data(as_text=True)
    assert state(PID) == "under_review"
    version = panel_version(org, PID)
    assert (
        org.post(
            f"/projects/{PID}/review",
            {"action": "approve", "text": "", "version": version},
            htmx=True,
        ).status_code
        == 204
    )
    assert state(PID) == "approved"
    assert "立项" in applicant.get(f"/projects/{PID}/review-panel", htmx=True).get_data(
        as_text=True
    )


def test_reject_needs_a_reason(submitted, as_user):
    org = as_user("org")
    version = panel_version(org, PID)
    before = log.head()
    r = org.post(
        f"/projects/{PID}/review", {"action": "reject", "text": "", "version": version}, htmx=True
    )
    assert r.status_code == 400 and log.head() == before
    r = org.post(
        f"/projects/{PID}/review",
        {"action": "reject", "text": "与本单位中心工作结合不够紧密。", "version": version},
        htmx=True,
    )
    assert r.status_code == 204 and state(PID) == "rejected"


def test_second_reviewer_gets_409_with_the_new_state(submitted, as_user):
    first, second = as_user("org"), as_user("org")
    version = panel_version(first, PID)
    assert panel_version(second, PID) == version
    assert (
        first.post(
            f"/projects/{PID}/review",
            {"action": "approve", "text": "", "version": version},
            htmx=True,
        ).status_code
        == 204
    )
    before = log.head()
    late = second.post(
        f"/projects/{PID}/review",
        {"action": "return", "text": "再改改", "version": version},
        htmx=True,
    )
    body = late.get_data(as_text=True)
    assert late.status_code == 409 and "已立项" in body and "<html" not in body
    assert log.head() == before and state(PID) == "approved"


def test_bulk_dry_run_changes_nothing_then_runs(submitted, as_user):
    org = as_user("org")
    returned = "minbei-2025.mb-jg.dept_brand"  # still waiting for its opinion: skipped
    before = log.head()
    plan = org.post(
        "/review/bulk", {"pid": [PID, OTHER, returned], "action": "approve", "text": ""}, htmx=True
    )
    text = plan.get_data(as_text=True)
    assert plan.status_code == 200 and "预演" in text and "跳过" in text
    assert log.head() == before and state(PID) == "under_review"
    run = org.post(
        "/review/bulk",
        {"pid": [PID, OTHER], "action": "approve", "text": "", "confirm": "1"},
        htmx=True,
    )
    assert run.status_code == 200 and "已执行" in run.get_data(as_text=True)
    assert state(PID) == state(OTHER) == "approved"
    assert log.head()[0] == before[0] + 2


def test_bulk_return_requires_reason(submitted, as_user):
    org = as_user("org")
    before = log.head()
    r = org.post(
        "/review/bulk", {"pid": [PID], "action": "return", "text": "", "confirm": "1"}, htmx=True
    )
    assert r.status_code == 400 and log.head() == before


@pytest.mark.parametrize("username", ["a-mb-jd-t", "s-mb-jd", "auditor", "reviewer1"])
def test_only_the_organizer_reviews(submitted, as_user, username):
    b = as_user(username)
    before = log.head()
    assert b.get("/review").status_code == 403
    assert (
        b.post(
            f"/projects/{PID}/review", {"action": "approve", "version": "1"}, htmx=True
        ).status_code
        == 403
    )
    assert b.post("/review/bulk", {"pid": [PID], "action": "approve"}, htmx=True).status_code == 403
    assert log.head() == before


def test_diff_is_scoped_to_the_unit(submitted, as_user):
    assert as_user("a-mb-jd-s").get(f"/projects/{PID}/diff").status_code == 403
    assert as_user("a-mb-jd-t").get(f"/projects/{PID}/diff").status_code == 200
    assert as_user("a-mb-jd-t").get(f"/projects/{PID}/diff?a=1&b=9").status_code == 400


def test_diff_compares_chinese_by_character_and_latin_by_word():
    segments = diff.segments("党员参与率达到90%", "党员覆盖率达到95%")
    assert ("del", "参与") in segments and ("ins", "覆盖") in segments
    words = diff.segments("build the brand", "build a brand")
    assert ("del", "the") in words and ("ins", "a") in words


@given(st.text(max_size=60), st.text(max_size=60))
def test_diff_reassembles_both_texts(old, new):
    segments = diff.segments(old, new)
    assert "".join(t for op, t in segments if op != "ins") == old
    assert "".join(t for op, t in segments if op != "del") == new
