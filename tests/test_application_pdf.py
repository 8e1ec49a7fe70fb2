"""The application form PDF (附件 申报表) for both notices: text, font, rendering, long text."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest

from workflow.documents import fonts
from workflow.documents.application import TITLES, render_application

try:
    fonts.register_fonts()
    FONT_MISSING = None
except fonts.FontNotFoundError as exc:  # pragma: no cover - the dev machine has the font
    FONT_MISSING = str(exc)
    print(f"skipping application PDF tests: {exc}")

pytestmark = pytest.mark.skipif(FONT_MISSING is not None, reason=f"no CJK font: {FONT_MISSING}")

NCUT_FIELDS = {
    "branch_name": "计算机系教工党支部",
    "brand_name": "“码”上先锋",
    "lead": "张明远",
    "intro": "计算机系教工党支部以“码”上先锋为品牌，依托专业优势，组织教工党员开展"
    "“党员教师+科研团队+学生”的导师制帮扶，把党建工作与人才培养深度融合。",
    "measures": "一、健全机制：制定品牌创建规划和年度计划，每季度召开一次推进会。\n"
    "二、搭建载体：围绕“知行合一”设计主题党日、专题学习和实践服务三类活动。\n"
    "三、宣传推广：在学院及以上平台刊发新闻稿件不少于 2 篇。",
    "outcomes": "党员参与率达到 95% 以上；形成 1 套品牌工作机制和 2 个典型案例。",
}
MINBEI_FIELDS = {
    "lead_name": "王建华",
    "lead_title": "党总支书记 / 副教授",
    "lead_phone": "0599-8214966",
    "brand_name": "匠心铸魂·机电先锋",
    "intro": "机电工程系党总支统筹“双带头人”工作室，推动产教融合与技能竞赛。",
    "plan_approach": "以习近平新时代中国特色社会主义思想为指导，坚持党建引领、融合发展。",
    "plan_goals": "形成可复制可推广的党建工作法和 2 个典型案例。",
    "plan_annual": "2025 年完成品牌设计与论证；2026 年形成可推广经验。",
    "plan_measures": "一是建立“双带头人”工作室；二是组建党员技能攻关小组；三是开展技能竞赛辅导。",
}


def ncut_doc(**over) -> dict:
    doc = {
        "layout": "ncut-2023",
        "campaign_title": "信息学院2023年度“一支部一特色”品牌创建",
        "unit_name": "计算机系教工党支部",
        "category": "branch_feature",
        "fields": dict(NCUT_FIELDS),
        "opinions": {
            "branch": {
                "text": "同意申报，品牌定位准确。",
                "signer": "李书记",
                "date": "2023-04-12",
            },
            "general_branch": None,
        },
        "submitted_at": "2023-04-12 10:30",
        "revision": 2,
    }
    doc.update(over)
    return doc


def minbei_doc(**over) -> dict:
    doc = {
        "layout": "minbei-2025",
        "campaign_title": "闽北职院2025年“一系一品牌，一支部一特色”党建品牌创建",
        "unit_name": "机电工程系党总支",
        "category": "dept_brand",
        "fields": dict(MINBEI_FIELDS),
        "opinions": {
            "branch": {"text": "同意申报。", "signer": "陈支书", "date": "2025-06-12"},
            "general_branch": {"text": "同意推荐。", "signer": "林总支", "date": "2025-06-14"},
        },
        "submitted_at": "2025-06-13 16:05",
        "revision": 1,
    }
    doc.update(over)
    return doc


def pdf_text(pdf: bytes) -> tuple[str, int]:
    """All pages' text with whitespace removed, and the page count."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", "", text), len(reader.pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_all_in(text: str, expected) -> None:
    missing = [e for e in expected if flat(e) not in text]
    assert not missing, f"missing from the PDF text: {missing}"


