"""`flask backup DIR` and `flask restore DIR`: a restore into an empty database gives the same
verified log, the same projections and the same credentials; a tampered backup or a non-empty
target is refused and nothing is written. SQLite and PostgreSQL, and across the two."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from urllib.parse import urlparse, urlunparse

import pytest

from tests.conftest import DEMO_PASSWORD, Browser, _admin_connect, make_app
from workflow import db, log, projections


@pytest.fixture(scope="module")
def spare_postgres(request):
    """A second PostgreSQL database on the test server, for restore targets (made once)."""
    base = request.getfixturevalue("postgres_url")  # skips without TEST_DATABASE_URL
    name = f"{urlparse(base).path.lstrip('/')}_spare"
    admin = _admin_connect(base)  # not kept open: each test ends the sessions on `base`
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    yield urlunparse(urlparse(base)._replace(path="/" + name))
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()
    admin = _admin_connect(base)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def empty_database(request, tmp_path):
    """empty_database('sqlite' | 'postgres') -> the URL of another, empty database."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return "sqlite:///" + str(tmp_path / f"other-{uuid.uuid4().hex[:8]}.db")
        url = request.getfixturevalue("spare_postgres")
        admin = _admin_connect(url)
        admin.cursor().execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        admin.close()
        return url

    yield make
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()


