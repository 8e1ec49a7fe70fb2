"""The application stage of both notices, end to end in chromium, as the people who do it.

Notice 000 (ncut-info-2023): the applicant fills the form (live counter, autosaved draft) and
submits; the branch secretary agrees; the organizer returns it with a reason; the applicant
revises and resubmits; the diff shows the change; the secretary agrees again; the organizer
approves; the application PDF downloads. Notice 001 (minbei-2025): the two-level opinion chain,
branch secretary first, then the general-branch secretary.
"""

from __future__ import annotations

import io
import re
from datetime import date

import pytest

from tests.browser.browser_helpers import settle

pytestmark = pytest.mark.browser

NCUT, MINBEI = "ncut-info-2023", "minbei-2025"
FEATURE = "branch_feature"

NCUT_FORM = {
    "branch_name": "网络工程系教工党支部",
    "brand_name": "网络强国·党旗红",
    "lead": "马晓丽",
    "intro": "网络工程系教工党支部以“网络强国·党旗红”为品牌，党员教师带领学生网络安全团队服务校园与社区。",
    "measures": "一、建立党员教师“一对一”指导网络安全竞赛团队机制。\n二、每季度开展一次网络安全进社区志愿服务。",
    "outcomes": "全年开展网络安全主题党日 6 次；在学院及以上平台刊发新闻稿件不少于 2 篇。",
}
REVISED_OUTCOMES = (
    "全年开展网络安全主题党日不少于 8 次，党员参与率不低于 95%；刊发新闻稿件不少于 3 篇。"
)

MINBEI_FORM = {
    "lead_name": "施佳慧",
    "lead_title": "党支部书记 / 讲师",
    "lead_phone": "0599-8512345",
    "brand_name": "汽修先锋",
    "intro": "机电工程系汽车教工党支部以“汽修先锋”为品牌，党员教师带领学生开展汽车义检志愿服务。",
    "plan_approach": "坚持党建引领、产教融合，把支部建在专业上。",
    "plan_goals": "建成 1 个党员先锋工作室，形成可推广的志愿服务模式。",
    "plan_annual": "2025 年开展汽车义检进社区不少于 6 次，服务群众 300 人次以上。",
    "plan_measures": "一、组建党员教师志愿服务队。\n二、与社区共建，定期开展义检。",
}


def state_of(page) -> str:
    return page.locator("#project .tag.state").inner_text().strip()


def project_url(slug: str, unit: str, category: str = FEATURE) -> str:
    return f"/projects/{slug}.{unit}.{category}"


def start_application(page, campaign_title: str) -> None:
    """From the applicant's home page, open the campaign's empty form."""
    page.goto("/")
    card = page.locator("article", has_text=campaign_title)
    card.get_by_role("button", name="填写申报表").click()
    page.wait_for_url(re.compile(r"/apply/"))
    assert page.locator("#apply form").count() == 1


def fill_form(page, values: dict) -> None:
    for key, value in values.items():
        page.locator(f"#{key}").fill(value)


def submit_application(page, project_path: str) -> None:
    page.get_by_role("button", name="提交申报").click()
    page.wait_for_url(f"**{project_path}")
    settle(page)


def record_opinion(
    page, project_path: str, signer: str, decision="同意", text="同意申报。"
) -> None:
    page.goto(project_path)
    form = page.locator("#opinion-form")
    form.get_by_label(decision, exact=True).check()
    form.get_by_label("意见内容").fill(text)
    form.get_by_label("签字人").fill(signer)
    form.get_by_label("日期").fill(date.today().isoformat())
    version_before = form.locator("input[name=version]").input_value()
    form.get_by_role("button", name="提交意见").click()
    page.wait_for_function(
        "v => { const f = document.querySelector('#opinion-form input[name=version]');"
        " return !f || f.value !== v; }",
        arg=version_before,
    )
    settle(page)