def test_ncut_form_has_annex_labels_and_values():
    pdf = render_application(ncut_doc())
    assert pdf.startswith(b"%PDF")
    text, pages = pdf_text(pdf)
    assert pages == 1
    assert_all_in(
        text,
        [
            "附件：",
            TITLES["ncut-2023"],
            "信息学院“一支部一品牌”创建申报表",
            "党支部名称",
            "品牌名称",
            "品牌实施负责人",
            "品牌简介",
            "创建措施及步骤",
            "预期成效及验收指标",
            "支部意见：",
            "支部书记签字：李书记",
            "2023 年 4 月 12 日",
            "同意申报，品牌定位准确。",
            "申报单位：计算机系教工党支部",
            "提交时间：2023-04-12 10:30",
            "第 2 版",
            "第 1 页",
            *NCUT_FIELDS.values(),
        ],
    )
    # the brand name and the lead sit on the same row, in the notice's order
    assert text.index("品牌名称") < text.index("“码”上先锋") < text.index("品牌实施负责人")
    assert text.index("品牌实施负责人") < text.index("张明远") < text.index("品牌简介")


def test_minbei_form_has_annex_labels_values_and_checkbox_state():
    pdf = render_application(minbei_doc())
    text, pages = pdf_text(pdf)
    assert pages == 1
    assert_all_in(
        text,
        [
            "附件",
            TITLES["minbei-2025"],
            "负责人",
            "姓名",
            "职务/职称",
            "办公电话",
            "创建类型",
            "品牌名称",
            "项目简介",
            "项目实施计划",
            "一、总体思路",
            "二、建设目标",
            "三、年度工作目标",
            "四、工作举措",
            "党支部意见：",
            "党总支意见：",
            "负责人（签章）：陈支书",
            "负责人（签章）：林总支",
            "（加盖公章）",
            "2025 年 6 月 12 日",
            "2025 年 6 月 14 日",
            "同意申报。",
            "同意推荐。",
            *MINBEI_FIELDS.values(),
        ],
    )
    assert text.count("（加盖公章）") == 2
    # 创建类型: the ticked box carries a ✓ right before its label, the other none
    assert "✓一系一品牌" in text
    assert "✓一支部一特色" not in text
    row = text.index("创建类型")  # (the title names both types too)
    assert (
        row
        < text.index("一系一品牌", row)
        < text.index("一支部一特色", row)
        < text.index("品牌名称", row)
    )
    # the four plan parts keep their order, each followed by its text
    order = [
        text.index(flat(s))
        for s in (
            "一、总体思路",
            MINBEI_FIELDS["plan_approach"],
            "二、建设目标",
            MINBEI_FIELDS["plan_goals"],
            "三、年度工作目标",
            MINBEI_FIELDS["plan_annual"],
            "四、工作举措",
            MINBEI_FIELDS["plan_measures"],
        )
    ]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("category", "ticked", "unticked"),
    [
        ("branch_feature", ["一支部一特色"], ["一系一品牌"]),
        ("dept_brand", ["一系一品牌"], ["一支部一特色"]),
        (None, [], ["一系一品牌", "一支部一特色"]),
    ],
)
def test_minbei_category_ticks_one_box(category, ticked, unticked):
    text, _ = pdf_text(render_application(minbei_doc(category=category)))
    for label in ticked:
        assert "✓" + label in text
    for label in unticked:
        assert label in text and "✓" + label not in text
    assert text.count("✓") == len(ticked)


@pytest.mark.parametrize("make", [ncut_doc, minbei_doc])
def test_empty_opinions_leave_signature_stamp_and_date_blank(make):
    doc = make(opinions={"branch": None, "general_branch": None})
    text, pages = pdf_text(render_application(doc))
    assert pages == 1
    if doc["layout"] == "ncut-2023":
        assert "支部书记签字：年月日" in text  # nothing signed, no date: blanks to fill by hand
        assert "李书记" not in text and "同意申报" not in text
    else:
        assert text.count("负责人（签章）：（加盖公章）年月日") == 2
        assert "陈支书" not in text and "林总支" not in text and "同意" not in text
    # opinions missing altogether behave the same
    assert pdf_text(render_application(make(opinions=None)))[0] == text


