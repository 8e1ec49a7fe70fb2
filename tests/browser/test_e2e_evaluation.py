"""评估认定 end to end in chromium, as the people who do it (notice 001, minbei-2025).

Three reviewers score a project criterion by criterion in the browser (the running total follows
what they type, a draft is saved and reloaded, the others' scores show only after one's own
submission); the organizer watches the ranking form and closes the round; proposes outcomes
within the quotas (a proposal past a quota is refused with the reason); runs the 公示, finalises;
the units see their results; the organizer compiles the booklet from the browser, watches its
progress bar, and downloads the PDF. A second 公示, running now, takes an objection from a unit,
the organizer's answer, and refuses to be finalised while it runs.

A site of its own: 闽北职院's campaign seeded through `midterm`, its final reports submitted, and
the final round opened by the organizer with balanced panels of three, every project scored by
its panel except 茶香党旗红 (农业与生物技术系党总支, 一系一品牌), whose panel is reviewer1–3.

The app decides that a 公示 has ended by the real clock, at minute precision, and a running 公示
cannot be shortened; so the 公示 finalised in the browser is one the organizer records as already
held (its dates typed in the past, as for a 公示 posted on paper: 一系一品牌), and the 公示 that
takes the objection is the next one (一支部一特色), which runs now: finalising it is refused in
the browser, and it is then concluded by the finalise command with its clock after the end, as
tests/test_certification.py does, before the unit's view of the final outcomes is checked.

The three tests run in order on one site, each continuing from the previous one.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.browser.browser_helpers import HTMX_TRACKER, login, settle
from tests.browser.conftest import (
    ARTIFACTS,
    MINBEI,
    PASSWORD,
    SERVER_FAILURE,
    TZ,
    serve,
    site_app,
    site_env,
)

pytestmark = pytest.mark.browser

TARGET = f"{MINBEI}.mb-ny.dept_brand"
TARGET_BRAND = "茶香党旗红"
TARGET_UNIT = "a-mb-ny"
REVIEWERS = ("reviewer1", "reviewer2", "reviewer3")
OBJECTOR = "a-mb-jg1"  # 机关第一党支部's brand lead: another unit of the same college
OBJECTED = "书香党建"  # 图书馆党支部, 一支部一特色: under the second 公示

# What each reviewer types, criterion by criterion (label, kind, input), and the running total
# the page should show after it: a subtotal counts the criteria not yet scored at their lowest
# level (创建成效 差 = 5), so the first subtotal is 5 + the first criterion's points.
SCORES = {
    "reviewer1": [
        ("品牌名称与标识", "text", "9", "当前小计：14"),
        ("品牌定位", "select", "好", "当前小计：24"),
        ("组织生活规范", "text", "1", "当前小计：33.5"),  # 1 lapse: 10 − 0.5
        ("宣传报道", "text", "16", "当前小计：41.5"),  # 16 articles × 0.5
        ("载体与活动", "text", "27", "当前小计：68.5"),
        ("创建成效", "select", "好", "总分：93.5"),  # 9 + 10 + 9.5 + 8 + 27 + 30
    ],
    "reviewer2": [
        ("品牌名称与标识", "text", "10", "当前小计：15"),
        ("品牌定位", "select", "好", "当前小计：25"),
        ("组织生活规范", "text", "0", "当前小计：35"),
        ("宣传报道", "text", "18", "当前小计：44"),
        ("载体与活动", "text", "24", "当前小计：68"),
        ("创建成效", "select", "好", "总分：93"),
        ("获得上级表彰或经验推广", "text", "2", "总分：95"),  # a bonus of 2
    ],
    "reviewer3": [
        ("品牌名称与标识", "text", "8.5", "当前小计：13.5"),
        ("品牌定位", "select", "较好", "当前小计：21.5"),
        ("组织生活规范", "text", "2", "当前小计：30.5"),
        ("宣传报道", "text", "20", "当前小计：40.5"),
        ("载体与活动", "text", "25", "当前小计：65.5"),
        ("创建成效", "select", "好", "总分：90.5"),
    ],
}
TOTALS = {"reviewer1": "93.5", "reviewer2": "95", "reviewer3": "90.5"}
AGGREGATE = "93"  # the mean of three (the trimmed mean starts at five reviewers)


# --- the site --------------------------------------------------------------------------------


def _open_final_round(slug: str) -> None:
    """As the organizer would: the final round opened inside its stage, 茶香党旗红's panel chosen
    by hand, a balanced panel of three for the others, and every other project scored by its
    panel over the following days (the demo's scores: each reviewer's own leaning)."""
    from workflow import log
    from workflow.commands import assignment, campaigns, scoring
    from workflow.commands.accounts import get_account
    from workflow.deadlines import parse_local
    from workflow.demo import ORGANIZER
    from workflow.demo.scoring import BIAS, inputs_for, quality

    config = campaigns.get(slug)
    clock = parse_local("2025-11-03 09:00", config["timezone"])

    def version():
        return log.stream_version(scoring.panel_stream(slug))

    scoring.open_round(ORGANIZER, slug, "final", "评估认定评分开始", version(), now=clock)
    clock += timedelta(hours=2)
    assignment.run_pairs(ORGANIZER, slug, "final", [(TARGET, r) for r in REVIEWERS], "csv",
                         version(), now=clock)  # fmt: skip
    proposal = assignment.propose(ORGANIZER, slug, "final", 3)
    pairs = [(p["project"], p["reviewer"]) for p in proposal["pairs"]]
    assignment.run_pairs(ORGANIZER, slug, "final", pairs, "auto", version(), now=clock)
    r = scoring.current_rubric(slug)
    for pid in sorted({pid for pid, _ in pairs} - {TARGET}):
        for reviewer in scoring.panel_of(pid, "final"):
            clock += timedelta(hours=3)
            rng = random.Random(f"{pid}|{reviewer}")
            fraction = (quality(pid, "final") + BIAS.get(reviewer, 0) + rng.uniform(-3, 3)) / 100
            stream = scoring.score_stream(pid, "final", reviewer)
            scoring.submit(get_account(reviewer), pid, "final", inputs_for(r, fraction, rng), {},
                           r.get("version", 1), log.stream_version(stream), now=clock)  # fmt: skip


def _build(env: dict) -> None:
    from workflow import db
    from workflow import demo as demo_data
    from workflow.demo.reports import drive_reports

    with site_app(env).app_context():  # the demo's photos go to this site's upload folder
        db.database.connect(reuse_if_open=True)
        try:
            demo_data.seed([MINBEI], PASSWORD, through="midterm", echo=lambda *_: None)
            drive_reports(MINBEI, "final")  # the units' final reports (总结报告)
            _open_final_round(MINBEI)
        finally:
            db.database.close()


@pytest.fixture(scope="module")
def evaluation_site(tmp_path_factory, chromium):
    """The app on this module's database, served in a subprocess; yields a Site."""
    base = tmp_path_factory.mktemp("evaluation-site")
    env = site_env(base)
    _build(env)
    with serve(base, env) as site:
        yield site


