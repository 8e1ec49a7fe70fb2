"""Results documents from plain data: final report, compiled booklet, certificates, Word exports."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from PIL import Image

from tests.test_application_pdf import (
    FONT_MISSING,
    _fonts_of,
    _render_png,
    assert_all_in,
    flat,
    minbei_doc,
    ncut_doc,
    pdf_text,
)
from workflow.documents.booklet import render_booklet
from workflow.documents.certificate import render_certificate, render_certificates
from workflow.documents.report import render_report

pytestmark = pytest.mark.skipif(FONT_MISSING is not None, reason=f"no CJK font: {FONT_MISSING}")

SECTIONS = ("品牌名称", "创建背景", "品牌内涵", "主要举措", "取得成效")
# portrait, panorama, landscape, square, huge
SIZES = [(3000, 4500), (9000, 900), (4000, 3000), (2500, 2500), (6000, 4000)]


def jpeg(w: int, h: int, seed: int = 0) -> bytes:
    """A large, noisy JPEG (real photo-sized bytes)."""
    small = Image.effect_noise((max(w // 20, 8), max(h // 20, 8)), 60 + seed).convert("RGB")
    im = small.resize((w, h))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


_PHOTOS: dict = {}


def photos(n: int = 5) -> list[dict]:
    if not _PHOTOS:
        _PHOTOS["all"] = [jpeg(w, h, i) for i, (w, h) in enumerate(SIZES)]
    return [
        {"caption": f"第{i + 1}张照片说明：主题党日活动现场", "image": _PHOTOS["all"][i]}
        for i in range(n)
    ]


def long_text(n: int) -> str:
    base = "支部坚持党建引领，围绕立德树人根本任务开展品牌创建，形成可复制可推广的经验。"
    out = []
    while sum(map(len, out)) < n:
        out.append(base)
    return "\n".join(out)[:n]


def report_doc(brand="匠心铸魂·机电先锋", chars=600, n_photos=3, final=None, **over) -> dict:
    per = chars // 5
    doc = {
        "campaign_title": "闽北职院2025年“一系一品牌，一支部一特色”党建品牌创建",
        "brand_name": brand,
        "unit_name": "机电工程系党总支",
        "category_label": "一系一品牌",
        "sections": [
            {"code": f"s{i}", "title": t, "text": long_text(per)} for i, t in enumerate(SECTIONS)
        ],
        "photos": photos(n_photos),
        "submitted_at": "2025年11月10日 09:30",
        "revision": 1,
        "final": final,
    }
    doc.update(over)
    return doc


def test_report_has_headings_unit_category_brand_and_captions():
    pdf = render_report(report_doc(n_photos=3))
    text, pages = pdf_text(pdf)
    assert_all_in(
        text, ["党建品牌创建总结报告", "匠心铸魂·机电先锋", "机电工程系党总支", "一系一品牌"]
    )
    assert_all_in(text, SECTIONS)
    assert_all_in(text, [f"图{i}第{i}张照片说明" for i in (1, 2, 3)])
    assert "认定结果" not in text and "评估得分" not in text  # not final: no scores, no outcome
    assert pages >= 1


def test_report_scores_and_outcome_only_when_final():
    final = {"score": "92.50", "grade": "优秀", "outcome": "excellent"}
    text, _ = pdf_text(render_report(report_doc(final=final)))
    assert_all_in(text, ["评估得分", "92.50", "评估等次", "认定结果", "认定为优秀"])


def test_longest_text_with_five_large_photos_lays_out_without_loss(tmp_path):
    doc = report_doc(chars=3000, n_photos=5)
    pdf = render_report(doc)
    text, pages = pdf_text(pdf)
    assert 4 <= pages <= 12
    for section in doc["sections"]:  # every character of every section, in order
        assert flat(section["text"]) in text
    assert_all_in(text, [f"图{i}第{i}张照片说明" for i in range(1, 6)])
    # every photo is drawn whole inside the page frame (never cut, never off the page)
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 5
    image = _render_png(pdf, tmp_path, page=1)
    assert sum(image.histogram()[:128]) > 0.02 * image.size[0] * image.size[1]


def test_photos_are_scaled_inside_the_frame():
    from workflow.documents import report as report_mod

    st = report_mod.report_styles()
    for w, h in SIZES:
        flow = report_mod.photo_flowable(jpeg(w, h), "说明", st)
        img = flow._content[0]
        assert img.drawWidth <= report_mod.WIDTH + 0.5
        assert img.drawHeight <= report_mod.PHOTO_MAX_H + 0.5 < report_mod.HEIGHT
        assert max(img.drawWidth / report_mod.WIDTH, img.drawHeight / report_mod.PHOTO_MAX_H) > 0.99
        assert img.drawWidth / img.drawHeight == pytest.approx(w / h, rel=0.01)  # not distorted


def test_report_prints_markup_literally_and_embeds_the_font():
    doc = report_doc(brand="<script>alert(1)</script>&品牌", n_photos=1)
    doc["sections"][0]["text"] = "<b>不加粗</b> & <script>"
    doc["photos"][0]["caption"] = "<i>说明</i>"
    pdf = render_report(doc)
    text, _ = pdf_text(pdf)
    assert_all_in(text, ["<script>alert(1)</script>&品牌", "<b>不加粗</b>&<script>", "<i>说明</i>"])
    for made in (pdf, render_booklet(booklet(1)), render_certificate(CERT)):
        used = _fonts_of(made)
        assert used
        for font in used:
            assert "/FontFile2" in font["/FontDescriptor"].get_object(), font["/BaseFont"]


def booklet(n=3, foreword="本汇编收录认定的优秀党建品牌。"):
    chapters = [
        report_doc(brand=f"品牌{i}号<script>", chars=400, n_photos=1 + i % 3) for i in range(n)
    ]
    return {
        "campaign_title": "闽北职院2025年党建品牌创建",
        "committee": "中共闽北职业技术学院委员会",
        "date": "2025年11月20日",
        "foreword": foreword,
        "chapters": chapters,
    }


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_booklet_cover_toc_page_numbers_bookmarks_running_header(tmp_path):
    from pypdf import PdfReader

    steps = []
    pdf = render_booklet(booklet(3), progress=lambda d, t: steps.append((d, t)))
    reader = PdfReader(io.BytesIO(pdf))
    pages = [p.extract_text() for p in reader.pages]
    assert_all_in(
        flat(pages[0]), ["闽北职院2025年党建品牌创建", "成果汇编", "中共闽北职业技术学院委员会"]
    )
    outline = [(o.title, reader.get_destination_page_number(o) + 1) for o in reader.outline]
    assert [t for t, _ in outline] == ["前言", "1. 品牌0号<script>", "2. 品牌1号<script>",
                                       "3. 品牌2号<script>"]  # fmt: skip
    toc_page = next(i for i, p in enumerate(pages) if "目" in p and "录" in p and "...." in flat(p))
    src = tmp_path / "booklet.pdf"
    src.write_bytes(pdf)
    n = str(toc_page + 1)
    toc = subprocess.run(["pdftotext", "-layout", "-f", n, "-l", n, str(src), "-"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    lines = [flat(line) for line in toc.splitlines()]
    for title, page in outline:  # the contents' page numbers are where the chapters start
        entry = re.compile(re.escape(flat(title)) + r"\.+" + str(page) + "$")
        assert any(entry.match(line) for line in lines), (title, page, lines)
        assert flat(title) in flat(pages[page - 1])
    for i, text in enumerate(pages[1:], 2):  # running header and page number after the cover
        assert "闽北职院2025年党建品牌创建" in flat(text) and f"第{i}页" in flat(text)
    assert steps[-1][0] == steps[-1][1] == 6 and all(d <= t for d, t in steps)
    image = _render_png(pdf, tmp_path, page=outline[1][1])
    assert sum(image.histogram()[:128]) > 0.01 * image.size[0] * image.size[1]


def test_booklet_without_foreword_has_no_foreword_chapter():
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(render_booklet(booklet(1, foreword="  "))))
    assert [o.title for o in reader.outline] == ["1. 品牌0号<script>"]


CERT = {
    "unit_name": "机电工程系党总支",
    "brand_name": "匠心铸魂<script>",
    "campaign_title": "闽北职院2025年党建品牌创建",
    "outcome": "excellent",
    "category_label": "一系一品牌",
    "committee": "中共闽北职业技术学院委员会",
    "date": "2025-11-20",
    "number": "minbei-2025-p1",
}


def test_certificate_landscape_one_page_with_committee_and_date(tmp_path):
    from pypdf import PdfReader

    pdf = render_certificate(CERT)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)  # landscape
    text = flat(reader.pages[0].extract_text())
    assert_all_in(text, ["荣誉证书", "机电工程系党总支", "匠心铸魂<script>", "中共闽北职业技术学院委员会",
                         "2025年11月20日", "一系一品牌优秀品牌"])  # fmt: skip
    image = _render_png(pdf, tmp_path)
    assert sum(image.histogram()[:128]) > 0.01 * image.size[0] * image.size[1]


def test_certificate_batch_one_page_each():
    certs = [dict(CERT, brand_name=f"品牌{i}") for i in range(4)]
    text, pages = pdf_text(render_certificates(certs))
    assert pages == 4
    assert_all_in(text, [f"品牌{i}" for i in range(4)])


def _docx_text(data: bytes) -> str:
    from docx import Document

    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [c.text for c in row.cells]
    return flat("".join(parts))


def test_report_docx_same_content_with_photos_and_captions():
    from docx import Document

    from workflow.documents.word import report_docx

    final = {"score": "92.50", "grade": "优秀", "outcome": "excellent"}
    doc = report_doc(brand="<script>品牌", n_photos=3, final=final)
    data = report_docx(doc)
    text = _docx_text(data)
    assert_all_in(text, ["党建品牌创建总结报告", "<script>品牌", "机电工程系党总支", "一系一品牌",
                         "认定为优秀", "92.50", *SECTIONS])  # fmt: skip
    assert_all_in(text, [f"图{i}第{i}张照片说明" for i in (1, 2, 3)])
    for section in doc["sections"]:
        assert flat(section["text"]) in text
    assert len(Document(io.BytesIO(data)).inline_shapes) == 3


@pytest.mark.parametrize("make", [ncut_doc, minbei_doc])
def test_application_docx_same_content_as_the_pdf(make):
    from workflow.documents.application import TITLES
    from workflow.documents.word import application_docx

    doc = make()
    text = _docx_text(application_docx(doc))
    assert flat(TITLES[doc["layout"]]) in text
    assert flat(doc["unit_name"]) in text
    for value in doc["fields"].values():
        assert flat(value) in text
    for op in doc["opinions"].values():
        if op:
            assert flat(op["text"]) in text and op["signer"] in text
