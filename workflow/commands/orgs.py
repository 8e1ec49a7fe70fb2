"""Org tree commands: create, rename and move units; import a whole tree from CSV."""

from __future__ import annotations

import csv
import io
import re

from .. import db, log
from ..authz import Actor, require
from ..errors import DomainError
from ..events import NewEvent
from ..i18n import _
from ..orgtree import KINDS, LEVELS, PARENT_LEVELS, parse_kind, parse_level

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
NAME_MAX = 60


def stream(code: str) -> str:
    return f"unit:{code}"


def get_unit(code: str):
    return db.fetchone(
        "SELECT code, name, level, kind, parent, root FROM org_unit WHERE code = ?", (code,)
    )


def _check_unit(code, name, level, kind, parent, pending: dict | None = None) -> None:
    """Raise DomainError unless the unit is well formed and fits under its parent."""
    pending = pending or {}
    if not CODE_RE.match(code or ""):
        raise DomainError(
            _("组织编码只能由字母、数字、点、横线和下划线组成，最长 40 个字符。"), "code"
        )
    if not name or len(name) > NAME_MAX:
        raise DomainError(_("组织名称不能为空，且不超过 %(max)s 个字符。", max=NAME_MAX), "name")
    if level not in LEVELS:
        raise DomainError(_("组织层级只能是：党委、党总支、党支部。"), "level")
    if get_unit(code) or code in pending:
        raise DomainError(_("组织编码 %(code)s 已存在。", code=code), "code")
    if level == "branch" and kind not in KINDS:
        raise DomainError(_("党支部须注明类型：教工、学生或机关直属。"), "kind")
    if not PARENT_LEVELS[level]:
        if parent:
            raise DomainError(_("党委是最上级组织，不能有上级。"), "parent")
        return
    parent_level = pending.get(parent) or (get_unit(parent) or (None, None, None))[2]
    if parent_level is None:
        raise DomainError(_("上级组织 %(code)s 不存在。", code=parent or _("（空）")), "parent")
    if parent_level not in PARENT_LEVELS[level]:
        allowed = _("、").join(_(LEVELS[x]) for x in PARENT_LEVELS[level])
        raise DomainError(
            _("%(level)s的上级只能是%(allowed)s。", level=_(LEVELS[level]), allowed=allowed),
            "parent",
        )


def create_unit(actor: Actor, code, name, level, kind=None, parent=None, now=None):
    require(actor, "org.manage")
    name = (name or "").strip()
    kind = kind if level == "branch" else None
    _check_unit(code, name, level, kind, parent or None)
    event = NewEvent(
        "OrgUnitCreated",
        {"code": code, "name": name, "level": level, "kind": kind, "parent": parent or None},
    )
    return log.append(stream(code), 0, [event], actor.username, now)


def rename_unit(actor: Actor, code, name, reason, now=None):
    require(actor, "org.manage")
    name = (name or "").strip()
    if not get_unit(code):
        raise DomainError(_("组织 %(code)s 不存在。", code=code))
    if not name or len(name) > NAME_MAX:
        raise DomainError(_("组织名称不能为空，且不超过 %(max)s 个字符。", max=NAME_MAX), "name")
    if not (reason or "").strip():
        raise DomainError(_("请填写修改原因。"), "reason")
    version = log.stream_version(stream(code))
    event = NewEvent("OrgUnitRenamed", {"code": code, "name": name, "reason": reason.strip()})
    return log.append(stream(code), version, [event], actor.username, now)


def import_csv(actor: Actor, text: str, now=None) -> int:
    """Import units from CSV (编码,名称,层级,类型,上级编码), all or nothing.

    Every line is checked first; any error raises DomainError listing each bad line, and
    nothing is written. Returns the number of units created.
    """
    require(actor, "org.manage")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header = bool(rows and rows[0] and rows[0][0].strip() in ("编码", "code"))
    if header:
        rows = rows[1:]
    pending: dict[str, str] = {}
    units, errors = [], []
    for lineno, row in enumerate(rows, start=2 if header else 1):
        if not any(cell.strip() for cell in row):
            continue
        cells = [c.strip() for c in row] + [""] * 5
        code, name, level_text, kind_text, parent = cells[:5]
        level = parse_level(level_text)
        kind = parse_kind(kind_text) if level == "branch" else None
        try:
            if level is None:
                raise DomainError(
                    _("层级“%(level)s”无法识别（应为党委、党总支或党支部）", level=level_text)
                )
            _check_unit(code, name, level, kind, parent or None, pending)
        except DomainError as exc:
            errors.append(
                _("第 %(line)s 行：%(error)s", line=lineno, error=exc.message.rstrip("。"))
            )
            continue
        pending[code] = level
        units.append((code, name, level, kind, parent or None))
    if errors:
        raise DomainError(_("导入未执行，请修改后重试：\n%(errors)s", errors="\n".join(errors)))
    if not units:
        raise DomainError(_("文件中没有组织数据。"))
    with db.writer_transaction():
        db.take_writer_lock()
        for code, name, level, kind, parent in units:
            event = NewEvent(
                "OrgUnitCreated",
                {"code": code, "name": name, "level": level, "kind": kind, "parent": parent},
            )
            log.append(stream(code), 0, [event], actor.username, now)
    return len(units)
