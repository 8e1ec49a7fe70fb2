"""The integrity page: the head, the last signed checkpoints and whether the log extends them,
the whole chain verified in the background with a progress bar, and a new checkpoint."""

from flask import Blueprint, current_app

from .. import checkpoint, db, jobs, log
from . import allow, current_actor, render

bp = Blueprint("audit", __name__, url_prefix="/audit")
RECENT = 5


def _checkpoints() -> list[dict]:
    key = checkpoint.load_key(current_app.config["CHECKPOINT_KEY_FILE"])
    return checkpoint.recent(checkpoint.directory(), key, RECENT)


def _page(**extra):
    position, head_hash = log.head()
    return {"position": position, "head_hash": head_hash, "checkpoints": _checkpoints(),
            "job": None, "written": None, **extra}  # fmt: skip


@bp.get("/integrity")
@allow("log.verify")
def integrity():
    """Head of the log, the last checkpoints; the full verification runs on demand."""
    return render("audit/integrity.html", "audit/integrity.html", **_page())


def start_verify():
    """Start (or join) the background verification of the whole log against every checkpoint
    whose signature holds."""
    app = current_app._get_current_object()
    key = checkpoint.load_key(app.config["CHECKPOINT_KEY_FILE"])
    signed = checkpoint.recent(checkpoint.directory(app), key, limit=10_000)
    wanted = [(c["cp"]["position"], c["cp"]["hash"]) for c in signed if c["valid"]]
    total = log.head()[0]
    page = min(5000, max(100, total // 50))

    def work(progress):
        with db.database.connection_context():
            result = log.verify(wanted, page=page, progress=progress)
        return {"result": result, "checkpoints": len(wanted)}

    return jobs.start("verify-log", total, work)


@bp.get("/integrity/verify")
@allow("log.verify")
def verify():
    """Start verifying every link and hash (a background job); answers with its progress bar,
    which polls every 500 ms until the job names the first broken position or says all is well."""
    job = start_verify()
    return render("audit/integrity.html", "audit/verify_job.html", **_page(job=job))


@bp.get("/integrity/jobs/<job_id>")
@allow("log.verify")
def job(job_id):
    """The progress of a verification job (polled by htmx)."""
    found = jobs.get(job_id)
    if found is not None and found.kind != "verify-log":
        found = None
    return render("audit/integrity.html", "audit/verify_job.html",
                  **_page(job=found, missing=found is None))  # fmt: skip


@bp.post("/integrity/checkpoint")
@allow("log.checkpoint")
def write_checkpoint():
    """Sign the current head with the key kept outside the database."""
    cp = checkpoint.write_now(current_actor().username)
    return render("audit/integrity.html", "audit/checkpoints.html", **_page(written=cp))
