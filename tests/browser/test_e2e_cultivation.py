"""Cultivation (培育创建) end to end in chromium, as a new user would do it.

The applicant of an approved branch (notice 000, 电子工程系教工党支部) opens the project page:
the checklist says the news and photo rules are not met (0 / 2 篇, 0 / 3 张). A news link that
is not http(s) (javascript:, ftp://) is refused in Chinese and nothing is added; the first
article starts cultivation (the page reloads with the new state), the second turns the news
row green; an activity (主题党日) with two photos captioned one by one, and a third photo
(refused without its caption, then uploaded with it) turn the photo row green; a caption is
corrected. The organizer opens the compliance matrix from the campaign page: this unit's news
cell is met, the units still lacking it are counted in the chart and listed by the filter
(the sort kept), and each CSV export carries what is shown. At phone width the news form is
usable and the page does not scroll sideways.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.browser.browser_helpers import settle

pytestmark = pytest.mark.browser

NCUT = "ncut-info-2023"
UNIT, UNIT_NAME, BRAND = "ncut-ee-t", "电子工程系教工党支部", "“芯”火相传"
PID = f"{NCUT}.{UNIT}.branch_feature"
PROJECT = f"/projects/{PID}"
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}

TODAY = date.today()
NEWS = [
    {"title": "电子工程系教工党支部开展“芯”火相传主题党日", "platform": "信息学院官网",
     "level": "学院（计入）", "url": "https://info.ncut.edu.cn/news/2023/0518.html",
     "published_on": (TODAY - timedelta(days=20)).isoformat()},
    {"title": "“芯”火相传：党员教师带领学生攻关芯片设计", "platform": "北方工业大学新闻网",
     "level": "学校（计入）", "url": "http://news.ncut.edu.cn/info/1012/5521.htm",
     "published_on": (TODAY - timedelta(days=3)).isoformat()},
]  # fmt: skip
BAD_URL_MESSAGE = "报道链接须是以 http:// 或 https:// 开头的完整网址"

# Records, per upload form, whether its progress bar was shown and what it reached: a tiny
# local upload is over too fast to watch, so the page notes it (after app.js's own handlers).
WATCH_PROGRESS = """() => {
  window.__upload = {shown: false, max: 0};
  const bar = (e) => e.target.closest && e.target.closest('form')
      && e.target.closest('form').querySelector('progress[data-upload-progress]');
  document.addEventListener('htmx:xhr:loadstart', (e) => {
    const b = bar(e); if (b && !b.hidden) window.__upload.shown = true; });
  document.addEventListener('htmx:xhr:progress', (e) => {
    const b = bar(e); if (b) window.__upload.max = Math.max(window.__upload.max, b.value); });
}"""
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {  // inside a scrolling box (.table-wrap): does not widen the page
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 1 && !clipped(el))
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
         (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '') +
         (el.parentElement ? ' in ' + el.parentElement.tagName.toLowerCase() +
          (el.parentElement.id ? '#' + el.parentElement.id : '') : ''));
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""


def make_photo(path, colour, fmt="JPEG", size=(800, 600)):
    """A small photo with some content (distinct per colour: the app refuses duplicates)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 40):
        draw.line([(i, 0), (size[0] - i, size[1])], fill=(255, 255, 255), width=3)
    image.save(path, fmt)
    return str(path)


# --- the evidence panel ----------------------------------------------------------------------


def panel(page):
    return page.locator("#evidence-panel")


def row(page, code: str):
    """The checklist row of one rule (its data-status is the rule's status)."""
    return page.locator(f"#checklist tr.rule-{code}")


def wait_status(page, code: str, status: str) -> None:
    page.wait_for_function(
        "([code, status]) => { const r = document.querySelector('#checklist tr.rule-' + code);"
        " return r && r.dataset.status === status; }",
        arg=[code, status],
    )


def open_form(page, summary: str):
    """Open one of the panel's <details> forms by its summary; returns the form."""
    details = panel(page).locator("details", has=page.get_by_role("button", name=summary))
    if details.get_attribute("open") is None:
        details.get_by_role("button", name=summary).click()
    form = details.locator("form").first
    form.wait_for()
    return form


def send(page, form, button: str) -> None:
    """Submit a panel form and wait for the panel that answers it (a swap, or the reload
    when the first evidence starts cultivation)."""
    page.evaluate("() => { document.querySelector('#evidence-panel').dataset.stale = '1'; }")
    form.get_by_role("button", name=button, exact=True).click()
    page.wait_for_function(
        "() => { const p = document.querySelector('#evidence-panel');"
        " return p && !p.dataset.stale; }"
    )
    settle(page)


