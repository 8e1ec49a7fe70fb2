"""Fixtures: an app on a fresh database (SQLite always, PostgreSQL when TEST_DATABASE_URL is
set), clients that log in as a role, and helpers that carry the CSRF token like a browser.

PostgreSQL: each test run creates its own database and drops it at the end; each test gets a
fresh `public` schema inside it.
"""

from __future__ import annotations

import os
import re
import uuid
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
    parsed = urlparse(TEST_DATABASE_URL)
    yield urlunparse(parsed._replace(path="/" + name))
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _reset_postgres(url):
    conn = _admin_connect(url)
    conn.cursor().execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    conn.close()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """The URL of an empty database, on each backend in turn."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
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


@pytest.fixture
def demo(app):
    """Both notices' org trees and demo accounts."""
    from workflow import demo as demo_data

    demo_data.seed(list(demo_data.TREES), DEMO_PASSWORD, echo=lambda *_: None)
    return app


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
