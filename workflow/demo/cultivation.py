"""Demo of the cultivation stage (培育创建): every approved demo project gets news articles,
activities with captioned photos (simple scenes drawn with Pillow), and, where the campaign
grants funding, a budget and expenses. Some units stay below the news or photo minimum, one
asks for a deferral that is granted and one waits for an answer, so the organizer's matrix
shows real gaps.

Runs the same commands the UI uses, under a simulated clock inside the evidence stage's window
(cultivate for notice 000, midterm for notice 001). Idempotent: a project that already has
evidence is left alone.
"""

from __future__ import annotations

import io
import os
import zlib
from datetime import timedelta

from .. import db
from ..commands import campaigns, deferrals, evidence, funding
from ..commands.accounts import get_account
from ..deadlines import LOCAL_FORMAT, parse_local
from .content import BRANDS

PLATFORMS = {
    "dept": "系部微信公众号",
    "college": "学院官网新闻",
    "school": "学校新闻网",
    "province": "省教育厅网站",
    "national": "学习强国",
}
# Per project, by its index: the levels of its news articles (gaps on purpose).
NEWS_PLANS = [
    ["dept", "college"],  # one qualifying: below the minimum of 2
    ["college", "school"],
    ["college", "school", "province"],
    ["college"],  # one qualifying
    ["school", "college", "national"],
    ["college", "college"],
]
ACTIVITIES = [
    ("theme_day", "“{brand}”主题党日：重温入党誓词", "党员活动室", 32,
     "支部全体党员重温入党誓词，围绕“{brand}”品牌建设开展专题研讨，明确本学期三项重点任务。"),
    ("volunteer", "“{brand}”志愿服务进社区", "社区党群服务中心", 18,
     "党员带领入党积极分子开展志愿服务，结合专业特长为社区居民提供咨询与帮扶。"),
    ("study", "品牌建设专题学习会", "学院会议室", 25,
     "邀请学院党委专职组织员作辅导报告，交流品牌培育经验，查找短板并形成整改清单。"),
]  # fmt: skip
SCENES = [((38, 96, 164), (120, 180, 230)), ((190, 80, 40), (250, 190, 120)),
          ((30, 120, 90), (150, 210, 170)), ((90, 60, 140), (190, 160, 220))]  # fmt: skip


def _upload_dir(upload_dir: str | None) -> str:
    if upload_dir:
        return upload_dir
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config["UPLOAD_DIR"]
    return os.environ.get("UPLOAD_DIR") or os.path.join("instance", "uploads")


def _font(size: int):
    """A CJK font when one is installed (the PDFs need one anyway), else Pillow's own."""
    from PIL import ImageFont

    from ..documents.fonts import CANDIDATES

    for path in (os.environ.get("BRANDFLOW_FONT"), *CANDIDATES):
        if path and os.path.isfile(path):
            try:
                font = ImageFont.truetype(path, size)
                if font.getmask("中").getbbox():
                    return font, True
            except OSError:
                continue
    return ImageFont.load_default(size=size), False


