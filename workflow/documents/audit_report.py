"""The audit trail report (审计轨迹报告) of a campaign, a unit, a project or a user, as PDF.

``build_pdf(scope, full, filters, actor)`` reads the trail from the log and returns
``(pdf bytes, number of events, head position)``; ``render_audit(doc)`` lays out a plain dict:
a cover block (scope, who made it and when, the log head, the result of verifying the whole
chain, the checkpoints), then every event in order: position, Beijing time (UTC kept), who, what
in plain Chinese, what it changed, and the first characters of its hash. A4 portrait, CJK font
embedded, "第 N 页" in the footer.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from .. import authz, log
from ..trail import Filters, Names, Reader, Scope, changes, local, row
from .fonts import escape, para, register_fonts, styles

PAGE_W, PAGE_H = A4
MARGIN = 1.8 * cm
WIDTH = PAGE_W - 2 * MARGIN
COLUMNS = [1.3 * cm, 2.9 * cm, 3.0 * cm, WIDTH - 7.2 * cm]
FILTER_NAMES = {"type": "事件类型", "actor": "操作人", "from": "开始日期", "to": "结束日期",
                "stage": "阶段"}  # fmt: skip


def _changed_labels(event, names) -> str:
    rows = changes(event, names)
    if rows is None:
        return ""
    changed = [r["label"] for r in rows if r["changed"]]
    return "修改了：" + "、".join(changed) if changed else "内容无变化"


def build_pdf(scope: Scope, full: bool, filters: Filters, actor: authz.Actor):
    """The report for `actor`'s view of the scope's trail (filtered), up to the current head."""
    position, head_hash = log.head()
    names = Names()
    events = list(Reader(scope, full, names).events(filters, upto=position))
    verified = log.verify()
    doc = {
        "title": "审计轨迹报告",
        "scope": scope.title,
        "ref": scope.ref,
        "full": full,
        "made_by": f"{actor.display_name}（{actor.username}）",
        "made_at": local(log.format_time(datetime.now(UTC))),
        "head": (position, head_hash),
        "verify": verified.summary(),
        "verify_ok": verified.ok,
        "filters": {FILTER_NAMES.get(k, k): v for k, v in filters.as_payload().items()},
        "rows": [
            {**row(e, names), "changed": _changed_labels(e, names), "hash": e.hash} for e in events
        ],
    }
    return render_audit(doc), len(events), position


def render_audit(doc: dict) -> bytes:
    font = register_fonts()
    st = styles(9)
    title_style, small, body = st["title"], st["small"], st["body"]
    story = [Paragraph(escape(doc["title"]), title_style), para(doc["scope"], st["label"])]
    head_position, head_hash = doc["head"]
    facts = [
        ("审计范围", f"{doc['scope']}（{doc['ref']}）"),
        (
            "内容",
            "完整记录（含内部评论与审计操作）"
            if doc["full"]
            else "本单位可见的记录（不含内部评论）",
        ),
        ("生成人", doc["made_by"]),
        ("生成时间", f"{doc['made_at']}（北京时间）"),
        ("日志头", f"位置 {head_position}，哈希 {head_hash}"),
        ("整条日志校验", ("通过：" if doc["verify_ok"] else "失败：") + doc["verify"]),
        ("筛选条件", "；".join(f"{k}：{v}" for k, v in doc["filters"].items()) or "无"),
        ("事件条数", str(len(doc["rows"]))),
    ]
    cover = Table(
        [[para(k, body), para(v, body)] for k, v in facts],
        colWidths=[3 * cm, WIDTH - 3 * cm],
    )
    cover.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f3f3")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))  # fmt: skip
    story += [Spacer(1, 8), cover, Spacer(1, 12)]

    header = [para(h, body) for h in ("位置", "时间（北京时间）", "操作人", "事件")]
    data = [header]
    for r in doc["rows"]:
        when = f"{r['local']}\nUTC {r['utc'][:19]}"
        who = f"{r['actor_name']}\n{r['actor']}"
        what = [para(f"【{r['label']}】{r['text']}", body)]
        extra = " · ".join(x for x in (r.get("stage") or "", r.get("changed") or "") if x)
        what.append(para(f"{extra + ' · ' if extra else ''}哈希 {r['hash'][:16]}…", small))
        data.append([para(str(r["position"]), body), para(when, small), para(who, small), what])
    if len(data) == 1:
        data.append([para("", body), para("", body), para("", body), para("没有记录。", body)])
    table = Table(data, colWidths=COLUMNS, repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#aaaaaa")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#c8161d")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#faf7f7")]),
    ]))  # fmt: skip
    story.append(table)

    def footer(canvas, template):
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawCentredString(PAGE_W / 2, 1.0 * cm, f"第 {template.page} 页")
        canvas.drawString(MARGIN, 1.0 * cm, "BrandFlow 审计轨迹报告")
        canvas.drawRightString(PAGE_W - MARGIN, 1.0 * cm, f"日志头 {head_position}")
        canvas.restoreState()

    buf = io.BytesIO()
    template = BaseDocTemplate(
        buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN, title=f"{doc['title']}：{doc['scope']}", subject=doc["ref"],
        author=doc["made_by"], creator="BrandFlow", lang="zh-CN", initialFontName=font,
    )  # fmt: skip
    frame = Frame(MARGIN, MARGIN, WIDTH, PAGE_H - 2 * MARGIN, leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0, id="body")  # fmt: skip
    template.addPageTemplates([PageTemplate(id="body", frames=[frame], onPage=footer)])
    template.build(story)
    return buf.getvalue()


def export(slug: str, pid: str | None = None, actor: authz.Actor = authz.SYSTEM) -> bytes:
    """`flask export-pdf audit --campaign SLUG [--project ID]`: the campaign's (or the
    project's) full trail as PDF; the export is logged like any other."""
    import hashlib

    from ..errors import DomainError
    from ..trail import campaign_scope, project_scope, record_read

    scope = project_scope(pid) if pid else campaign_scope(slug)
    if pid and scope.campaigns != [slug]:
        raise DomainError(f"项目 {pid} 不属于创建活动 {slug}。")
    data, count, upto = build_pdf(scope, True, Filters(), actor)
    record_read(actor.username, "ExportMade",
                {"export": "pdf", "scope": scope.ref, "upto": upto, "events": count,
                 "name": f"审计报告-{scope.key}-{upto}.pdf",
                 "sha256": hashlib.sha256(data).hexdigest(), "filters": {}},
                scope.ref)  # fmt: skip
    return data