@pytest.mark.parametrize("layout", ["ncut-2023", "minbei-2025"])
def test_blank_form_for_the_paper_copy(layout):
    """No project yet: every label is printed, every value cell is blank, one page."""
    doc = {"layout": layout, "fields": {}, "opinions": {"branch": None, "general_branch": None}}
    text, pages = pdf_text(render_application(doc))
    assert pages == 1
    assert flat(TITLES[layout]) in text
    assert "✓" not in text
    assert "申报单位" not in text and "提交时间" not in text


def test_minbei_blank_opinion_only_for_the_level_not_yet_given():
    doc = minbei_doc()
    doc["opinions"]["general_branch"] = None
    text, _ = pdf_text(render_application(doc))
    assert "负责人（签章）：陈支书" in text
    assert "负责人（签章）：（加盖公章）年月日" in text  # 党总支 still blank
    assert "同意推荐" not in text


def _fonts_of(pdf: bytes) -> list[dict]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    out = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            if descendants:
                font = descendants[0].get_object()
            out.append(font)
    return out


@pytest.mark.parametrize("make", [ncut_doc, minbei_doc])
def test_cjk_font_is_embedded_and_the_only_font(make):
    pdf = render_application(make())
    used = _fonts_of(pdf)
    assert used
    for font in used:
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
        assert len(descriptor["/FontFile2"].get_object().get_data()) > 1000
    names = {str(font["/BaseFont"]) for font in used}
    assert not any("Helvetica" in n or "Times" in n for n in names), names


@pytest.mark.parametrize("make", [ncut_doc, minbei_doc])
def test_pdf_metadata_title(make):
    from pypdf import PdfReader

    doc = make()
    meta = PdfReader(io.BytesIO(render_application(doc))).metadata
    assert meta.title.startswith(TITLES[doc["layout"]])
    assert doc["unit_name"] in meta.title
    assert meta.subject == doc["campaign_title"]


def _render_png(pdf: bytes, tmp_path, page: int = 1):
    from PIL import Image

    if shutil.which("pdftoppm") is None:
        print("skipping rendering check: pdftoppm (poppler-utils) is not installed")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    src = tmp_path / "form.pdf"
    src.write_bytes(pdf)
    prefix = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-r", "60", "-f", str(page), "-l", str(page), "-png", str(src), str(prefix)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (png,) = tmp_path.glob("page*.png")
    return Image.open(png).convert("L")


@pytest.mark.parametrize("make", [ncut_doc, minbei_doc])
def test_first_page_renders_ink(make, tmp_path):
    image = _render_png(render_application(make()), tmp_path)
    width, height = image.size
    assert (width, height) == pytest.approx((496, 702), abs=2)  # A4 portrait at 60 dpi
    dark = sum(image.histogram()[:128])
    assert dark > 0.02 * width * height, f"page 1 looks blank ({dark} dark pixels)"
    # the title band (top ~12% of the page) carries the Chinese title: ink there too
    title = image.crop((0, int(height * 0.06), width, int(height * 0.16)))
    assert sum(title.histogram()[:128]) > 300


def test_text_renders_as_glyphs_not_boxes(tmp_path):
    """Chinese drawn with a font lacking the glyphs comes out as empty boxes of equal ink;
    different characters must give different pictures."""
    a = _render_png(render_application(ncut_doc(fields={"branch_name": "一" * 20})), tmp_path)
    for f in tmp_path.glob("page*.png"):
        f.unlink()
    b = _render_png(render_application(ncut_doc(fields={"branch_name": "黨" * 20})), tmp_path)
    ink_a = sum(a.histogram()[:128])
    ink_b = sum(b.histogram()[:128])
    assert ink_b - ink_a > 200  # 黨 has far more strokes than 一


def _long_text(n_chars: int = 3200) -> str:
    parts, i = [], 0
    while sum(map(len, parts)) < n_chars:
        i += 1
        parts.append(
            f"第{i}条：党员教师深入推进“一支部一品牌”创建，落实立德树人根本任务，服务师生成长。"
        )
        if i % 12 == 0:
            parts.append("\n")
    return "".join(parts)


