"""Scoring through HTTP: the versioned rubric, rounds and panels (one by one, CSV with a dry run,
balanced proposal), exclusions and declared conflicts, the reviewer's sheet with its running
total, drafts, submissions and revisions, the organizer's results with the ranking and a chart,
exports, and every refusal (log unchanged). Rebuild equals incremental on generated histories."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow import db, log, projections
from workflow.commands import assignment, scoring
from workflow.commands.accounts import get_account

DEMO_PASSWORD = "demo12345"
SLUG = "minbei-2025"
PID = "minbei-2025.mb-jd-t.branch_feature"  # a branch under 机电工程系党总支 (mb-jd)
OTHER = "minbei-2025.mb-xx-s.branch_feature"
FULL = {"P1.1": "8", "P1.2": "好", "P2": "1", "P3": "12", "P4": "25", "P5": "较好", "B1": "",
        "V1": ""}  # fmt: skip  # 8 + 10 + 9.5 + 6 + 25 + 24 = 82.5


@pytest.fixture
def approved(seeded):
    return seeded("approved")


def panel_version(browser, slug=SLUG, round_="midterm"):
    html = browser.get(f"/campaigns/{slug}/scoring/{round_}").get_data(as_text=True)
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def open_round(org, round_="midterm"):
    response = org.post(f"/campaigns/{SLUG}/scoring/{round_}/open",
                        {"version": panel_version(org, round_=round_)}, htmx=True)  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response


def assign(org, pid, reviewer, round_="midterm"):
    return org.post(f"/campaigns/{SLUG}/scoring/{round_}/assign",
                    {"project": pid, "reviewer": reviewer,
                     "version": panel_version(org, round_=round_)}, htmx=True)  # fmt: skip


def form_state(browser, pid=PID, round_="midterm"):
    html = browser.get(f"/projects/{pid}/scoring/{round_}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    rubric_version = re.search(r'name="rubric_version" value="(\d+)"', html).group(1)
    return html, {"version": version, "rubric_version": rubric_version}


def score_form(values, comments=None, **hidden):
    data = {f"in-{k}": v for k, v in values.items()}
    data.update({f"note-{k}": v for k, v in (comments or {}).items()})
    data.update(hidden)
    return data


def submit(browser, values, pid=PID, round_="midterm", comments=None):
    _html, hidden = form_state(browser, pid, round_)
    return browser.post(f"/projects/{pid}/scoring/{round_}/submit",
                        score_form(values, comments, **hidden), htmx=True)  # fmt: skip


def state(pid):
    return db.fetchone("SELECT state FROM project WHERE id = ?", (pid,))[0]


# --- The rubric ----------------------------------------------------------------------------


def rubric_version(browser):
    html = browser.get(f"/campaigns/{SLUG}/rubric").get_data(as_text=True)
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def test_edit_a_criterion_bumps_the_version_with_a_reason(approved, as_user):
    org = as_user("org")
    page = org.get(f"/campaigns/{SLUG}/rubric").get_data(as_text=True)
    assert "载体与活动" in page and "第 1 版" in page and "一票否决" in page
    form = org.get(f"/campaigns/{SLUG}/rubric/P4/edit", htmx=True).get_data(as_text=True)
    assert 'name="guidance"' in form and "<html" not in form
    values = {"name": "载体与活动（知行合一）", "mode": "range", "max": "30",
              "guidance": "活动吸引力、感染力强，党员参与面广。", "evidence": "活动记录、照片"}  # fmt: skip
    before = log.head()
    missing = org.post(f"/campaigns/{SLUG}/rubric/P4",
                       {**values, "reason": " ", "version": rubric_version(org)}, htmx=True)  # fmt: skip
    assert missing.status_code == 400 and "请填写修改原因" in missing.get_data(as_text=True)
    bad = org.post(f"/campaigns/{SLUG}/rubric/P4",
                   {**values, "max": "三十", "reason": "调整", "version": rubric_version(org)},
                   htmx=True)  # fmt: skip
    assert bad.status_code == 400 and "不是数字" in bad.get_data(as_text=True)
    levels = org.post(f"/campaigns/{SLUG}/rubric/P4",
                      {**values, "mode": "levels", "reason": "改为等级", "version": rubric_version(org)},
                      htmx=True)  # fmt: skip
    assert levels.status_code == 400 and "等级评定需要列出等级" in levels.get_data(as_text=True)
    assert log.head() == before
    done = org.post(f"/campaigns/{SLUG}/rubric/P4",
                    {**values, "reason": "按党委意见细化指标名称", "version": rubric_version(org)},
                    htmx=True)  # fmt: skip
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and "第 2 版" in body and "载体与活动（知行合一）" in body
    event = log.get(log.head()[0])
    assert event.type == "RubricChanged" and event.payload["version"] == 2
    assert event.payload["reason"] == "按党委意见细化指标名称"
    assert scoring.current_rubric(SLUG)["version"] == 2
    # the template's version stays in the history
    assert scoring.rubric_at(SLUG, 1)["criteria"][3]["name"] == "载体与活动"


def test_import_and_export_all_or_nothing(approved, as_user):
    org = as_user("org")
    exported = org.get(f"/campaigns/{SLUG}/rubric.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True).lstrip("\ufeff")
    assert text.startswith("code,parent,name,mode,max")
    before = log.head()
    broken = text.replace("P4,,载体与活动,range,30", "P4,,载体与活动,range,三十")
    response = org.post(f"/campaigns/{SLUG}/rubric/import",
                        {"text": broken, "format": "csv", "reason": "导入达标创星细则",
                         "version": rubric_version(org)}, htmx=True)  # fmt: skip
    assert response.status_code == 400
    assert "导入失败，未做任何修改" in response.get_data(as_text=True)
    assert log.head() == before and scoring.current_rubric(SLUG)["version"] == 1
    changed = text.replace("P4,,载体与活动,range,30", "P4,,载体与活动,range,25").replace(
        "P5,,创建成效", "P5,,创建成效与示范"
    )
    changed += "P6,,经验推广,range,5,,,,,,形成可复制经验,经验材料\n"
    done = org.post(f"/campaigns/{SLUG}/rubric/import",
                    {"text": changed, "format": "csv", "reason": "导入达标创星细则",
                     "version": rubric_version(org)}, htmx=True)  # fmt: skip
    assert done.status_code == 200, done.get_data(as_text=True)[:800]
    current = scoring.current_rubric(SLUG)
    assert current["version"] == 2 and current["criteria"][-1]["code"] == "P6"
    as_json = org.get(f"/campaigns/{SLUG}/rubric.json").get_data(as_text=True)
    assert '"P6"' in as_json and '"version": 2' in as_json
    bad_json = org.post(f"/campaigns/{SLUG}/rubric/import",
                        {"text": '{"criteria": [{"code": "X", "name": "无满分"}]}',
                         "format": "json", "reason": "测试", "version": rubric_version(org)},
                        htmx=True)  # fmt: skip
    assert bad_json.status_code == 400 and "满分" in bad_json.get_data(as_text=True)
    assert scoring.current_rubric(SLUG)["version"] == 2


# --- Rounds and panels ---------------------------------------------------------------------


def test_assignment_one_by_one_with_automatic_exclusion(approved, as_user):
    org = as_user("org")
    page = org.get(f"/campaigns/{SLUG}/scoring/midterm").get_data(as_text=True)
    assert "中期评估" in page and "未开启" in page
    open_round(org)
    assert scoring.round_state(SLUG, "midterm")["state"] == "open"
    before = log.head()
    # reviewer6 belongs to 机电工程系党总支: excluded from its branches' projects
    refused = assign(org, PID, "reviewer6")
    assert refused.status_code == 400
    assert "同属机电工程系党总支，自动回避" in refused.get_data(as_text=True)
    # and reviewer7 (信息与设计系教工党支部) from the other branch of 信息与设计系
    refused = assign(org, OTHER, "reviewer7")
    assert refused.status_code == 400 and "自动回避" in refused.get_data(as_text=True)
    not_a_reviewer = assign(org, PID, "a-mb-jd-t")
    assert not_a_reviewer.status_code == 400 and "不是在用的评审专家" in not_a_reviewer.get_data(
        as_text=True
    )
    assert log.head() == before
    done = assign(org, PID, "reviewer1")
    assert done.status_code == 200 and "已分配" in done.get_data(as_text=True)
    twice = assign(org, PID, "reviewer1")
    assert twice.status_code == 400 and "已经分配" in twice.get_data(as_text=True)
    assert assign(org, OTHER, "reviewer6").status_code == 200  # another 党总支: fine


def test_reviewer_sees_exactly_the_projects_assigned(approved, as_user):
    org = as_user("org")
    open_round(org)
    reviewer = as_user("reviewer1")
    assert reviewer.get(f"/projects/{PID}").status_code == 403
    assign(org, PID, "reviewer1")
    assert reviewer.get(f"/projects/{PID}").status_code == 200
    assert reviewer.get(f"/projects/{OTHER}").status_code == 403
    tasks = reviewer.get("/scoring").get_data(as_text=True)
    assert "工匠党员工作室" in tasks and "未评分" in tasks
    panel = reviewer.get(f"/projects/{PID}/scoring", htmx=True).get_data(as_text=True)
    assert "您尚未评分" in panel


def test_csv_bulk_assignment_dry_run_then_confirm(approved, as_user):
    org = as_user("org")
    open_round(org)
    text = ("项目编号,评审专家账号\n"
            f"{PID},reviewer1\n{PID},reviewer6\n{OTHER},reviewer2\n"
            f"minbei-2025.nowhere.branch_feature,reviewer1\n{OTHER},nobody\n{OTHER},reviewer2\n")  # fmt: skip
    before = log.head()
    plan = org.post(f"/campaigns/{SLUG}/scoring/midterm/assign-csv", {"text": text}, htmx=True)
    body = plan.get_data(as_text=True)
    assert plan.status_code == 200 and "预演" in body
    assert "自动回避" in body and "不存在" in body and "账号 nobody 不存在" in body
    assert "已经分配" in body  # the repeated line
    assert "确认分配 2 条" in body
    assert log.head() == before  # a dry run writes nothing
    confirm = dict(re.findall(r'name="(version|confirm)" value="(\d+)"', body))
    pairs = re.findall(r'name="project" value="([^"]+)"><input type="hidden" name="reviewer" '
                       r'value="([^"]+)"', body)  # fmt: skip
    data = {**confirm, "project": [p for p, _ in pairs], "reviewer": [r for _, r in pairs]}
    done = org.post(f"/campaigns/{SLUG}/scoring/midterm/assign-csv", data, htmx=True)
    assert done.status_code == 200, done.get_data(as_text=True)[:500]
    assert set(scoring.panel_of(PID, "midterm")) == {"reviewer1"}
    assert set(scoring.panel_of(OTHER, "midterm")) == {"reviewer2"}
    empty = org.post(f"/campaigns/{SLUG}/scoring/midterm/assign-csv", {"text": ""}, htmx=True)
    assert empty.status_code == 400


def test_balanced_automatic_proposal_respects_conflicts(approved, as_user):
    org = as_user("org")
    open_round(org)
    before = log.head()
    response = org.post(f"/campaigns/{SLUG}/scoring/midterm/auto", {"per_project": "3"},
                        htmx=True)  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "自动分配方案" in body
    assert log.head() == before
    data = dict(re.findall(r'name="(version|confirm)" value="(\d+)"', body))
    pairs = re.findall(r'name="project" value="([^"]+)"><input type="hidden" name="reviewer" '
                       r'value="([^"]+)"', body)  # fmt: skip
    data.update(project=[p for p, _ in pairs], reviewer=[r for _, r in pairs])
    assert org.post(f"/campaigns/{SLUG}/scoring/midterm/auto", data, htmx=True).status_code == 200
    rows = db.fetchall(
        "SELECT project, reviewer FROM panel_assignment WHERE campaign = ? AND round = 'midterm' "
        "AND active = 1",
        (SLUG,),
    )
    projects = {p for p, _ in rows}
    eligible = db.fetchone(
        "SELECT COUNT(*) FROM project WHERE campaign = ? AND state = 'approved'", (SLUG,)
    )[0]
    assert len(projects) == eligible and len(rows) == 3 * eligible
    loads = {}
    for pid, reviewer in rows:
        loads[reviewer] = loads.get(reviewer, 0) + 1
        assert assignment.exclusion_reason(pid, reviewer) is None
    assert max(loads.values()) - min(loads.values()) <= 1
    bad = org.post(f"/campaigns/{SLUG}/scoring/midterm/auto", {"per_project": "0"}, htmx=True)
    assert bad.status_code == 400 and "人数须在" in bad.get_data(as_text=True)


def test_two_organizers_at_once_get_a_conflict(approved, as_user):
    first, second = as_user("org"), as_user("org")
    open_round(first)
    seen = panel_version(second)
    assert assign(first, PID, "reviewer1").status_code == 200
    before = log.head()
    stale = second.post(f"/campaigns/{SLUG}/scoring/midterm/assign",
                        {"project": PID, "reviewer": "reviewer2", "version": seen}, htmx=True)  # fmt: skip
    body = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "已被他人修改" in body
    assert "评审专家 李教授" in body  # the fresh state shows what the other organizer did
    assert log.head() == before


# --- The reviewer's sheet ------------------------------------------------------------------


@pytest.fixture
def panel(approved, as_user):
    """The mid-term round open, reviewer1 and reviewer3 on PID's panel."""
    org = as_user("org")
    open_round(org)
    for reviewer in ("reviewer1", "reviewer3"):
        assert assign(org, PID, reviewer).status_code == 200
    return org


