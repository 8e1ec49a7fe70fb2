"""Cultivation (培育创建): news, activities, photos, funding and deferrals, through HTTP where a
user would and through the commands (with `now=` inside the notices' windows) for the rules.

Web requests use the real clock, which is past both notices' evidence stages: notice 000
("flag") accepts late evidence and flags it, notice 001 ("refuse") refuses it until the
organizer grants a deferral. Command tests run inside the windows.
"""

from __future__ import annotations

import io
import os
import re
import struct
import uuid
import zlib
from datetime import timedelta

import pytest
from PIL import Image

from workflow import compliance, db, deadlines, log, projections
from workflow.commands import applications, campaigns, deferrals, evidence, funding, review
from workflow.commands.accounts import get_account
from workflow.deadlines import parse_local
from workflow.errors import DomainError

NCUT, MINBEI = "ncut-info-2023", "minbei-2025"
CS = "ncut-info-2023.ncut-cs-t.branch_feature"  # notice 000: flag late, no funding
JDT = "minbei-2025.mb-jd-t.branch_feature"  # notice 001: refuse late, funding
IN_NCUT = parse_local("2023-05-10 10:00")  # inside 培育创建 (2023-04-16 … 12-31)
IN_MINBEI = parse_local("2025-07-10 10:00")  # inside 中期评估 (2025-07-01 … 11-10)
ORG = "org"


# --- helpers -------------------------------------------------------------------------------


def _submit(slug, unit, values, when):
    applicant = get_account(f"a-{unit}")
    applications.submit(applicant, slug, "branch_feature", values, str(uuid.uuid4()), when)
    pid = applications.project_id(slug, unit, "branch_feature")
    while applications.get_project(pid)["state"] == "submitted":
        step = applications.get_project(pid)["pending_approvals"][0]
        when += timedelta(hours=1)
        applications.record_opinion(get_account(f"s-{step['unit']}"), pid, "agree", "同意。",
                                    "书记", when.date().isoformat(),
                                    log.stream_version(applications.stream(pid)), now=when)  # fmt: skip
    return pid, when


def approve(pid, when):
    version = log.stream_version(applications.stream(pid))
    review.decide(get_account(ORG), pid, "approve", "", version, now=when)


@pytest.fixture
def approved(demo):
    """ncut-cs-t (notice 000) and mb-jd-t (notice 001) approved (立项)."""
    from workflow.demo.content import fields_for

    pid, when = _submit(NCUT, "ncut-cs-t", fields_for("ncut-2023", "计算机系教工党支部",
                        "ncut-cs-t", "李晓梅"), parse_local("2023-04-10 10:00"))  # fmt: skip
    approve(pid, when + timedelta(days=6))
    pid, when = _submit(MINBEI, "mb-jd-t", fields_for("minbei-2025", "机电工程系教工党支部",
                        "mb-jd-t", "何丽娟"), parse_local("2025-06-10 10:00"))  # fmt: skip
    approve(pid, when + timedelta(days=10))
    return demo


def state(pid):
    return applications.get_project(pid)["state"]


def text(response) -> str:
    return response.get_data(as_text=True)