def backend(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def state():
    """Everything a restore must reproduce."""
    return {
        "verify": log.verify().summary(),
        "head": log.head(),
        "projections": projections.snapshot(),
        "credentials": sorted(map(tuple, db.fetchall("SELECT * FROM credential"))),
        "drafts": sorted(map(tuple, db.fetchall("SELECT * FROM application_draft"))),
    }


def populate(app, through="submitted"):
    """Both demo notices (through submission by default), a draft and an uploaded file."""
    from workflow import demo

    demo.seed(list(demo.TREES), DEMO_PASSWORD, through=through, echo=lambda *_: None)
    db.execute(
        "INSERT INTO application_draft (campaign, unit, category, fields, username, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ("minbei-2025", "mb-jd", "branch", '{"brand":"草稿：红色引擎"}', "a-mb-jd", "2025-06-01"),
    )
    uploads = app.config["UPLOAD_DIR"]
    os.makedirs(os.path.join(uploads, "ab"), exist_ok=True)
    with open(os.path.join(uploads, "ab", "abcdef"), "wb") as fh:
        fh.write("照片".encode())
    assert through is None or db.fetchone("SELECT COUNT(*) FROM project")[0] > 0
    return state()


def backup_of(app, tmp_path) -> str:
    directory = str(tmp_path / "backup")
    code, output = cli(app, "backup", directory)
    assert code == 0, output
    return directory


def fresh_app(url, tmp_path, name):
    """A second app on its own empty database (rebinds the shared connection to it)."""
    if not db.database.is_closed():
        db.database.close()
    application = make_app(url, tmp_path / name)
    db.database.connect(reuse_if_open=True)
    return application


def check_restored(source, target, tmp_path):
    assert state() == source
    assert log.verify().ok
    # Credentials came back: the organizer logs in with the demo password, and only with it.
    browser = Browser(target)
    assert browser.login("org").status_code == 302
    assert Browser(target).login("org", "wrong-password").status_code != 302
    with open(os.path.join(target.config["UPLOAD_DIR"], "ab", "abcdef"), "rb") as fh:
        assert fh.read().decode() == "照片"


def test_backup_then_restore_into_an_empty_database(app, database_url, empty_database, tmp_path):
    source = populate(app)
    directory = backup_of(app, tmp_path)

    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    with open(os.path.join(directory, "events.jsonl"), encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert manifest["events"] == len(lines) == source["head"][0]
    assert manifest["head_hash"] == lines[-1][10] == source["head"][1]
    assert "password_hash" not in "".join(json.dumps(line) for line in lines)

    target = fresh_app(empty_database(backend(database_url)), tmp_path, "restored")
    assert log.head() == (0, log.GENESIS_HASH)
    code, output = cli(target, "restore", directory)
    assert code == 0, output
    check_restored(source, target, tmp_path)


@pytest.mark.parametrize("direction", [("sqlite", "postgres"), ("postgres", "sqlite")])
def test_backup_moves_between_sqlite_and_postgres(empty_database, tmp_path, direction):
    source_app = fresh_app(empty_database(direction[0]), tmp_path, "source")
    source = populate(source_app)
    directory = backup_of(source_app, tmp_path)
    target = fresh_app(empty_database(direction[1]), tmp_path, "restored")
    code, output = cli(target, "restore", directory)
    assert code == 0, output
    check_restored(source, target, tmp_path)


def rewrite_events(directory, change):
    path = os.path.join(directory, "events.jsonl")
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = change(rows)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def one_char_changed(text, at=2):
    return text[:at] + ("X" if text[at] != "X" else "Y") + text[at + 1 :]


def edit_payload(rows):
    rows[9][6] = one_char_changed(rows[9][6])  # the event at position 10
    return rows


def edit_actor(rows):
    rows[3][7] = "mallory"
    return rows


def drop_event(rows):
    return rows[:5] + rows[6:]


def swap_events(rows):
    rows[4][1:], rows[7][1:] = rows[7][1:], rows[4][1:]
    return rows


def truncate_tail(rows):
    return rows[:-3]  # still a valid chain, but not the head the manifest names


def rehash_after_edit(rows):
    """Edit and recompute the whole chain: only the manifest's head hash can tell."""
    rows[2][6] = one_char_changed(rows[2][6])
    prev = log.GENESIS_HASH
    for row in rows:
        row[9] = prev
        row[10] = prev = log.event_hash(*row[:10])
    return rows


TAMPERS = [edit_payload, edit_actor, drop_event, swap_events, truncate_tail, rehash_after_edit]


def test_restore_refuses_a_tampered_backup_and_writes_nothing(
    app, database_url, empty_database, tmp_path
):
    populate(app, through=None)
    original = backup_of(app, tmp_path)
    target = fresh_app(empty_database(backend(database_url)), tmp_path, "restored")
    empty = state()
    for tamper in TAMPERS:
        directory = str(tmp_path / f"tampered-{tamper.__name__}")
        shutil.copytree(original, directory)
        rewrite_events(directory, tamper)
        code, output = cli(target, "restore", directory)
        assert code != 0, tamper.__name__
        assert "拒绝恢复" in output, (tamper.__name__, output)
        if tamper is edit_payload:
            assert "position 10" in output, output  # names the first broken position
        assert state() == empty, tamper.__name__
        assert log.head() == (0, log.GENESIS_HASH)
        assert db.fetchone("SELECT COUNT(*) FROM credential")[0] == 0
        uploads = target.config["UPLOAD_DIR"]
        assert not os.path.exists(uploads) or not os.listdir(uploads)
    # The untouched backup still restores into that same, still empty, database.
    code, output = cli(target, "restore", original)
    assert code == 0, output
    assert log.verify().ok and log.head()[0] > 0


def test_restore_refuses_a_database_that_is_not_empty(app, tmp_path):
    source = populate(app, through=None)
    directory = backup_of(app, tmp_path)
    from workflow.authz import SYSTEM
    from workflow.commands import orgs

    orgs.rename_unit(SYSTEM, "ncut-info", "信息科学与技术学院党委", "更名")
    before = state()
    code, output = cli(app, "restore", directory)
    assert code != 0 and "空数据库" in output, output
    assert state() == before != source


def test_backup_refuses_a_directory_that_is_not_empty(app, tmp_path):
    populate(app, through=None)
    directory = tmp_path / "used"
    directory.mkdir()
    (directory / "keep.txt").write_text("旧文件", encoding="utf-8")
    code, output = cli(app, "backup", str(directory))
    assert code != 0 and "不是空目录" in output, output
    assert os.listdir(directory) == ["keep.txt"]
