"""The rubric engine: pure functions over a rubric (a tree of criteria) and one reviewer's inputs.

Real rules score in several ways, and each criterion names its `mode`:

- ``range``: a value from 0 to ``max`` (steps of ``step``, default 0.5).
- ``deduction``: the input is a count of lapses; the score is ``max - per × count``, floored at 0
  (缺一次扣0.5分).
- ``levels``: the input is a level name; ``levels`` maps names to fixed points (好/较好/一般/差).
- ``count``: the input is a count; the score is ``per × count`` capped at ``max`` (0.5 分/篇, 最高10分).
- ``bonus``: like ``range`` but added on top: the total may pass the base maximum (加分项).
- ``veto``: the input is yes/no; a "yes" fails the result (``effect: "fail"``) or caps the total at
  ``cap`` (``effect: "cap"``) — 一票否决.

A criterion with ``children`` (一级指标 with 二级指标) scores the sum of its children, capped at its
own ``max``. Numbers are handled as Decimal so 0.5-point rules add up exactly.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .i18n import N_, _

MODES = {
    "range": N_("区间打分"),
    "deduction": N_("扣分制"),
    "levels": N_("等级评定"),
    "count": N_("计数累加"),
    "bonus": N_("加分项"),
    "veto": N_("一票否决"),
}
CSV_COLUMNS = ["code", "parent", "name", "mode", "max", "step", "per", "levels", "effect", "cap",
               "guidance", "evidence"]  # fmt: skip


class RubricError(ValueError):
    """A rubric or an input that breaks the rules; the message (in the request's language) names
    the criterion."""


def _dec(value, what: str) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RubricError(_("%(what)s：“%(value)s”不是数字。", what=what, value=value)) from None
    if not number.is_finite():
        raise RubricError(_("%(what)s：“%(value)s”不是有效数字。", what=what, value=value))
    return number


def walk(criteria: list[dict], depth: int = 1):
    """Every criterion, depth-first, with its depth (1 = 一级指标)."""
    for c in criteria:
        yield c, depth
        yield from walk(c.get("children") or [], depth + 1)


def leaves(rubric: dict) -> list[dict]:
    return [c for c, _depth in walk(rubric["criteria"]) if not c.get("children")]


def validate(rubric: dict) -> None:
    """Raise RubricError listing every problem, or return quietly."""
    problems = []
    seen = set()
    if not isinstance(rubric, dict) or not isinstance(rubric.get("criteria"), list):
        raise RubricError(_("评分细则格式不正确：缺少指标列表。"))
    if not rubric["criteria"]:
        problems.append(_("评分细则至少需要一个指标。"))
    for c, depth in walk(rubric["criteria"]):
        code = str(c.get("code") or "").strip()
        label = _("指标 %(code)s", code=code or _("（无编号）"))
        if not code:
            problems.append(_("每个指标都需要编号。"))
        elif code in seen:
            problems.append(_("指标编号 %(code)s 重复。", code=code))
        seen.add(code)
        if not str(c.get("name") or "").strip():
            problems.append(_("%(label)s 缺少名称。", label=label))
        if depth > 3:
            problems.append(_("%(label)s 层级过深（最多三级）。", label=label))
        mode = c.get("mode", "range")
        if c.get("children"):
            if mode in ("veto", "bonus"):
                problems.append(
                    _("%(label)s：%(mode)s不能有下级指标。", label=label, mode=_(MODES[mode]))
                )
        elif mode not in MODES:
            problems.append(_("%(label)s：未知的计分方式“%(mode)s”。", label=label, mode=mode))
            continue
        try:
            _check_numbers(c, mode)
        except RubricError as exc:
            problems.append(_("%(label)s：%(problem)s", label=label, problem=exc))
    if problems:
        raise RubricError(_("；").join(problems))


def _check_numbers(c: dict, mode: str) -> None:
    if mode == "veto":
        if c.get("effect", "fail") not in ("fail", "cap"):
            raise RubricError(_("一票否决的效果只能是 fail（不合格）或 cap（封顶）"))
        if c.get("effect") == "cap" and _dec(c.get("cap"), _("封顶分")) < 0:
            raise RubricError(_("封顶分不能为负"))
        return
    if mode == "levels" and not c.get("children"):
        levels = c.get("levels") or []
        if not levels:
            raise RubricError(_("等级评定需要列出等级及分值"))
        points = [_dec(p, _("等级分值")) for _name, p in levels]
        if any(p < 0 for p in points):
            raise RubricError(_("等级分值不能为负"))
        c_max = _dec(c.get("max", max(points)), _("满分"))
        if max(points) > c_max:
            raise RubricError(_("等级分值不能超过满分"))
        return
    if _dec(c.get("max"), _("满分")) <= 0:
        raise RubricError(_("满分必须大于 0"))
    if mode in ("deduction", "count") and _dec(c.get("per"), _("每次分值")) <= 0:
        raise RubricError(_("每次扣分或加分必须大于 0"))


def maximum(c: dict) -> Decimal:
    if c.get("mode") == "veto":
        return Decimal(0)
    if c.get("mode") == "levels" and "max" not in c:
        return max(_dec(p, _("等级分值")) for _name, p in c["levels"])
    return _dec(c["max"], _("满分"))


def base_maximum(rubric: dict) -> Decimal:
    """The most a result can score without bonus items (usually 100)."""
    return sum(
        (maximum(c) for c in rubric["criteria"] if c.get("mode") not in ("bonus", "veto")),
        Decimal(0),
    )


def score_leaf(c: dict, value) -> Decimal:
    """The points one input earns on one criterion; bad input raises RubricError."""
    mode, name = c.get("mode", "range"), c["name"]
    if mode in ("range", "bonus"):
        points = _dec(value, name)
        top = maximum(c)
        if points < 0 or points > top:
            raise RubricError(
                _(
                    "“%(name)s”的得分须在 0 到 %(top)s 之间，输入的是 %(points)s。",
                    name=name,
                    top=_fmt(top),
                    points=_fmt(points),
                )
            )
        step = _dec(c.get("step", "0.5"), _("分值步长"))
        if step > 0 and points % step != 0:
            raise RubricError(
                _("“%(name)s”的得分须是 %(step)s 的整数倍。", name=name, step=_fmt(step))
            )
        return points
    if mode in ("deduction", "count"):
        count = _dec(value, name)
        if count < 0 or count != count.to_integral_value():
            raise RubricError(_("“%(name)s”须填写不小于 0 的整数次数/篇数。", name=name))
        per = _dec(c["per"], _("每次分值"))
        if mode == "deduction":
            return max(Decimal(0), maximum(c) - per * count)
        return min(maximum(c), per * count)
    if mode == "levels":
        for level, points in c["levels"]:
            if value == level:
                return _dec(points, _("等级分值"))
        names = _("、").join(level for level, _points in c["levels"])
        raise RubricError(_("“%(name)s”须选择一个等级：%(levels)s。", name=name, levels=names))
    if mode == "veto":
        if value in (True, "yes", "1", 1, "是"):
            return Decimal(1)
        if value in (False, "no", "0", 0, "否", None, ""):
            return Decimal(0)
        raise RubricError(_("“%(name)s”须选择“是”或“否”。", name=name))
    raise RubricError(_("未知的计分方式：%(mode)s", mode=mode))


@dataclass
class Result:
    base: Decimal
    bonus: Decimal
    total: Decimal
    vetoed: list[str] = field(default_factory=list)  # names of the veto items that fired
    failed: bool = False
    per_criterion: dict[str, Decimal] = field(default_factory=dict)


def total(rubric: dict, inputs: dict) -> Result:
    """Score every criterion from `inputs` (code -> input). Every leaf needs an input, except
    bonus and veto items, which default to none."""
    per: dict[str, Decimal] = {}
    vetoed, caps = [], []

    def score(c: dict) -> Decimal:
        if c.get("children"):
            points = sum((score(child) for child in c["children"]), Decimal(0))
            points = min(points, maximum(c))
        else:
            value = inputs.get(c["code"])
            mode = c.get("mode", "range")
            if value in (None, "") and mode not in ("bonus", "veto"):
                raise RubricError(_("“%(name)s”尚未评分。", name=c["name"]))
            if value in (None, "") and mode == "bonus":
                value = 0
            points = score_leaf(c, value)
            if mode == "veto":
                if points:
                    vetoed.append(c["name"])
                    if c.get("effect") == "cap":
                        caps.append(_dec(c["cap"], _("封顶分")))
                per[c["code"]] = points
                return Decimal(0)
        per[c["code"]] = points
        return points

    base = bonus = Decimal(0)
    for c in rubric["criteria"]:
        points = score(c)
        if c.get("mode") == "bonus":
            bonus += points
        else:
            base += points
    result_total = base + bonus
    failed = any(
        c.get("effect", "fail") == "fail" and c["name"] in vetoed
        for c, _depth in walk(rubric["criteria"])
        if c.get("mode") == "veto"
    )
    if caps:
        result_total = min([result_total, *caps])
    if failed:
        result_total = Decimal(0)
    return Result(base, bonus, result_total, vetoed, failed, per)


def grade(points, thresholds: list, failed: bool = False) -> str:
    """Map a total to a grade: thresholds like [["优秀", 90], ["良好", 80], ...]."""
    ordered = sorted(thresholds, key=lambda t: -float(t[1]))
    if failed:
        return ordered[-1][0]
    for name, floor in ordered:
        if Decimal(str(points)) >= Decimal(str(floor)):
            return name
    return ordered[-1][0]


# --- Across reviewers -----------------------------------------------------------------------


def aggregate(totals: list, method: str = "mean", trim_from: int = 5) -> Decimal | None:
    """Mean, or trimmed mean dropping exactly one highest and one lowest from `trim_from` up."""
    values = sorted(Decimal(str(t)) for t in totals)
    if not values:
        return None
    if method == "trimmed_mean" and len(values) >= trim_from:
        values = values[1:-1]
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.01"))


def spread(totals: list) -> dict:
    values = [float(t) for t in totals]
    if not values:
        return {"min": None, "max": None, "stdev": None}
    stdev = statistics.pstdev(values) if len(values) > 1 else 0.0
    return {"min": min(values), "max": max(values), "stdev": round(stdev, 2)}


def rank(items: list[tuple[str, object]]) -> list[tuple[str, object, int, bool]]:
    """(id, score) → (id, score, rank, tied), best first; equal scores share a rank (1, 1, 3)."""
    scored = sorted((i for i in items if i[1] is not None), key=lambda i: -Decimal(str(i[1])))
    out, previous, current = [], None, 0
    for index, (key, points) in enumerate(scored, start=1):
        if points != previous:
            current, previous = index, points
        out.append([key, points, current, False])
    for row in out:
        row[3] = sum(1 for other in out if other[2] == row[2]) > 1
    return [tuple(row) for row in out]


# --- Import and export ----------------------------------------------------------------------


def to_json(rubric: dict) -> str:
    return json.dumps(rubric, ensure_ascii=False, indent=2)


def from_json(text: str) -> dict:
    try:
        rubric = json.loads(text)
    except ValueError as exc:
        raise RubricError(
            _("JSON 无法解析：第 %(line)s 行附近有误。", line=getattr(exc, "lineno", "?"))
        ) from None
    validate(rubric)
    return rubric


def to_csv(rubric: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def emit(criteria, parent):
        for c in criteria:
            levels = ";".join(f"{n}={p}" for n, p in c.get("levels") or [])
            writer.writerow([c["code"], parent, c["name"], c.get("mode", "range"), c.get("max", ""),
                             c.get("step", ""), c.get("per", ""), levels, c.get("effect", ""),
                             c.get("cap", ""), c.get("guidance", ""), c.get("evidence", "")])  # fmt: skip
            emit(c.get("children") or [], c["code"])

    emit(rubric["criteria"], "")
    return out.getvalue()


def from_csv(text: str, version: int = 1) -> dict:
    """Parse and validate a CSV rubric, all or nothing; errors name the line."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise RubricError(_("CSV 中没有指标。"))
    missing = {"code", "name", "mode"} - set(rows[0])
    if missing:
        raise RubricError(_("CSV 缺少列：%(columns)s", columns=_("、").join(sorted(missing))))
    nodes, roots = {}, []
    for line, row in enumerate(rows, start=2):
        c = {"code": (row.get("code") or "").strip(), "name": (row.get("name") or "").strip(),
             "mode": (row.get("mode") or "range").strip()}  # fmt: skip
        for key in ("max", "step", "per", "cap"):
            if (row.get(key) or "").strip():
                c[key] = _number(row[key], line, key)
        for key in ("effect", "guidance", "evidence"):
            if (row.get(key) or "").strip():
                c[key] = row[key].strip()
        if (row.get("levels") or "").strip():
            try:
                c["levels"] = [[n.strip(), _number(p, line, "levels")]
                               for n, p in (part.split("=") for part in row["levels"].split(";"))]  # fmt: skip
            except ValueError:
                raise RubricError(
                    _("第 %(line)s 行：等级应写成“好=5;较好=4”。", line=line)
                ) from None
        parent = (row.get("parent") or "").strip()
        if parent:
            if parent not in nodes:
                raise RubricError(
                    _(
                        "第 %(line)s 行：上级指标 %(parent)s 须出现在本行之前。",
                        line=line,
                        parent=parent,
                    )
                )
            nodes[parent].setdefault("children", []).append(c)
        else:
            roots.append(c)
        nodes[c["code"]] = c
    rubric = {"version": version, "criteria": roots}
    validate(rubric)
    return rubric


def _number(text: str, line: int, column: str):
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RubricError(
            _(
                "第 %(line)s 行 %(column)s 列：“%(text)s”不是数字。",
                line=line,
                column=column,
                text=text,
            )
        ) from None
    return int(value) if value == value.to_integral_value() else float(value)


def _fmt(number: Decimal) -> str:
    return f"{number.normalize():f}" if number == number.to_integral_value() else str(number)
