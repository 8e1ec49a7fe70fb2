"""The compiled booklet (汇编成册) of a campaign: cover, foreword, contents, one chapter a project.

``render_booklet(doc, progress=None) -> bytes``. ``doc`` is a plain dict:
``campaign_title``, ``committee``, ``date`` (str), ``foreword`` (str, may be empty),
``chapters``: report docs as ``report.render_report`` takes them (each becomes a chapter with a
contents entry and a PDF bookmark). ``progress(done, total)`` is called as chapters are laid out:
the contents' page numbers need two layout passes, so ``total`` is two steps a chapter, and
``done == total`` only once the file is complete.

Pages after the cover carry the page number and a running header with the campaign title.
"""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

from .fonts import escape, register_fonts, text_flowables
from .report import (
    HEIGHT,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    PAGE_H,
    PAGE_W,
    WIDTH,
    report_story,
    report_styles,
    running_text,
)


class _ChapterTitle(Paragraph):
    """A chapter heading: the template turns it into a TOC entry and a bookmark."""

    def __init__(self, text, style, key):
        super().__init__(escape(text), style)
        self.toc_text = text
        self.key = key


class _Marker(Spacer):
    def __init__(self, index):
        super().__init__(0, 0)
        self.index = index


class _Booklet(BaseDocTemplate):
    def __init__(self, buf, progress, total, **kw):
        super().__init__(buf, **kw)
        self._progress = progress
        self._total = total
        self._seen = 0

    def afterFlowable(self, flowable):
        if isinstance(flowable, _ChapterTitle):
            self.canv.bookmarkPage(flowable.key)
            self.canv.addOutlineEntry(flowable.toc_text, flowable.key, level=0, closed=True)
            self.notify("TOCEntry", (0, escape(flowable.toc_text), self.page, flowable.key))
        elif isinstance(flowable, _Marker) and self._progress:
            # Two layout passes (the contents' page numbers): a step a chapter a pass.
            self._seen += 1
            self._progress(min(self._seen, self._total - 1), self._total)


def render_booklet(doc: dict, progress=None) -> bytes:
    font = register_fonts()
    st = report_styles()
    st["cover"] = ParagraphStyle("cover", parent=st["title"], fontSize=26, leading=40)
    st["cover_sub"] = ParagraphStyle("cover_sub", parent=st["title"], fontSize=15, leading=24)
    st["chapter"] = ParagraphStyle("chapter", parent=st["brand"], spaceBefore=0, spaceAfter=6)
    campaign = str(doc.get("campaign_title") or "")
    running = running_text(campaign, font, 8, WIDTH * 0.8)
    chapters = doc.get("chapters") or []

    def body_page(canvas, template):
        canvas.saveState()
        canvas.setFont(font, 9)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.drawCentredString(PAGE_W / 2, 1.2 * cm, f"第 {template.page} 页")
        canvas.setFillColor(colors.HexColor("#888888"))
        canvas.setFont(font, 8)
        canvas.drawCentredString(PAGE_W / 2, PAGE_H - 1.3 * cm, running)
        canvas.setStrokeColor(colors.HexColor("#bbbbbb"))
        canvas.line(MARGIN_X, PAGE_H - 1.5 * cm, PAGE_W - MARGIN_X, PAGE_H - 1.5 * cm)
        canvas.restoreState()

    toc = TableOfContents()
    toc.levelStyles = [
        ParagraphStyle("toc0", fontName=font, fontSize=11, leading=18, wordWrap="CJK")
    ]
    toc.dotsMinLevel = 0
    toc.tableStyle = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),  # no unused Helvetica
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ]
    )

    story: list = [
        Spacer(1, 6 * cm),
        Paragraph(escape(campaign), st["cover"]),
        Spacer(1, 1 * cm),
        Paragraph("成果汇编", st["cover_sub"]),
        Spacer(1, 8 * cm),
        Paragraph(escape(doc.get("committee") or ""), st["cover_sub"]),
        Paragraph(escape(doc.get("date") or ""), st["cover_sub"]),
        NextPageTemplate("body"),
        PageBreak(),
    ]
    if (doc.get("foreword") or "").strip():
        story.append(_ChapterTitle("前言", st["chapter"], "foreword"))
        story += text_flowables(doc["foreword"], st["body"])
        story.append(PageBreak())
    story += [Paragraph("目　录", st["title"]), Spacer(1, 8), toc]
    for i, chapter in enumerate(chapters, 1):
        story.append(PageBreak())
        title = f"{i}. {chapter.get('brand_name') or ''}"
        story += report_story(
            chapter,
            st,
            heading=lambda _t, title=title, i=i: _ChapterTitle(title, st["chapter"], f"ch{i}"),
        )
        story.append(_Marker(i))

    buf = io.BytesIO()
    template = _Booklet(
        buf,
        progress,
        2 * len(chapters),
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=f"{campaign}成果汇编",
        subject=campaign,
        author=str(doc.get("committee") or "BrandFlow"),
        creator="BrandFlow",
        lang="zh-CN",
        initialFontName=font,
    )
    frame = Frame(MARGIN_X, MARGIN_BOTTOM, WIDTH, HEIGHT, 0, 0, 0, 0, id="body")
    template.addPageTemplates(
        [
            PageTemplate(id="cover", frames=[frame]),
            PageTemplate(id="body", frames=[frame], onPage=body_page),
        ]
    )
    template.multiBuild(story)
    if progress:
        progress(2 * len(chapters), 2 * len(chapters))
    return buf.getvalue()