def review(page, project_path: str, action: str, text: str = "") -> None:
    """The organizer's decision in the review panel of the project page."""
    page.goto(project_path)
    settle(page)
    panel = page.locator("#review-actions")
    panel.get_by_role("radio", name=action, exact=True).check()
    if text:
        panel.locator("#review-text").fill(text)
    panel.get_by_role("button", name="提交审核结论").click()
    page.wait_for_function("() => !document.querySelector('#review-actions')")
    settle(page)


def check_log(site, pid: str) -> list[str]:
    """The log verifies; returns the project's event types in order."""
    db = site.bind()
    from workflow import log
    from workflow.commands import applications

    try:
        assert log.verify().ok
        return [e.type for e in log.read_stream(applications.stream(pid))]
    finally:
        db.database.close()


def test_notice_000_apply_return_revise_approve(open_as, site):
    pid_path = project_url(NCUT, "ncut-net-t")
    applicant = open_as("a-ncut-net-t")
    start_application(applicant, "信息学院2023年度")

    # The live counter counts characters (code points), not bytes or UTF-16 units.
    intro = applicant.locator("#intro")
    counter = applicant.locator("#intro + .char-counter")
    assert counter.inner_text() == "0 / 1000 字"
    intro.fill("党旗红😀")
    assert counter.inner_text() == "4 / 1000 字"
    brand_counter = applicant.locator("#brand_name + .char-counter")
    applicant.locator("#brand_name").fill("网" * 31)
    assert brand_counter.inner_text() == "31 / 30 字"
    assert "error" in brand_counter.get_attribute("class")

    # Over the limit the server refuses it and says by how much, keeping what was typed.
    fill_form(applicant, {**NCUT_FORM, "brand_name": "网" * 31})
    applicant.get_by_role("button", name="提交申报").click()
    error = applicant.locator("#brand_name-err")
    error.wait_for()
    assert "请删减 1 字" in error.inner_text()
    assert applicant.locator("#intro").input_value() == NCUT_FORM["intro"]

    # A change is autosaved as a draft.
    applicant.locator("#brand_name").fill(NCUT_FORM["brand_name"])
    applicant.locator("#brand_name").dispatch_event("change")
    applicant.locator("#draft-status", has_text="草稿已自动保存").wait_for()
    assert applicant.locator("#brand_name + .char-counter").inner_text() == "8 / 30 字"

    submit_application(applicant, pid_path)
    assert state_of(applicant) == "已提交（待单位意见）"
    assert "等待网络工程系教工党支部的党支部意见" in applicant.locator(".next-action").inner_text()

    # The branch secretary finds it on the home page and agrees.
    secretary = open_as("s-ncut-net-t")
    secretary.goto("/")
    secretary.get_by_role("link", name=re.compile("网络强国·党旗红")).click()
    secretary.wait_for_url(f"**{pid_path}")
    record_opinion(secretary, pid_path, "黄卫东")
    assert state_of(secretary) == "组织部审核中"

    # The organizer returns it with a reason.
    organizer = open_as("org")
    reason = "请把预期成效写成可考核的量化指标（主题党日次数、参与率、新闻稿篇数）。"
    review(organizer, pid_path, "退回修改", reason)
    assert state_of(organizer) == "退回修改"

    # The applicant sees the reason, revises and resubmits.
    applicant.goto(pid_path)
    assert reason in applicant.locator(".next-action").inner_text()
    applicant.get_by_role("button", name="修改并重新提交").click()
    applicant.wait_for_url(re.compile(r"/apply/"))
    assert reason in applicant.locator(".error-box").inner_text()
    assert applicant.locator("#outcomes").input_value() == NCUT_FORM["outcomes"]
    applicant.locator("#outcomes").fill(REVISED_OUTCOMES)
    submit_application(applicant, pid_path)
    assert state_of(applicant) == "已提交（待单位意见）"
    assert "第 2 版" in applicant.locator("#project").inner_text()

    # The diff highlights what changed, and only that.
    organizer.goto(pid_path)
    settle(organizer)
    organizer.get_by_role("link", name="比较第 1 版与第 2 版").click()
    organizer.wait_for_url(re.compile(r"/diff"))
    changed = organizer.locator("#diff dt").filter(has_not_text="未修改").all_inner_texts()
    assert [label.strip() for label in changed] == ["预期成效及验收指标"]
    row = organizer.locator("#diff dd").nth(5)
    assert row.locator("ins").count() > 0 and row.locator("del").count() > 0
    old, new = row.evaluate(
        """dd => { let o = '', n = '';
          for (const c of dd.childNodes) {
            if (c.nodeName === 'DEL') o += c.textContent;
            else if (c.nodeName === 'INS') n += c.textContent;
            else { o += c.textContent; n += c.textContent; } }
          return [o, n]; }"""
    )
    assert (old, new) == (NCUT_FORM["outcomes"], REVISED_OUTCOMES)
    assert "95%" in " ".join(row.locator("ins").all_inner_texts())

    record_opinion(secretary, pid_path, "黄卫东", text="同意修改后的申报。")
    assert state_of(secretary) == "组织部审核中"
    review(organizer, pid_path, "立项（进入培育创建）")
    assert state_of(organizer) == "已立项"

    # The application PDF downloads and carries the revised Chinese text.
    with organizer.expect_download() as info:
        organizer.get_by_role("button", name=re.compile("下载申报表 PDF")).click()
    data = open(info.value.path(), "rb").read()
    assert data.startswith(b"%PDF-")
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "网络强国·党旗红" in text.replace("\n", "")

    assert check_log(site, f"{NCUT}.ncut-net-t.{FEATURE}") == [
        "ApplicationSubmitted", "UnitOpinionRecorded", "ReviewReturned",
        "ApplicationSubmitted", "UnitOpinionRecorded", "ProjectApproved",
    ]  # fmt: skip


