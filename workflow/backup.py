"""Backup and restore, the same way on SQLite and PostgreSQL.

A backup is logical: the event log and the tables that live outside it (credentials, and what
later modules add to SIDE_TABLES) as JSON Lines, a manifest with the head, and a copy of the
upload directory. Projections are not backed up: restore rebuilds them from the log, so a
backup can move between SQLite and PostgreSQL. Restore refuses a log that does not verify.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime

from . import db, log, projections
from .errors import DomainError

# Tables outside the log that a restore needs; modules that add such tables append here.
SIDE_TABLES = [
    "credential",
    "application_draft",
    "inbox_read_upto",
    "inbox_read",
    "mail_log",
    "score_draft",
    "user_preference",
]
MANIFEST = "manifest.json"


def _columns(table: str) -> list[str]:
    cursor = db.database.execute_sql(f"SELECT * FROM {table} LIMIT 0")
    return [d[0] for d in cursor.description]


def backup(directory: str, upload_dir: str | None) -> dict:
    os.makedirs(directory, exist_ok=True)
    if os.listdir(directory):
        raise DomainError(f"备份目录 {directory} 不是空目录。")
    with db.database.atomic():
        if db.is_postgres():
            db.database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        position, head_hash = log.head()
        with open(os.path.join(directory, "events.jsonl"), "w", encoding="utf-8") as fh:
            for row in log.iter_rows(upto=position):
                fh.write(json.dumps(list(row), ensure_ascii=False) + "\n")
        tables = {}
        for table in SIDE_TABLES:
            columns = _columns(table)
            rows = db.fetchall(f"SELECT {', '.join(columns)} FROM {table}")
            with open(os.path.join(directory, f"{table}.jsonl"), "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(dict(zip(columns, row)), ensure_ascii=False) + "\n")
            tables[table] = len(rows)
    if upload_dir and os.path.isdir(upload_dir):
        shutil.copytree(upload_dir, os.path.join(directory, "uploads"))
    manifest = {
        "format": "brandflow-backup-1",
        "created_at": log.format_time(datetime.now(UTC)),
        "events": position,
        "head_hash": head_hash,
        "tables": tables,
    }
    with open(os.path.join(directory, MANIFEST), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=2)
    return manifest


def _read_events(directory: str) -> list[tuple]:
    with open(os.path.join(directory, "events.jsonl"), encoding="utf-8") as fh:
        return [tuple(json.loads(line)) for line in fh if line.strip()]


def restore(directory: str, upload_dir: str | None) -> dict:
    """Load a backup into an empty database; verify first, write nothing if anything is off."""
    try:
        with open(os.path.join(directory, MANIFEST), encoding="utf-8") as fh:
            manifest = json.load(fh)
        rows = _read_events(directory)
    except (OSError, ValueError) as exc:
        raise DomainError(f"备份无法读取：{exc}") from exc
    result = log.verify_rows(rows)
    if not result.ok:
        raise DomainError(f"备份中的日志校验失败，拒绝恢复：{result.summary()}")
    if (result.head_position, result.head_hash) != (manifest["events"], manifest["head_hash"]):
        raise DomainError("备份中的日志与清单记录的日志头不一致，拒绝恢复。")
    if log.head()[0] != 0:
        raise DomainError("目标数据库已有数据；只能恢复到空数据库。")
    insert = "INSERT INTO event (" + log.COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    with db.writer_transaction():
        db.take_writer_lock()
        for row in rows:
            db.execute(insert, row)
        for table in SIDE_TABLES:
            path = os.path.join(directory, f"{table}.jsonl")
            if not os.path.exists(path):
                continue
            db.execute(f"DELETE FROM {table}")
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    record = json.loads(line)
                    cols = list(record)
                    db.execute(
                        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        tuple(record[c] for c in cols),
                    )
        projections.rebuild()
    source = os.path.join(directory, "uploads")
    if upload_dir and os.path.isdir(source):
        shutil.copytree(source, upload_dir, dirs_exist_ok=True)
    return manifest
