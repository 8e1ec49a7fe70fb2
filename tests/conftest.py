"""Fixtures: an app on a fresh database (SQLite always, PostgreSQL when TEST_DATABASE_URL is
set), clients that log in as a role, and helpers that carry the CSRF token like a browser.

PostgreSQL: each test run (each xdist worker) creates its own database and drops it at the end;
each test starts with the `public` schema's tables emptied (or created, the first time).

Seeded states (`demo`, and `seeded("approved")` etc. for deeper ones) are built once per session
into a template and each test gets its own copy: SQLite copies the database file with the upload
directory, the checkpoint key and the instance folder; PostgreSQL keeps a copy of the tables in a
schema of its own in the same database and copies the rows back (a tenth of the time of recreating
the database from a template database, which a test paid on every restore).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from workflow import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgres"]
DEMO_PASSWORD = "demo12345"
FAST_HASH = "pbkdf2:sha256:1000"  # real hashing, low cost: the suite logs in many times


def _admin_connect(url):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def postgres_url():
    """A database of this run's own on the TEST_DATABASE_URL server, dropped afterwards."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    name = f"brandflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin_connect(TEST_DATABASE_URL)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    parsed = urlparse(TEST_DATABASE_URL)
    yield urlunparse(parsed._replace(path="/" + name))
    admin = _admin_connect(TEST_DATABASE_URL)  # a fresh one: the server may have restarted
    _close_connections()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _close_connections() -> None:
    """This process's connections, pooled ones included (PostgreSQL), before a database is
    emptied, refilled or dropped under them."""
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()
    if hasattr(db.database.obj, "close_all"):
        db.database.obj.close_all()


def _tables(cursor, schema="public") -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,))
    return [row[0] for row in cursor.fetchall()]


_template_columns: dict[str, dict[str, str]] = {}


def _columns(cursor, schema: str) -> dict[str, str]:
    """Each table of a template schema with its column list (read once: templates don't change)."""
    if schema not in _template_columns:
        cursor.execute(
            "SELECT table_name, string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = %s GROUP BY table_name",
            (schema,),
        )
        _template_columns[schema] = dict(cursor.fetchall())
    return _template_columns[schema]


def _refill_postgres(url, template_schema=None):
    """Empty the public schema's tables, then copy the template schema's rows in (if given).

    Tables, indexes and triggers stay (create_all finds them; tests that drop the log's triggers
    get them back from create_all). Other sessions on the database, such as a server a browser
    test left, are ended first, as DROP DATABASE … WITH (FORCE) did. The replica role keeps the
    log's append-only triggers from refusing the DELETE."""
    conn = _admin_connect(url)
    cursor = conn.cursor()
    cursor.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    tables = _tables(cursor)
    statements = ["BEGIN", "SET LOCAL session_replication_role = replica"]
    statements += [f'DELETE FROM public."{t}"' for t in tables]  # TRUNCATE: 70 times slower
    if template_schema:  # by column name: a test may have dropped and re-added a column
        statements += [f'INSERT INTO public."{t}" ({names}) SELECT {names} FROM "{template_schema}"."{t}"'
                       for t, names in _columns(cursor, template_schema).items()]  # fmt: skip
    cursor.execute("; ".join([*statements, "COMMIT"]))
    conn.close()