def test_running_total_and_draft(panel, as_user):
    reviewer = as_user("reviewer1")
    html, hidden = form_state(reviewer)
    assert "品牌名称与标识" in html and 'id="running-total"' in html
    partial = reviewer.post(f"/projects/{PID}/scoring/midterm/total",
                            score_form({"P1.1": "8", "P4": "abc"}), htmx=True)  # fmt: skip
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "当前小计" in body and "尚未评分" in body
    assert "不是数字" in body
    complete = reviewer.post(f"/projects/{PID}/scoring/midterm/total", score_form(FULL), htmx=True)
    assert "总分：82.5" in complete.get_data(as_text=True)
    before = log.head()
    saved = reviewer.post(f"/projects/{PID}/scoring/midterm/draft",
                          score_form({"P1.1": "7.5"}, {"P1.1": "名称还可更凝练"}), htmx=True)  # fmt: skip
    assert saved.status_code == 200 and "草稿已保存" in saved.get_data(as_text=True)
    assert log.head() == before  # drafts live outside the log
    again, _ = form_state(reviewer)
    assert 'value="7.5"' in again and "名称还可更凝练" in again and "已载入您保存的草稿" in again


@pytest.mark.parametrize(
    "values,message",
    [
        ({**FULL, "P4": "31"}, "须在 0 到 30 之间"),
        ({**FULL, "P1.1": "-1"}, "须在 0 到 10 之间"),
        ({**FULL, "P4": "很好"}, "不是数字"),
        ({**FULL, "P3": "2.5"}, "整数次数/篇数"),
        ({**FULL, "P5": "极好"}, "须选择一个等级"),
        ({**FULL, "P2": ""}, "尚未评分"),
    ],
)
def test_bad_scores_are_refused(panel, as_user, values, message):
    reviewer = as_user("reviewer1")
    before = log.head()
    response = submit(reviewer, values)
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and message in body, body[:600]
    assert "评分未提交" in body
    assert log.head() == before


