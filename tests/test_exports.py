"""The one spreadsheet guard and download header every export uses."""

import pytest

from workflow.exports import disposition, spreadsheet_safe


@pytest.mark.parametrize("text", ["=1+1", "+86", "-3", "@SUM(A1)", "\tcmd", "\r=x"])
def test_text_that_would_run_as_a_formula_is_neutralised(text):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["码上先锋", "a=b", 95, 12.5, None, ""])
def test_other_values_pass_unchanged(value):
    assert spreadsheet_safe(value) == value


def test_download_names_survive_in_both_forms():
    header = disposition("申报表-minbei.pdf")
    assert header.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E7%94%B3%E6%8A%A5%E8%A1%A8-minbei.pdf" in header
    assert disposition("scan.png", inline=True).startswith("inline;")


def test_a_quote_in_a_name_cannot_end_the_header_value():
    header = disposition('a"; filename="evil.exe')
    assert header.split("; filename*=")[0] == 'attachment; filename="a_; filename=_evil.exe"'
