"""The org tree: committees, general branches (党总支) and branches (党支部)."""

from .. import db
from . import Projection, register

orgs = register(
    Projection(
        "orgs",
        {
            "org_unit": """CREATE TABLE IF NOT EXISTS org_unit (
                code TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                level TEXT NOT NULL,
                kind TEXT,
                parent TEXT,
                root TEXT NOT NULL,
                position BIGINT NOT NULL)""",
        },
        indexes=["CREATE INDEX IF NOT EXISTS org_unit_parent ON org_unit (parent)"],
    )
)


@orgs.on("OrgUnitCreated")
def created(e):
    p = e.payload
    root = p["code"]
    if p["parent"]:
        row = db.fetchone("SELECT root FROM org_unit WHERE code = ?", (p["parent"],))
        root = row[0] if row else p["parent"]
    db.execute(
        "INSERT INTO org_unit (code, name, level, kind, parent, root, position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (p["code"], p["name"], p["level"], p["kind"], p["parent"], root, e.position),
    )


@orgs.on("OrgUnitRenamed")
def renamed(e):
    db.execute(
        "UPDATE org_unit SET name = ?, position = ? WHERE code = ?",
        (e.payload["name"], e.position, e.payload["code"]),
    )


@orgs.on("OrgUnitMoved")
def moved(e):
    p = e.payload
    db.execute(
        "UPDATE org_unit SET parent = ?, kind = ?, position = ? WHERE code = ?",
        (p["parent"], p["kind"], e.position, p["code"]),
    )
