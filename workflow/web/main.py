"""Home page per role and the health check."""

import json

from flask import Blueprint, jsonify

from .. import db
from . import PUBLIC, allow, current_actor, render

bp = Blueprint("main", __name__)


@bp.get("/healthz")
@allow(PUBLIC)
def healthz():
    """200 when the database answers."""
    try:
        db.database.execute_sql("SELECT 1").fetchone()
    except Exception:  # any database failure is "unhealthy", never a 500 page
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok")


@bp.get("/")
@allow("home")
def home():
    """The landing page: what this role can do, and for unit members their unit."""
    actor = current_actor()
    unit = None
    if actor.unit:
        unit = db.fetchone("SELECT code, name, level FROM org_unit WHERE code = ?", (actor.unit,))
    from ..lifecycle import STATES
    from .campaigns import my_projects

    return render("home.html", "home.html", unit=unit, mine=my_projects(actor),
                  waiting=waiting_for(actor), STATES=STATES)  # fmt: skip


def waiting_for(actor) -> list[dict]:
    """Submissions whose next opinion is this approver's unit's."""
    if not actor.has("approver") or not actor.unit:
        return []
    rows = db.fetchall(
        "SELECT p.id, p.brand_name, p.pending_approvals, u.name FROM project p "
        "JOIN org_unit u ON u.code = p.unit WHERE p.state = 'submitted' ORDER BY p.submitted_at"
    )
    out = []
    for pid, brand, pending, unit_name in rows:
        if json.loads(pending)[0]["unit"] == actor.unit:
            out.append({"id": pid, "brand_name": brand, "unit_name": unit_name})
    return out
