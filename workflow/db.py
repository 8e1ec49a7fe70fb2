"""The database connection: SQLite (WAL, synchronous=FULL) by default, PostgreSQL by URL.

Everything goes through the one peewee `database` proxy so the event log, the projections and
the accounts share a connection and therefore a transaction.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from urllib.parse import unquote, urlparse

import peewee

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30000,
}


def open_database(url: str) -> peewee.Database:
    """Build (not connect) a peewee database for a `sqlite:///path` or `postgresql://…` URL."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        db = peewee.PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username or "") or None,
            password=unquote(parsed.password or "") or None,
            host=parsed.hostname or None,
            port=parsed.port or None,
        )
    elif parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        db = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=30)
    else:
        raise ValueError(f"不支持的数据库地址：{url}")
    return db


def bind(url: str) -> peewee.Database:
    """Point the shared proxy at the database named by `url`."""
    db = open_database(url)
    if database.obj is not None and not database.is_closed():
        database.close()
    database.initialize(db)
    return db


# A thread may read (and write) another database for a while: time travel replays the log into
# a scratch in-memory SQLite database and reads the projections from it with the usual queries.
_local = threading.local()


@contextmanager
def reading_from(other: peewee.Database):
    """Send this thread's `execute`/`fetch*` to `other` until the block ends."""
    previous = getattr(_local, "db", None)
    _local.db = other
    try:
        yield other
    finally:
        _local.db = previous


def current() -> peewee.Database:
    """The database this thread's queries go to: the shared one, unless `reading_from`."""
    return getattr(_local, "db", None) or database.obj


def is_postgres() -> bool:
    return isinstance(current(), peewee.PostgresqlDatabase)


def writer_transaction():
    """A transaction that holds the single-writer lock from its first statement.

    SQLite: BEGIN IMMEDIATE takes the write lock up front. PostgreSQL: a transaction-scoped
    advisory lock, taken by `take_writer_lock()` right after BEGIN.
    """
    if is_postgres():
        return database.atomic()
    return database.atomic(lock_type="IMMEDIATE")


WRITER_LOCK_KEY = 0x42524E44  # "BRND": the advisory lock every appender takes on PostgreSQL


def take_writer_lock() -> None:
    if is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))


def placeholder(sql: str) -> str:
    """Queries are written with `?`; psycopg2 wants `%s`."""
    return sql.replace("?", "%s") if is_postgres() else sql


def execute(sql: str, params=()):
    return current().execute_sql(placeholder(sql), params)


def fetchall(sql: str, params=()):
    return execute(sql, params).fetchall()


def fetchone(sql: str, params=()):
    return execute(sql, params).fetchone()