def test_notice_001_two_level_opinion_chain(open_as, site):
    pid_path = project_url(MINBEI, "mb-jd-q")
    applicant = open_as("a-mb-jd-q")
    start_application(applicant, "闽北")
    fill_form(applicant, MINBEI_FORM)
    submit_application(applicant, pid_path)
    assert (
        "等待机电工程系汽车教工党支部的党支部意见" in applicant.locator(".next-action").inner_text()
    )

    # The general-branch secretary cannot give the opinion before the branch has.
    general = open_as("s-mb-jd")
    general.goto("/")
    assert general.get_by_role("link", name=re.compile("汽修先锋")).count() == 0
    general.goto(pid_path)
    assert general.locator("#opinion-form").count() == 0

    branch = open_as("s-mb-jd-q")
    record_opinion(branch, pid_path, "吕振华")
    assert state_of(branch) == "已提交（待单位意见）"
    assert "等待机电工程系党总支的党总支意见" in branch.locator(".next-action").inner_text()
    assert branch.locator("#opinion-form").count() == 0

    # Now it is the general branch's turn: on its home page, then the form.
    general.goto("/")
    general.get_by_role("link", name=re.compile("汽修先锋")).click()
    general.wait_for_url(f"**{pid_path}")
    record_opinion(general, pid_path, "黄志明", text="同意推荐。")
    assert state_of(general) == "组织部审核中"
    headers = general.locator("article.opinion header").all_inner_texts()
    assert [h.split("（")[0] for h in headers] == ["党支部意见", "党总支意见"]

    organizer = open_as("org")
    organizer.goto("/review?campaign=" + MINBEI)
    assert organizer.locator("#queue", has_text="汽修先锋").count() == 1
    review(organizer, pid_path, "立项（进入培育创建）")
    assert state_of(organizer) == "已立项"

    assert check_log(site, f"{MINBEI}.mb-jd-q.{FEATURE}") == [
        "ApplicationSubmitted", "UnitOpinionRecorded", "UnitOpinionRecorded", "ProjectApproved",
    ]  # fmt: skip
