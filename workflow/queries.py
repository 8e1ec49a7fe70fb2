"""Read helpers over the projection tables, shared by pages and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import authz, db
from .i18n import _
from .orgtree import KINDS, unit_label


@dataclass
class UnitNode:
    code: str
    name: str
    level: str
    kind: str | None
    parent: str | None
    children: list[UnitNode] = field(default_factory=list)
    label: str = ""

    @property
    def kind_label(self) -> str:
        return _(KINDS[self.kind]) if self.kind in KINDS else ""


def org_forest(actor: authz.Actor) -> list[UnitNode]:
    """The org trees the actor may see, each committee with its units nested, sorted by code."""
    rows = db.fetchall("SELECT code, name, level, kind, parent FROM org_unit ORDER BY code")
    nodes = {r[0]: UnitNode(*r) for r in rows}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent) if node.parent else None
        node.label = unit_label(node.level, parent.level if parent else None)
        if parent:
            parent.children.append(node)
        else:
            roots.append(node)
    return [r for r in roots if authz.in_scope(actor, r.code)]


def unit_choices(actor: authz.Actor, levels=("committee", "general_branch", "branch")):
    """(code, "name（label）") for select boxes, depth-first."""
    out = []

    def walk(node, depth):
        if node.level in levels:
            out.append(
                (
                    node.code,
                    "　" * depth + _("%(name)s（%(label)s）", name=node.name, label=node.label),
                )
            )
        for child in node.children:
            walk(child, depth + 1)

    for root in org_forest(actor):
        walk(root, 0)
    return out


def users(actor: authz.Actor):
    rows = db.fetchall(
        "SELECT a.username, a.display_name, a.roles, a.unit, a.active, u.name, u.parent, u.root "
        "FROM user_account a LEFT JOIN org_unit u ON u.code = a.unit ORDER BY a.username"
    )
    visible, may_see = [], authz.scope(actor)
    for username, name, roles, unit, active, unit_name, parent, root in rows:
        if unit and not (root and may_see(unit, parent, root)):
            continue
        visible.append(
            {
                "username": username,
                "display_name": name,
                "roles": [
                    _(authz.ROLES[r]) if r in authz.ROLES else r for r in roles.split(",") if r
                ],
                "unit": unit,
                "unit_name": unit_name or _("（全校）"),
                "active": bool(active),
            }
        )
    return visible