def test_not_assigned_or_in_conflict_cannot_score(panel, as_user):
    stranger = as_user("reviewer2")
    before = log.head()
    response = stranger.post(f"/projects/{PID}/scoring/midterm/submit",
                             score_form(FULL, version="0", rubric_version="1"), htmx=True)  # fmt: skip
    assert response.status_code == 403 and "没有权限" in response.get_data(as_text=True)
    assert log.head() == before
    reviewer = as_user("reviewer3")
    _html, hidden = form_state(reviewer)
    declared = reviewer.post(f"/projects/{PID}/conflict", {"reason": "本人曾任该支部书记"},
                             htmx=True)  # fmt: skip
    assert declared.status_code == 200 and "已申报回避" in declared.get_data(as_text=True)
    event = log.get(log.head()[0])
    assert event.type == "ConflictDeclared" and event.payload["reviewer"] == "reviewer3"
    assert "reviewer3" not in scoring.panel_of(PID, "midterm")
    before = log.head()
    response = reviewer.post(f"/projects/{PID}/scoring/midterm/submit",
                             score_form(FULL, **hidden), htmx=True)  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and "利益冲突" in body
    assert log.head() == before
    # the organizer cannot put them back on it either
    org = as_user("org")
    again = assign(org, PID, "reviewer3")
    assert again.status_code == 400 and "已申报利益冲突" in again.get_data(as_text=True)