@pytest.fixture(scope="module")
def _logins():
    """Storage state per user on this module's site (conftest's `open_as` serves the other one:
    cookies are kept per host, not per port, so the two must not share them)."""
    return {}


@pytest.fixture
def browse(chromium, evaluation_site, request, _logins):
    """browse("org") -> a logged-in page of this module's site in a fresh context, its
    confirmation dialogs accepted (their messages in `dialogs[page]`). Like `open_as`: the test
    fails when the server answered 500 or the page raised a script or CSP error, and a failed
    test leaves screenshots in test-artifacts/."""
    url, log_path = evaluation_site.url, evaluation_site.log_path
    contexts, problems = [], []
    log_start = log_path.stat().st_size

    def open_page(username: str):
        options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                   "viewport": {"width": 1280, "height": 900}}  # fmt: skip
        if username in _logins:
            options["storage_state"] = _logins[username]
        context = chromium.new_context(base_url=url, accept_downloads=True, **options)
        context.set_default_timeout(10_000)
        context.add_init_script(HTMX_TRACKER)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"{page.url}: script error: {exc}"))
        page.on("console", lambda msg: problems.append(f"{page.url}: {msg.text}")
                if "Content Security Policy" in msg.text else None)  # fmt: skip
        dialogs[page] = []
        page.on("dialog", lambda d: (dialogs[page].append(d.message), d.accept()))
        if username not in _logins:
            login(page, username)
            _logins[username] = context.storage_state()
        return page

    yield open_page

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for ci, context in enumerate(contexts):
            for pi, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{ci}-{pi}.png"), full_page=True)
                except Exception as exc:  # a crashed page must not hide the real failure
                    print(f"screenshot failed: {exc}", file=sys.stderr)
    for context in contexts:
        for page in context.pages:
            dialogs.pop(page, None)
        context.close()
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        fh.seek(log_start)
        server_log = fh.read()
    failures = [line for line in server_log.splitlines() if SERVER_FAILURE.search(line)]
    assert not failures, "the server failed:\n" + server_log[-4000:]
    assert not problems, "the page reported errors:\n" + "\n".join(problems)


