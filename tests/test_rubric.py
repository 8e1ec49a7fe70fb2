"""The rubric engine: each scoring mode, validation, import/export, aggregation, ranking."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow import rubric as r
from workflow.campaign_templates import NCUT_RUBRIC

STAR = {  # a 达标创星-style rubric using every mode
    "version": 1,
    "criteria": [
        {"code": "A", "name": "品牌设计", "max": 30, "mode": "range", "children": [
            {"code": "A1", "name": "品牌名称", "max": 10, "mode": "range"},
            {"code": "A2", "name": "品牌内涵", "max": 20, "mode": "levels",
             "levels": [["好", 20], ["较好", 15], ["一般", 10], ["差", 0]]},
        ]},
        {"code": "B", "name": "组织生活", "max": 5, "mode": "deduction", "per": 0.5},
        {"code": "C", "name": "宣传报道", "max": 10, "mode": "count", "per": 0.5},
        {"code": "D", "name": "工作成效", "max": 55, "mode": "range"},
        {"code": "E", "name": "上级表彰", "max": 5, "mode": "bonus"},
        {"code": "V", "name": "发生违纪违规问题", "mode": "veto", "effect": "fail"},
        {"code": "W", "name": "材料弄虚作假", "mode": "veto", "effect": "cap", "cap": 60},
    ],
}  # fmt: skip
FULL = {"A1": 10, "A2": "好", "B": 0, "C": 20, "D": 55, "E": 5, "V": "否", "W": "否"}


def test_default_rubric_is_the_five_creation_standards():
    r.validate(NCUT_RUBRIC)
    assert [c["name"] for c in NCUT_RUBRIC["criteria"]][0] == "具有标识性的品牌名称"
    assert r.base_maximum(NCUT_RUBRIC) == 100


def test_every_mode_scores_as_the_rules_say():
    r.validate(STAR)
    assert r.base_maximum(STAR) == 100
    result = r.total(STAR, FULL)
    assert result.base == 100 and result.bonus == 5 and result.total == 105  # bonus passes 100
    lapses = r.total(STAR, {**FULL, "B": 3, "E": 0})
    assert lapses.per_criterion["B"] == Decimal("3.5") and lapses.total == Decimal("98.5")
    floored = r.total(STAR, {**FULL, "B": 40})
    assert floored.per_criterion["B"] == 0  # deductions stop at zero
    capped = r.total(STAR, {**FULL, "C": 7})
    assert capped.per_criterion["C"] == Decimal("3.5")
    assert r.total(STAR, {**FULL, "A2": "一般"}).per_criterion["A"] == 20


def test_veto_fails_or_caps():
    failed = r.total(STAR, {**FULL, "V": "是"})
    assert failed.failed and failed.total == 0 and failed.vetoed == ["发生违纪违规问题"]
    assert r.grade(failed.total, [["优秀", 90], ["不合格", 0]], failed.failed) == "不合格"
    capped = r.total(STAR, {**FULL, "W": "是"})
    assert not capped.failed and capped.total == 60


@pytest.mark.parametrize(
    "inputs,message",
    [
        ({**FULL, "A1": 11}, "0 到 10"),
        ({**FULL, "A1": -1}, "0 到 10"),
        ({**FULL, "A1": "十分"}, "不是数字"),
        ({**FULL, "A1": 9.3}, "0.5 的整数倍"),
        ({**FULL, "A2": "优"}, "须选择一个等级"),
        ({**FULL, "B": 1.5}, "整数"),
        ({**FULL, "C": -2}, "整数"),
        ({**FULL, "V": "maybe"}, "是"),
        ({k: v for k, v in FULL.items() if k != "D"}, "尚未评分"),
    ],
)
def test_bad_inputs_are_refused_in_chinese(inputs, message):
    with pytest.raises(r.RubricError, match=message):
        r.total(STAR, inputs)


def test_validation_names_each_problem():
    bad = {"criteria": [
        {"code": "X", "name": "", "max": 0, "mode": "range"},
        {"code": "X", "name": "重复", "max": 5, "mode": "weird"},
    ]}  # fmt: skip
    with pytest.raises(r.RubricError) as info:
        r.validate(bad)
    text = str(info.value)
    assert "缺少名称" in text and "重复" in text and "未知的计分方式" in text and "大于 0" in text


def test_csv_and_json_round_trip_and_import_is_all_or_nothing():
    assert r.from_csv(r.to_csv(STAR)) == STAR
    assert r.from_json(r.to_json(STAR)) == STAR
    broken = r.to_csv(STAR).replace("品牌名称,range,10", "品牌名称,range,abc")
    with pytest.raises(r.RubricError, match="第 3 行"):
        r.from_csv(broken)
    with pytest.raises(r.RubricError, match="JSON"):
        r.from_json("{not json")


def test_aggregate_spread_and_rank():
    assert r.aggregate([80, 90, 70]) == Decimal("80.00")
    # from five reviewers up, exactly one highest and one lowest are dropped
    assert r.aggregate([60, 80, 80, 80, 100], "trimmed_mean", 5) == Decimal("80.00")
    assert r.aggregate([60, 80, 100, 100], "trimmed_mean", 5) == Decimal("85.00")
    assert r.spread([80, 90, 70]) == {"min": 70.0, "max": 90.0, "stdev": 8.16}
    ranked = r.rank([("a", 90), ("b", 95), ("c", 90), ("d", 80), ("e", None)])
    assert [(k, rank, tied) for k, _, rank, tied in ranked] == [
        ("b", 1, False), ("a", 2, True), ("c", 2, True), ("d", 4, False)]  # fmt: skip


def test_grades_map_totals():
    grades = [["优秀", 90], ["良好", 80], ["合格", 60], ["不合格", 0]]
    assert [r.grade(p, grades) for p in (105, 90, 89.5, 60, 12)] == [
        "优秀",
        "优秀",
        "良好",
        "合格",
        "不合格",
    ]


inputs = st.fixed_dictionaries({
    "A1": st.integers(0, 20).map(lambda n: n / 2),
    "A2": st.sampled_from(["好", "较好", "一般", "差"]),
    "B": st.integers(0, 30),
    "C": st.integers(0, 50),
    "D": st.integers(0, 110).map(lambda n: n / 2),
    "E": st.integers(0, 10).map(lambda n: n / 2),
    "V": st.sampled_from(["是", "否"]),
    "W": st.sampled_from(["是", "否"]),
})  # fmt: skip


@given(inputs)
def test_totals_stay_within_bounds_and_veto_wins(values):
    result = r.total(STAR, values)
    assert 0 <= result.base <= 100
    assert 0 <= result.total <= 105
    if values["V"] == "是":
        assert result.failed and result.total == 0
    elif values["W"] == "是":
        assert result.total <= 60


@given(st.lists(st.integers(0, 1000).map(lambda n: Decimal(n) / 10), min_size=5, max_size=12))
def test_trimmed_mean_ignores_exactly_one_highest_and_one_lowest(totals):
    ordered = sorted(totals)
    expected = (sum(ordered[1:-1]) / (len(ordered) - 2)).quantize(Decimal("0.01"))
    assert r.aggregate(totals, "trimmed_mean", 5) == expected
    # raising the single highest value never changes the trimmed mean
    assert r.aggregate([*ordered[:-1], ordered[-1] + 500], "trimmed_mean", 5) == expected


def test_minbei_rubric_uses_every_mode_and_totals_100():
    from workflow.campaign_templates import MINBEI_RUBRIC

    r.validate(MINBEI_RUBRIC)
    assert r.base_maximum(MINBEI_RUBRIC) == 100
    modes = {c.get("mode") for c, _ in r.walk(MINBEI_RUBRIC["criteria"])}
    assert modes == set(r.MODES)
