"""seed-demo: the two notices' org trees and demo accounts (idempotent)."""

from __future__ import annotations

from .. import db
from ..authz import SYSTEM
from ..commands import accounts, orgs
from .units import MINBEI, NCUT, PEOPLE, STAFF

TREES = {"ncut-info-2023": NCUT, "minbei-2025": MINBEI}


def _exists(table: str, key: str, value: str) -> bool:
    return db.fetchone(f"SELECT 1 FROM {table} WHERE {key} = ?", (value,)) is not None


def seed_orgs(tree) -> int:
    created = 0
    for code, name, level, kind, parent in tree:
        if not _exists("org_unit", "code", code):
            orgs.create_unit(SYSTEM, code, name, level, kind, parent)
            created += 1
    return created


def seed_accounts(tree, password: str) -> int:
    created = 0
    wanted = list(STAFF)
    for code, _name, level, _kind, _parent in tree:
        if level == "committee":
            continue
        secretary, lead = PEOPLE[code]
        wanted.append((f"s-{code}", f"{secretary}（书记）", ["approver"], code))
        wanted.append((f"a-{code}", f"{lead}（品牌负责人）", ["applicant"], code))
    for username, name, roles, unit in wanted:
        if not _exists("user_account", "username", username):
            accounts.create_user(SYSTEM, username, name, roles, unit, password)
            created += 1
    return created


def seed(campaigns: list[str], password: str, echo=print) -> None:
    for slug in campaigns:
        tree = TREES[slug]
        units = seed_orgs(tree)
        users = seed_accounts(tree, password)
        echo(f"{slug}: {units} 个组织、{users} 个账号已创建")