dialogs: dict = {}
# What the tests have done so far: each later test needs the earlier ones' results.
done: set[str] = set()


def needs(step: str) -> None:
    if step not in done:
        pytest.skip(f"needs {step} (the earlier test of this module) to have passed")


def expect(actual):
    """Playwright's expect, waiting up to 10 s like the pages' actions (the machine may be busy);
    the global option is put back at once, so other modules keep theirs."""
    from playwright.sync_api import expect as playwright_expect

    before = getattr(playwright_expect, "_timeout", None)
    playwright_expect.set_options(timeout=10_000)
    try:
        return playwright_expect(actual)
    finally:
        playwright_expect.set_options(timeout=before)


# --- pages -----------------------------------------------------------------------------------


def ranking_row(page, brand: str):
    """A project's row in the round page's ranking (「brand」 is how the ranking names it)."""
    return page.locator("#round tr", has_text=f"「{brand}」")


def cells(row) -> list[str]:
    return [t.strip() for t in row.locator("td").all_inner_texts()]


def watch_ranking(page, aggregate: str, scored: str) -> None:
    """The organizer reloads the round page: the target's aggregate and how many have scored."""
    page.reload()
    row = ranking_row(page, TARGET_BRAND)
    expect(row.locator("td").nth(2)).to_have_text(re.compile(rf"^\s*{re.escape(aggregate)}"))
    expect(row.locator("td").nth(7)).to_have_text(scored)


def score_in_browser(
    page, reviewer: str, earlier: list[str], draft_after: int | None = None, every_step: bool = True
):
    """The reviewer opens the task, scores criterion by criterion (checking the running total
    after each, or only once all are in), optionally saves a draft and reloads it, then
    submits. `earlier`: the totals of the reviewers who submitted before, in that order."""
    page.goto("/scoring")
    task = page.locator("tr", has_text="评估认定").filter(has_text=TARGET_BRAND)
    expect(task).to_contain_text("未评分")
    task.get_by_role("link", name="评分", exact=True).click()
    page.wait_for_url(f"**/projects/{TARGET}/scoring/final")
    sheet = page.locator("#score-form")
    total = page.locator("#running-total")
    # Before their own submission nobody sees the others' scores.
    expect(sheet).to_contain_text("提交自己的评分后，才能看到其他评审专家的评分。")
    assert sheet.get_by_role("heading", name="其他评审专家的评分").count() == 0
    assert sheet.locator("table").count() == 0
    expect(total).to_contain_text("当前小计：5 /")  # nothing scored: 创建成效 at its lowest, 差
    for index, (label, kind, value, shown) in enumerate(SCORES[reviewer], 1):
        if kind == "select":
            sheet.get_by_role("combobox", name=label, exact=True).select_option(value)
        else:
            sheet.get_by_role("textbox", name=label, exact=True).fill(value)
        if every_step or index == len(SCORES[reviewer]):
            expect(total).to_contain_text(f"{shown} /")
        if index == draft_after:
            sheet.get_by_role("button", name="保存草稿").click()
            expect(page.locator("#draft-status")).to_contain_text("草稿已保存")
            page.reload()
            expect(sheet).to_contain_text("已载入您保存的草稿")
            first = SCORES[reviewer][0]
            expect(sheet.get_by_role("textbox", name=first[0], exact=True)).to_have_value(first[2])
            expect(total).to_contain_text(f"{shown} /")
    expect(total).to_contain_text("优秀")  # complete: the grade shows beside the total
    sheet.get_by_role("button", name="提交评分").click()
    expect(sheet.locator(".notice").first).to_contain_text("评分已提交")
    assert any("提交后其他评审专家的评分将对您可见" in m for m in dialogs[page])
    expect(sheet).to_contain_text(f"您已提交评分：{TOTALS[reviewer]} 分")
    # Now, and only now, the others' scores (anonymised, in the order they came in).
    expect(sheet.get_by_role("heading", name="其他评审专家的评分")).to_be_visible()
    if not earlier:
        expect(sheet).to_contain_text("其他评审专家尚未提交评分。")
        return
    totals_row = sheet.locator("tr", has=page.locator("th", has_text="总分"))
    assert cells(totals_row) == [TOTALS[reviewer], *earlier]
    header = [t.strip() for t in sheet.locator("thead th").all_inner_texts()]
    assert header[2:] == [f"专家 {chr(ord('A') + i)}" for i in range(len(earlier))]


