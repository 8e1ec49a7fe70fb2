"""Home page per role and the health check."""

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
    return render("home.html", "home.html", unit=unit)