def fill_news(form, news: dict) -> None:
    form.get_by_label("报道标题").fill(news["title"])
    form.get_by_label("报道链接").fill(news["url"])
    form.get_by_label("刊发平台").fill(news["platform"])
    form.get_by_label("平台级别").select_option(label=news["level"])
    form.get_by_label("刊发日期").fill(news["published_on"])


def news_titles(page) -> list[str]:
    return panel(page).locator("table.striped tbody tr td:nth-child(2)").all_inner_texts()


def headers_label(page, code: str) -> str:
    """The rule's full label, as the filter's options say it."""
    return page.locator(f"form.filters select[name=rule] option[value={code}]").inner_text().strip()


# --- the test --------------------------------------------------------------------------------


def test_branch_posts_evidence_and_organizer_sees_the_gaps(open_as, site, tmp_path):
    db = site.bind()
    try:
        state = db.fetchone("SELECT state FROM project WHERE id = ?", (PID,))[0]
        counts = [db.fetchone(f"SELECT count(*) FROM {t} WHERE project = ?", (PID,))[0]
                  for t in ("evidence_news", "evidence_activity", "project_photo")]  # fmt: skip
    finally:
        db.database.close()
    assert state == "approved" and counts == [0, 0, 0], "the seed changed: pick another project"

    # The applicant finds the project from the home page.
    page = open_as(f"a-{UNIT}")
    page.goto("/")
    card = page.locator("article", has_text="信息学院2023年度")
    card.get_by_role("link", name="查看项目与下一步").click()
    page.wait_for_url(f"**{PROJECT}")
    settle(page)
    assert page.locator("#project h1").inner_text() == BRAND
    assert page.locator("#project .tag.state").inner_text().strip() == "已立项"

    # Nothing yet: the news and photo rules are not met (the 2023 stage is over: 未达标).
    news_row = row(page, "news")
    assert "0 / 2 篇" in news_row.inner_text()
    assert news_row.get_attribute("data-status") == "fail"
    assert news_row.locator(".tag").inner_text() == "未达标"
    assert "0 / 3 张" in row(page, "photos").inner_text()
    assert row(page, "photos").get_attribute("data-status") == "fail"
    assert "逾期登记" in panel(page).locator(".notice-late").inner_text()

    # A javascript: link is refused in Chinese, the typed values stay, nothing is added.
    form = open_form(page, "登记一篇宣传报道")
    fill_news(form, {**NEWS[0], "url": "javascript:alert(1)"})
    send(page, form, "登记")
    error = page.locator("#news-url-err")
    assert BAD_URL_MESSAGE in error.inner_text()
    assert page.locator("#news-url").get_attribute("aria-invalid") == "true"
    assert page.locator("#news-title").input_value() == NEWS[0]["title"]
    assert "尚未登记宣传报道" in panel(page).inner_text()
    assert "0 / 2 篇" in row(page, "news").inner_text()
    # ... and so is an ftp:// one.
    page.locator("#news-url").fill("ftp://info.ncut.edu.cn/news.html")
    send(page, panel(page).locator("form", has=page.locator("#news-url")), "登记")
    assert BAD_URL_MESSAGE in page.locator("#news-url-err").inner_text()
    assert "尚未登记宣传报道" in panel(page).inner_text()

    # The first article: the project starts cultivation (the page reloads with the new state).
    form = panel(page).locator("form", has=page.locator("#news-url"))
    page.locator("#news-url").fill(NEWS[0]["url"])
    send(page, form, "登记")
    assert page.locator("#project .tag.state").inner_text().strip() == "培育创建中"
    assert news_titles(page) == [NEWS[0]["title"]]
    assert "1 / 2 篇" in row(page, "news").inner_text()
    assert row(page, "news").get_attribute("data-status") == "fail"

    # The second article: the news row turns green.
    form = open_form(page, "登记一篇宣传报道")
    fill_news(form, NEWS[1])
    send(page, form, "登记")
    assert panel(page).get_by_role("status").inner_text() == "宣传报道已登记。"
    wait_status(page, "news", "ok")
    assert "2 / 2 篇" in row(page, "news").inner_text()
    assert row(page, "news").locator(".tag.st-ok").inner_text() == "达标"
    assert news_titles(page) == [NEWS[1]["title"], NEWS[0]["title"]]  # newest first
    assert panel(page).locator("table.striped .tag.st-ok").count() == 2  # both count

    # An activity with two photos, each captioned in its own field (added by app.js).
    photos = [make_photo(tmp_path / "theme-day-1.jpg", (180, 30, 30)),
              make_photo(tmp_path / "theme-day-2.png", (30, 90, 160), "PNG")]  # fmt: skip
    captions = ["党员教师为学生讲解芯片设计流程", "主题党日全体党员合影"]
    held_on = (TODAY - timedelta(days=10)).isoformat()
    form = open_form(page, "登记一次活动（主题党日等）")
    assert form.get_by_label("活动类型").evaluate("s => s.selectedOptions[0].text") == "主题党日"
    form.get_by_label("活动日期").fill(held_on)
    form.get_by_label("参加人数").fill("23")
    form.get_by_label("活动主题").fill("“芯”火相传·重温入党誓词")
    form.get_by_label("活动地点").fill("科研楼 305 会议室")
    form.get_by_label("活动简介").fill("全体党员重温入党誓词，党员教师讲解芯片设计中的攻坚故事。")
    form.locator("#activity-files").set_input_files(photos)
    form.get_by_label("“theme-day-1.jpg”的注释").fill(captions[0])
    form.get_by_label("“theme-day-2.png”的注释").fill(captions[1])
    page.evaluate(WATCH_PROGRESS)
    send(page, form, "登记活动")
    assert panel(page).get_by_role("status").inner_text() == "活动记录已登记。"
    assert page.evaluate("() => window.__upload") == {"shown": True, "max": 100}
    assert panel(page).locator("progress[data-upload-progress]:visible").count() == 0
    activity = panel(page).locator("article.activity", has_text="重温入党誓词")
    assert "主题党日" in activity.locator("header").inner_text()
    assert f"{held_on} · 科研楼 305 会议室 · 23 人参加" in activity.inner_text()
    figures = activity.locator(".gallery figure")
    assert figures.count() == 2
    for i, caption in enumerate(captions):  # each photo carries its own caption, in order
        assert figures.nth(i).locator("figcaption").inner_text().startswith(caption)
        assert figures.nth(i).locator("img").get_attribute("alt") == caption
    for img in figures.locator("img").all():  # the thumbnails are served and decode
        img.scroll_into_view_if_needed()
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    assert row(page, "activities").get_attribute("data-status") == "ok"
    assert "2 / 3 张" in row(page, "photos").inner_text()
    assert row(page, "photos").get_attribute("data-status") == "fail"

    # One more photo for that activity: without a caption it is refused and nothing is stored.
    third = make_photo(tmp_path / "theme-day-3.jpg", (40, 140, 60))
    form = open_form(page, "上传照片")
    form.get_by_label("所属活动（可选）").select_option(label=f"{held_on} “芯”火相传·重温入党誓词")
    form.locator("#photos-files").set_input_files(third)
    send(page, form, "上传")
    assert "请为照片“theme-day-3.jpg”填写注释" in page.locator("#photos-photos-err").inner_text()
    assert "共 2 张" in panel(page).locator("#photos").inner_text()
    # With the caption (the shared field) it goes in, and the photo row turns green.
    form = open_form(page, "上传照片")
    form.get_by_label("所属活动（可选）").select_option(label=f"{held_on} “芯”火相传·重温入党誓词")
    form.locator("#photos-files").set_input_files(third)
    form.get_by_role("textbox", name="照片注释", exact=True).fill("党员教师指导学生调试电路板")
    page.evaluate(WATCH_PROGRESS)
    send(page, form, "上传")
    assert panel(page).get_by_role("status").inner_text() == "照片已上传。"
    assert page.evaluate("() => window.__upload")["shown"] is True
    wait_status(page, "photos", "ok")
    assert "3 / 3 张" in row(page, "photos").inner_text()
    assert row(page, "photos").locator(".tag").inner_text() == "达标"
    assert panel(page).locator("article.activity .gallery figure").count() == 3

    # A caption is corrected in place.
    figure = panel(page).locator("figure", has_text=captions[1])
    figure.get_by_text("修改注释").click()
    figure.get_by_label("照片注释").fill("主题党日全体党员在科研楼前合影")
    send(page, figure.locator("form", has=page.get_by_label("照片注释")), "保存注释")
    assert panel(page).get_by_role("status").inner_text() == "照片注释已保存。"
    assert panel(page).locator("figure", has_text="主题党日全体党员在科研楼前合影").count() == 1
    assert row(page, "news").get_attribute("data-status") == "ok"
    assert row(page, "photos").get_attribute("data-status") == "ok"

    # --- the organizer's matrix ---
    org = open_as("org")
    org.goto(f"/campaigns/{NCUT}")
    org.get_by_role("button", name="培育创建合规矩阵").click()
    org.wait_for_url(f"**/campaigns/{NCUT}/compliance")
    settle(org)
    table = org.locator("#compliance-table")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    news_col = next(i for i, h in enumerate(headers) if h.startswith("宣传报道"))
    photos_col = next(i for i, h in enumerate(headers) if h.startswith("照片"))

    def cells(unit_name: str):
        line = table.locator("tbody tr", has=org.locator("th.unit", has_text=unit_name))
        return line.locator("th, td")

    mine = cells(UNIT_NAME)
    assert "st-ok" in mine.nth(news_col).get_attribute("class")
    assert mine.nth(news_col).text_content().strip() == "达标：2 / 2 篇"
    assert "st-ok" in mine.nth(photos_col).get_attribute("class")
    assert mine.nth(1).inner_text().strip() == "培育创建中"

    # Which units lack the news articles: from the database, not from the page.
    db = site.bind()
    try:
        from workflow.compliance import CULTIVATED

        lacking = sorted(
            name for name, project_state, n in db.fetchall(
                "SELECT u.name, p.state, (SELECT count(*) FROM evidence_news n "
                "WHERE n.project = p.id AND n.withdrawn_position IS NULL "
                "AND n.level IN ('college', 'school', 'province', 'national')) "
                "FROM project p JOIN org_unit u ON u.code = p.unit WHERE p.campaign = ?",
                (NCUT,),
            ) if project_state in CULTIVATED and n < 2
        )  # fmt: skip
    finally:
        db.database.close()
    assert lacking and UNIT_NAME not in lacking
    for name in lacking[:2]:
        assert "st-fail" in cells(name).nth(news_col).get_attribute("class")
    # The chart counts them: the news bar's 未达标 segment.
    bar = org.locator("figure.chart svg g", has=org.locator("title", has_text="宣传报道"))
    assert f"未达标 {len(lacking)}" in bar.locator("title").first.text_content()

    # The whole matrix as CSV: this unit's row says the news rule is met.
    with org.expect_download() as info:
        org.get_by_role("button", name="导出 CSV").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    header = rows[0]
    news_status = next(i for i, h in enumerate(header) if h.startswith("宣传报道") and "结论" in h)
    line = next(r for r in rows if r[1] == UNIT_NAME)
    assert (line[news_status - 1], line[news_status]) == ("2 / 2 篇", "达标")

    # Sorted by the number of gaps, then filtered: only the units whose news rule is not met
    # (the sort stays), and the CSV of just those.
    table.get_by_role("link", name="待改进").click()
    org.wait_for_url(re.compile(r"sort=gaps"))
    table.locator("th[aria-sort=ascending]", has_text="待改进").wait_for()
    filters = org.locator("form.filters")
    filters.get_by_label("规则").select_option(label=headers_label(org, "news"))
    filters.get_by_label("结论").select_option(label="未达标")
    org.wait_for_url(re.compile(r"rule=news&status=fail&sort=gaps"))
    org.wait_for_function(
        "n => document.querySelectorAll('#compliance-table tbody th.unit').length === n",
        arg=len(lacking),
    )
    settle(org)
    shown = sorted(
        t.split("\n")[0].strip() for t in table.locator("tbody th.unit").all_inner_texts()
    )
    assert shown == lacking
    assert f"显示 {len(lacking)} / " in table.locator("p.small").inner_text()
    with org.expect_download() as info:
        org.get_by_role("button", name="导出 CSV").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert sorted(r[1] for r in rows[1:]) == lacking
    assert UNIT_NAME not in {r[1] for r in rows}

    # --- at phone width the news form is usable and nothing scrolls sideways ---
    phone = open_as(f"a-{UNIT}", **PHONE)
    phone.goto(PROJECT)
    settle(phone)
    form = open_form(phone, "登记一篇宣传报道")
    for label in ("报道标题", "报道链接", "刊发平台", "平台级别", "刊发日期"):
        field = form.get_by_label(label)
        field.scroll_into_view_if_needed()
        assert field.is_visible() and field.bounding_box()["width"] > 100, label
    result = phone.evaluate(OVERFLOW_JS)
    assert result["width"] == 375
    assert result["scroll"] <= 375 + 2, f"the project page scrolls sideways: {result}"