# --- the tests -------------------------------------------------------------------------------


def test_three_reviewers_score_and_the_organizer_watches_the_ranking(browse):
    organizer = browse("org")
    organizer.goto(f"/campaigns/{MINBEI}/scoring/final")
    expect(organizer.locator("#round hgroup")).to_contain_text("评分中")
    watch_ranking(organizer, "—", "0/3")

    seen: list[str] = []
    for reviewer, after in zip(REVIEWERS, ("1/3", "2/3", "3/3"), strict=True):
        page = browse(reviewer)
        first = not seen  # the first checks every step and keeps a draft; the others go faster
        score_in_browser(
            page, reviewer, list(seen), draft_after=3 if first else None, every_step=first
        )
        seen.append(TOTALS[reviewer])
        mean = sum(float(t) for t in seen) / len(seen)
        watch_ranking(organizer, f"{mean:g}", after)
    assert f"{sum(float(t) for t in seen) / 3:g}" == AGGREGATE

    row = ranking_row(organizer, TARGET_BRAND)
    assert cells(row)[3].startswith("优秀")
    assert cells(row)[4:6] == ["90.5", "95"]  # the lowest and the highest

    # The score sheet shows the three reviewers by name, to the organizer only.
    organizer.get_by_role("link", name=TARGET_BRAND, exact=True).first.click()
    organizer.wait_for_url(f"**/projects/{TARGET}/scoring/final")
    sheet = organizer.locator("#sheet")
    expect(sheet).to_contain_text(f"汇总得分：{AGGREGATE}")
    expect(sheet).to_contain_text("已评 3/3")
    for name in ("评审专家 李教授", "评审专家 陈书记", "评审专家 刘主任"):
        expect(sheet.locator("thead")).to_contain_text(name)

    # Closing: a preview first, then for real.
    organizer.goto(f"/campaigns/{MINBEI}/scoring/final")
    organizer.get_by_role("button", name="结束评分（先预览）").click()
    plan = organizer.locator("#close-plan")
    expect(plan).to_contain_text("尚未修改任何内容")
    expect(plan.locator("li", has_text=TARGET_BRAND)).to_contain_text(f"汇总 {AGGREGATE}，3/3")
    moving = re.search(r"(\d+) 个项目已有评分", plan.inner_text())
    assert moving and int(moving.group(1)) == 17
    plan.get_by_role("button", name="确认结束评分").click()
    expect(organizer.locator("#round .notice")).to_contain_text("评分已结束")
    assert any("结束后不能再评分" in m for m in dialogs[organizer])
    expect(organizer.locator("#round hgroup")).to_contain_text("已结束")
    done.add("scoring")


def quota_cells(page, category: str) -> list[str]:
    """[类型, 优秀名额, 已认定, 拟认定, 剩余] of the quota table."""
    return cells(page.locator("#certification table").first.locator("tr", has_text=category))


def category_rows(page, category: str):
    """The rows of a category in the certification ranking, in rank order."""
    return page.locator(f"#certification h3:text-is('{category}') + .table-wrap tbody tr").all()


def brand_of(row) -> str:
    return row.locator("a").first.inner_text().strip()


def unit_of(row) -> str:
    """The unit code, from the project link (/projects/<campaign>.<unit>.<category>)."""
    return row.locator("a").first.get_attribute("href").rsplit("/", 1)[1].split(".")[1]


def campaign(slug: str) -> dict:
    from workflow.commands import campaigns

    return campaigns.get(slug)