def _snapshot_postgres(url, template_schema):
    """Copy the public schema's tables, rows only, into a schema of their own."""
    conn = _admin_connect(url)
    cursor = conn.cursor()
    statements = [f'CREATE SCHEMA "{template_schema}"']
    statements += [f'CREATE TABLE "{template_schema}"."{t}" AS TABLE public."{t}"'
                   for t in _tables(cursor)]  # fmt: skip
    cursor.execute("; ".join(statements))
    conn.close()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """The URL of an empty database, on each backend in turn."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        _close_connections()
        _refill_postgres(url)
        return url
    return "sqlite:///" + str(tmp_path / "test.db")


@pytest.fixture
def sqlite_url(tmp_path):
    return "sqlite:///" + str(tmp_path / "test.db")


def make_app(database_url, tmp_path, **extra):
    from app import create_app

    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "CHECKPOINT_KEY_FILE": str(tmp_path / "keys" / "checkpoint.key"),
        "SECRET_KEY": "test-secret",
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "DEMO_PASSWORD": DEMO_PASSWORD,
        "TESTING": True,
    }
    config.update(extra)
    return create_app(config)


@pytest.fixture
def app(database_url, tmp_path):
    application = make_app(database_url, tmp_path)
    db.database.connect(reuse_if_open=True)
    yield application
    if not db.database.is_closed():
        db.database.close()


# Everything of a test's that a seeded state consists of, besides the database itself.
STATE_DIRS = ("uploads", "keys", "instance")
_templates: dict = {}  # (backend, key) -> the folder (SQLite) or database name (PostgreSQL)


def _seed_state(through, trees, then, upload_dir):
    from workflow import demo as demo_data

    echo = lambda *_: None  # noqa: E731
    demo_data.seed(list(demo_data.TREES), DEMO_PASSWORD, echo=echo)  # what `demo` gives
    if through is not None or trees is not None:
        chosen = list(trees) if trees is not None else list(demo_data.TREES)
        demo_data.seed(chosen, DEMO_PASSWORD, through=through, echo=echo)
    if then is not None:
        then(upload_dir)


def _build_template(app, key, through, trees, then, factory):
    """Seed the state once into a folder (and, on PostgreSQL, a database) of its own."""
    url = app.config["DATABASE_URL"]
    # Not under pytest's basetemp: another pytest run on the machine prunes old basetemps, and
    # a template must outlive this whole session.
    folder = Path(tempfile.mkdtemp(prefix="brandflow-seeded-"))
    atexit.register(shutil.rmtree, folder, True)
    if url.startswith("sqlite"):
        make_app("sqlite:///" + str(folder / "test.db"), folder)
        _seed_state(through, trees, then, str(folder / "uploads"))
        db.database.close()
        return folder
    make_app(url, folder)  # seeded into the test's own (empty) database, then copied aside
    _seed_state(through, trees, then, str(folder / "uploads"))
    _close_connections()
    template_schema = f"template_{len(_templates)}"
    _snapshot_postgres(url, template_schema)
    return folder, template_schema


def _restore(app, tmp_path, template):
    """Make the test's database and folders a copy of the template."""
    url = app.config["DATABASE_URL"]
    _close_connections()
    if url.startswith("sqlite"):
        folder, target = template, url[len("sqlite:///") :]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(target + suffix):
                os.remove(target + suffix)
        for suffix in ("", "-wal"):  # a connection left open keeps the last writes in the WAL
            if (folder / ("test.db" + suffix)).exists():
                shutil.copyfile(folder / ("test.db" + suffix), target + suffix)
    else:
        folder, template_schema = template
        _refill_postgres(url, template_schema)
    for sub in STATE_DIRS:
        shutil.rmtree(tmp_path / sub, ignore_errors=True)
        if (folder / sub).exists():
            shutil.copytree(folder / sub, tmp_path / sub)
    db.bind(url)  # the template was built on its own binding
    db.database.connect(reuse_if_open=True)


def seed_into(request, app, through=None, trees=None, then=None):
    """Give the test's app the demo state seeded `through` a stage (for `trees`, then `then(upload_dir)`
    if given), copied from a template built on the first use in this session."""
    backend = "sqlite" if app.config["DATABASE_URL"].startswith("sqlite") else "postgres"
    key = (backend, through, tuple(trees) if trees is not None else None,
           then and f"{then.__module__}.{then.__qualname__}")  # fmt: skip
    tmp_path = request.getfixturevalue("tmp_path")
    if key not in _templates:
        factory = request.getfixturevalue("tmp_path_factory")
        _templates[key] = _build_template(app, key, through, trees, then, factory)
    _restore(app, tmp_path, _templates[key])
    request.node._seeded_state = key
    return app


@pytest.fixture
def demo(request, app):
    """Both notices' org trees and demo accounts."""
    if getattr(request.node, "_seeded_state", None):
        return app  # a deeper seeded state, which includes the demo, is already in place
    return seed_into(request, app)


@pytest.fixture
def seeded(request, app):
    """seeded("approved") -> the app on the demo driven through that stage (a fresh copy per
    test); seeded("approved", trees=[NCUT], then=fn) seeds only those trees, then runs
    fn(upload_dir). The result includes what `demo` gives."""

    def make(through=None, trees=None, then=None):
        return seed_into(request, app, through, trees, then)

    return make


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class Browser:
    """A test client that behaves like a logged-in browser: it sends the CSRF token it was
    given on the last page, as a form field or, for htmx requests, as the X-CSRFToken header."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def get(self, url, htmx=False, **kw):
        headers = kw.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        response = self.client.get(url, headers=headers, **kw)
        self._remember_token(response)
        return response

    def _remember_token(self, response):
        if not response.mimetype.startswith("text/"):
            return  # a PDF, a scan, a CSV download: no token to find
        match = CSRF_RE.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1) or match.group(2)

    def ensure_token(self):
        if self.token is None:
            self.get("/login")
        return self.token

    def post(self, url, data=None, htmx=False, csrf=True, **kw):
        data = dict(data or {})
        headers = kw.pop("headers", {})
        if csrf:
            token = self.ensure_token()
            if htmx:
                headers["X-CSRFToken"] = token
            else:
                data.setdefault("csrf_token", token)
        if htmx:
            headers["HX-Request"] = "true"
        response = self.client.post(url, data=data, headers=headers, **kw)
        self._remember_token(response)
        return response

    def login(self, username, password=DEMO_PASSWORD):
        self.token = None
        response = self.post("/login", {"username": username, "password": password})
        self.token = None  # the session was renewed at login
        return response


@pytest.fixture
def browser(app):
    return Browser(app)


@pytest.fixture
def as_user(demo):
    """as_user("org") -> a Browser logged in as that demo account."""

    def login(username):
        b = Browser(demo)
        response = b.login(username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return b

    return login
