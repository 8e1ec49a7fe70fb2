"""The final summary report (总结报告) as an A4 PDF: sections, captioned photos, scores and outcome.

``render_report(doc) -> bytes``. ``doc`` is a plain dict:

``campaign_title``  str; running header and PDF subject.
``brand_name``      str; the report's title.
``unit_name``       str; ``category_label`` str (一系一品牌 / 一支部一特色 / "").
``sections``        ``[{"code", "title", "text"}]``; each a heading and its text (line breaks kept,
                    two-character first-line indent, flows across pages without loss).
``photos``          ``[{"caption", "image"}]`` where ``image`` is a path or bytes; each photo is
                    scaled to fit the frame (portrait and panorama alike, never cut) with its
                    caption under it, kept together.
``submitted_at``    str | None; ``revision`` int | None.
``final``           ``{"score": str | None, "grade": str | None, "outcome": str | None}`` or None:
                    printed only when the results are final.

All user text prints literally (``<script>`` shows as typed). ``report_story(doc, styles)`` gives
the flowables so the compiled booklet can reuse them for a chapter.
"""

from __future__ import annotations

import io

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    Image,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from .fonts import escape, para, register_fonts, styles, text_flowables

PAGE_W, PAGE_H = A4
MARGIN_X = 2.0 * cm
MARGIN_TOP = 2.2 * cm
MARGIN_BOTTOM = 2.2 * cm
WIDTH = PAGE_W - 2 * MARGIN_X
HEIGHT = PAGE_H - MARGIN_TOP - MARGIN_BOTTOM
PHOTO_MAX_H = HEIGHT * 0.6  # leaves room for the caption and never exceeds a page
TITLE = "党建品牌创建总结报告"
CATEGORY_LABELS = {"dept_brand": "一系一品牌", "branch_feature": "一支部一特色"}
OUTCOME_LABELS = {"excellent": "认定为优秀", "passed": "验收通过", "not_passed": "验收未通过"}


def report_styles() -> dict[str, ParagraphStyle]:
    st = styles()
    st["heading"] = ParagraphStyle(
        "heading", parent=st["body"], fontSize=13, leading=20, spaceBefore=8, spaceAfter=4
    )
    st["caption"] = ParagraphStyle(
        "caption",
        parent=st["small"],
        alignment=1,
        textColor=colors.HexColor("#333333"),
        spaceBefore=3,
    )
    st["brand"] = ParagraphStyle("brand", parent=st["title"], fontSize=18, leading=26)
    return st


def _image_bytes(image) -> bytes:
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    with open(image, "rb") as fh:
        return fh.read()


def photo_flowable(image, caption: str, st, max_w: float = WIDTH, max_h: float = PHOTO_MAX_H):
    """The photo scaled (never up, never cut) to fit max_w × max_h, its caption under it."""
    data = _image_bytes(image)
    with PILImage.open(io.BytesIO(data)) as im:
        w, h = im.size
        # reportlab re-encodes anything but JPEG; a smaller copy keeps the PDF small.
        longest = 1600
        if max(w, h) > longest or im.format != "JPEG":
            im = im.convert("RGB")
            im.thumbnail((longest, longest))
            out = io.BytesIO()
            im.save(out, "JPEG", quality=82)
            data = out.getvalue()
    scale = min(max_w / w, max_h / h)
    img = Image(io.BytesIO(data), width=w * scale, height=h * scale)
    img.hAlign = "CENTER"
    parts = [img]
    if caption:
        parts.append(para(caption, st["caption"]))
    parts.append(Spacer(1, 8))
    return KeepTogether(parts)


def info_table(doc: dict, st, width: float = WIDTH) -> Table:
    rows = [
        ("品牌名称", doc.get("brand_name") or ""),
        ("创建单位", doc.get("unit_name") or ""),
        ("创建类型", doc.get("category_label") or ""),
    ]
    if doc.get("submitted_at"):
        sub = str(doc["submitted_at"])
        if doc.get("revision"):
            sub += f"（第 {doc['revision']} 版）"
        rows.append(("提交时间", sub))
    final = doc.get("final")
    if final:
        if final.get("score") is not None:
            rows.append(("评估得分", str(final["score"])))
        if final.get("grade"):
            rows.append(("评估等次", str(final["grade"])))
        if final.get("outcome"):
            rows.append(("认定结果", OUTCOME_LABELS.get(final["outcome"], str(final["outcome"]))))
    data = [[para(k, st["label"]), para(v, st["body"])] for k, v in rows]
    table = Table(data, colWidths=[3 * cm, width - 3 * cm])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), register_fonts()),  # no unused Helvetica
                ("GRID", (0, 0), (-1, -1), 0.6, colors.HexColor("#555555")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
            ]
        )
    )
    return table


def report_story(doc: dict, st, heading=None, width: float = WIDTH, max_h: float = PHOTO_MAX_H):
    """The report's flowables. ``heading(text)`` makes the title flowable (the booklet passes one
    that registers a TOC entry and a bookmark)."""
    brand = doc.get("brand_name") or "（未填写品牌名称）"
    story = [heading(brand) if heading else Paragraph(escape(brand), st["brand"])]
    story += [Spacer(1, 6), info_table(doc, st, width), Spacer(1, 10)]
    for section in doc.get("sections") or []:
        story.append(para(section.get("title") or section.get("code") or "", st["heading"]))
        story += text_flowables(section.get("text") or "", st["body"])
    photos = doc.get("photos") or []
    if photos:
        story.append(para("图片资料", st["heading"]))
        for i, photo in enumerate(photos, 1):
            caption = f"图 {i}　{photo.get('caption') or ''}".rstrip()
            story.append(photo_flowable(photo["image"], caption, st, width, max_h))
    return story


def running_text(text: str, font: str, size: float, width: float) -> str:
    while text and stringWidth(text, font, size) > width:
        text = text[:-2] + "…"
    return text


def render_report(doc: dict) -> bytes:
    """The final report as PDF bytes; see the module docstring for ``doc``."""
    font = register_fonts()
    st = report_styles()
    campaign = str(doc.get("campaign_title") or "")
    running = running_text(campaign, font, 7.5, WIDTH * 0.7)

    def on_page(canvas, template):
        canvas.saveState()
        canvas.setFont(font, 9)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.drawCentredString(PAGE_W / 2, 1.2 * cm, f"第 {template.page} 页")
        if running:
            canvas.setFillColor(colors.HexColor("#888888"))
            canvas.setFont(font, 7.5)
            canvas.drawRightString(PAGE_W - MARGIN_X, PAGE_H - 1.2 * cm, running)
        canvas.restoreState()

    story = [Paragraph(TITLE, st["title"])] + report_story(doc, st)
    buf = io.BytesIO()
    template = BaseDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=f"{TITLE}（{doc.get('brand_name') or ''}）",
        subject=campaign or TITLE,
        author=str(doc.get("unit_name") or "BrandFlow"),
        creator="BrandFlow",
        lang="zh-CN",
        initialFontName=font,
    )
    frame = Frame(MARGIN_X, MARGIN_BOTTOM, WIDTH, HEIGHT, 0, 0, 0, 0, id="body")
    template.addPageTemplates([PageTemplate(id="report", frames=[frame], onPage=on_page)])
    template.build(story)
    return buf.getvalue()
