"""Who may log in, with which roles and in which unit. Secrets live in `credential`, not here."""

from .. import db
from . import Projection, register

accounts = register(
    Projection(
        "accounts",
        {
            "user_account": """CREATE TABLE IF NOT EXISTS user_account (
                username TEXT PRIMARY KEY,
                display_name TEXT NOT NULL,
                roles TEXT NOT NULL,
                unit TEXT,
                active INTEGER NOT NULL,
                position BIGINT NOT NULL)""",
        },
        indexes=["CREATE INDEX IF NOT EXISTS user_account_unit ON user_account (unit)"],
    )
)


def roles_text(roles) -> str:
    return ",".join(sorted(roles))


@accounts.on("AccountCreated")
def created(e):
    p = e.payload
    db.execute(
        "INSERT INTO user_account (username, display_name, roles, unit, active, position) "
        "VALUES (?, ?, ?, ?, 1, ?)",
        (p["username"], p["display_name"], roles_text(p["roles"]), p["unit"], e.position),
    )


@accounts.on("AccountRolesChanged")
def roles_changed(e):
    p = e.payload
    db.execute(
        "UPDATE user_account SET roles = ?, unit = ?, position = ? WHERE username = ?",
        (roles_text(p["roles"]), p["unit"], e.position, p["username"]),
    )


@accounts.on("AccountDeactivated", "AccountReactivated")
def activity(e):
    active = 1 if e.type == "AccountReactivated" else 0
    db.execute(
        "UPDATE user_account SET active = ?, position = ? WHERE username = ?",
        (active, e.position, e.payload["username"]),
    )
