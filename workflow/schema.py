"""Creates every table: the event log with its append-only triggers, the projections, and the
tables outside the log (credentials, login attempts, drafts, files). Idempotent."""

from __future__ import annotations

from . import db, projections

EVENT_TABLE = """CREATE TABLE IF NOT EXISTS event (
    position BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (stream, version))"""

EVENT_INDEXES = [
    "CREATE INDEX IF NOT EXISTS event_type ON event (type)",
    "CREATE INDEX IF NOT EXISTS event_actor ON event (actor)",
]

SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS event_no_update BEFORE UPDATE ON event
       BEGIN SELECT RAISE(ABORT, 'event log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS event_no_delete BEFORE DELETE ON event
       BEGIN SELECT RAISE(ABORT, 'event log is append-only'); END""",
]

POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'event log is append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER event_no_update_delete BEFORE UPDATE OR DELETE ON event
       FOR EACH ROW EXECUTE FUNCTION event_append_only()""",
    """CREATE OR REPLACE TRIGGER event_no_truncate BEFORE TRUNCATE ON event
       FOR EACH STATEMENT EXECUTE FUNCTION event_append_only()""",
]

# Outside the log: secrets, throttling and scratch data that history does not need.
SIDE_TABLES = [
    """CREATE TABLE IF NOT EXISTS projection_checkpoint (
        name TEXT PRIMARY KEY,
        position BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS credential (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        changed_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS login_attempt (
        username TEXT NOT NULL,
        address TEXT NOT NULL,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS login_attempt_key ON login_attempt (username, address, at)",
    # Each account's uploads, for their rate limit (workflow/upload_quota.py).
    """CREATE TABLE IF NOT EXISTS upload_attempt (
        username TEXT NOT NULL,
        at TEXT NOT NULL,
        files INTEGER NOT NULL,
        bytes BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS upload_attempt_key ON upload_attempt (username, at)",
    # Autosaved application drafts: scratch work, not history. Submitting logs the full content.
    """CREATE TABLE IF NOT EXISTS application_draft (
        campaign TEXT NOT NULL,
        unit TEXT NOT NULL,
        category TEXT NOT NULL,
        fields TEXT NOT NULL,
        username TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (campaign, unit, category))""",
    # Inbox read state (workflow/inbox.py): reading is not history. Keyed by event position,
    # so it survives a rebuild of the notification projection.
    """CREATE TABLE IF NOT EXISTS inbox_read_upto (
        username TEXT PRIMARY KEY,
        position BIGINT NOT NULL,
        at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS inbox_read (
        username TEXT NOT NULL,
        position BIGINT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (username, position))""",
    # Every e-mail the inbox sent or tried to send (workflow/mail.py).
    """CREATE TABLE IF NOT EXISTS mail_log (
        position BIGINT NOT NULL,
        recipient TEXT NOT NULL,
        address TEXT NOT NULL,
        subject TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT NOT NULL,
        at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS mail_log_key ON mail_log (position, recipient)",
    # A reviewer's unfinished score (workflow/commands/scoring.py): scratch work, like
    # application drafts; submitting logs the full score.
    """CREATE TABLE IF NOT EXISTS score_draft (
        project TEXT NOT NULL,
        round TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        rubric_version INTEGER NOT NULL,
        inputs TEXT NOT NULL,
        comments TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, round, reviewer))""",
    # The UI language a user chose (workflow/i18n.py): a preference, not history.
    """CREATE TABLE IF NOT EXISTS user_preference (
        username TEXT PRIMARY KEY,
        locale TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
]


def create_all() -> None:
    from . import visits

    # Every gunicorn worker runs this as it boots, all at once: one at a time (the writer lock),
    # or PostgreSQL deadlocks on the triggers and SQLite refuses a deferred transaction's write.
    with db.writer_transaction():
        db.take_writer_lock()
        for sql in [EVENT_TABLE, *EVENT_INDEXES, *SIDE_TABLES, visits.TABLE]:
            db.database.execute_sql(sql)
        for p in projections.REGISTRY:
            for sql in [*p.tables.values(), *p.indexes]:
                db.database.execute_sql(sql)
            for table, columns in p.added_columns.items():
                _add_missing_columns(table, columns)
            db.execute(
                "INSERT INTO projection_checkpoint (name, position) VALUES (?, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (p.name,),
            )
        for sql in POSTGRES_TRIGGERS if db.is_postgres() else SQLITE_TRIGGERS:
            db.database.execute_sql(sql)


def _add_missing_columns(table: str, columns: list[tuple[str, str]]) -> None:
    cursor = db.database.execute_sql(f"SELECT * FROM {table} LIMIT 0")
    present = {d[0] for d in cursor.description}
    for name, kind in columns:
        if name not in present:
            db.database.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def drop_triggers() -> None:
    """Only for tests and tamper drills: lets a test rewrite history to prove verify catches it."""
    if db.is_postgres():
        db.database.execute_sql("DROP TRIGGER IF EXISTS event_no_update_delete ON event")
        db.database.execute_sql("DROP TRIGGER IF EXISTS event_no_truncate ON event")
    else:
        db.database.execute_sql("DROP TRIGGER IF EXISTS event_no_update")
        db.database.execute_sql("DROP TRIGGER IF EXISTS event_no_delete")
