"""Reports through the browser: the unit fills in the sections, picks captioned photos and
submits; refusals show the form again with the message and write nothing; who may read."""

from __future__ import annotations

import io

import pytest

from workflow import db, log
from workflow.commands import campaigns, reports
from workflow.demo import ORGANIZER

SLUG = "minbei-2025"  # late policy "refuse": the due time matters


@pytest.fixture
def world(seeded):
    app = seeded("cultivating")
    for pid, unit in db.fetchall(
        "SELECT id, unit FROM project WHERE campaign = ? AND state = 'cultivating' ORDER BY id",
        (SLUG,),
    ):
        photos = [r[0] for r in db.fetchall(
            "SELECT photo_id FROM project_photo WHERE project = ? "
            "AND withdrawn_position IS NULL ORDER BY position", (pid,))]  # fmt: skip
        if len(photos) >= 4:
            return app, pid, unit, photos
    raise AssertionError("no cultivating project with photos")


def extend(unit):
    """Web requests use the real clock: move the final stage's due time past today."""
    final = next(s for s in campaigns.get(SLUG)["stages"] if s["code"] == "final")
    campaigns.reschedule_stage(ORGANIZER, SLUG, "final", final["opens"], "2099-12-31 17:00",
                               "测试：总结报告截止时间顺延")  # fmt: skip


def form(pid, photos, total=1000, **extra):
    per = total // 5
    data = {f"s{i}": "品" * per for i in range(1, 6)}
    data["version"] = str(log.stream_version(f"project:{pid}"))
    data["photo"] = photos
    for n, photo in enumerate(photos, 1):
        data[f"order-{photo}"] = str(len(photos) - n + 1)  # the unit reverses the order
        data[f"caption-{photo}"] = f"第{n}张：主题党日"
    data.update(extra)
    return data


def events():
    return db.fetchone("SELECT COUNT(*) FROM event")[0]