def local_input(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")


def unit_sees(page, outcome: str, score: str | None = None) -> None:
    """A unit's applicant: home page → the project → its scoring panel."""
    page.goto("/")
    card = page.locator("article", has_text="闽北")
    card.get_by_role("link", name="查看项目与下一步").click()
    page.wait_for_url(re.compile(r"/projects/"))
    settle(page)
    panel = page.locator("#scoring-panel")
    expect(panel).to_contain_text("评估认定结果")
    expect(panel).to_contain_text(f"认定结果：{outcome}")
    if score:
        expect(panel.locator("li", has_text="评估认定")).to_contain_text(f"{score} 分")


def test_proposals_within_quota_publicity_results_and_booklet(browse, evaluation_site):
    needs("scoring")
    certify = f"/campaigns/{MINBEI}/certification"

    # Before the outcomes are final the unit sees its state, not its score.
    unit = browse(TARGET_UNIT)
    unit.goto("/")
    expect(unit.locator("article", has_text="闽北")).to_contain_text("评估认定已评分")
    unit.goto(f"/projects/{TARGET}")
    settle(unit)
    expect(unit.locator("#scoring-panel")).to_contain_text(
        "评分与认定结果将在认定结果正式确定后在此显示"
    )
    expect(unit.locator("#scoring-panel")).not_to_contain_text(AGGREGATE + " 分")

    organizer = browse("org")
    organizer.goto(certify)
    assert quota_cells(organizer, "一系一品牌") == ["一系一品牌", "2", "0", "0", "2"]
    assert quota_cells(organizer, "一支部一特色") == ["一支部一特色", "7", "0", "0", "7"]
    rows = category_rows(organizer, "一系一品牌")
    brands = [brand_of(r) for r in rows]
    assert brands[0] == TARGET_BRAND and len(brands) == 4, brands
    assert cells(rows[0])[2] == AGGREGATE

    # Three 一系一品牌 brands as 优秀: one more than the quota, refused with the reason, and
    # the form keeps what was chosen.
    for row in rows[:3]:
        row.get_by_role("combobox").select_option("excellent")
    organizer.get_by_role("button", name="保存认定建议").click()
    error = organizer.locator("#certification .error")
    expect(error).to_contain_text(
        "“一系一品牌”优秀名额为 2 个：已认定 0 个，连同本次共拟认定 3 个，超出 1 个。"
    )
    expect(error).to_contain_text("请先把其他项目调整为“验收通过”")
    rows = category_rows(organizer, "一系一品牌")
    assert [r.get_by_role("combobox").input_value() for r in rows] == [
        "excellent", "excellent", "excellent", ""]  # fmt: skip
    assert quota_cells(organizer, "一系一品牌")[3:] == ["0", "2"]  # nothing was saved

    # Within the quota: the best two 优秀, the other two 验收通过.
    for row in rows[2:]:
        row.get_by_role("combobox").select_option("passed")
    organizer.get_by_label("说明（可选，记入日志）").fill("按评估认定排名和认定名额提出建议")
    organizer.get_by_role("button", name="保存认定建议").click()
    expect(organizer.locator("#certification .notice")).to_contain_text("认定建议已保存")
    assert quota_cells(organizer, "一系一品牌") == ["一系一品牌", "2", "0", "2", "0"]
    excellent, passed = brands[:2], brands[2:]
    passed_unit = unit_of(category_rows(organizer, "一系一品牌")[2])

    # The 公示 was held on the noticeboard last week: the organizer records its dates.
    now = datetime.now(UTC)
    starts = (now - timedelta(days=8)).astimezone(TZ).replace(hour=9, minute=0)
    ends = starts + timedelta(days=5)
    organizer.get_by_label("公示开始").fill(local_input(starts))
    organizer.get_by_label("公示结束").fill(local_input(ends))
    organizer.get_by_role("button", name="开始公示").click()
    expect(organizer.locator("#certification .notice")).to_contain_text("公示已开始")
    running = organizer.locator("#certification article").first
    expect(running.locator("header")).to_contain_text("第 1 轮公示")
    expect(running.locator("header")).to_contain_text(ends.strftime("%Y年%m月%d日 %H:%M"))
    expect(running.locator("header")).to_contain_text("公示期已满")
    listed = running.locator("li").all_inner_texts()
    assert len(listed) == 4 and sum(TARGET_BRAND in t and t.endswith("：优秀") for t in listed) == 1

    organizer.get_by_role("button", name="公示期满，确定认定结果").click()
    expect(organizer.locator("#certification .notice")).to_contain_text("认定结果已确定并公布")
    assert any("确定认定结果后将向各单位公布" in m for m in dialogs[organizer])
    assert quota_cells(organizer, "一系一品牌") == ["一系一品牌", "2", "2", "0", "0"]
    rows = category_rows(organizer, "一系一品牌")
    assert [cells(r)[6] for r in rows] == ["优秀", "优秀", "验收通过", "验收通过"]
    expect(organizer.locator("#certification li", has_text="第 1 轮：")).to_contain_text("已结束")

    # The units see their results: 优秀 with the score, and 验收通过.
    unit_sees(unit, "优秀", AGGREGATE)
    expect(unit.locator("#project")).to_contain_text("认定为优秀")
    unit_sees(browse(f"a-{passed_unit}"), "验收通过")

    # The booklet: compiled in the background, its progress shown, then downloaded.
    organizer.goto(f"/campaigns/{MINBEI}/booklet")
    chapters = organizer.locator("section[aria-labelledby=chapters-h] ol li").all_inner_texts()
    assert sorted(chapters) == sorted(excellent), chapters
    job = organizer.locator("#booklet-job")
    expect(job).to_contain_text("汇编尚未生成")
    organizer.evaluate(PROGRESS_WATCHER)
    job.get_by_role("button", name="生成汇编").click()
    download = job.get_by_role("button", name="下载成果汇编（PDF）")
    expect(download).to_be_visible(timeout=90_000)
    seen = organizer.evaluate("() => window.__bookletProgress")
    assert seen, "the progress bar never showed"
    values = [v for v, _max, _text in seen]
    assert values == sorted(values) and all(m == seen[0][1] for _v, m, _t in seen), seen
    assert all(re.fullmatch(r"正在生成汇编：\d+%", t) for _v, _m, t in seen), seen
    expect(job).to_contain_text("用时")

    with organizer.expect_download() as info:
        download.click()
    path = info.value.path()
    assert info.value.suggested_filename.endswith(".pdf")
    response = organizer.request.get(download.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    data = Path(path).read_bytes()
    assert data.startswith(b"%PDF-") and response.body() == data
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")  # fmt: skip
    flat = re.sub(r"\s+", "", text)
    for brand in excellent:
        assert brand in flat, f"{brand} is not in the booklet's text"
    for brand in passed:
        assert brand not in flat

    # What the browser did is in the log, and the log verifies.
    db = evaluation_site.bind()
    from workflow import log
    from workflow.commands import applications, scoring

    try:
        assert log.verify().ok
        types = [e.type for e in log.read_stream(applications.stream(TARGET))]
        assert types[-3:] == ["ProjectScored", "ProjectPublicized", "OutcomeFinalised"], types
        totals = {r: [e.payload["total"] for e in log.read_stream(scoring.score_stream(
            TARGET, "final", r))] for r in REVIEWERS}  # fmt: skip
        assert totals == {r: [TOTALS[r]] for r in REVIEWERS}  # one submission each, as typed
    finally:
        db.database.close()
    done.add("certified")


# Records the booklet job's progress bar each time htmx swaps it: (value, max, caption).
PROGRESS_WATCHER = """() => {
  window.__bookletProgress = [];
  const box = document.querySelector('#booklet-job');
  const note = () => {
    const bar = box.querySelector('progress');
    if (bar) window.__bookletProgress.push(
      [Number(bar.value), Number(bar.max), box.querySelector('small').textContent.trim()]);
  };
  new MutationObserver(note).observe(box, {childList: true, subtree: true});
}"""


def test_an_objection_during_a_running_publicity(browse, evaluation_site):
    needs("certified")
    certify = f"/campaigns/{MINBEI}/certification"
    organizer = browse("org")
    organizer.goto(certify)
    # The 一支部一特色 proposals, filled in from the ranking and the places left, then saved.
    organizer.get_by_role("link", name="按排名和名额填入建议").click()
    organizer.wait_for_url(re.compile(r"suggest=1"))
    rows = category_rows(organizer, "一支部一特色")
    chosen = [r.get_by_role("combobox").input_value() for r in rows]
    excellent = chosen.count("excellent")
    assert all(chosen) and 0 < excellent <= 7, chosen
    # The 一系一品牌 places are all taken: its 验收通过 brands cannot be proposed again.
    assert not any(
        r.get_by_role("combobox").count() for r in category_rows(organizer, "一系一品牌")
    )
    organizer.get_by_role("button", name="保存认定建议").click()
    expect(organizer.locator("#certification .notice")).to_contain_text("认定建议已保存")
    assert quota_cells(organizer, "一支部一特色") == [
        "一支部一特色", "7", "0", str(excellent), str(7 - excellent)]  # fmt: skip

    # This 公示 runs now, for the default period.
    organizer.get_by_role("button", name="开始公示").click()
    expect(organizer.locator("#certification .notice")).to_contain_text("公示已开始")
    running = organizer.locator("#certification article").first
    expect(running.locator("header")).to_contain_text("第 2 轮公示")
    expect(running.locator("header")).to_contain_text("公示中")

    # Another unit's brand lead objects, from the 公示 page; the outcomes are not shown to them.
    objector = browse(OBJECTOR)
    objector.goto(certify)
    listing = objector.locator("#certification article").first
    expect(listing).to_contain_text(OBJECTED)
    assert not [t for t in listing.locator("li").all_inner_texts() if "优秀" in t]
    objection = "该品牌部分活动照片与图书馆党支部往年活动重复，请核实活动记录。"
    form = objector.locator("#certification form", has_text="异议内容和理由")
    form.get_by_label("针对的项目").select_option(label=f"图书馆党支部「{OBJECTED}」")
    form.get_by_label("异议内容和理由").fill(objection)
    form.get_by_role("button", name="提交异议").click()
    expect(objector.locator("#certification .notice")).to_contain_text("异议已提交")
    mine = objector.locator("#certification article", has_text=objection)
    expect(mine).to_contain_text("组织部正在核实")

    # The organizer sees it, verifies and answers.
    organizer.reload()
    lodged = organizer.locator("#certification article", has_text=objection)
    expect(lodged).to_contain_text(f"「{OBJECTED}」")
    expect(lodged).to_contain_text("高立群（品牌负责人）")  # who lodged it, for the organizer
    lodged.get_by_label("核实情况").fill("经核对活动签到表和原始照片，相关活动均为本年度开展。")
    lodged.get_by_label("答复意见").fill("异议反映的情况不属实，维持认定建议。")
    lodged.get_by_role("button", name="记录答复").click()
    expect(organizer.locator("#certification .notice")).to_contain_text("答复已记录")
    expect(organizer.locator("#certification article", has_text=objection)).to_contain_text(
        "异议不成立"
    )

    # Finalising while the 公示 runs is refused, with the date it ends.
    organizer.get_by_role("button", name="公示期满，确定认定结果").click()
    error = organizer.locator("#certification .error")
    expect(error).to_contain_text("公示期间不能确定认定结果")
    expect(error).to_contain_text(re.compile(r"公示期至 \d{4}年\d{2}月\d{2}日 \d{2}:\d{2} 结束"))
    expect(organizer.locator("#certification article").first).to_contain_text("公示中")

    # The objector reads the answer.
    objector.reload()
    answered = objector.locator("#certification article", has_text=objection)
    expect(answered).to_contain_text("异议反映的情况不属实，维持认定建议。")

    # Five days later the 公示 ends. The test cannot wait for it: as tests/test_certification.py
    # does, the finalise command runs with its clock after the end (the organizer's click is the
    # one tested on the first 公示). The objection answered, the outcomes become final.
    db = evaluation_site.bind()
    from workflow import log
    from workflow.commands import certification
    from workflow.commands.accounts import get_account

    try:
        publicity = certification.running_publicity(MINBEI)
        _start, end = certification.publicity_window(campaign(MINBEI), publicity)
        certification.finalise(get_account("org"), MINBEI,
                               log.stream_version(certification.stream(MINBEI)),
                               now=end + timedelta(minutes=1))  # fmt: skip
    finally:
        db.database.close()
    organizer.reload()
    expect(organizer.locator("#certification li", has_text="第 2 轮：")).to_contain_text("已结束")
    assert quota_cells(organizer, "一支部一特色")[2:] == [str(excellent), "0", str(7 - excellent)]
    objector.reload()
    finals = objector.locator("#certification ul", has_text="一支部一特色 ·").inner_text()
    assert finals.count("一支部一特色 ·") == excellent and finals.count("一系一品牌 ·") == 2
