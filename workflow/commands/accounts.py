"""Accounts: create users, change roles, passwords and logins with throttling.

The password hash is written to `credential` in the same transaction as the account event;
the event itself never carries a secret.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from .. import db, log
from ..authz import ROLES, Actor, require
from ..errors import DomainError
from ..events import NewEvent
from ..i18n import _
from .orgs import get_unit

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,39}$")
PASSWORD_MIN = 8
# Werkzeug's scrypt by default; tests lower the cost through configuration.
HASH_METHOD = "scrypt"
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


class LoginError(DomainError):
    status = 401


def stream(username: str) -> str:
    return f"user:{username}"


def get_account(username: str) -> Actor | None:
    row = db.fetchone(
        "SELECT username, roles, unit, display_name, active FROM user_account WHERE username = ?",
        (username,),
    )
    if row is None or not row[4]:
        return None
    roles = frozenset(r for r in row[1].split(",") if r)
    return Actor(row[0], roles, row[2], row[3])


def _check_roles(roles, unit) -> list[str]:
    roles = sorted(set(roles))
    if not roles or any(r not in ROLES for r in roles):
        raise DomainError(_("请选择有效的角色。"), "roles")
    if unit and not get_unit(unit):
        raise DomainError(_("所属组织 %(code)s 不存在。", code=unit), "unit")
    if {"applicant", "approver"} & set(roles) and not unit:
        raise DomainError(_("申报人和支部书记必须属于一个组织。"), "unit")
    return roles


def _check_password(password: str) -> None:
    if len(password or "") < PASSWORD_MIN:
        raise DomainError(_("密码至少 %(n)s 个字符。", n=PASSWORD_MIN), "password")


def create_user(actor: Actor, username, display_name, roles, unit, password, now=None):
    require(actor, "users.manage")
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    if not USERNAME_RE.match(username):
        raise DomainError(_("用户名须为 2–40 位小写字母、数字、点、横线或下划线。"), "username")
    if not display_name or len(display_name) > 40:
        raise DomainError(_("姓名不能为空，且不超过 40 个字符。"), "display_name")
    roles = _check_roles(roles, unit)
    _check_password(password)
    if db.fetchone("SELECT 1 FROM user_account WHERE username = ?", (username,)):
        raise DomainError(_("用户名 %(username)s 已被使用。", username=username), "username")
    event = NewEvent(
        "AccountCreated",
        {"username": username, "display_name": display_name, "roles": roles, "unit": unit or None},
    )
    with db.writer_transaction():
        db.take_writer_lock()
        _store_password(username, password, now)
        return log.append(stream(username), 0, [event], actor.username, now)


def change_roles(actor: Actor, username, roles, unit, reason, now=None):
    require(actor, "users.manage")
    if not db.fetchone("SELECT 1 FROM user_account WHERE username = ?", (username,)):
        raise DomainError(_("用户 %(username)s 不存在。", username=username))
    roles = _check_roles(roles, unit)
    if not (reason or "").strip():
        raise DomainError(_("请填写调整原因。"), "reason")
    event = NewEvent(
        "AccountRolesChanged",
        {"username": username, "roles": roles, "unit": unit or None, "reason": reason.strip()},
    )
    return log.append(
        stream(username), log.stream_version(stream(username)), [event], actor.username, now
    )


def set_password(actor: Actor, username, password, now=None):
    if actor.username != username:
        require(actor, "users.manage")
    _check_password(password)
    event = NewEvent("PasswordChanged", {"username": username, "by": actor.username})
    with db.writer_transaction():
        db.take_writer_lock()
        _store_password(username, password, now)
        return log.append(
            stream(username), log.stream_version(stream(username)), [event], actor.username, now
        )


def _store_password(username, password, now) -> None:
    hashed = generate_password_hash(password, method=HASH_METHOD)
    at = log.format_time(now)
    if db.fetchone("SELECT 1 FROM credential WHERE username = ?", (username,)):
        db.execute(
            "UPDATE credential SET password_hash = ?, changed_at = ? WHERE username = ?",
            (hashed, at, username),
        )
    else:
        db.execute(
            "INSERT INTO credential (username, password_hash, changed_at) VALUES (?, ?, ?)",
            (username, hashed, at),
        )


def authenticate(username: str, password: str, address: str, now: datetime | None = None) -> Actor:
    """Check a login. Five failures for one account from one address lock it for 15 minutes."""
    now = now or datetime.now(UTC)
    username = (username or "").strip().lower()
    since = log.format_time(now - LOCKOUT)
    last_ok = db.fetchone(
        "SELECT MAX(at) FROM login_attempt WHERE username = ? AND address = ? AND ok = 1",
        (username, address),
    )[0]
    failures = db.fetchone(
        "SELECT COUNT(*), MIN(at) FROM login_attempt "
        "WHERE username = ? AND address = ? AND ok = 0 AND at > ?",
        (username, address, max(since, last_ok or "")),
    )
    if failures[0] >= MAX_FAILURES:
        raise LoginError(_("登录失败次数过多，账号已暂时锁定，请 15 分钟后再试。"))
    row = db.fetchone("SELECT password_hash FROM credential WHERE username = ?", (username,))
    actor = get_account(username)
    ok = bool(row and actor and check_password_hash(row[0], password or ""))
    with db.database.atomic():
        db.execute(
            "INSERT INTO login_attempt (username, address, at, ok) VALUES (?, ?, ?, ?)",
            (username, address, log.format_time(now), int(ok)),
        )
    if not ok:
        left = MAX_FAILURES - failures[0] - 1
        if left <= 0:
            raise LoginError(_("登录失败次数过多，账号已暂时锁定，请 15 分钟后再试。"))
        raise LoginError(_("用户名或密码错误（再失败 %(left)s 次将锁定 15 分钟）。", left=left))
    return actor
