"""Word (.docx) exports of the application form and the final report, for offices that edit them.

``application_docx(doc)`` takes the dict ``application.render_application`` takes, and
``report_docx(doc)`` the dict ``report.render_report`` takes (photos embedded with captions);
the content is the PDFs' own: same titles, labels, values, sections and captions. Text goes into
Word runs as plain text, so ``<script>`` stays literal.
"""

from __future__ import annotations

import io

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from PIL import Image as PILImage

from .application import CATEGORY_LABELS, LAYOUTS, PLAN_PARTS, TITLES
from .fonts import _CONTROL
from .report import OUTCOME_LABELS, TITLE, _image_bytes

FONT = "宋体"


def _clean(text) -> str:
    return _CONTROL.sub("", str(text or "")).replace("\r\n", "\n").replace("\r", "\n")


def _new() -> Document:
    document = Document()
    style = document.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(10.5)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2)
    return document


def _title(document, text: str, size: float = 16) -> None:
    p = document.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p.add_run(_clean(text))
    run.bold = True
    run.font.size = Pt(size)


def _cell(cell, text) -> None:
    lines = _clean(text).split("\n")
    cell.text = lines[0]
    for line in lines[1:]:
        cell.add_paragraph(line)


def _rows(document, rows) -> None:
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        _cell(cells[0], label)
        _cell(cells[1], value)
        cells[0].width, cells[1].width = Cm(3.5), Cm(13.5)


def _opinion_text(op: dict | None, sign_label: str) -> str:
    op = op or {}
    return f"{_clean(op.get('text'))}\n{sign_label}{_clean(op.get('signer'))}\n{_clean(op.get('date'))}"


def application_docx(doc: dict) -> bytes:
    layout = doc.get("layout")
    if layout not in LAYOUTS:
        raise ValueError(f"未知的申报表版式：{layout!r}（应为 {'、'.join(LAYOUTS)}）")
    f = {k: _clean(v) for k, v in (doc.get("fields") or {}).items()}
    ops = doc.get("opinions") or {}
    document = _new()
    _title(document, TITLES[layout])
    if doc.get("unit_name"):
        document.add_paragraph(f"申报单位：{_clean(doc['unit_name'])}")
    if doc.get("submitted_at"):
        rev = f"（第 {doc['revision']} 版）" if doc.get("revision") else ""
        document.add_paragraph(f"提交时间：{_clean(doc['submitted_at'])}{rev}")
    if layout == "ncut-2023":
        rows = [
            ("党支部名称", f.get("branch_name", "")),
            ("品牌名称", f.get("brand_name", "")),
            ("品牌实施负责人", f.get("lead", "")),
            ("品牌简介", f.get("intro", "")),
            ("创建措施及步骤", f.get("measures", "")),
            ("预期成效及验收指标", f.get("outcomes", "")),
            ("支部意见", _opinion_text(ops.get("branch"), "支部书记签字：")),
        ]
    else:
        boxes = "　".join(
            f"{'☑' if code == doc.get('category') else '☐'}{label}"
            for code, label in CATEGORY_LABELS
        )
        plan = "\n".join(f"{label}\n{f.get(key, '')}" for key, label in PLAN_PARTS)
        rows = [
            ("负责人姓名", f.get("lead_name", "")),
            ("职务/职称", f.get("lead_title", "")),
            ("办公电话", f.get("lead_phone", "")),
            ("创建类型", boxes),
            ("品牌名称", f.get("brand_name", "")),
            ("项目简介", f.get("intro", "")),
            ("项目实施计划", plan),
            ("党支部意见", _opinion_text(ops.get("branch"), "负责人（签章）：")),
            ("党总支意见", _opinion_text(ops.get("general_branch"), "负责人（签章）：")),
        ]
    _rows(document, rows)
    buf = io.BytesIO()
    document.core_properties.title = TITLES[layout]
    document.save(buf)
    return buf.getvalue()


def _photo_stream(image) -> tuple[io.BytesIO, int, int]:
    data = _image_bytes(image)
    with PILImage.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        im.thumbnail((1600, 1600))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=82)
        w, h = im.size
    out.seek(0)
    return out, w, h


def report_docx(doc: dict) -> bytes:
    document = _new()
    _title(document, TITLE)
    _title(document, doc.get("brand_name") or "（未填写品牌名称）", 18)
    rows = [
        ("品牌名称", doc.get("brand_name") or ""),
        ("创建单位", doc.get("unit_name") or ""),
        ("创建类型", doc.get("category_label") or ""),
    ]
    if doc.get("submitted_at"):
        rev = f"（第 {doc['revision']} 版）" if doc.get("revision") else ""
        rows.append(("提交时间", f"{doc['submitted_at']}{rev}"))
    final = doc.get("final")
    if final:
        if final.get("score") is not None:
            rows.append(("评估得分", str(final["score"])))
        if final.get("grade"):
            rows.append(("评估等次", str(final["grade"])))
        if final.get("outcome"):
            rows.append(("认定结果", OUTCOME_LABELS.get(final["outcome"], str(final["outcome"]))))
    _rows(document, rows)
    for section in doc.get("sections") or []:
        document.add_heading(_clean(section.get("title") or section.get("code")), level=2)
        for line in _clean(section.get("text")).split("\n"):
            if line.strip():
                p = document.add_paragraph(line.strip())
                p.paragraph_format.first_line_indent = Pt(21)
    photos = doc.get("photos") or []
    if photos:
        document.add_heading("图片资料", level=2)
    max_w, max_h = Cm(17), Cm(14)
    for i, photo in enumerate(photos, 1):
        stream, w, h = _photo_stream(photo["image"])
        scale = min(max_w / w, max_h / h)
        document.add_picture(stream, width=int(w * scale), height=int(h * scale))
        document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        cap = document.add_paragraph(f"图 {i}　{_clean(photo.get('caption'))}".rstrip())
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.core_properties.title = f"{TITLE}（{_clean(doc.get('brand_name'))}）"
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
