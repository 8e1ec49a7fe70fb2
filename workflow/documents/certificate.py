"""荣誉证书: one landscape A4 page per certified project, and the batch of a campaign.

``render_certificates(certs) -> bytes`` where each cert is a plain dict:
``unit_name``, ``brand_name``, ``campaign_title``, ``outcome`` ("excellent" | "passed"),
``category_label`` (str, may be ""), ``committee`` (the issuing committee), ``date`` ("YYYY-MM-DD"
or any text), ``number`` (certificate number, optional). One page each, in the given order.
``render_certificate(cert)`` is the single page. User text prints literally.
"""

from __future__ import annotations

import datetime as dt
import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

from .fonts import escape, register_fonts, styles

PAGE_W, PAGE_H = landscape(A4)
MARGIN = 3.2 * cm
RED = colors.HexColor("#b3121b")
OUTCOME_TEXT = {"excellent": "优秀党建品牌", "passed": "党建品牌"}


def _date_text(value) -> str:
    try:
        d = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value or "")
    return f"{d.year}年{d.month}月{d.day}日"


def _page(cert: dict, st) -> list:
    unit = escape(cert.get("unit_name") or "")
    brand = escape(cert.get("brand_name") or "")
    campaign = escape(cert.get("campaign_title") or "")
    outcome = cert.get("outcome") or "passed"
    label = escape(cert.get("category_label") or "")
    honour = OUTCOME_TEXT.get(outcome, "党建品牌")
    if label:
        honour = f"{label}{'优秀' if outcome == 'excellent' else ''}品牌"
    body = (
        f"{unit}：<br/>　　你单位创建的“{brand}”在{campaign}中，"
        f"被认定为{escape(honour)}。<br/>　　特发此证，以资鼓励。"
    )
    story = [
        Spacer(1, 0.6 * cm),
        Paragraph("荣誉证书", st["cert_title"]),
        Spacer(1, 1.0 * cm),
        Paragraph(body, st["cert_body"]),
        Spacer(1, 1.6 * cm),
        Paragraph(escape(cert.get("committee") or ""), st["cert_sign"]),
        Paragraph(escape(_date_text(cert.get("date"))), st["cert_sign"]),
    ]
    if cert.get("number"):
        story += [
            Spacer(1, 0.4 * cm),
            Paragraph(f"证书编号：{escape(cert['number'])}", st["small"]),
        ]
    return story


def _styles():
    st = styles()
    st["cert_title"] = ParagraphStyle(
        "cert_title", parent=st["title"], fontSize=40, leading=52, textColor=RED
    )
    st["cert_body"] = ParagraphStyle("cert_body", parent=st["body"], fontSize=18, leading=34)
    st["cert_sign"] = ParagraphStyle(
        "cert_sign", parent=st["body"], fontSize=16, leading=28, alignment=2
    )
    return st


def render_certificates(certs: list[dict], title: str = "荣誉证书") -> bytes:
    font = register_fonts()
    st = _styles()

    def border(canvas, template):
        canvas.saveState()
        canvas.setStrokeColor(RED)
        canvas.setLineWidth(4)
        canvas.rect(1.2 * cm, 1.2 * cm, PAGE_W - 2.4 * cm, PAGE_H - 2.4 * cm)
        canvas.setLineWidth(1)
        canvas.rect(1.5 * cm, 1.5 * cm, PAGE_W - 3.0 * cm, PAGE_H - 3.0 * cm)
        canvas.restoreState()

    story: list = []
    for i, cert in enumerate(certs):
        if i:
            story.append(PageBreak())
        story += _page(cert, st)
    if not story:
        raise ValueError("没有可生成证书的项目")
    buf = io.BytesIO()
    template = BaseDocTemplate(
        buf,
        pagesize=(PAGE_W, PAGE_H),
        title=title,
        creator="BrandFlow",
        lang="zh-CN",
        initialFontName=font,
    )
    frame = Frame(MARGIN, MARGIN, PAGE_W - 2 * MARGIN, PAGE_H - 2 * MARGIN, 0, 0, 0, 0)
    template.addPageTemplates([PageTemplate(id="cert", frames=[frame], onPage=border)])
    template.build(story)
    return buf.getvalue()


def render_certificate(cert: dict) -> bytes:
    return render_certificates([cert], f"荣誉证书（{cert.get('brand_name') or ''}）")
