"""Certification through HTTP: proposals from the ranking within the quotas, the 公示 with its
objections, finalising, revoking, who sees what, the checkpoint hook, and the demo driven
`--through midterm|final|certified`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from workflow import checkpoint, db, log, projections
from workflow import demo as demo_data
from workflow.commands import campaigns, certification, scoring
from workflow.commands.accounts import get_account
from workflow.errors import DomainError

DEMO_PASSWORD = "demo12345"
SLUG = "minbei-2025"
LOCAL = "%Y-%m-%dT%H:%M"


@pytest.fixture
def scored(seeded):
    """Both campaigns driven through the final round: minbei's projects are final_scored."""
    return seeded("final")


def state(pid):
    return db.fetchone("SELECT state FROM project WHERE id = ?", (pid,))[0]


def ranked(category):
    config = campaigns.get(SLUG)
    return [
        r["id"] for r in scoring.ranking(config, "final")[category] if r["aggregate"] is not None
    ]


def version(browser):
    html = browser.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def propose(browser, outcomes: dict, note=""):
    data = {f"outcome-{pid}": o for pid, o in outcomes.items()}
    return browser.post(f"/campaigns/{SLUG}/certification/propose",
                        {**data, "note": note, "version": version(browser)}, htmx=True)  # fmt: skip


