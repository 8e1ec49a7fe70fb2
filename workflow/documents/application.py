"""The application form (附件 申报表) as a printable A4 PDF, laid out like the notice's annex table.

``render_application(doc) -> bytes``. ``doc`` is a plain dict (built by ``application_doc.build``):

``layout``          ``"ncut-2023"`` or ``"minbei-2025"`` — which notice's annex table to draw.
``campaign_title``  str; PDF subject and the small running header on every page.
``unit_name``       str; the applying unit, printed above the table ("" or absent: not printed).
``category``        ``"dept_brand"`` (一系一品牌) | ``"branch_feature"`` (一支部一特色) | None;
                    ticks the 创建类型 box (minbei-2025 only; None leaves both boxes empty).
``fields``          ``{key: str}``; a missing or empty key prints as a blank cell to fill by hand.
                    ncut-2023: ``branch_name``, ``brand_name``, ``lead``, ``intro``, ``measures``,
                    ``outcomes``.  minbei-2025: ``lead_name``, ``lead_title``, ``lead_phone``,
                    ``brand_name``, ``intro``, ``plan_approach``, ``plan_goals``, ``plan_annual``,
                    ``plan_measures``.  Long-text fields keep their line breaks, get a two-character
                    first-line indent and flow across pages (a row splits inside itself).
``opinions``        ``{"branch": op | None, "general_branch": op | None}`` with
                    ``op = {"text": str, "signer": str, "date": "YYYY-MM-DD" | str}`` (any part may
                    be missing). None leaves the opinion, signature, stamp and date blank for the
                    paper copy. ncut-2023 prints ``branch`` (支部意见); minbei-2025 prints ``branch``
                    (党支部意见) and ``general_branch`` (党总支意见).
``submitted_at``    str | None; shown above the table as 提交时间.
``revision``        int | None; shown above the table as 第 N 版.

All user text prints literally (``<script>&`` shows as typed): field and opinion text is drawn by
``fonts.CJKText`` without markup, names and labels go through ``fonts.escape``. A4 portrait, footer
"第 N 页", PDF title = form title + unit. Without a CJK font ``fonts.FontNotFoundError`` is raised
(never boxes); an unknown layout raises ``ValueError``. ``{"layout": ..., "fields": {}}`` alone
gives the blank form to print and fill by hand.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from .fonts import escape, register_fonts, styles, text_flowables

LAYOUTS = ("ncut-2023", "minbei-2025")
TITLES = {
    "ncut-2023": "信息学院“一支部一品牌”创建申报表",
    "minbei-2025": "闽北职业技术学院“一系一品牌，一支部一特色”党建品牌创建工作申报表",
}
ANNEX = {"ncut-2023": "附件：", "minbei-2025": "附件"}
CATEGORY_LABELS = (("dept_brand", "一系一品牌"), ("branch_feature", "一支部一特色"))
PLAN_PARTS = (
    ("plan_approach", "一、总体思路"),
    ("plan_goals", "二、建设目标"),
    ("plan_annual", "三、年度工作目标"),
    ("plan_measures", "四、工作举措"),
)

PAGE_W, PAGE_H = A4
MARGIN_X = 2.0 * cm
MARGIN_TOP = 2.0 * cm
MARGIN_BOTTOM = 2.2 * cm
WIDTH = PAGE_W - 2 * MARGIN_X
LABEL_W = 3.2 * cm
PAD = 6
LINE = 0.75
MIN_SPLIT = 30  # a row split leaves at least this many points on either page


class Checkboxes(Flowable):
    """A row of checkboxes drawn as vector boxes, the tick as a glyph the CJK font has (✓).

    Drawing the box keeps it independent of the font (WenQuanYi has no ☐/☑); the tick stays text,
    so the state survives text extraction as "✓一系一品牌".
    """

    def __init__(self, options: list[tuple[str, bool]], font: str, size: float = 10.5):
        super().__init__()
        self.options, self.font, self.size = options, font, size
        self.box = size * 0.95
        self.gap = size * 2.5

    def wrap(self, availWidth, availHeight):
        self.width = availWidth
        self.height = self.size * 1.5
        return self.width, self.height

    def draw(self):
        c, s, box = self.canv, self.size, self.box
        y = (self.height - box) / 2
        x = 0.0
        c.saveState()
        c.setLineWidth(0.7)
        c.setFont(self.font, s)
        for label, checked in self.options:
            c.rect(x, y, box, box, stroke=1, fill=0)
            if checked:  # the glyph filled and stroked, for a bolder tick
                tick_size = s * 1.1
                tick_w = stringWidth("✓", self.font, tick_size)
                tick = c.beginText(x + (box - tick_w) / 2, y + box * 0.1)
                tick.setFont(self.font, tick_size)
                tick.setTextRenderMode(2)
                tick.textOut("✓")
                tick.setTextRenderMode(0)  # the mode outlives the text object otherwise
                c.setLineWidth(0.6)
                c.drawText(tick)
                c.setLineWidth(0.7)
            c.drawString(x + box + s * 0.35, y + box * 0.1, label)
            x += box + s * 0.35 + stringWidth(label, self.font, s) + self.gap
        c.restoreState()


class RowTable(Table):
    """A table row that may split inside itself across pages.

    reportlab mis-places a vertically centred cell when it splits a row taller than a page, so
    centred cells become top-aligned once a split is really needed; the continuation's empty
    label cell then reads "<label>（续）".
    """

    def __init__(self, *args, continue_label: tuple[str, ParagraphStyle] | None = None, **kw):
        super().__init__(*args, **kw)
        self.continue_label = continue_label  # (markup, style) for the continuation's label cell

    def split(self, availWidth, availHeight):
        saved = [[style.valign for style in row] for row in self._cellStyles]
        for row in self._cellStyles:
            for style in row:
                if style.valign == "MIDDLE":
                    style.valign = "TOP"
        parts = super().split(availWidth, availHeight)
        if len(parts) < 2:
            for row, valigns in zip(self._cellStyles, saved, strict=True):
                for style, valign in zip(row, valigns, strict=True):
                    style.valign = valign
            return parts
        for part in parts:  # each page's part is a closed box, however often it was split
            part.continue_label = self.continue_label
            part.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), LINE, colors.black)]))
        rest = parts[-1]
        if self.continue_label is not None and not rest._cellvalues[0][0]:
            label = Paragraph(*self.continue_label)
            cell = rest._cellStyles[0][0]
            width = rest._colWidths[0] - cell.leftPadding - cell.rightPadding
            needed = label.wrap(width, 1e6)[1] + cell.topPadding + cell.bottomPadding
            if rest._argH and rest._argH[0] is not None and rest._argH[0] >= needed:
                rest._cellvalues[0][0] = [label]
        return parts


def _date_text(value) -> str | None:
    """'2025-06-12' (or a date) as '2025 年 6 月 12 日'; other text as given; blank -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return f"{value.year} 年 {value.month} 月 {value.day} 日"
    m = re.match(r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", str(value))
    if m:
        return f"{int(m[1])} 年 {int(m[2])} 月 {int(m[3])} 日"
    return str(value)


def _label_markup(text: str, continued: bool = False) -> str:
    parts = [escape(part) for part in text.split("|")] + (["（续）"] if continued else [])
    return "<br/>".join(parts)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


class _Form:
    """Builds the story for one layout; every table row is its own Table so rows can split."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.font = register_fonts()
        self.st = styles()
        self.fields = {k: _text(v) for k, v in (doc.get("fields") or {}).items()}
        self.opinions = doc.get("opinions") or {}

    # --- building blocks -------------------------------------------------------------------
    def table(
        self,
        rows,
        widths,
        extra=(),
        valign_value="MIDDLE",
        spans=(),
        grid=True,
        continued=None,
        split_in_row=True,
    ):
        t = RowTable(
            rows,
            colWidths=widths,
            splitInRow=MIN_SPLIT if split_in_row else 0,
            hAlign="CENTER",
            continue_label=continued,
        )
        cmds = [
            ("FONTNAME", (0, 0), (-1, -1), self.font),  # tables set a cell font even when empty
            ("BOX", (0, 0), (-1, -1), LINE, colors.black),
            ("VALIGN", (0, 0), (-1, -1), valign_value),
            ("LEFTPADDING", (0, 0), (-1, -1), PAD),
            ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ]
        if grid:
            cmds.append(("INNERGRID", (0, 0), (-1, -1), LINE * 0.7, colors.black))
        cmds += [("SPAN", a, b) for a, b in spans]
        cmds += list(extra)
        t.setStyle(TableStyle(cmds))
        return t

    def label(self, text: str) -> Paragraph:
        """A label cell; "|" marks where the label breaks, as in the notice (预期成效|及验收指标)."""
        return Paragraph(_label_markup(text), self.st["label"])

    def short(self, key: str, style: str = "body") -> list:
        value = self.fields.get(key, "")
        if not value:
            return [Spacer(1, self.st["body"].leading)]
        return text_flowables(value, self.st[style], indent=False)

    def long(self, key: str, blank_height: float) -> list:
        value = self.fields.get(key, "")
        if not value:
            return [Spacer(1, blank_height)]
        return text_flowables(value, self.st["body"], indent=True)

    def labelled(self, label: str, content: list, label_w: float = LABEL_W):
        """One row: label cell | value cell (value top-aligned, label centred)."""
        return self.table(
            [[self.label(label), content]],
            [label_w, WIDTH - label_w],
            extra=[("VALIGN", (1, 0), (1, 0), "TOP")],
            continued=(_label_markup(label, continued=True), self.st["label"]),
        )

    def sign_block(self, lines: list[str], indent_ratio: float, cell_w: float) -> list:
        style = ParagraphStyle(
            "sign",
            parent=self.st["body"],
            leftIndent=cell_w * indent_ratio,
            spaceBefore=2,
        )
        return [Paragraph(line, style) for line in lines]

    def date_line(self, op: dict | None) -> str:
        text = _date_text((op or {}).get("date"))
        if text:
            return escape(text)
        nb = "&nbsp;"
        return f"{nb * 12}年{nb * 6}月{nb * 6}日"

    def opinion_cell(self, heading: str, op: dict | None, sign_label: str, stamp: bool, cell_w):
        """(top part, bottom part) of an opinion cell: heading + text / signature, stamp, date."""
        inner = cell_w - 2 * PAD
        op = op or {}
        top = [Paragraph(escape(heading), self.st["label_left"])]
        text = _text(op.get("text"))
        if text:
            top += [Spacer(1, 3)] + text_flowables(text, self.st["body"], indent=True)
            top.append(Spacer(1, 18))
        else:
            top.append(Spacer(1, 52))  # room to write the opinion by hand
        signer = escape(_text(op.get("signer")))
        lines = [f"{escape(sign_label)}{signer}"]
        if stamp:
            lines.append("（加盖公章）")
        lines.append(self.date_line(op if op else None))
        bottom = self.sign_block(lines, 0.33 if stamp else 0.55, inner)
        bottom.append(Spacer(1, 4))
        return top, bottom

    def opinion_table(self, rows, widths, levels, extra=()):
        """Opinion text above, signature block below, no line between; kept on one page unless
        the opinions are too long for that (then the rows split like any other)."""
        longest = max(len(_text((self.opinions.get(lv) or {}).get("text"))) for lv in levels)
        keep = longest <= 600
        extra = list(extra) + ([("NOSPLIT", (0, 0), (-1, -1))] if keep else [])
        return self.table(
            rows, widths, extra=extra, valign_value="TOP", grid=False, split_in_row=not keep
        )

    # --- header ----------------------------------------------------------------------------
    def title_style(self, title: str) -> ParagraphStyle:
        """三号 (16 pt) when the title fits one line, else down to 14 pt, else wrapped at 16 pt."""
        for size in (16, 15, 14.5, 14):
            if stringWidth(title, self.font, size) <= WIDTH:
                break
        else:
            size = 16
        return ParagraphStyle("title_fit", parent=self.st["title"], fontSize=size)

    def header(self, layout: str) -> list:
        st = self.st
        out = [
            Paragraph(ANNEX[layout], st["body"]),
            Spacer(1, 4),
            Paragraph(escape(TITLES[layout]), self.title_style(TITLES[layout])),
        ]
        left = []
        unit = _text(self.doc.get("unit_name"))
        if unit:
            left.append(f"申报单位：{escape(unit)}")
        right = []
        if self.doc.get("submitted_at"):
            right.append(f"提交时间：{escape(self.doc['submitted_at'])}")
        if self.doc.get("revision"):
            right.append(f"第 {escape(self.doc['revision'])} 版")
        if left or right:
            meta = Table(
                [
                    [
                        Paragraph("　".join(left), st["small"]),
                        Paragraph("　".join(right), st["small_right"]),
                    ]
                ],
                colWidths=[WIDTH * 0.5, WIDTH * 0.5],
            )
            meta.setStyle(
                TableStyle(
                    [
                        ("FONTNAME", (0, 0), (-1, -1), self.font),
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                    ]
                )
            )
            out.append(meta)
        else:
            out.append(Spacer(1, 6))
        return out

    # --- layouts ---------------------------------------------------------------------------
    def ncut_2023(self) -> list:
        story = self.header("ncut-2023")
        story.append(self.labelled("党支部名称", self.short("branch_name")))
        half = (WIDTH - 2 * LABEL_W) / 2
        story.append(
            self.table(
                [
                    [
                        self.label("品牌名称"),
                        self.short("brand_name"),
                        self.label("品牌实施负责人"),
                        self.short("lead"),
                    ]
                ],
                [LABEL_W, half, LABEL_W, half],
            )
        )
        story.append(self.labelled("品牌简介", self.long("intro", 4.2 * cm)))
        story.append(self.labelled("创建措施及步骤", self.long("measures", 6.2 * cm)))
        story.append(self.labelled("预期成效|及验收指标", self.long("outcomes", 4.2 * cm)))
        top, bottom = self.opinion_cell(
            "支部意见：", self.opinions.get("branch"), "支部书记签字：", False, WIDTH
        )
        story.append(self.opinion_table([[top], [bottom]], [WIDTH], ("branch",)))
        return story

    def minbei_2025(self) -> list:
        story = self.header("minbei-2025")
        st = self.st
        sub = (WIDTH - LABEL_W) / 3
        lead = self.table(
            [
                [
                    self.label("负责人"),
                    self.label("姓名"),
                    self.label("职务/职称"),
                    self.label("办公电话"),
                ],
                [
                    "",
                    self.short("lead_name", "label"),
                    self.short("lead_title", "label"),
                    self.short("lead_phone", "label"),
                ],
            ],
            [LABEL_W, sub, sub, sub],
            spans=[((0, 0), (0, 1))],
        )
        story.append(lead)
        category = self.doc.get("category")
        boxes = Checkboxes([(text, category == code) for code, text in CATEGORY_LABELS], self.font)
        story.append(self.labelled("创建类型", [boxes]))
        story.append(self.labelled("品牌名称", self.short("brand_name")))
        story.append(self.labelled("项目简介", self.long("intro", 3.5 * cm)))
        plan: list = []
        for key, heading in PLAN_PARTS:
            if plan:
                plan.append(Spacer(1, 5))
            plan.append(Paragraph(heading, st["subhead"]))
            plan += self.long(key, 1.5 * cm)
        story.append(self.labelled("项目实施计划", plan))
        half = WIDTH / 2
        top_l, bottom_l = self.opinion_cell(
            "党支部意见：", self.opinions.get("branch"), "负责人（签章）：", True, half
        )
        top_r, bottom_r = self.opinion_cell(
            "党总支意见：", self.opinions.get("general_branch"), "负责人（签章）：", True, half
        )
        story.append(
            self.opinion_table(
                [[top_l, top_r], [bottom_l, bottom_r]],
                [half, half],
                ("branch", "general_branch"),
                extra=[("LINEAFTER", (0, 0), (0, -1), LINE * 0.7, colors.black)],
            )
        )
        return story


def render_application(doc: dict) -> bytes:
    """The application form as PDF bytes; see the module docstring for ``doc``."""
    layout = doc.get("layout")
    if layout not in LAYOUTS:
        raise ValueError(f"未知的申报表版式：{layout!r}（应为 {'、'.join(LAYOUTS)}）")
    font = register_fonts()
    form = _Form(doc)
    story = form.ncut_2023() if layout == "ncut-2023" else form.minbei_2025()

    unit = _text(doc.get("unit_name"))
    title = TITLES[layout] + (f"（{unit}）" if unit else "")
    campaign = _text(doc.get("campaign_title"))
    running = campaign
    while running and stringWidth(running, font, 7.5) > WIDTH * 0.7:
        running = running[:-2] + "…"

    def footer(canvas, template):
        canvas.saveState()
        canvas.setFont(font, 9)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.drawCentredString(PAGE_W / 2, 1.2 * cm, f"第 {template.page} 页")
        if running:
            canvas.setFillColor(colors.HexColor("#888888"))
            canvas.setFont(font, 7.5)
            canvas.drawRightString(PAGE_W - MARGIN_X, PAGE_H - 1.2 * cm, running)
        canvas.restoreState()

    buf = io.BytesIO()
    template = BaseDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        subject=campaign or TITLES[layout],
        author=unit or "BrandFlow",
        creator="BrandFlow",
        lang="zh-CN",
        initialFontName=font,  # no unused Helvetica in the page resources
    )
    frame = Frame(
        MARGIN_X,
        MARGIN_BOTTOM,
        WIDTH,
        PAGE_H - MARGIN_TOP - MARGIN_BOTTOM,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="form",
    )
    template.addPageTemplates([PageTemplate(id="form", frames=[frame], onPage=footer)])
    template.build(story)
    return buf.getvalue()