def test_others_scores_only_after_submitting_and_revisions(panel, as_user):
    first, second = as_user("reviewer1"), as_user("reviewer3")
    assert submit(second, {**FULL, "P4": "28"}, comments={"P4": "活动扎实"}).status_code == 200
    html, _ = form_state(first)
    assert "提交自己的评分后，才能看到其他评审专家的评分" in html
    assert "85.5" not in html and "活动扎实" not in html
    response = submit(first, FULL, comments={"P1.1": "名称简洁"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "评分已提交" in body
    assert "专家 A" in body and "85.5" in body and "活动扎实" in body
    assert "刘主任" not in body  # another reviewer's identity is the organizer's to see
    event = log.get(log.head()[0])
    assert event.type == "ScoreSubmitted" and event.payload["total"] == "82.5"
    assert event.payload["revision"] == 2 and event.payload["rubric_version"] == 1
    # a revision is another event on the same stream
    revised = submit(first, {**FULL, "P4": "26"})
    assert revised.status_code == 200 and "已修改 1 次" in revised.get_data(as_text=True)
    stream = scoring.score_stream(PID, "midterm", "reviewer1")
    assert [e.payload["total"] for e in log.read_stream(stream)] == ["82.5", "83.5"]
    # a stale tab (the version before the revision) is a conflict, not a lost write
    stale = first.post(f"/projects/{PID}/scoring/midterm/submit",
                       score_form(FULL, version="1", rubric_version="1"), htmx=True)  # fmt: skip
    assert stale.status_code == 409
    assert len(log.read_stream(stream)) == 2


def test_a_changed_rubric_is_named_before_a_score_is_taken(panel, as_user):
    org, reviewer = as_user("org"), as_user("reviewer1")
    _html, hidden = form_state(reviewer)
    org.post(f"/campaigns/{SLUG}/rubric/P4",
             {"name": "载体与活动", "mode": "range", "max": "30", "guidance": "新的说明",
              "reason": "补充说明", "version": rubric_version(org)}, htmx=True)  # fmt: skip
    before = log.head()
    response = reviewer.post(f"/projects/{PID}/scoring/midterm/submit",
                             score_form(FULL, **hidden), htmx=True)  # fmt: skip
    assert response.status_code == 400 and "已更新为第 2 版" in response.get_data(as_text=True)
    assert log.head() == before
    assert submit(reviewer, FULL).status_code == 200
    assert log.get(log.head()[0]).payload["rubric_version"] == 2


# --- Results, closing, exports -------------------------------------------------------------


def test_organizer_sees_scores_spread_missing_ranking_and_closes(panel, as_user):
    org = as_user("org")
    assert assign(org, PID, "reviewer4").status_code == 200
    assert submit(as_user("reviewer1"), FULL).status_code == 200
    assert submit(as_user("reviewer3"), {**FULL, "P4": "28"}).status_code == 200
    sheet = org.get(f"/projects/{PID}/scoring/midterm").get_data(as_text=True)
    assert "评审专家 李教授" in sheet and "评审专家 刘主任" in sheet
    assert "汇总得分：84" in sheet and "最低 82.5，最高 85.5，标准差 1.5" in sheet
    assert "尚未评分" in sheet and "评审专家 黄老师" in sheet
    auditor = as_user("auditor").get(f"/projects/{PID}/scoring/midterm")
    assert auditor.status_code == 200 and "评审专家 李教授" in auditor.get_data(as_text=True)
    unit = as_user("a-mb-jd-t")
    assert unit.get(f"/projects/{PID}/scoring/midterm").status_code == 403
    assert "84" not in unit.get(f"/projects/{PID}/scoring", htmx=True).get_data(as_text=True)
    page = org.get(f"/campaigns/{SLUG}/scoring/midterm").get_data(as_text=True)
    assert "<svg" in page and "汇总得分" in page and "工匠党员工作室" in page
    # close: a preview first, then for real
    before = log.head()
    preview = org.post(f"/campaigns/{SLUG}/scoring/midterm/close",
                       {"version": panel_version(org)}, htmx=True)  # fmt: skip
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "预览" in body and "尚无评分，不变" in body
    assert log.head() == before
    version = re.search(r'name="version" value="(\d+)"', body).group(1)
    done = org.post(f"/campaigns/{SLUG}/scoring/midterm/close", {"version": version, "confirm": "1"},
                    htmx=True)  # fmt: skip
    assert done.status_code == 200 and "已结束" in done.get_data(as_text=True)
    assert state(PID) == "midterm_scored" and state(OTHER) == "approved"
    result = db.fetchone("SELECT score, reviewers, grade FROM round_result WHERE project = ?",
                         (PID,))  # fmt: skip
    assert result == ("84", 2, "良好")
    # after the close nobody scores or revises
    before = log.head()
    late = submit(as_user("reviewer1"), {**FULL, "P4": "30"})
    assert late.status_code == 400 and "已经结束" in late.get_data(as_text=True)
    assert log.head() == before
    drafts = db.fetchall("SELECT * FROM score_draft ORDER BY project, round, reviewer")
    draft = as_user("reviewer3").post(f"/projects/{PID}/scoring/midterm/draft",
                                      score_form({"P1.1": "6"}), htmx=True)  # fmt: skip
    assert draft.status_code in (400, 403) and "已经结束" in draft.get_data(as_text=True)
    # a closed round cannot be reopened
    reopen = org.post(f"/campaigns/{SLUG}/scoring/midterm/open",
                      {"version": panel_version(org), "note": "再评一次"}, htmx=True)  # fmt: skip
    assert reopen.status_code == 400 and "已经结束，不能重新开启" in reopen.get_data(as_text=True)
    assert log.head() == before
    assert db.fetchall("SELECT * FROM score_draft ORDER BY project, round, reviewer") == drafts


def test_score_sheets_export_to_xlsx_and_csv(panel, as_user):
    from openpyxl import load_workbook

    assert submit(as_user("reviewer1"), FULL, comments={"P4": "=危险公式"}).status_code == 200
    org = as_user("org")
    response = org.get(f"/campaigns/{SLUG}/scoring/midterm/scores.xlsx")
    assert response.status_code == 200 and "spreadsheetml" in response.mimetype
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["汇总", "评分明细"]
    header = [c.value for c in book["评分明细"][1]]
    assert header[:5] == ["项目编号", "单位", "品牌名称", "创建类型", "评审专家"]
    rows = list(book["评分明细"].iter_rows(min_row=2, values_only=True))
    p4 = next(r for r in rows if r[8] == "P4")
    assert p4[4] == "评审专家 李教授" and p4[11] == 25 and p4[12] == "'=危险公式"
    summary = [r for r in book["汇总"].iter_rows(min_row=3, values_only=True) if r[5] == PID]
    assert summary and summary[0][9] == 82.5
    text = org.get(f"/campaigns/{SLUG}/scoring/midterm/scores.csv").get_data(as_text=True)
    assert text.startswith("\ufeff项目编号")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert any(line[8] == "P1.1" and line[10] == "8" for line in lines[1:])


def test_trimmed_mean_from_five_reviewers(approved, as_user):
    org = as_user("org")
    open_round(org)
    reviewers = ["reviewer1", "reviewer2", "reviewer3", "reviewer4", "reviewer5"]
    for reviewer in reviewers:
        assert assign(org, PID, reviewer).status_code == 200
    for reviewer, p4 in zip(reviewers, ["10", "20", "25", "28", "30"]):
        assert submit(as_user(reviewer), {**FULL, "P4": p4}).status_code == 200
    config = scoring.campaigns.get(SLUG)
    result = scoring.project_result(config, PID, "midterm")
    # totals 67.5 77.5 82.5 85.5 87.5: drop 67.5 and 87.5
    assert result["trimmed"] and str(result["aggregate"]) == "81.83"
    assert result["spread"]["min"] == 67.5 and result["spread"]["max"] == 87.5


def test_round_opening_is_refused_before_its_stage(approved):
    from workflow.deadlines import parse_local
    from workflow.errors import DomainError

    org = get_account("org")
    with pytest.raises(DomainError, match="尚未开始"):
        scoring.open_round(org, SLUG, "midterm", "", log.stream_version(scoring.panel_stream(SLUG)),
                           now=parse_local("2025-06-20 09:00"))  # fmt: skip
    with pytest.raises(scoring.NotFound):
        scoring.round_stage(scoring.campaigns.get("ncut-info-2023"), "midterm")


# --- Rebuild equals incremental ------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), st.integers(0, 16), st.integers(0, 6)),
        st.tuples(st.just("unassign"), st.integers(0, 16), st.integers(0, 6)),
        st.tuples(st.just("conflict"), st.integers(0, 16), st.integers(0, 6)),
        st.tuples(
            st.just("score"),
            st.integers(0, 16),
            st.integers(0, 6),
            st.sampled_from(["0", "10", "15.5", "30", "31", "x"]),
        ),  # fmt: skip
        st.tuples(st.just("rubric"), st.sampled_from(["20", "25", "30", "bad"])),
        st.tuples(st.just("close"), st.sampled_from(["midterm", "final"])),
    ),
    min_size=3,
    max_size=15,
)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(history=ops)
def test_rebuild_equals_incremental_over_scoring_tables(approved, history):
    from workflow.errors import DomainError

    org = get_account("org")
    pids = [r[0] for r in db.fetchall("SELECT id FROM project WHERE campaign = ? ORDER BY id",
                                      (SLUG,))]  # fmt: skip
    reviewers = [p["username"] for p in assignment.pool(scoring.campaigns.get(SLUG))]
    for round_ in ("midterm", "final"):
        if scoring.round_state(SLUG, round_)["state"] == "pending":
            scoring.open_round(
                org, SLUG, round_, "", log.stream_version(scoring.panel_stream(SLUG))
            )
    for op in history:
        kind, *args = op
        version = log.stream_version(scoring.panel_stream(SLUG))
        round_ = "midterm" if len(args) > 1 and args[1] % 2 else "final"
        try:
            if kind == "assign":
                assignment.assign(org, SLUG, round_, pids[args[0] % len(pids)],
                                  reviewers[args[1] % len(reviewers)], version)  # fmt: skip
            elif kind == "unassign":
                assignment.unassign(org, SLUG, round_, pids[args[0] % len(pids)],
                                    reviewers[args[1] % len(reviewers)], "调整", version)  # fmt: skip
            elif kind == "conflict":
                assignment.declare_conflict(org, pids[args[0] % len(pids)],
                                            reviewers[args[1] % len(reviewers)], "亲属关系", version)  # fmt: skip
            elif kind == "score":
                pid, reviewer = pids[args[0] % len(pids)], reviewers[args[1] % len(reviewers)]
                r = scoring.current_rubric(SLUG)
                scoring.submit(get_account(reviewer), pid, round_, {**FULL, "P4": args[2]}, {},
                               r["version"],
                               log.stream_version(scoring.score_stream(pid, round_, reviewer)))  # fmt: skip
            elif kind == "rubric":
                scoring.edit_criterion(org, SLUG, "P4", {"name": "载体与活动", "mode": "range",
                                       "max": args[0]}, "调整满分",
                                       log.stream_version(scoring.campaigns.stream(SLUG)))  # fmt: skip
            elif kind == "close":
                scoring.close_round(org, SLUG, args[0], version)
        except DomainError:
            pass
    before = projections.snapshot()
    projections.rebuild()
    assert projections.snapshot() == before


def test_a_panel_reviewer_reads_and_writes_the_internal_thread(panel, as_user):
    reviewer = as_user("reviewer1")
    thread = reviewer.get(f"/projects/{PID}/comments", htmx=True)
    assert thread.status_code == 200
    posted = reviewer.post(f"/projects/{PID}/comments",
                           {"body": "请补充主题党日的签到表。", "visibility": "internal"}, htmx=True)  # fmt: skip
    assert posted.status_code == 200, posted.get_data(as_text=True)[:400]
    assert "请补充主题党日的签到表" in reviewer.get(
        f"/projects/{PID}/comments", htmx=True
    ).get_data(as_text=True)
    assert as_user("reviewer2").get(f"/projects/{PID}/comments", htmx=True).status_code == 403