def scene(title: str, subtitle: str, seed: int, size=(800, 533)) -> bytes:
    """A simple coloured scene: sky, ground, a red banner with the activity's name, people."""
    from PIL import Image, ImageDraw

    width, height = size
    top, bottom = SCENES[seed % len(SCENES)]
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom))
        )
    draw.rectangle([0, int(height * 0.72), width, height], fill=(110, 100, 90))
    draw.rectangle([60, 50, width - 60, 150], fill=(200, 22, 29), outline=(245, 197, 24), width=4)
    font, cjk = _font(34)
    small, _ = _font(22)
    if not cjk:  # no Chinese glyphs here: say it in plain words rather than draw boxes
        title, subtitle = "Party branch activity", f"BrandFlow demo #{seed}"
    draw.text((width // 2, 100), title[:22], font=font, fill=(255, 240, 200), anchor="mm")
    draw.text((width // 2, 190), subtitle[:30], font=small, fill=(255, 255, 255), anchor="mm")
    for i in range(9):  # people in a row
        x = 90 + i * (width - 180) // 8
        colour = ((seed * 37 + i * 53) % 200, (seed * 11 + i * 29) % 200, (i * 71) % 200)
        draw.ellipse([x - 18, 300, x + 18, 336], fill=(240, 210, 180))
        draw.rectangle([x - 24, 338, x + 24, 420], fill=colour)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def _photo_set(unit_name: str, title: str, seed: int, count: int):
    uploads, captions = [], []
    for k in range(count):
        uploads.append((scene(title, unit_name, seed * 10 + k), f"IMG_{seed:03d}{k}.jpg"))
        captions.append(f"{title}（{['活动现场', '党员合影', '交流研讨', '志愿服务'][k % 4]}）")
    return uploads, captions


def drive_cultivating(slug: str, upload_dir: str | None = None) -> dict:
    """Give every approved demo project of the campaign its cultivation evidence."""
    from . import ORGANIZER

    upload_dir = _upload_dir(upload_dir)
    config = campaigns.get(slug)
    tz = config["timezone"]
    code = evidence.evidence_stage(config)
    stage = next(s for s in config["stages"] if s["code"] == code)
    opens, due = parse_local(stage["opens"], tz), parse_local(stage["due"], tz)
    start = opens + timedelta(days=7, hours=9)
    rows = db.fetchall(
        "SELECT p.id, p.unit, p.category, u.name FROM project p JOIN org_unit u ON u.code = p.unit "
        "WHERE p.campaign = ? AND p.state = 'approved' ORDER BY p.id",
        (slug,),
    )
    counts = {"projects": 0, "news": 0, "activities": 0, "photos": 0, "deferrals": 0}
    step = max(timedelta(days=1), min(timedelta(days=6), (due - start) / (len(rows) + 2) / 2))
    deferral_asked = deferral_pending = False
    clock = start
    for index, (pid, unit, category, unit_name) in enumerate(rows):
        clock = max(clock, start + index * step)
        applicant = get_account(f"a-{unit}")
        brand = BRANDS.get(unit, ("党建品牌", ""))[0]
        seed = zlib.crc32(pid.encode()) % 1000
        # Activities first: the first one moves the project to cultivating.
        activity_count = 1 if index % 4 == 0 else 2
        for k in range(activity_count):
            kind, title, place, people, summary = ACTIVITIES[(index + k) % len(ACTIVITIES)]
            title, summary = title.format(brand=brand), summary.format(brand=brand)
            clock += timedelta(hours=20)
            uploads, captions = _photo_set(unit_name, title, seed + k, 2)
            evidence.record_activity(
                applicant, pid,
                {"kind": kind, "title": title, "held_on": (clock - timedelta(days=1)).date().isoformat(),
                 "place": place, "participants": str(people + index % 7), "summary": summary},
                uploads, captions, upload_dir, now=clock,
            )  # fmt: skip
            counts["activities"] += 1
            counts["photos"] += len(uploads)
        if index % 3 == 2:  # one more captioned photo outside any activity
            clock += timedelta(hours=6)
            uploads, captions = _photo_set(unit_name, f"“{brand}”品牌展示墙", seed + 7, 1)
            evidence.add_photos(applicant, pid, uploads, captions, upload_dir, now=clock)
            counts["photos"] += 1
        for n, level in enumerate(NEWS_PLANS[index % len(NEWS_PLANS)]):
            clock += timedelta(hours=10)
            title = [f"{unit_name}开展“{brand}”主题党日活动",
                     f"“{brand}”：{unit_name}以党建品牌引领中心工作",
                     f"{unit_name}党员志愿服务队走进社区"][n % 3]  # fmt: skip
            evidence.add_news(
                applicant, pid,
                {"title": title, "url": f"https://news.example.edu.cn/{slug}/{seed}{n}.html",
                 "platform": PLATFORMS[level], "level": level,
                 "published_on": (clock - timedelta(hours=12)).date().isoformat()},
                None, upload_dir, now=clock,
            )  # fmt: skip
            counts["news"] += 1
        if config.get("funding"):
            clock = _funding(ORGANIZER, applicant, pid, category, index, clock, upload_dir)
        below = len([lv for lv in NEWS_PLANS[index % len(NEWS_PLANS)]
                     if lv in config["evidence"]["news_levels"]]) < config["evidence"]["news_min"]  # fmt: skip
        if below and not (deferral_asked and deferral_pending):
            clock += timedelta(days=1)
            wanted = due + timedelta(days=30)
            deferrals.request(applicant, pid, code, wanted.strftime(LOCAL_FORMAT),
                              "本支部计划中的两篇宣传稿件正在学院宣传部门审核，"
                              "预计下月刊发，申请延期一个月完成宣传推广任务。", now=clock)  # fmt: skip
            counts["deferrals"] += 1
            if not deferral_asked:  # the first is granted, the second waits for an answer
                request_id = db.fetchone(
                    "SELECT request_id FROM deferral_request WHERE project = ? AND status = 'pending'",
                    (pid,),
                )[0]
                clock += timedelta(days=2)
                deferrals.decide(ORGANIZER, pid, request_id, "grant", "",
                                 "同意延期一个月，请按时完成宣传推广任务。", now=clock)  # fmt: skip
                deferral_asked = True
            else:
                deferral_pending = True
        counts["projects"] += 1
    return counts


def _funding(organizer, applicant, pid, category, index, clock, upload_dir):
    clock += timedelta(hours=3)
    budget = "8000.00" if category == "dept_brand" else "3000.00"
    funding.set_budget(organizer, pid, budget, "按申报方案核定创建经费", now=clock)
    lines = [("宣传展板制作", "680.00"), ("主题党日活动资料印制", "325.50"),
             ("志愿服务物资", "1260.00")][: 1 + index % 3]  # fmt: skip
    if index == 1:  # one unit over its budget, so the matrix shows it
        lines.append(("外出学习交通费", "2400.00" if category == "branch_feature" else "7400.00"))
    for item, amount in lines:
        clock += timedelta(hours=5)
        funding.record_expense(applicant, pid, {"spent_on": (clock - timedelta(days=1)).date().isoformat(),
                                                "item": item, "amount": amount},
                               None, upload_dir, now=clock)  # fmt: skip
    return clock