def jpeg(size=(640, 480), colour=(200, 30, 30), exif=None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", **({"exif": exif} if exif else {}))
    return out.getvalue()


def png_header_bomb(width=20000, height=20000) -> bytes:
    """A tiny PNG whose header claims width × height pixels (never inflated by the check)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 2048)) + chunk(b"IEND", b""))  # fmt: skip


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + os.urandom(200)
NEWS = {"title": "计算机系教工党支部开展“码”上先锋主题党日", "url": "https://news.example.edu.cn/a/1.html",
        "platform": "学院官网", "level": "college", "published_on": "2023-05-08"}  # fmt: skip


def news(pid=CS, when=IN_NCUT, user="a-ncut-cs-t", **changes):
    values = {**NEWS, "url": f"https://news.example.edu.cn/{uuid.uuid4().hex}.html", **changes}
    return evidence.add_news(get_account(user), pid, values, None, "/nonexistent", now=when)


def stored_files(demo) -> list[str]:
    root = demo.config["UPLOAD_DIR"]
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)


def counts() -> tuple:
    tables = ("evidence_news", "evidence_activity", "project_photo", "project_expense",
              "project_budget", "deferral_request", "campaign_extension")  # fmt: skip
    return tuple(db.fetchone(f"SELECT COUNT(*) FROM {t}")[0] for t in tables)


def post_photos(b, pid, files, captions=None, caption=""):
    data = {"photos": [(io.BytesIO(d), n) for d, n in files], "caption": caption}
    if captions is not None:
        data["captions"] = captions
    return b.post(f"/projects/{pid}/evidence/photos", data, htmx=True,
                  content_type="multipart/form-data")  # fmt: skip


def refused_unchanged(demo, response, status, *phrases, before=None):
    """The request was refused with a Chinese message, and nothing was stored."""
    body = text(response)
    assert response.status_code == status, (response.status_code, body[:2000])
    for phrase in phrases:
        assert phrase in body, (phrase, body[:3000])
    if before is not None:
        head, rows, files = before
        assert log.head() == head
        assert counts() == rows
        assert stored_files(demo) == files


def snapshot(demo):
    return log.head(), counts(), stored_files(demo)


# --- state and the rule's levels -----------------------------------------------------------


def test_first_evidence_starts_cultivation_once_and_only_qualifying_levels_count(approved):
    assert state(CS) == "approved"
    news(level="dept")  # 系 level: recorded, does not count (notice 000: 学院及以上)
    assert state(CS) == "cultivating"
    news(level="college")
    starts = [e for e in log.read_stream(applications.stream(CS)) if e.type == "CultivationStarted"]
    assert len(starts) == 1 and starts[0].payload == {"revision": 1, "trigger": "news"}
    config = campaigns.get(NCUT)
    row = next(c for c in compliance.checklist(applications.get_project(CS), config, IN_NCUT)
               if c["code"] == "news")  # fmt: skip
    assert (row["count"], row["target"], row["status"]) == (1, 2, "todo")
    assert "另有 1 篇级别不够" in row["detail"]
    news(level="school")
    row = next(c for c in compliance.checklist(applications.get_project(CS), config, IN_NCUT)
               if c["code"] == "news")  # fmt: skip
    assert (row["count"], row["status"]) == (2, "ok")


def test_evidence_needs_an_approved_project(demo, as_user):
    from workflow.demo.content import fields_for

    pid, _ = _submit(NCUT, "ncut-cs-t", fields_for("ncut-2023", "计算机系教工党支部", "ncut-cs-t",
                     "李晓梅"), parse_local("2023-04-10 10:00"))  # fmt: skip
    assert state(pid) == "under_review"
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{pid}")
    before = snapshot(demo)
    response = b.post(f"/projects/{pid}/evidence/news", {**NEWS}, htmx=True)
    refused_unchanged(demo, response, 400, "组织部审核中", "不能提交培育创建材料", before=before)


# --- news through HTTP ---------------------------------------------------------------------


def test_applicant_registers_news_with_screenshot_and_organizer_reads_it(approved, as_user):
    b = as_user("a-ncut-cs-t")
    assert b.get(f"/projects/{CS}").status_code == 200
    page = b.get(f"/projects/{CS}/evidence", htmx=True)
    assert page.status_code == 200 and "登记一篇宣传报道" in text(page)
    shot = jpeg((1200, 900))
    response = b.post(f"/projects/{CS}/evidence/news",
                      {**NEWS, "screenshot": (io.BytesIO(shot), "截图.jpg")}, htmx=True,
                      content_type="multipart/form-data")  # fmt: skip
    # approved -> cultivating: the whole project page reloads (its header shows the state)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith("#evidence")
    assert state(CS) == "cultivating"
    row = db.fetchone(
        "SELECT title, level, late, screenshot_sha, screenshot_thumb FROM evidence_news"
    )
    assert row[0] == NEWS["title"] and row[1] == "college"
    assert row[2] == 1  # the real clock is past 2023-12-31: flagged late under notice 000's policy
    panel = text(b.get(f"/projects/{CS}/evidence", htmx=True))
    assert (
        NEWS["title"] in panel
        and "逾期登记" in panel
        and 'rel="noopener noreferrer nofollow"' in panel
    )
    for who in ("org", "auditor", "s-ncut-cs-t"):
        viewer = as_user(who)
        body = text(viewer.get(f"/projects/{CS}/evidence", htmx=True))
        assert NEWS["title"] in body
        assert viewer.get(f"/projects/{CS}/evidence/files/{row[4]}").mimetype == "image/jpeg"
    assert "登记一篇宣传报道" not in text(as_user("org").get(f"/projects/{CS}/evidence", htmx=True))
    # a plain (non-htmx) form post is answered with a redirect to the project page
    plain = b.post(f"/projects/{CS}/evidence/news", {**NEWS, "url": NEWS["url"] + "?2"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith(
        f"/projects/{CS}#evidence"
    )


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"published_on": "2099-01-01"}, "刊发日期不能晚于今天"),
        ({"url": "javascript:alert(1)"}, "报道链接须是以 http:// 或 https:// 开头的完整网址"),
        ({"url": "ftp://news.example.edu.cn/a.html"}, "http:// 或 https://"),
        ({"url": "https://"}, "http:// 或 https://"),
        ({"title": "  "}, "请填写报道标题"),
        ({"level": "galaxy"}, "请选择平台级别"),
        ({"published_on": "五月八日"}, "请填写刊发日期，格式如"),
    ],
    ids=[
        "future-date",
        "javascript-link",
        "ftp-link",
        "no-host",
        "no-title",
        "bad-level",
        "bad-date",
    ],
)
def test_bad_news_is_refused_and_nothing_is_stored(approved, as_user, changes, message):
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{CS}")
    before = snapshot(approved)
    response = b.post(f"/projects/{CS}/evidence/news", {**NEWS, **changes}, htmx=True)
    refused_unchanged(approved, response, 400, message, before=before)
    assert "<html" not in text(response)  # the panel fragment, errors inline
    assert state(CS) == "approved"


def test_news_date_in_the_future_by_the_commands_clock(approved):
    with pytest.raises(DomainError) as info:
        news(published_on="2023-05-11")  # IN_NCUT is 2023-05-10
    assert "不能晚于今天（2023-05-10）" in info.value.errors["published_on"]


def test_same_link_twice_is_refused(approved):
    news(url="https://news.example.edu.cn/same.html")
    with pytest.raises(DomainError) as info:
        news(url="https://news.example.edu.cn/same.html")
    assert "已经登记过" in info.value.errors["url"]


# --- photos ---------------------------------------------------------------------------------


def test_many_photos_with_captions_exif_stripped_oriented_thumbnailed(approved, as_user):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: a phone held upright
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPS
    upright = jpeg((400, 200), exif=exif.tobytes())
    webp = io.BytesIO()
    Image.new("RGB", (300, 300), (20, 120, 60)).save(webp, "WEBP")
    png = io.BytesIO()
    Image.new("RGBA", (2000, 1000), (0, 0, 255, 128)).save(png, "PNG")
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{CS}")
    response = post_photos(b, CS, [(upright, "IMG_1.JPG"), (webp.getvalue(), "b.webp"),
                                   (png.getvalue(), "c.png")],
                           captions=["主题党日合影", "", "展板"], caption="志愿服务")  # fmt: skip
    assert response.status_code == 204  # first evidence: cultivating, page reloads
    rows = db.fetchall("SELECT sha256, thumb_sha, mime, width, height, caption, name FROM "
                       "project_photo ORDER BY position")  # fmt: skip
    assert [r[5] for r in rows] == [
        "主题党日合影",
        "志愿服务",
        "展板",
    ]  # the shared caption fills in
    assert [(r[3], r[4]) for r in rows] == [(200, 400), (300, 300), (2000, 1000)]
    assert [r[2] for r in rows] == ["image/jpeg", "image/jpeg", "image/png"]  # WebP stored as JPEG
    root = approved.config["UPLOAD_DIR"]
    import hashlib

    for sha, thumb, *_ in rows:
        data = open(os.path.join(root, sha[:2], sha[2:4], sha), "rb").read()
        assert hashlib.sha256(data).hexdigest() == sha  # addressed by the processed image
        img = Image.open(io.BytesIO(data))
        assert not img.getexif() and "exif" not in img.info and "xmp" not in img.info
        small = Image.open(
            io.BytesIO(open(os.path.join(root, thumb[:2], thumb[2:4], thumb), "rb").read())
        )
        assert max(small.size) <= 480 and thumb != sha
    panel = text(b.get(f"/projects/{CS}/evidence", htmx=True))
    assert "主题党日合影" in panel and "共 3 张" in panel
    # a caption is changed in place; emptying it is refused where captions are required
    photo_id = db.fetchone("SELECT photo_id FROM project_photo ORDER BY position")[0]
    ok = b.post(
        f"/projects/{CS}/evidence/caption", {"photo_id": photo_id, "caption": "新注释"}, htmx=True
    )
    assert ok.status_code == 200 and "照片注释已保存" in text(ok)
    before = snapshot(approved)
    bad = b.post(
        f"/projects/{CS}/evidence/caption", {"photo_id": photo_id, "caption": " "}, htmx=True
    )
    refused_unchanged(approved, bad, 400, "请为照片填写注释", before=before)


@pytest.mark.parametrize(
    "data,name,message",
    [
        ("这不是图片，只是一段文字".encode(), "photo.jpg", "不是图片：只接受 JPEG、PNG 或 WebP"),
        (ELF, "party-day.jpg", "不是图片：只接受 JPEG、PNG 或 WebP"),
        (b"MZ\x90\x00" + os.urandom(300), "setup.png", "不是图片"),
        (png_header_bomb(), "bomb.png", "像素过大（40000 万像素），请缩小到 4000 万像素以内"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "cut.jpg", "已损坏或无法识别"),
        (b"", "empty.jpg", "是空文件"),
        (b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), "huge.jpg", "超过 10 MB"),
    ],
    ids=[
        "text-file",
        "renamed-executable",
        "renamed-exe-pe",
        "20000x20000",
        "truncated",
        "empty",
        "over-10mb",
    ],
)
def test_bad_photos_are_refused_and_nothing_is_stored(approved, as_user, data, name, message):
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{CS}")
    before = snapshot(approved)
    # a good photo in the same batch is not stored either: all or none
    response = post_photos(b, CS, [(jpeg(), "good.jpg"), (data, name)], captions=["合影", "合影2"])
    refused_unchanged(approved, response, 400, message, before=before)
    assert state(CS) == "approved"


def test_empty_caption_is_refused_where_the_rule_needs_one(approved, as_user):
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{CS}")
    before = snapshot(approved)
    response = post_photos(b, CS, [(jpeg(), "IMG_2.jpg")], captions=[""], caption="")
    refused_unchanged(approved, response, 400, "请为照片“IMG_2.jpg”填写注释", before=before)


def test_uploads_are_rate_limited_per_account_across_routes(approved, as_user):
    """A budget of files per account and window, counted in the database for every route that
    takes files; refused uploads spend it too, other accounts keep theirs."""
    approved.config["UPLOAD_RATE_FILES"] = 3
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{CS}")
    ok = post_photos(b, CS, [(jpeg(), "a.jpg"), (jpeg(colour=(0, 90, 0)), "b.jpg")],
                     captions=["合影", "展板"])  # fmt: skip
    assert ok.status_code == 204, text(ok)[:2000]
    bad = post_photos(b, CS, [(ELF, "party-day.jpg")], captions=["合影"])
    assert bad.status_code == 400  # refused by content, and counted: 3 of 3 spent
    before = snapshot(approved)
    response = post_photos(b, CS, [(jpeg(colour=(0, 0, 90)), "c.jpg")], captions=["合影"])
    refused_unchanged(approved, response, 429, "上传过于频繁", "10 分钟内最多上传 3 个文件",
                      before=before)  # fmt: skip
    assert 0 < int(response.headers["Retry-After"]) <= 600
    assert response.headers["HX-Retarget"] == "#alerts"  # the form and its photos stay
    # the same budget on another route that takes files: the paper copy of the application
    page = b.post(f"/projects/{CS}/paper-copy", {"file": (io.BytesIO(b"%PDF-1.4 %%EOF"), "a.pdf")},
                  content_type="multipart/form-data")  # fmt: skip
    assert page.status_code == 429 and "上传过于频繁" in text(page)
    other = as_user("a-mb-jd-t")  # another account is not held back
    other.get(f"/projects/{JDT}")
    response = post_photos(other, JDT, [(jpeg(), "a.jpg")], captions=["合影"])
    assert response.status_code != 429, text(response)[:2000]


def test_upload_budget_counts_bytes_and_frees_up_as_the_window_moves(approved):
    from workflow import upload_quota

    limits = upload_quota.Limits(files=10, megabytes=2, window=timedelta(minutes=10))
    start = parse_local("2026-11-20 09:00")
    upload_quota.admit("a-ncut-cs-t", 1, 1024 * 1024, limits, now=start)
    upload_quota.admit("a-ncut-cs-t", 1, 1024 * 1024, limits, now=start + timedelta(minutes=1))
    with pytest.raises(upload_quota.UploadRateLimited, match="共 2 MB") as refused:
        upload_quota.admit("a-ncut-cs-t", 1, 10, limits, now=start + timedelta(minutes=2))
    assert refused.value.retry_after == 8 * 60  # when the first upload leaves the window
    upload_quota.admit("a-ncut-cs-t", 1, 10, limits, now=start + timedelta(minutes=10, seconds=1))
    with pytest.raises(upload_quota.UploadRateLimited):  # alone over the budget: never admitted
        upload_quota.admit("x", 1, 3 * 1024 * 1024, limits, now=start)


def test_a_photo_too_small_for_the_rule_is_refused(approved):
    config = campaigns.get(NCUT)
    config["evidence"]["photo_min_pixels"] = 1000
    errors: dict = {}
    evidence.prepare_photos(config, [(jpeg((800, 600)), "small.jpg")], ["合影"], errors)
    assert "短边不足 1000 像素" in errors["photos"]


def test_activity_with_photos_in_one_append(approved, as_user):
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{CS}")
    form = {"kind": "theme_day", "title": "重温入党誓词", "held_on": "2023-05-04", "place": "党员活动室",
            "participants": "28", "summary": "全体党员重温入党誓词。",
            "photos": [(io.BytesIO(jpeg()), "a.jpg"), (io.BytesIO(jpeg(colour=(1, 2, 3))), "b.jpg")],
            "captions": ["宣誓", "合影"]}  # fmt: skip
    head = log.head()[0]
    response = b.post(f"/projects/{CS}/evidence/activities", form, htmx=True,
                      content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 204
    types = [log.get(p).type for p in range(head + 1, log.head()[0] + 1)]
    assert types == ["CultivationStarted", "ActivityRecorded", "PhotoAdded", "PhotoAdded"]
    activity = db.fetchone("SELECT activity_id, participants FROM evidence_activity")
    assert activity[1] == 28
    assert (
        db.fetchone("SELECT COUNT(*) FROM project_photo WHERE activity = ?", (activity[0],))[0] == 2
    )
    before = snapshot(approved)
    bad = b.post(f"/projects/{CS}/evidence/activities", {**form, "participants": "很多",
                 "photos": [(io.BytesIO(jpeg()), "c.jpg")]}, htmx=True,
                 content_type="multipart/form-data")  # fmt: skip
    refused_unchanged(approved, bad, 400, "请填写参加人数", before=before)
    # withdrawing the activity takes its photos with it; the rows stay for history
    ok = b.post(f"/projects/{CS}/evidence/withdraw", {"kind": "activity", "item_id": activity[0],
                "reason": "重复登记"}, htmx=True)  # fmt: skip
    assert ok.status_code == 200 and "已撤回" in text(ok)
    assert (
        db.fetchone("SELECT COUNT(*) FROM project_photo WHERE withdrawn_position IS NULL")[0] == 0
    )
    assert db.fetchone("SELECT COUNT(*) FROM project_photo")[0] == 2


# --- who may post and read -----------------------------------------------------------------


def test_another_units_applicant_gets_403_posting_or_reading(approved, as_user):
    other = as_user("a-ncut-ee-t")
    other.get("/")
    before = snapshot(approved)
    for url, data in [
        (f"/projects/{CS}/evidence/news", NEWS),
        (f"/projects/{CS}/evidence/photos", {"caption": "x"}),
        (f"/projects/{CS}/evidence/activities", {}),
        (f"/projects/{CS}/evidence/withdraw", {"kind": "news", "item_id": "x", "reason": "x"}),
        (f"/projects/{CS}/deferrals", {}),
        (f"/projects/{JDT}/funding/expenses", {"amount": "1"}),
    ]:
        refused_unchanged(
            approved, other.post(url, data, htmx=True), 403, "没有权限", before=before
        )
    refused_unchanged(approved, other.get(f"/projects/{CS}/evidence", htmx=True), 403, "没有权限")
    refused_unchanged(approved, other.get(f"/projects/{CS}/evidence"), 403, "没有权限")
    # organizer and auditor read only
    for who in ("org", "auditor"):
        b = as_user(who)
        b.get("/")
        refused_unchanged(approved, b.post(f"/projects/{CS}/evidence/news", NEWS, htmx=True), 403,
                          "只有本单位的申报人或书记", before=before)  # fmt: skip
    # the unit's secretary may post
    s = as_user("s-ncut-cs-t")
    s.get("/")
    assert s.post(f"/projects/{CS}/evidence/news", NEWS, htmx=True).status_code == 204


def test_files_are_served_only_within_scope(approved, as_user):
    news(CS)
    evidence.add_photos(get_account("a-ncut-cs-t"), CS, [(jpeg(), "a.jpg")], ["合影"],
                        approved.config["UPLOAD_DIR"], now=IN_NCUT)  # fmt: skip
    sha = db.fetchone("SELECT sha256 FROM project_photo")[0]
    assert as_user("a-ncut-cs-t").get(f"/projects/{CS}/evidence/files/{sha}").status_code == 200
    assert as_user("a-ncut-ee-t").get(f"/projects/{CS}/evidence/files/{sha}").status_code == 403
    other = applications.project_id(NCUT, "ncut-ee-t", "branch_feature")
    assert as_user("org").get(f"/projects/{other}/evidence/files/{sha}").status_code == 404
    assert as_user("org").get(f"/projects/{CS}/evidence/files/{'0' * 64}").status_code == 404


# --- late policy and deferrals -------------------------------------------------------------


def test_refuse_policy_after_due_then_a_granted_deferral_reopens(approved, as_user):
    after_due = parse_local("2025-11-12 10:00")  # 中期评估 was due 2025-11-10 18:00
    with pytest.raises(DomainError) as info:
        news(JDT, after_due, "a-mb-jd-t", published_on="2025-11-11")
    assert "已于 2025年11月10日 18:00 截止" in info.value.message and "延期" in info.value.message
    applicant, org = get_account("a-mb-jd-t"), get_account(ORG)
    deferrals.request(applicant, JDT, "midterm", "2025-12-10 18:00", "稿件审核中，申请延期一个月。",
                      now=after_due)  # fmt: skip
    request_id = db.fetchone("SELECT request_id FROM deferral_request")[0]
    written = deferrals.decide(org, JDT, request_id, "grant", "", "同意。", now=after_due)
    assert [e.type for e in written] == ["DeferralGranted", "DeadlineExtended"]
    assert written[1].stream == "campaign:minbei-2025"
    row = db.fetchone("SELECT due FROM campaign_extension WHERE unit = 'mb-jd-t'")
    assert row[0] == "2025-12-10 18:00"
    window = deadlines.window(campaigns.get(MINBEI), "midterm", "mb-jd-t")
    assert window.extended and not window.late(after_due)
    event = news(JDT, after_due, "a-mb-jd-t", published_on="2025-11-11")
    assert event.payload["late"] is False
    assert db.fetchone("SELECT status, granted_due FROM deferral_request")[0:2] == ("granted",
                                                                                   "2025-12-10 18:00")  # fmt: skip


def test_deferral_through_http_request_grant_refuse(approved, as_user):
    b = as_user("a-mb-jd-t")
    b.get(f"/projects/{JDT}")
    before = snapshot(approved)
    beyond = b.post(f"/projects/{JDT}/deferrals", {"stage": "midterm", "due": "2026-02-11T18:00",
                    "reason": "需要更多时间"}, htmx=True)  # fmt: skip
    refused_unchanged(
        approved, beyond, 400, "最多只能延期 92 天", "2026年02月10日 18:00", before=before
    )
    no_reason = b.post(f"/projects/{JDT}/deferrals", {"stage": "midterm", "due": "2025-12-01T18:00",
                       "reason": ""}, htmx=True)  # fmt: skip
    refused_unchanged(approved, no_reason, 400, "请填写延期理由", before=before)
    ok = b.post(f"/projects/{JDT}/deferrals", {"stage": "midterm", "due": "2025-12-01T18:00",
                "reason": "宣传稿件待审核"}, htmx=True)  # fmt: skip
    assert ok.status_code == 200 and "延期申请已提交" in text(ok)
    twice = b.post(f"/projects/{JDT}/deferrals", {"stage": "midterm", "due": "2025-12-02T18:00",
                   "reason": "再次申请"}, htmx=True)  # fmt: skip
    assert twice.status_code == 400 and "待审批的延期申请" in text(twice)
    request_id = db.fetchone("SELECT request_id FROM deferral_request")[0]
    # only the organizer decides
    refused_unchanged(approved, b.post(f"/projects/{JDT}/deferrals/decide",
                      {"request_id": request_id, "decision": "grant"}, htmx=True), 403, "没有权限")  # fmt: skip
    org = as_user("org")
    org.get(f"/projects/{JDT}")
    panel = text(org.get(f"/projects/{JDT}/evidence", htmx=True))
    assert "提交批复" in panel and "宣传稿件待审核" in panel
    before = snapshot(approved)
    too_far = org.post(f"/projects/{JDT}/deferrals/decide", {"request_id": request_id,
                       "decision": "grant", "due": "2026-03-01 18:00"}, htmx=True)  # fmt: skip
    refused_unchanged(approved, too_far, 400, "最多只能延期 92 天", before=before)
    refuse_silently = org.post(f"/projects/{JDT}/deferrals/decide", {"request_id": request_id,
                               "decision": "refuse", "note": ""}, htmx=True)  # fmt: skip
    refused_unchanged(approved, refuse_silently, 400, "请填写不予延期的理由", before=before)
    granted = org.post(f"/projects/{JDT}/deferrals/decide", {"request_id": request_id,
                       "decision": "grant", "due": "", "note": "同意"}, htmx=True)  # fmt: skip
    assert granted.status_code == 200 and "已批准" in text(granted)
    assert (
        db.fetchone("SELECT due FROM campaign_extension WHERE unit = 'mb-jd-t'")[0]
        == "2025-12-01 18:00"
    )
    again = org.post(f"/projects/{JDT}/deferrals/decide", {"request_id": request_id,
                     "decision": "refuse", "note": "x"}, htmx=True)  # fmt: skip
    assert again.status_code == 400 and "已处理" in text(again)


# --- funding --------------------------------------------------------------------------------


def test_budget_and_expenses_with_decimal_totals(approved, as_user):
    org = as_user("org")
    org.get(f"/projects/{JDT}")
    assert org.post(f"/projects/{JDT}/funding/budget", {"amount": "3,000", "note": "核定"},
                    htmx=True).status_code == 200  # fmt: skip
    b = as_user("a-mb-jd-t")
    b.get(f"/projects/{JDT}")
    refused_unchanged(approved, b.post(f"/projects/{JDT}/funding/budget", {"amount": "99999"},
                      htmx=True), 403, "没有权限")  # fmt: skip
    receipt = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    for item, amount in [("展板制作", "1200.10"), ("资料印制", "0.20"), ("志愿服务物资", "1800")]:
        response = b.post(f"/projects/{JDT}/funding/expenses",
                          {"spent_on": "2025-07-05", "item": item, "amount": amount,
                           "receipt": (io.BytesIO(receipt), "发票.pdf")},
                          htmx=True, content_type="multipart/form-data")  # fmt: skip
        assert response.status_code in (200, 204), text(response)[:500]
    s = funding.summary(JDT)
    assert str(s["spent"]) == "3000.30" and str(s["budget"]) == "3000.00" and s["over"]
    assert str(s["remaining"]) == "-0.30"
    panel = text(b.get(f"/projects/{JDT}/evidence", htmx=True))
    assert "3,000.30" in panel and "支出已超出预算" in panel
    cell = next(c for c in compliance.checklist(applications.get_project(JDT), campaigns.get(MINBEI))
                if c["code"] == "funding")  # fmt: skip
    assert cell["status"] == "fail" and "超出预算 0.30 元" in cell["detail"]


@pytest.mark.parametrize(
    "amount,message",
    [("-50", "金额必须大于 0"), ("abc", "金额须为数字"), ("0", "金额必须大于 0"),
     ("12.345", "最多保留两位小数"), ("1e3", "金额须为数字"), ("", "请填写金额"),
     ("NaN", "金额须为数字"), ("99999999", "不能超过")],
    ids=["negative", "non-numeric", "zero", "three-places", "exponent", "empty", "nan", "too-big"],
)  # fmt: skip
def test_bad_expense_amounts_are_refused(approved, as_user, amount, message):
    b = as_user("a-mb-jd-t")
    b.get(f"/projects/{JDT}")
    before = snapshot(approved)
    response = b.post(f"/projects/{JDT}/funding/expenses",
                      {"spent_on": "2025-07-05", "item": "展板", "amount": amount}, htmx=True)  # fmt: skip
    refused_unchanged(approved, response, 400, message, before=before)


def test_no_funding_where_the_campaign_grants_none(approved):
    with pytest.raises(DomainError) as info:
        funding.set_budget(get_account(ORG), CS, "100", "")
    assert "不设项目经费" in info.value.message


# --- history --------------------------------------------------------------------------------


def test_rebuild_reproduces_the_evidence_tables(approved):
    from workflow.demo.cultivation import drive_cultivating

    drive_cultivating(MINBEI, approved.config["UPLOAD_DIR"])
    evidence.withdraw(get_account("a-mb-jd-t"), JDT, "news",
                      db.fetchone("SELECT news_id FROM evidence_news WHERE project = ?", (JDT,))[0],
                      "链接有误", now=IN_MINBEI + timedelta(days=60))  # fmt: skip
    before = projections.snapshot()
    assert before["project_photo"] and before["project_expense"] and before["deferral_request"]
    projections.rebuild()
    assert projections.snapshot() == before
    assert log.verify().ok


def test_demo_gives_every_approved_project_evidence_with_gaps(approved):
    from workflow import demo as demo_data
    from workflow.demo.cultivation import drive_cultivating

    demo_data.seed([NCUT], "demo12345", through="approved", echo=lambda *_: None)
    counts_ = drive_cultivating(NCUT, approved.config["UPLOAD_DIR"])
    assert counts_["projects"] >= 6 and counts_["photos"] > counts_["projects"]
    states = dict(db.fetchall("SELECT id, state FROM project WHERE campaign = ?", (NCUT,)))
    assert "approved" not in states.values()
    assert list(states.values()).count("cultivating") >= 7
    assert db.fetchone("SELECT COUNT(*) FROM project_photo WHERE caption = ''")[0] == 0
    table = compliance.matrix(campaigns.get(NCUT))
    statuses = [r["cells"]["news"]["status"] for r in table if r["state"] == "cultivating"]
    assert "ok" in statuses and ({"todo", "fail"} & set(statuses))
    assert db.fetchone("SELECT COUNT(*) FROM campaign_extension WHERE slug = ?", (NCUT,))[0] == 1
    assert drive_cultivating(NCUT, approved.config["UPLOAD_DIR"])["projects"] == 0  # idempotent
    times = [e.occurred_at for e in log.iter_events() if e.stream.startswith("evidence:ncut")]
    assert all(t.startswith("2023-") for t in times)


def test_photo_limits_of_the_module():
    from workflow import photos

    assert photos.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    with pytest.raises(DomainError, match="像素过大"):
        photos.process(png_header_bomb(9000, 9000), "x.png")  # 81 MP > 40 MP
    with pytest.raises(DomainError, match="像素过大"):
        photos.process(png_header_bomb(13000, 10), "x.png")  # a side over 12000
    processed = photos.process(jpeg((3000, 2000)), "大图.jpeg")
    assert processed.name == "大图.jpg" and (processed.width, processed.height) == (3000, 2000)
    assert max(Image.open(io.BytesIO(processed.thumb)).size) == 480
    assert re.match(r"^大图-缩略图\.jpg$", processed.thumb_name)
