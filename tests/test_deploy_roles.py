"""Deployment as documented in README「运维 / Operations」and deploy/.

The documented PostgreSQL role setup (deploy/postgresql-*.sql) works as written: the app runs
as a role that can read everything and append to the event log, and cannot rewrite the log even
before the triggers are reached. Runs on the TEST_DATABASE_URL server with roles and a database
of its own (unique names, dropped afterwards); the server itself is never restarted."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from workflow import db, log

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")


def _url(user: str, password: str, dbname: str) -> str:
    parsed = urlparse(TEST_DATABASE_URL)
    netloc = f"{user}:{password}@{parsed.hostname}:{parsed.port or 5432}"
    return urlunparse(parsed._replace(netloc=netloc, path="/" + dbname))


def _connect(url):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def run_sql_file(path: Path, url: str, names: dict, variables: dict) -> None:
    """Run a psql script the way `psql -f` would, for the few psql features the files use:
    comments, `\\connect DB` and `:'variable'`."""
    text = path.read_text(encoding="utf-8")
    for old, new in names.items():
        text = re.sub(rf"\b{old}\b", new, text)
    conn = _connect(url)
    statement = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        if stripped.startswith("\\connect"):
            conn.close()
            parsed = urlparse(url)
            conn = _connect(urlunparse(parsed._replace(path="/" + stripped.split()[1])))
            continue
        statement += line + "\n"
        if stripped.endswith(";"):
            for key, value in variables.items():
                statement = statement.replace(f":'{key}'", "'" + value.replace("'", "''") + "'")
            conn.cursor().execute(statement)
            statement = ""
    conn.close()


@pytest.fixture
def roles(tmp_path):
    suffix = uuid.uuid4().hex[:8]
    names = {"brandflow_owner": f"bf_owner_{suffix}", "brandflow_app": f"bf_app_{suffix}",
             "brandflow": f"bf_roles_{suffix}"}  # fmt: skip
    passwords = {"owner_password": uuid.uuid4().hex, "app_password": uuid.uuid4().hex}
    run_sql_file(DEPLOY / "postgresql-roles.sql", TEST_DATABASE_URL, names, passwords)
    yield names, passwords
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()
    admin = _connect(TEST_DATABASE_URL)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{names["brandflow"]}" WITH (FORCE)')
    for role in (names["brandflow_app"], names["brandflow_owner"]):
        admin.cursor().execute(f'DROP ROLE IF EXISTS "{role}"')
    admin.close()


@needs_postgres
def test_the_app_role_reads_and_appends_but_cannot_rewrite_the_log(roles, tmp_path):
    import psycopg2

    from app import create_app
    from workflow import demo as demo_data

    names, passwords = roles
    dbname = names["brandflow"]
    owner_url = _url(names["brandflow_owner"], passwords["owner_password"], dbname)
    app_url = _url(names["brandflow_app"], passwords["app_password"], dbname)
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "roles",
              "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}  # fmt: skip

    create_app({**config, "DATABASE_URL": owner_url})  # init-db, as the owner
    run_sql_file(DEPLOY / "postgresql-grants.sql", owner_url, names, {})

    # The app role cannot run the DDL itself: that is what BRANDFLOW_CREATE_SCHEMA=0 is for.
    with pytest.raises(Exception, match="permission denied"):
        create_app({**config, "DATABASE_URL": app_url})
    db.database.close()
    app = create_app({**config, "DATABASE_URL": app_url, "CREATE_SCHEMA": False})
    with db.database.connection_context():
        demo_data.seed(["ncut-info-2023"], "demo12345", through="submitted", echo=lambda *_: None)
        result = log.verify()
        assert result.ok and result.count > 20
    client = app.test_client()
    assert client.get("/healthz").status_code == 200

    conn = _connect(app_url)
    for sql in ("UPDATE event SET actor = 'x'", "DELETE FROM event", "TRUNCATE event"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            conn.cursor().execute(sql)
    conn.cursor().execute("SELECT count(*) FROM event")
    conn.close()


def test_behind_nginx_login_throttling_sees_each_client(tmp_path):
    """BRANDFLOW_PROXIES=1: five failures lock the account for the address that failed (from
    X-Forwarded-For), not for everyone behind the proxy."""
    from app import create_app
    from workflow import demo as demo_data

    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "proxy",
                      "DATABASE_URL": "sqlite:///" + str(tmp_path / "proxy.db"),
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "PROXIES": 1,
                      "WTF_CSRF_ENABLED": False})  # fmt: skip
    with db.database.connection_context():
        demo_data.seed(["ncut-info-2023"], "demo12345", echo=lambda *_: None)

    def login(address, password):
        client = app.test_client()
        return client.post("/login", data={"username": "org", "password": password},
                           headers={"X-Forwarded-For": address})  # fmt: skip

    for _ in range(5):
        assert login("10.1.1.1", "wrong").status_code != 302
    assert "锁定" in login("10.1.1.1", "demo12345").get_data(as_text=True)
    assert login("10.2.2.2", "demo12345").status_code == 302
    db.database.close()
