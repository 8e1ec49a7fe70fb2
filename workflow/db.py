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
from playhouse.pool import PooledPostgresqlDatabase

database = peewee.DatabaseProxy()

# PostgreSQL connections are pooled per process: opening one costs a few milliseconds, a
# request's whole work often less. BRANDFLOW_DB_POOL_MAX bounds the pool of each worker (0 turns
# pooling off); BRANDFLOW_DB_POOL_STALE closes a connection this many seconds after it was opened;
# BRANDFLOW_DB_POOL_WAIT is how long a request waits for a free connection before failing.
POOL_MAX = int(os.environ.get("BRANDFLOW_DB_POOL_MAX", "20"))
POOL_STALE = int(os.environ.get("BRANDFLOW_DB_POOL_STALE", "300"))
POOL_WAIT = float(os.environ.get("BRANDFLOW_DB_POOL_WAIT", "10"))

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30000,
}


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool, made safe for a server restart and for forking.

    A pooled connection whose server went away (restart, failover, idle kill) still looks open
    until it is used; handing it out would fail that request. On check-out we let psycopg2 read
    whatever the server sent (`poll()`): the "terminating connection" notice or the closed
    socket marks it dead and a fresh connection is opened instead. A connection that failed
    during a request is closed by psycopg2 and discarded on its return. Connections inherited
    across fork() (gunicorn --preload) belong to the parent: the child forgets them unclosed.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pid = os.getpid()

    def _connect(self):
        if self._pid != os.getpid():
            with self._pool_lock:
                self._connections = []
                self._in_use = {}
            self._pid = os.getpid()
        return super()._connect()

    def _is_closed(self, conn):
        if conn.closed:
            return True
        try:
            conn.poll()
        except Exception:
            try:
                conn.close()
            except Exception:
                pass
            return True
        return super()._is_closed(conn)


def open_database(url: str) -> peewee.Database:
    """Build (not connect) a peewee database for a `sqlite:///path` or `postgresql://…` URL."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        params = {
            "user": unquote(parsed.username or "") or None,
            "password": unquote(parsed.password or "") or None,
            "host": parsed.hostname or None,
            "port": parsed.port or None,
            "connect_timeout": 5,  # a server that is down fails the request, not hangs it
        }
        name = unquote(parsed.path.lstrip("/"))
        if POOL_MAX > 0:
            db = PostgresPool(
                name, max_connections=POOL_MAX, stale_timeout=POOL_STALE, timeout=POOL_WAIT,
                **params,
            )  # fmt: skip
        else:
            db = peewee.PostgresqlDatabase(name, **params)
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
    if isinstance(database.obj, PooledPostgresqlDatabase):
        database.obj.close_all()  # the old pool's idle connections would otherwise linger
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