def test_a_unit_submits_its_final_report_from_the_browser(world, as_user):
    app, pid, unit, photos = world
    extend(unit)
    b = as_user(f"a-{unit}")
    page = b.get(f"/projects/{pid}/reports/final")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "品牌名称" in html and "取得成效" in html and "data-report-total" in html
    pdf = (io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), "附件.pdf")
    data = form(pid, photos[:3], total=3000, attachments=pdf)
    response = b.post(f"/projects/{pid}/reports/final", data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    got = reports.get_report(pid)
    assert got["chars"] == 3000 and got["revision"] == 1
    assert [p["photo_id"] for p in got["photos"]] == photos[:3][::-1]  # the order typed
    assert got["photos"][0]["caption"] == "第3张：主题党日"
    assert [a["name"] for a in got["attachments"]] == ["附件.pdf"]
    state = db.fetchone("SELECT state FROM project WHERE id = ?", (pid,))[0]
    assert state == "final_submitted"
    shown = b.get(f"/projects/{pid}/reports/final").get_data(as_text=True)
    assert "第 1 版" in shown and "第3张：主题党日" in shown
    sha = got["attachments"][0]["sha256"]
    download = as_user("org").get(f"/projects/{pid}/reports/final/files/{sha}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    # the project page links the report
    assert f"/projects/{pid}/reports/final" in b.get(f"/projects/{pid}").get_data(as_text=True)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"total": 3005}, "超过 3000 字"),
        ({"photos": 2}, "需要 3–5 张照片"),
        ({"caption": ""}, "缺少说明文字"),
        ({"s3": "   "}, "缺少以下部分：品牌内涵"),
        ({"version": "0"}, "已有新的变化"),
    ],
)
def test_bad_reports_are_refused_with_the_form_kept(world, as_user, change, message):
    app, pid, unit, photos = world
    extend(unit)
    b = as_user(f"a-{unit}")
    b.get(f"/projects/{pid}/reports/final")
    data = form(pid, photos[: change.get("photos", 3)], total=change.get("total", 1000))
    if "caption" in change:
        data[f"caption-{photos[1]}"] = change["caption"]
    for key in ("s3", "version"):
        if key in change:
            data[key] = change[key]
    before = events()
    response = b.post(f"/projects/{pid}/reports/final", data, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code in (400, 409) and message in html
    assert events() == before and reports.get_report(pid) is None
    assert "品品品" in html  # what the unit typed is still there


def test_after_the_due_time_the_refuse_policy_refuses(world, as_user):
    app, pid, unit, photos = world
    b = as_user(f"a-{unit}")
    b.get(f"/projects/{pid}/reports/final")
    before = events()
    response = b.post(f"/projects/{pid}/reports/final", form(pid, photos[:3]),
                      content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 400 and "截止" in response.get_data(as_text=True)
    assert events() == before


def test_who_may_read_and_write(world, as_user):
    app, pid, unit, photos = world
    other = db.fetchone(
        "SELECT unit FROM project WHERE campaign = ? AND unit <> ? AND state = 'cultivating'",
        (SLUG, unit),
    )[0]
    outsider = as_user(f"a-{other}")
    assert outsider.get(f"/projects/{pid}/reports/final").status_code == 403
    before = events()
    response = outsider.post(f"/projects/{pid}/reports/final", form(pid, photos[:3]),
                             content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 403 and events() == before
    organizer = as_user("org").get(f"/projects/{pid}/reports/final").get_data(as_text=True)
    assert "尚未提交" in organizer and 'name="s1"' not in organizer  # reads, cannot write
    assert as_user("auditor").get(f"/projects/{pid}/reports/final").status_code == 200
    assert as_user("org").get(f"/projects/{pid}/reports/nonsense").status_code == 404


def test_the_midterm_report_follows_the_campaign_rules(world, as_user):
    """The mid-term report's sections come from the campaign config and are shown as its rules."""
    app, pid, unit, photos = world
    titles = campaigns.get(SLUG)["evidence"]["midterm_report_sections"]
    assert titles == reports.rules(campaigns.get(SLUG), "midterm")["titles"] and len(titles) == 4
    rules = as_user(f"a-{unit}").get(f"/campaigns/{SLUG}").get_data(as_text=True)
    assert "中期报告：" + "、".join(titles) in rules
    page = as_user(f"a-{unit}").get(f"/projects/{pid}/reports/midterm").get_data(as_text=True)
    assert all(title in page for title in titles)


def test_the_reports_panel_and_its_state_as_of_a_past_position(world, as_user):
    """The project page's reports panel folds each report's content; the auditor's time travel
    shows it as it stood: not yet submitted before the report, its first revision after."""
    app, pid, unit, photos = world
    extend(unit)
    before = log.head()[0]
    b = as_user(f"a-{unit}")
    data = form(pid, photos[:3], total=1000)
    assert b.post(f"/projects/{pid}/reports/final", data,
                  content_type="multipart/form-data").status_code == 302  # fmt: skip
    after = log.head()[0]
    data["version"] = str(log.stream_version(f"project:{pid}"))
    data["s1"] = "第二版品牌名称"
    assert b.post(f"/projects/{pid}/reports/final", data,
                  content_type="multipart/form-data").status_code == 302  # fmt: skip
    panel = as_user("org").get(f"/projects/{pid}/reports", htmx=True).get_data(as_text=True)
    assert "第 2 版" in panel and "第二版品牌名称" in panel and "中期报告" in panel
    auditor = as_user("auditor")
    url = f"/audit/projects/{pid}/as-of/reports?position="
    past = auditor.get(url + str(before), htmx=True).get_data(as_text=True)
    assert "第 1 版" not in past and "未提交" in past
    past = auditor.get(url + str(after), htmx=True).get_data(as_text=True)
    assert "第 1 版" in past and "第二版品牌名称" not in past
    assert 'id="reports"' in auditor.get(f"/audit/projects/{pid}/as-of?position={after}").get_data(
        as_text=True
    )
    outsider = db.fetchone(
        "SELECT unit FROM project WHERE campaign = ? AND unit <> ? AND state = 'cultivating'",
        (SLUG, unit),
    )[0]
    assert as_user(f"a-{outsider}").get(f"/projects/{pid}/reports", htmx=True).status_code == 403
