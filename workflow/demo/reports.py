"""Demo reports: each cultivation project's final report (and mid-term report where the campaign
has a 中期评估 stage), submitted by the unit's applicant with 3–5 of its captioned photos, before
the round is scored. Lengths vary; some come close to the limit."""

from __future__ import annotations

from datetime import timedelta

from .. import db, deadlines, log
from ..authz import Actor
from ..commands import campaigns, reports
from ..commands.applications import stream as project_stream

FINAL = {
    "品牌名称": "{brand}。名称取自支部在日常工作中形成的共识，突出“{short}”的特色，既好记又能体现党建引领业务发展的定位。",
    "创建背景": "支部立足{unit}实际，针对党员教育与业务工作结合不够紧密、青年党员参与度不高等问题，"
    "在学院党委的指导下开展品牌创建，力求把党的政治优势转化为推动发展的实际成效。",
    "品牌内涵": "品牌以理论学习为根本、以服务师生为落脚点，坚持“学思用贯通、知信行统一”，"
    "把党支部建在发展一线，让每名党员在岗位上亮身份、作表率。",
    "主要举措": "一是健全制度，落实“三会一课”和主题党日，每月开展集中学习；二是搭建平台，"
    "组织党员结对帮扶、志愿服务和专业实践；三是加强宣传，在学院和学校平台持续报道创建进展；"
    "四是强化考核，将品牌创建纳入支部书记述职评议。",
    "取得成效": "创建以来，支部组织生活规范有序，党员参与率明显提高，形成了一批可复制的经验做法，"
    "相关工作多次被学院和学校报道，师生满意度持续提升，品牌影响力逐步扩大。",
}
MIDTERM = {
    "工作进展": "按照立项时的创建计划，{brand}已完成制度建设和第一阶段主题活动，组织专题学习和主题党日多次。",
    "阶段成效": "党员参与积极性提高，支部在学院层面的宣传报道逐步增多，师生反馈良好。",
    "存在问题": "活动形式还不够丰富，部分举措与专业工作结合不够紧密，宣传的层级有待提升。",
    "下一步计划": "围绕品牌内涵深化实践载体，争取在学校及以上平台宣传，做好总结报告和评估认定准备。",
}
MORE = (
    "在实践中，支部注重把学习成果转化为工作举措，定期复盘，及时调整工作重点，确保创建工作取得实效。"
)


def _texts(config, kind, brand, unit, target):
    base = FINAL if kind == "final" else MIDTERM
    titles = reports.rules(config, kind)["titles"]
    limit = reports.rules(config, kind)["max_chars"]
    texts = {}
    for i, title in enumerate(titles, 1):
        template = base.get(title, MORE)
        texts[f"s{i}"] = template.format(brand=brand, short=brand[:4], unit=unit)
    total = sum(len(t) for t in texts.values())
    key = f"s{len(titles) - 1}" if len(titles) > 1 else "s1"
    while total + len(MORE) <= min(target, limit):
        texts[key] += MORE
        total += len(MORE)
    return texts


def drive_reports(slug: str, kind: str) -> dict | None:
    config = campaigns.get(slug)
    if not reports.has_kind(config, kind):
        return None
    states = ("approved", "cultivating", "midterm_scored")
    rows = db.fetchall(
        "SELECT id, unit, brand_name FROM project WHERE campaign = ? AND state IN (?, ?, ?) "
        "ORDER BY id",
        (slug, *states),
    )
    done = 0
    for i, (pid, unit, brand) in enumerate(rows):
        if reports.get_report(pid, kind):
            continue
        photos = db.fetchall(
            "SELECT photo_id, caption FROM project_photo WHERE project = ? "
            "AND withdrawn_position IS NULL ORDER BY position",
            (pid,),
        )
        want = 3 + i % 3 if kind == "final" else i % 3
        if len(photos) < (3 if kind == "final" else 0):
            continue
        picks = [(p, c or f"{brand}活动照片") for p, c in photos[:want]]
        user = db.fetchone(
            "SELECT username, roles, unit FROM user_account WHERE unit = ? AND roles LIKE ? "
            "ORDER BY username",
            (unit, "%applicant%"),
        )
        if user is None:
            continue
        actor = Actor(user[0], frozenset(user[1].split(",")), user[2])
        w = deadlines.window(config, kind, unit)
        clock = w.opens + (w.due - w.opens) * (0.1 if kind == "final" else 0.3)
        clock += timedelta(hours=i)
        limit = reports.rules(config, kind)["max_chars"]
        target = (limit - 40, limit // 2, 900)[i % 3]
        texts = _texts(config, kind, brand or "党建品牌", unit, target)
        version = log.stream_version(project_stream(pid))
        reports.submit(actor, pid, kind, texts, picks, [], [], version, "", now=clock)
        done += 1
    return {"reports": done}
