"""The integrity page: verify the chain, see the head, write a checkpoint."""

import os

from flask import Blueprint, current_app

from .. import checkpoint, log
from . import allow, current_actor, render
from .forms import ReasonForm

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/integrity")
@allow("log.verify")
def integrity():
    """Head of the log and the last checkpoint; verification runs on demand."""
    position, head_hash = log.head()
    return render("audit/integrity.html", "audit/integrity.html",
                  position=position, head_hash=head_hash, result=None, form=ReasonForm())  # fmt: skip


@bp.post("/integrity/verify")
@allow("log.verify")
def verify():
    """Check every link and hash; names the first broken position."""
    result = log.verify()
    return render("audit/integrity.html", "fragments/verify_result.html", result=result,
                  position=result.head_position, head_hash=result.head_hash, form=ReasonForm())  # fmt: skip


@bp.post("/integrity/checkpoint")
@allow("log.checkpoint")
def write_checkpoint():
    """Sign the current head with the key kept outside the database."""
    key = checkpoint.load_key(current_app.config["CHECKPOINT_KEY_FILE"])
    directory = os.path.join(current_app.instance_path, "checkpoints")
    os.makedirs(directory, exist_ok=True)
    position, _ = log.head()
    path = os.path.join(directory, f"checkpoint-{position:09d}.json")
    cp = checkpoint.write(path, key, current_actor().username)
    return render("audit/integrity.html", "fragments/checkpoint_written.html", cp=cp,
                  actor_name=current_actor().display_name)  # fmt: skip
