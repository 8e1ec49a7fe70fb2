"""The compliance checklist and the organizer's matrix (all units × rules): colours and counts,
sorting, filters, CSV/XLSX export, the SVG chart, and who may see it."""

from __future__ import annotations

import csv
import io
import re

import pytest

from workflow import compliance, db
from workflow.commands import applications, campaigns
from workflow.demo.cultivation import drive_cultivating

NCUT = "ncut-info-2023"
URL = f"/campaigns/{NCUT}/compliance"


def _drive_cultivating(upload_dir):
    drive_cultivating(NCUT, upload_dir)


@pytest.fixture
def cultivating(seeded):
    """The ncut demo driven through review and cultivation (some units below the minimum)."""
    return seeded("approved", trees=[NCUT], then=_drive_cultivating)


def text(response) -> str:
    return response.get_data(as_text=True)


def news_cells(rows):
    return [r["cells"]["news"] for r in rows]


def test_checklist_of_a_project(cultivating, as_user):
    pid = db.fetchone(
        "SELECT id FROM project WHERE campaign = ? AND state = 'cultivating' ORDER BY id", (NCUT,)
    )[0]
    rows = compliance.checklist(applications.get_project(pid), campaigns.get(NCUT))
    by_code = {r["code"]: r for r in rows}
    assert list(by_code) == ["application", "news", "activities", "photos", "report_sections",
                             "report_length", "deadlines"]  # fmt: skip
    assert by_code["application"]["status"] == "ok"
    assert by_code["news"]["label"] == "宣传报道（学院及以上≥2 篇）"
    assert re.match(r"^\d+ / 2 篇$", by_code["news"]["value"])
    assert by_code["report_sections"]["value"] == "待评估验收阶段"
    assert by_code["report_length"]["status"] == "pending"
    page = text(as_user("org").get(f"/projects/{pid}/evidence", htmx=True))
    assert "合规清单" in page and "待评估验收阶段" in page and "st-pending" in page


def test_report_rows_once_a_report_exists(cultivating, monkeypatch):
    pid = db.fetchone("SELECT id FROM project WHERE state = 'cultivating' ORDER BY id")[0]
    monkeypatch.setattr(compliance, "report_lookup",
                        lambda p: {"sections": ["品牌名称", "创建背景", "主要举措"], "chars": 3001})  # fmt: skip
    rows = {r["code"]: r for r in compliance.checklist(applications.get_project(pid),
                                                       campaigns.get(NCUT))}  # fmt: skip
    assert rows["report_sections"]["status"] == "fail"
    assert "品牌内涵、取得成效" in rows["report_sections"]["detail"]
    assert (
        rows["report_length"]["status"] == "fail"
        and rows["report_length"]["value"] == "3001 / 3000 字"
    )


def test_matrix_shows_every_unit_with_colours_counts_and_a_chart(cultivating, as_user):
    org = as_user("org")
    page = org.get(URL)
    body = text(page)
    assert page.status_code == 200
    units = db.fetchall("SELECT name FROM org_unit WHERE root = 'ncut-info' AND level = 'branch'")
    for (name,) in units:
        assert name in body
    assert "<svg" in body and "各项规则的达标进度" in body
    assert "st-ok" in body and ("st-todo" in body or "st-fail" in body)
    assert "1 / 2 篇" in body  # a unit below the news minimum, with its count
    table = compliance.matrix(campaigns.get(NCUT))
    assert len(table) == len(units)
    progress = {p["code"]: p for p in compliance.progress(campaigns.get(NCUT), table)}
    assert progress["news"]["counts"]["ok"] >= 1
    assert progress["news"]["counts"]["fail"] + progress["news"]["counts"]["todo"] >= 1


def test_matrix_sorts_and_filters(cultivating, as_user):
    org = as_user("org")
    config = campaigns.get(NCUT)
    table = compliance.matrix(config)
    asc = compliance.select(table, {"sort": "news", "dir": "asc"})
    severities = [compliance.SEVERITY[c["status"]] for c in news_cells(asc)]
    assert severities == sorted(severities)
    desc = compliance.select(table, {"sort": "news", "dir": "desc"})
    assert [r["unit"] for r in desc] == [r["unit"] for r in reversed(asc)]
    failing = compliance.select(table, {"rule": "news", "status": "fail"})
    assert failing and all(c["status"] == "fail" for c in news_cells(failing))
    fragment = org.get(f"{URL}?rule=news&status=fail&sort=gaps&dir=desc", htmx=True)
    body = text(fragment)
    assert fragment.status_code == 200 and "<html" not in body and 'id="compliance-table"' in body
    assert f"显示 {len(failing)} / {len(table)} 个单位" in body
    assert 'aria-sort="descending"' in body
    searched = text(org.get(f"{URL}?q=计算机", htmx=True))
    assert "计算机系教工党支部" in searched and "电子工程系教工党支部" not in searched
    gaps = compliance.select(table, {"gaps": "1"})
    assert all(r["gaps"] for r in gaps) and len(gaps) < len(table)


def test_csv_export_with_the_filters(cultivating, as_user):
    org = as_user("org")
    response = org.get(f"{URL}.csv?rule=news&status=fail")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    data = response.get_data(as_text=True)
    assert data.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(data[1:])))
    assert rows[0][:6] == ["组织编码", "组织名称", "类别", "创建类型", "品牌名称", "项目状态"]
    assert "宣传报道（学院及以上≥2 篇）·结论" in rows[0]
    column = rows[0].index("宣传报道（学院及以上≥2 篇）·结论")
    assert rows[1:] and all(r[column] == "未达标" for r in rows[1:])


def test_xlsx_export_coloured_and_formula_safe(cultivating, as_user):
    from openpyxl import load_workbook

    pid = db.fetchone("SELECT id FROM project WHERE state = 'cultivating' ORDER BY id")[0]
    # a brand name that a spreadsheet would run as a formula stays text
    db.execute("UPDATE project SET brand_name = ? WHERE id = ?", ('=HYPERLINK("http://x")', pid))
    response = as_user("auditor").get(f"{URL}.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in ws[1]]
    assert header[0] == "组织编码" and "期限·结论" in header
    brands = [ws.cell(row=r, column=5) for r in range(2, ws.max_row + 1)]
    formula = next(c for c in brands if c.value and str(c.value).startswith("=HYPERLINK"))
    assert formula.data_type == "s"
    column = header.index("宣传报道（学院及以上≥2 篇）") + 1
    fills = {ws.cell(row=r, column=column).fill.fgColor.rgb for r in range(2, ws.max_row + 1)}
    assert any(f.endswith("D4EDDA") for f in fills)  # green for 达标
    csv_text = as_user("org").get(f"{URL}.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in csv_text


def test_chart_and_table_escape_text(cultivating, as_user, monkeypatch):
    real = compliance.rules

    def rules(config):
        out = real(config)
        out[1] = {**out[1], "label": "<script>alert(1)</script>"}
        return out

    monkeypatch.setattr(compliance, "rules", rules)
    body = text(as_user("org").get(URL))
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("username,status", [("org", 200), ("auditor", 200),
                                             ("a-ncut-cs-t", 403), ("s-ncut-cs-t", 403),
                                             ("reviewer1", 403)])  # fmt: skip
def test_who_sees_the_matrix(cultivating, as_user, username, status):
    for suffix in ("", ".csv", ".xlsx"):
        response = as_user(username).get(URL + suffix)
        assert response.status_code == status, (username, suffix)