def local(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime(LOCAL)


def propose_all(browser):
    suggested = certification.suggest(campaigns.get(SLUG))
    response = propose(browser, suggested, "按排名提出建议")
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    return suggested


def start_publicity(browser, starts: datetime, ends: datetime):
    return browser.post(f"/campaigns/{SLUG}/certification/publicity",
                        {"starts": local(starts), "ends": local(ends),
                         "version": version(browser)}, htmx=True)  # fmt: skip


def test_quota_is_enforced_and_the_remaining_places_shown(scored, as_user):
    org = as_user("org")
    page = org.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    assert "认定名额" in page and "一系一品牌" in page and "评估认定排名" in page
    assert "<html" in page and "按排名和名额填入建议" in page
    dept = ranked("dept_brand")
    assert len(dept) >= 3
    done = propose(org, {dept[0]: "excellent", dept[1]: "excellent"})
    assert done.status_code == 200 and "认定建议已保存" in done.get_data(as_text=True)
    status = certification.quota_status(campaigns.get(SLUG))["dept_brand"]
    assert status["proposed"] == 2 and status["remaining"] == 0
    before = log.head()
    third = propose(org, {dept[2]: "excellent"})
    body = third.get_data(as_text=True)
    assert third.status_code == 400
    assert "“一系一品牌”优秀名额为 2 个" in body and "超出 1 个" in body
    assert log.head() == before
    # the rejected batch is all or nothing: the passed ones in it were not saved either
    mixed = propose(org, {dept[2]: "excellent", dept[3]: "passed"} if len(dept) > 3 else
                    {dept[2]: "excellent"})  # fmt: skip
    assert mixed.status_code == 400 and log.head() == before
    # lowering one frees a place for another
    assert propose(org, {dept[1]: "passed", dept[2]: "excellent"}).status_code == 200
    assert certification.proposals(SLUG)[dept[2]]["outcome"] == "excellent"


def test_publicity_objections_and_finalising(scored, as_user):
    org = as_user("org")
    suggested = propose_all(org)
    now = datetime.now(UTC)
    response = start_publicity(org, now - timedelta(days=4), now + timedelta(days=1))
    assert response.status_code == 200 and "公示已开始" in response.get_data(as_text=True)
    under = [pid for pid in suggested]
    assert all(state(pid) == "proposed" for pid in under)
    excellent = sorted(pid for pid, o in suggested.items() if o == "excellent")
    target = excellent[0]
    # what a unit member sees during the 公示: the list, no outcomes, no scores
    member = as_user("a-mb-jg-s")
    notice = member.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    assert "第 1 轮公示" in notice and "提出异议" in notice
    assert "优秀" not in notice and "汇总得分" not in notice and "验收通过" not in notice
    before = log.head()
    empty = member.post(f"/campaigns/{SLUG}/certification/objections", {"text": " "}, htmx=True)
    assert empty.status_code == 400 and "请写明异议" in empty.get_data(as_text=True)
    assert log.head() == before
    lodged = member.post(f"/campaigns/{SLUG}/certification/objections",
                         {"project": target, "text": "该项目的宣传报道多为系部平台，请核实。"},
                         htmx=True)  # fmt: skip
    assert lodged.status_code == 200 and "异议已提交" in lodged.get_data(as_text=True)
    objection = certification.objections(SLUG)[0]
    assert objection["lodged_by"] == "a-mb-jg-s" and objection["project"] == target
    # the organizer records one received by phone, naming who raised it
    by_phone = org.post(f"/campaigns/{SLUG}/certification/objections",
                        {"text": "电话反映：整体名单无异议，仅询问公示期限。",
                         "on_behalf_of": "退休教师 张老师"}, htmx=True)  # fmt: skip
    assert by_phone.status_code == 200
    # finalising while the 公示 runs is refused
    before = log.head()
    early = org.post(f"/campaigns/{SLUG}/certification/finalise", {"version": version(org)},
                     htmx=True)  # fmt: skip
    assert early.status_code == 400 and "公示期间不能确定认定结果" in early.get_data(as_text=True)
    assert log.head() == before
    # after the end, still refused with an objection unanswered
    after_end = now + timedelta(days=1, hours=2)
    org_actor = get_account("org")
    with pytest.raises(DomainError, match="尚有 2 条异议未核实答复"):
        certification.finalise(org_actor, SLUG, log.stream_version(certification.stream(SLUG)),
                               now=after_end)  # fmt: skip
    assert log.head() == before
    page = org.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    assert "退休教师 张老师" in page and "由 组织部 王老师 代为登记" in page
    for o in certification.objections(SLUG):
        answered = org.post(f"/campaigns/{SLUG}/certification/objections/answer",
                            {"objection": o["id"], "verification": "核对原始链接与发布平台。",
                             "answer": "经核实，学院及以上平台报道符合要求，维持认定建议。",
                             "version": version(org)}, htmx=True)  # fmt: skip
        assert answered.status_code == 200, answered.get_data(as_text=True)[:600]
    again = org.post(f"/campaigns/{SLUG}/certification/objections/answer",
                     {"objection": objection["id"], "verification": "x", "answer": "y",
                      "version": version(org)}, htmx=True)  # fmt: skip
    assert again.status_code == 400 and "已经答复" in again.get_data(as_text=True)
    mine = member.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    assert "维持认定建议" in mine and "退休教师" not in mine  # only their own objection
    written = certification.finalise(org_actor, SLUG,
                                     log.stream_version(certification.stream(SLUG)), now=after_end)  # fmt: skip
    assert written[0].type == "PublicityConcluded"
    expected = {"excellent": "certified", "passed": "passed", "not_passed": "not_passed"}
    assert all(state(pid) == expected[o] for pid, o in suggested.items())
    status = certification.quota_status(campaigns.get(SLUG))
    assert status["dept_brand"]["certified"] == 2 and status["branch_feature"]["certified"] == 7


def test_units_see_results_only_when_final(scored, as_user):
    org = as_user("org")
    suggested = propose_all(org)
    dept = ranked("dept_brand")
    mine = dept[0]  # the unit of its secretary below
    unit = db.fetchone("SELECT unit FROM project WHERE id = ?", (mine,))[0]
    secretary = as_user(f"s-{unit}")
    panel = secretary.get(f"/projects/{mine}/scoring", htmx=True).get_data(as_text=True)
    assert "正式确定后" in panel and "分" not in panel.replace("评分", "")
    other = next(pid for pid in dept if pid != mine)
    assert secretary.get(f"/projects/{other}/scoring", htmx=True).status_code == 403
    assert secretary.get(f"/projects/{mine}/scoring/final").status_code == 403
    now = datetime.now(UTC)
    start_publicity(org, now - timedelta(days=6), now - timedelta(hours=1))
    panel = secretary.get(f"/projects/{mine}/scoring", htmx=True).get_data(as_text=True)
    assert "优秀" not in panel and "认定结果：" not in panel
    done = org.post(f"/campaigns/{SLUG}/certification/finalise", {"version": version(org)},
                    htmx=True)  # fmt: skip
    assert done.status_code == 200 and "认定结果已确定" in done.get_data(as_text=True)
    panel = secretary.get(f"/projects/{mine}/scoring", htmx=True).get_data(as_text=True)
    assert f"认定结果：<strong>{certification.OUTCOMES[suggested[mine]]}</strong>" in panel
    assert "评估认定：" in panel and "评审专家" not in panel
    public = secretary.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    assert "认定为优秀的项目" in public and "汇总得分" not in public


def test_revoking_needs_a_reason_and_frees_the_place(scored, as_user):
    org = as_user("org")
    suggested = propose_all(org)
    org_actor = get_account("org")
    now = datetime.now(UTC)
    certification.start_publicity(org_actor, SLUG, "", "",
                                  log.stream_version(certification.stream(SLUG)),
                                  now=now - timedelta(days=6))  # fmt: skip
    certification.finalise(org_actor, SLUG, log.stream_version(certification.stream(SLUG)))
    dept = [pid for pid in ranked("dept_brand")]
    certified = [pid for pid in dept if state(pid) == "certified"]
    passed = [pid for pid in dept if state(pid) == "passed"]
    assert len(certified) == 2 and passed
    target = certified[0]
    html = org.get(f"/projects/{target}/scoring", htmx=True).get_data(as_text=True)
    assert "撤销认定" in html
    v = re.search(r'name="version" value="(\d+)"', html).group(1)
    before = log.head()
    missing = org.post(f"/projects/{target}/revoke", {"reason": "", "version": v}, htmx=True)
    assert missing.status_code == 400 and "请填写撤销原因" in missing.get_data(as_text=True)
    assert log.head() == before
    done = org.post(f"/projects/{target}/revoke",
                    {"reason": "经核查，成果材料存在重复申报情况。", "outcome": "passed", "version": v},
                    htmx=True)  # fmt: skip
    assert done.status_code == 200 and "名额已释放" in done.get_data(as_text=True)
    assert state(target) == "passed"
    assert certification.quota_status(campaigns.get(SLUG))["dept_brand"]["remaining"] == 1
    assert certification.outcome_of(target)["revoked_reason"].startswith("经核查")
    # the freed place can go to another project, through a new 公示
    page = org.get(f"/campaigns/{SLUG}/certification").get_data(as_text=True)
    assert f'name="outcome-{passed[0]}"' in page
    assert propose(org, {passed[0]: "excellent"}).status_code == 200
    assert len(suggested) > 2


def test_finalising_calls_the_checkpoint_hook_when_there_is_one(scored, as_user, monkeypatch):
    calls = []
    monkeypatch.setattr(checkpoint, "auto_checkpoint", lambda config: calls.append(config),
                        raising=False)  # fmt: skip
    org = as_user("org")
    propose_all(org)
    now = datetime.now(UTC)
    start_publicity(org, now - timedelta(days=6), now - timedelta(minutes=5))
    done = org.post(f"/campaigns/{SLUG}/certification/finalise", {"version": version(org)},
                    htmx=True)  # fmt: skip
    assert done.status_code == 200
    assert len(calls) == 1 and "CHECKPOINT_KEY_FILE" in calls[0]
    monkeypatch.delattr(checkpoint, "auto_checkpoint")
    assert certification.after_finalise({}) is False


def test_two_organizers_proposing_at_once(scored, as_user):
    first, second = as_user("org"), as_user("org")
    seen = version(second)
    dept = ranked("dept_brand")
    assert propose(first, {dept[0]: "excellent"}).status_code == 200
    before = log.head()
    stale = second.post(f"/campaigns/{SLUG}/certification/propose",
                        {f"outcome-{dept[1]}": "excellent", "version": seen}, htmx=True)  # fmt: skip
    assert stale.status_code == 409 and "已被他人修改" in stale.get_data(as_text=True)
    assert log.head() == before


def test_demo_through_certified(demo):
    demo_data.seed(list(demo_data.TREES), DEMO_PASSWORD, through="certified", echo=lambda *_: None)
    counts = dict(db.fetchall(
        "SELECT state, COUNT(*) FROM project WHERE campaign = ? GROUP BY state", (SLUG,)))  # fmt: skip
    assert counts["certified"] == 9 and counts.get("not_passed", 0) >= 1
    by_category = dict(db.fetchall(
        "SELECT category, COUNT(*) FROM project WHERE campaign = ? AND state = 'certified' "
        "GROUP BY category", (SLUG,)))  # fmt: skip
    assert by_category == {"dept_brand": 2, "branch_feature": 7}  # the quotas bind
    objections = certification.objections(SLUG)
    assert len(objections) == 1 and objections[0]["answered_at"]
    # panels of 3–5 with an automatic exclusion, a declared conflict, a revision, a gap
    sizes = [n for (n,) in db.fetchall(
        "SELECT COUNT(*) FROM panel_assignment WHERE campaign = ? AND round = 'midterm' "
        "AND active = 1 GROUP BY project", (SLUG,))]  # fmt: skip
    assert min(sizes) >= 3 and max(sizes) == 5
    assert db.fetchone("SELECT COUNT(*) FROM panel_conflict WHERE campaign = ?", (SLUG,))[0] == 1
    assert db.fetchone("SELECT MAX(editions) FROM score WHERE campaign = ?", (SLUG,))[0] == 2
    jd = db.fetchall("SELECT reviewer FROM panel_assignment WHERE project LIKE ?",
                     ("minbei-2025.mb-jd%",))  # fmt: skip
    assert ("reviewer6",) not in jd
    # ncut has no mid-term stage: passed over; its final round and certification ran
    assert scoring.round_state("ncut-info-2023", "midterm")["state"] == "pending"
    ncut = dict(db.fetchall("SELECT state, COUNT(*) FROM project WHERE campaign = ? "
                            "GROUP BY state", ("ncut-info-2023",)))  # fmt: skip
    assert ncut.get("certified") and ncut.get("passed")
    # the history reads like the campaign: the mid-term closed inside its stage window
    closed = scoring.round_state(SLUG, "midterm")["closed_at"]
    assert "2025-07" < closed < "2025-11-10"
    before = projections.snapshot()
    projections.rebuild()
    assert projections.snapshot() == before
    # seeding again is idempotent
    head = log.head()
    demo_data.seed(list(demo_data.TREES), DEMO_PASSWORD, through="certified", echo=lambda *_: None)
    assert log.head() == head


def test_an_upheld_objection_lowers_the_outcome_before_finalising(scored, as_user):
    org = as_user("org")
    suggested = propose_all(org)
    now = datetime.now(UTC)
    start_publicity(org, now - timedelta(days=4), now + timedelta(days=1))
    target = sorted(pid for pid, o in suggested.items() if o == "excellent")[0]
    certification.lodge_objection(get_account("a-mb-ts"), SLUG, target, "活动照片与其他单位重复。")
    oid = certification.objections(SLUG)[0]["id"]
    answered = org.post(f"/campaigns/{SLUG}/certification/objections/answer",
                        {"objection": oid, "verification": "比对原图，两张照片确与他单位重复。",
                         "answer": "异议成立，调整为验收通过。", "upheld": "1",
                         "version": version(org)}, htmx=True)  # fmt: skip
    assert answered.status_code == 200 and "异议成立" in answered.get_data(as_text=True)
    before = log.head()
    up = propose(org, {next(p for p, o in suggested.items() if o == "passed"): "excellent"})
    assert up.status_code == 400 and "正在公示，只能下调" in up.get_data(as_text=True)
    assert log.head() == before
    assert propose(org, {target: "passed"}, "异议成立，下调").status_code == 200
    assert certification.proposals(SLUG)[target]["publicity"] == 1  # still under this 公示
    assert certification.quota_status(campaigns.get(SLUG))["branch_feature"]["remaining"] >= 0
    certification.finalise(get_account("org"), SLUG,
                           log.stream_version(certification.stream(SLUG)),
                           now=now + timedelta(days=1, hours=1))  # fmt: skip
    assert state(target) == "passed"
    # a passed project can only come back as excellent, for a free place
    with pytest.raises(DomainError, match="只能在有空余名额时再建议为优秀"):
        certification.propose(get_account("org"), SLUG, {target: "not_passed"}, "",
                              log.stream_version(certification.stream(SLUG)))  # fmt: skip