@pytest.mark.parametrize(
    ("make", "key", "label"),
    [(ncut_doc, "measures", "创建措施及步骤"), (minbei_doc, "plan_measures", "项目实施计划")],
)
def test_long_field_flows_across_pages_without_loss(make, key, label):
    long_text = _long_text()
    assert len(long_text) >= 3000
    doc = make()
    doc["fields"][key] = long_text
    text, pages = pdf_text(render_application(doc))
    assert pages >= 2
    for n in range(1, pages + 1):
        assert f"第{n}页" in text
    # drop what the page breaks put in between (running header, page number, "<label>（续）")
    cleaned = text
    for noise in (label + "（续）", doc["campaign_title"]):
        cleaned = cleaned.replace(flat(noise), "")
    cleaned = re.sub(r"第\d+页", "", cleaned)
    # every sentence is there, in order, and the whole field is there verbatim
    sentences = [s + "。" for s in long_text.replace("\n", "").split("。") if s]
    positions = [cleaned.index(flat(s)) for s in sentences]
    assert positions == sorted(positions)
    assert flat(long_text) in cleaned
    # the rest of the form still follows the long field
    assert "负责人（签章）" in text or "支部书记签字" in text


def test_long_opinion_and_unbreakable_tokens_still_render():
    doc = minbei_doc()
    opinion = "该项目定位准确，措施具体，同意推荐。" * 140  # ~2500 characters
    doc["opinions"]["general_branch"]["text"] = opinion
    url = "https://example.edu.cn/" + "a" * 400
    doc["fields"]["intro"] = url
    text, pages = pdf_text(render_application(doc))
    assert pages >= 2
    cleaned = re.sub(r"第\d+页", "", text).replace(flat(doc["campaign_title"]), "")
    assert opinion in cleaned
    assert url in cleaned.replace("项目简介（续）", "")


def test_user_markup_prints_literally():
    evil = "<script>alert('x')</script> & <b>不加粗</b> &amp; </para>"
    doc = minbei_doc(unit_name="<i>单位</i> & 党总支")
    doc["fields"]["brand_name"] = "<script>&"
    doc["fields"]["intro"] = evil
    doc["opinions"]["branch"]["text"] = evil
    doc["opinions"]["branch"]["signer"] = "<b>签名</b>"
    pdf = render_application(doc)
    text, _ = pdf_text(pdf)
    assert "<script>&" in text
    assert text.count(flat(evil)) == 2
    assert "<i>单位</i>&党总支" in text
    assert "负责人（签章）：<b>签名</b>" in text
    from pypdf import PdfReader

    assert "<i>单位</i> & 党总支" in PdfReader(io.BytesIO(pdf)).metadata.title


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError):
        render_application({"layout": "other", "fields": {}})


def test_missing_font_error_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "_registered", {})
    monkeypatch.setenv("BRANDFLOW_FONT", str(tmp_path / "nope.ttf"))
    with pytest.raises(fonts.FontNotFoundError) as info:
        fonts.register_fonts()
    assert "fonts-wqy-microhei" in str(info.value) and "BRANDFLOW_FONT" in str(info.value)

    monkeypatch.delenv("BRANDFLOW_FONT")
    monkeypatch.setattr(fonts, "CANDIDATES", (str(tmp_path / "missing.ttc"),))
    with pytest.raises(fonts.FontNotFoundError) as info:
        fonts.register_fonts()
    message = str(info.value)
    assert "未找到可用的中文" in message and "apt-get install fonts-wqy-microhei" in message


def test_font_override_by_path(monkeypatch):
    path = fonts.font_path()
    monkeypatch.setattr(fonts, "_registered", {})
    monkeypatch.setenv("BRANDFLOW_FONT", path)
    assert fonts.register_fonts() == fonts.FONT_NAME
    assert fonts.font_path() == path
