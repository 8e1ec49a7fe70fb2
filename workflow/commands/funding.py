"""Funding (经费), where the campaign grants it (config["funding"]): the organizer sets each
project's budget; the unit reports expense lines (date, item, amount, optional receipt scan).

Amounts are Decimal with two places, carried in events as text ("1200.50"), never floats.
Spending over the budget is allowed and shown in red: the money was spent, the record must
say so.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from .. import authz, db, files, lifecycle, log
from ..authz import Actor, require
from ..errors import DomainError, Forbidden
from ..events import NewEvent
from ..i18n import N_, _
from . import campaigns
from .applications import FormErrors
from .evidence import append, load, past_date, require_poster, stream, text

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999.99")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_amount(
    value, errors: dict, key: str = "amount", label: str = N_("金额")
) -> Decimal | None:
    """'1,200.5' -> Decimal('1200.50'); errors (in the request's language) for anything else.
    `label` is N_-marked, translated here."""
    raw = str(value or "").strip()
    for junk in (",", "，", " ", "元", "¥", "￥"):
        raw = raw.replace(junk, "")
    label = _(label)
    if not raw:
        errors[key] = _("请填写%(label)s。", label=label)
        return None
    if not NUMBER.match(raw):
        errors[key] = _("%(label)s须为数字，例如 1200.50。", label=label)
        return None
    amount = Decimal(raw)
    if amount <= 0:
        errors[key] = _("%(label)s必须大于 0。", label=label)
    elif amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        errors[key] = _("%(label)s最多保留两位小数（精确到分）。", label=label)
    elif amount > MAX_AMOUNT:
        errors[key] = _("%(label)s不能超过 %(max)s 元。", label=label, max=f"{MAX_AMOUNT:,}")
    else:
        return amount.quantize(CENT)
    return None


def _funded(config: dict) -> None:
    if not config.get("funding"):
        raise DomainError(_("该创建活动不设项目经费。"))


def set_budget(actor: Actor, pid: str, amount, note: str, now=None):
    """The organizer sets (or revises) a project's budget."""
    require(actor, "campaign.manage")
    project = load(pid)
    if not authz.in_scope(actor, project["unit"]):
        raise Forbidden(_("您不能管理该单位的项目经费。"))
    config = campaigns.get(project["campaign"])
    _funded(config)
    lifecycle.require_state("funding", project["state"])
    errors: dict[str, str] = {}
    value = parse_amount(amount, errors, label=N_("预算金额"))
    note = text(note, N_("说明"), 200, errors, "note", required=False)
    if errors:
        raise FormErrors(errors)
    event = NewEvent("BudgetSet", {"amount": str(value), "note": note})
    return append(actor, pid, [event], "", now)[0]


def record_expense(actor: Actor, pid: str, values: dict, receipt, upload_dir: str, now=None):
    """The unit reports one expense line; `receipt` is (bytes, name) or None."""
    now = now or datetime.now(UTC)
    project = load(pid)
    require_poster(actor, project)
    config = campaigns.get(project["campaign"])
    _funded(config)
    lifecycle.require_state("funding", project["state"])
    errors: dict[str, str] = {}
    spent_on = past_date(values.get("spent_on"), N_("支出日期"), config, now, errors, "spent_on")
    item = text(values.get("item"), N_("支出事项"), 100, errors, "item")
    amount = parse_amount(values.get("amount"), errors)
    ref = None
    if receipt is not None:
        try:
            ref = files.check(receipt[0], receipt[1])
        except DomainError as exc:
            errors["receipt"] = _("票据扫描件：%(error)s", error=exc.message)
    if errors:
        raise FormErrors(errors)
    if receipt is not None:
        ref = files.store(upload_dir, receipt[0], receipt[1])
    event = NewEvent("ExpenseRecorded", {
        "expense_id": str(uuid.uuid4()), "spent_on": spent_on, "item": item,
        "amount": str(amount), "receipt": ref})  # fmt: skip
    return append(actor, pid, [event], "", now)[0]


def summary(pid: str) -> dict:
    """Budget, expense lines and totals (Decimal) for a project."""
    row = db.fetchone("SELECT amount, note, at FROM project_budget WHERE project = ?", (pid,))
    lines = db.fetchall(
        "SELECT expense_id, spent_on, item, amount, receipt_sha, receipt_name, receipt_mime, "
        "actor, at FROM project_expense WHERE project = ? AND withdrawn_position IS NULL "
        "ORDER BY spent_on, position",
        (pid,),
    )
    keys = ("expense_id", "spent_on", "item", "amount", "receipt_sha", "receipt_name",
            "receipt_mime", "actor", "at")  # fmt: skip
    expenses = [dict(zip(keys, r)) for r in lines]
    for e in expenses:
        e["amount_text"] = f"{Decimal(e['amount']):,}"
    spent = sum((Decimal(e["amount"]) for e in expenses), Decimal("0.00"))
    budget = Decimal(row[0]) if row else None
    return {
        "budget": budget,
        "budget_note": row[1] if row else "",
        "expenses": expenses,
        "spent": spent,
        "remaining": (budget - spent) if budget is not None else None,
        "over": budget is not None and spent > budget,
        "share": int(min(100, spent * 100 / budget)) if budget else 0,
    }


def version(pid: str) -> int:
    return log.stream_version(stream(pid))
