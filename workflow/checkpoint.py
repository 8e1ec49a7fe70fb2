"""Signed checkpoints of the log head.

A checkpoint is the head's position and hash, signed with HMAC-SHA256 under a key kept outside
the database (CHECKPOINT_KEY_FILE). Someone with write access to the database can recompute the
whole chain, but cannot make the rewritten log agree with a checkpoint signed before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime

from . import log
from .events import NewEvent, canonical_json


class CheckpointError(ValueError):
    pass


def load_key(path: str) -> bytes:
    """The signing key, created (0600) on first use."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return bytes.fromhex(fh.read().strip())


def _signature(key: bytes, body: dict) -> str:
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


def make(key: bytes) -> dict:
    """A signed checkpoint of the current head."""
    position, head_hash = log.head()
    body = {
        "position": position,
        "hash": head_hash,
        "created_at": log.format_time(datetime.now(UTC)),
        "algorithm": "HMAC-SHA256",
    }
    return {**body, "signature": _signature(key, body)}


def save(cp: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(cp, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def record(cp: dict, path: str, actor: str) -> None:
    """Log that a checkpoint was written, so the trail shows who signed which head."""
    event = NewEvent(
        "CheckpointWritten",
        {"position": cp["position"], "hash": cp["hash"], "file": os.path.basename(path)},
    )
    log.append("system", log.stream_version("system"), [event], actor)


def write(path: str, key: bytes, actor: str) -> dict:
    """Sign the head, save it to `path` and log the fact."""
    cp = make(key)
    save(cp, path)
    record(cp, path, actor)
    return cp


def read(path: str, key: bytes) -> dict:
    """Load a checkpoint file and check its signature; a forged one raises CheckpointError."""
    try:
        with open(path, encoding="utf-8") as fh:
            cp = json.load(fh)
        body = {k: cp[k] for k in ("position", "hash", "created_at", "algorithm")}
        signature = cp["signature"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"检查点文件无法读取：{exc}") from exc
    if not hmac.compare_digest(_signature(key, body), str(signature)):
        raise CheckpointError("检查点签名无效：文件被伪造或密钥不符")
    return cp


# --- The checkpoint directory: the integrity page, `flask checkpoint` (cron), certification ----


def directory(app=None) -> str:
    """Where signed checkpoints are kept: CHECKPOINT_DIR, else instance/checkpoints."""
    from flask import current_app

    app = app or current_app
    return app.config.get("CHECKPOINT_DIR") or os.path.join(app.instance_path, "checkpoints")


def write_now(actor: str, app=None) -> dict:
    """Sign the current head into the checkpoint directory and log it. Called by the integrity
    page, by `flask checkpoint` without -o (the daily cron job) and at each certification
    (through `auto_checkpoint`, after the certification's events are appended)."""
    from flask import current_app

    app = app or current_app
    key = load_key(app.config["CHECKPOINT_KEY_FILE"])
    return _write_into(directory(app), key, actor)


def auto_checkpoint(app_config, actor: str = "system") -> dict:
    """The hook certification calls after finalising (commands/certification.after_finalise),
    given the app's config: the same as `write_now` for that app."""
    from flask import current_app, has_app_context

    if has_app_context() and current_app.config is app_config:
        return write_now(actor)
    folder = app_config.get("CHECKPOINT_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(app_config["CHECKPOINT_KEY_FILE"])), "checkpoints"
    )
    return _write_into(folder, load_key(app_config["CHECKPOINT_KEY_FILE"]), actor)


def _write_into(folder: str, key: bytes, actor: str) -> dict:
    os.makedirs(folder, exist_ok=True)
    position, _ = log.head()
    path = os.path.join(folder, f"checkpoint-{position:09d}.json")
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join(folder, f"checkpoint-{position:09d}-{suffix}.json")
    return write(path, key, actor)


def recent(folder: str, key: bytes, limit: int = 5) -> list[dict]:
    """The newest checkpoint files (by position), each with whether its signature holds and
    whether the log still extends it (the event at its position has its hash)."""
    found = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if not name.endswith(".json"):
                continue
            path = os.path.join(folder, name)
            try:
                cp, valid, error = read(path, key), True, ""
            except CheckpointError as exc:
                cp, valid, error = _loose(path), False, str(exc)
            found.append({"file": name, "cp": cp, "valid": valid, "error": error})
    found.sort(key=lambda c: (c["cp"].get("position") or 0, c["file"]), reverse=True)
    out = found[:limit]
    for c in out:
        position, hash_ = c["cp"].get("position"), c["cp"].get("hash")
        event = log.get(position) if isinstance(position, int) else None
        c["extended"] = bool(c["valid"] and event is not None and event.hash == hash_)
    return out


def _loose(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
