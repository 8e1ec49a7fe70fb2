"""Tampering with the stored log is caught, named by position, by `log.verify()`, by
`flask verify-log` and by the standalone script in docs/VERIFY.md; the database refuses UPDATE
and DELETE (and TRUNCATE on PostgreSQL) while its triggers are in place; forged checkpoints
are refused. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import peewee
import pytest

from workflow import checkpoint, db, log, schema
from workflow.authz import SYSTEM
from workflow.commands import accounts, orgs
from workflow.events import canonical_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERIFY_DOC = os.path.join(ROOT, "docs", "VERIFY.md")


def build_history() -> int:
    """A small history through the commands, Chinese payloads included; returns its length."""
    orgs.create_unit(SYSTEM, "ncut", "信息学院党委", "committee")
    orgs.create_unit(SYSTEM, "ncut-g1", "计算机系党总支", "general_branch", parent="ncut")
    orgs.create_unit(SYSTEM, "ncut-cs-t", "计算机系教工党支部", "branch", "staff", "ncut-g1")
    orgs.rename_unit(SYSTEM, "ncut-g1", "计算机科学系党总支", "更名为全称")
    accounts.create_user(SYSTEM, "org", "组织部 王老师", ["organizer"], None, "secret-123")
    accounts.create_user(SYSTEM, "a-cs", "李老师", ["applicant"], "ncut-cs-t", "secret-123")
    head = log.head()[0]
    assert head == 6 and log.verify().ok
    return head


def row(position):
    return db.fetchone(f"SELECT {log.COLUMNS} FROM event WHERE position = ?", (position,))


def insert_row(values):
    marks = ", ".join("?" * len(values))
    db.execute(f"INSERT INTO event ({log.COLUMNS}) VALUES ({marks})", tuple(values))


def set_column(position, column, value):
    db.execute(f"UPDATE event SET {column} = ? WHERE position = ?", (value, position))


def swap_contents(i, j):
    """Exchange everything but the position of two events (what reordering them looks like)."""
    a, b = row(i), row(j)
    db.execute("DELETE FROM event WHERE position IN (?, ?)", (i, j))
    insert_row((i, *b[1:]))
    insert_row((j, *a[1:]))


def rehash_from(start):
    """What someone with database access does to hide an edit: recompute the chain onward."""
    prev = row(start - 1)[10] if start > 1 else log.GENESIS_HASH
    for position in range(start, log.head()[0] + 1):
        _, event_id, stream, version, type_, sv, payload, actor, at, _, _ = row(position)
        h = log.event_hash(position, event_id, stream, version, type_, sv, payload, actor, at, prev)
        db.execute(
            "UPDATE event SET prev_hash = ?, hash = ? WHERE position = ?", (prev, h, position)
        )
        prev = h


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def names_position(output, position):
    return re.search(rf"BROKEN at position {position}\b", output) is not None


@pytest.fixture
def auditor_script(tmp_path):
    """The verifier snippet of docs/VERIFY.md, saved as an auditor would save it."""
    with open(VERIFY_DOC, encoding="utf-8") as fh:
        blocks = re.findall(r"```python\n(.*?)```", fh.read(), re.S)
    assert len(blocks) == 1, "docs/VERIFY.md should hold exactly one python snippet"
    path = tmp_path / "verify_brandflow.py"
    path.write_text(blocks[0], encoding="utf-8")

    def run(app, *extra, source=None):
        """Back the log up with the CLI, then run the script on its events.jsonl (or on
        `source`, e.g. the SQLite database file itself)."""
        if source is None:
            target = tmp_path / f"backup-{len(os.listdir(tmp_path))}"
            code, output = cli(app, "backup", str(target))
            assert code == 0, output
            source = target / "events.jsonl"
        done = subprocess.run(
            [sys.executable, str(path), str(source), *map(str, extra)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout + done.stderr

    return run


# --- The database refuses to change history ---------------------------------------------------


def test_triggers_refuse_update_and_delete(app):
    build_history()
    before = db.fetchall(f"SELECT {log.COLUMNS} FROM event ORDER BY position")
    statements = [
        "UPDATE event SET actor = 'mallory' WHERE position = 2",
        "UPDATE event SET payload = payload",
        "DELETE FROM event WHERE position = 6",
        "DELETE FROM event",
    ]
    if db.is_postgres():
        statements.append("TRUNCATE event")
    for sql in statements:
        with pytest.raises(peewee.DatabaseError, match="append-only"):
            with db.database.atomic():
                db.execute(sql)
    assert db.fetchall(f"SELECT {log.COLUMNS} FROM event ORDER BY position") == before
    assert log.verify().ok
    # Appending is still allowed.
    orgs.rename_unit(SYSTEM, "ncut", "信息科学与技术学院党委", "学院更名")
    assert log.verify().count == 7


def test_drop_triggers_is_what_lets_the_tamper_tests_write(app):
    build_history()
    schema.drop_triggers()
    set_column(2, "actor", "mallory")
    assert row(2)[7] == "mallory"
    schema.create_all()  # puts the triggers back
    with pytest.raises(peewee.DatabaseError, match="append-only"):
        with db.database.atomic():
            set_column(2, "actor", "system")


# --- log.verify() names the first broken position ---------------------------------------------


@pytest.mark.parametrize("position", [1, 3, 6])
def test_changing_any_payload_character_is_caught(app, position):
    build_history()
    schema.drop_triggers()
    original = row(position)[6]
    assert "党" in original or "老师" in original or position == 6
    for i, char in enumerate(original):
        forged = original[:i] + ("X" if char != "X" else "Y") + original[i + 1 :]
        set_column(position, "payload", forged)
        result = log.verify()
        assert not result.ok, (i, forged)
        assert result.broken_position == position
        assert result.head_position == position - 1  # the intact prefix ends just before
    # Also one character swapped for a look-alike in the Chinese text, and a trailing space.
    for forged in (original.replace("党", "黨", 1), original + " "):
        if forged != original:
            set_column(position, "payload", forged)
            assert log.verify().broken_position == position
    set_column(position, "payload", original)
    assert log.verify().ok


@pytest.mark.parametrize(
    "column,value",
    [
        ("event_id", "00000000-0000-4000-8000-000000000000"),
        ("stream", "unit:other"),
        ("version", 9),
        ("type", "OrgUnitMoved"),
        ("schema_version", 2),
        ("actor", "mallory"),
        ("occurred_at", "2025-01-01T00:00:00.000000Z"),
        ("prev_hash", "f" * 64),
        ("hash", "0" * 64),
    ],
)
def test_changing_any_other_field_is_caught(app, column, value):
    build_history()
    schema.drop_triggers()
    set_column(4, column, value)
    result = log.verify()
    assert not result.ok and result.broken_position == 4, result.summary()


def tamper_payload(app):
    payload = row(3)[6]
    set_column(3, "payload", payload.replace("教工", "学生"))
    return 3


def tamper_payload_and_its_own_hash(app):
    """Edit an event and recompute its own hash: only the next event's link gives it away."""
    position, event_id, stream, version, type_, sv, payload, actor, at, prev, _ = row(3)
    payload = payload.replace("教工", "学生")
    h = log.event_hash(position, event_id, stream, version, type_, sv, payload, actor, at, prev)
    db.execute("UPDATE event SET payload = ?, hash = ? WHERE position = 3", (payload, h))
    return 4


def tamper_delete_middle(app):
    db.execute("DELETE FROM event WHERE position = 4")
    return 4


def tamper_delete_first(app):
    db.execute("DELETE FROM event WHERE position = 1")
    return 1


def tamper_swap(app):
    swap_contents(2, 5)
    return 2


def tamper_swap_neighbours(app):
    swap_contents(5, 6)
    return 5


@pytest.mark.parametrize(
    "tamper",
    [
        tamper_payload,
        tamper_payload_and_its_own_hash,
        tamper_delete_middle,
        tamper_delete_first,
        tamper_swap,
        tamper_swap_neighbours,
    ],
)
def test_tampering_is_named_by_verify_cli_and_auditor_script(app, auditor_script, tamper):
    build_history()
    schema.drop_triggers()
    position = tamper(app)

    result = log.verify()
    assert not result.ok and result.broken_position == position, result.summary()
    assert names_position(result.summary(), position)

    code, output = cli(app, "verify-log")
    assert code != 0
    assert names_position(output, position), output
    assert len(output.strip().splitlines()) == 1

    code, output = auditor_script(app)
    assert code == 1
    assert names_position(output, position), output


def test_intact_log_passes_everywhere_with_the_same_summary(app, auditor_script):
    build_history()
    result = log.verify()
    assert result.ok and result.count == 6
    code, output = cli(app, "verify-log")
    assert code == 0 and output.strip() == result.summary()
    code, output = auditor_script(app)
    assert code == 0 and output.strip() == result.summary()
    if not db.is_postgres():  # the script also reads a SQLite database file directly
        code, output = auditor_script(app, source=app.config["DATABASE_URL"][len("sqlite:///") :])
        assert code == 0 and output.strip() == result.summary()
        schema.drop_triggers()
        set_column(2, "actor", "mallory")
        code, output = auditor_script(app, source=app.config["DATABASE_URL"][len("sqlite:///") :])
        assert code == 1 and names_position(output, 2), output


# --- Checkpoints: truncation, rewriting with a recomputed chain, forgery ----------------------


def write_checkpoint(app, path):
    code, output = cli(app, "checkpoint", "-o", str(path))
    assert code == 0, output
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def key_file(app):
    return app.config["CHECKPOINT_KEY_FILE"]


def test_truncation_after_a_checkpoint_is_caught_only_with_it(app, tmp_path, auditor_script):
    build_history()
    cp_path = tmp_path / "cp.json"
    cp = write_checkpoint(app, cp_path)
    assert (cp["position"], cp["hash"]) == (6, row(6)[10])
    assert row(7)[4] == "CheckpointWritten"  # the trail records who signed which head
    orgs.rename_unit(SYSTEM, "ncut", "信息科学与技术学院党委", "学院更名")
    code, output = cli(app, "verify-log", "--checkpoint", str(cp_path))
    assert code == 0, output

    schema.drop_triggers()
    db.execute("DELETE FROM event WHERE position >= 5")  # drop the tail, the checkpoint with it

    assert log.verify().ok  # a shorter chain is still a valid chain
    code, output = cli(app, "verify-log")
    assert code == 0, output
    result = log.verify([(cp["position"], cp["hash"])])
    assert not result.ok and result.broken_position == 6
    code, output = cli(app, "verify-log", "--checkpoint", str(cp_path))
    assert code != 0 and names_position(output, 6), output
    code, output = auditor_script(app, cp_path, key_file(app))
    assert code == 1 and names_position(output, 6), output


def test_truncation_that_keeps_the_checkpoint_still_extends_it(app, tmp_path):
    build_history()
    cp_path = tmp_path / "cp.json"
    write_checkpoint(app, cp_path)
    orgs.rename_unit(SYSTEM, "ncut", "新名", "更名")
    schema.drop_triggers()
    db.execute("DELETE FROM event WHERE position = 8")
    code, output = cli(app, "verify-log", "--checkpoint", str(cp_path))
    assert code == 0, output


def test_rewritten_and_rehashed_history_fails_against_a_checkpoint(app, tmp_path, auditor_script):
    build_history()
    cp_path = tmp_path / "cp.json"
    cp = write_checkpoint(app, cp_path)
    schema.drop_triggers()
    set_column(2, "payload", row(2)[6].replace("计算机系", "数学系"))
    rehash_from(2)

    assert log.verify().ok  # the chain was recomputed: only the checkpoint can tell
    code, output = cli(app, "verify-log")
    assert code == 0, output
    code, output = cli(app, "verify-log", "--checkpoint", str(cp_path))
    assert code != 0 and names_position(output, cp["position"]), output
    code, output = auditor_script(app, cp_path, key_file(app))
    assert code == 1 and names_position(output, cp["position"]), output


def forge_hash(cp, key):
    return {**cp, "hash": "a" * 64}


def forge_position(cp, key):
    return {**cp, "position": cp["position"] - 1}


def forge_created_at(cp, key):
    return {**cp, "created_at": "2020-01-01T00:00:00.000000Z"}


def forge_other_key(cp, key):
    """The checkpoint of a rewritten head, signed with a key of the forger's own."""
    body = {k: cp[k] for k in ("position", "hash", "created_at", "algorithm")}
    body["hash"] = "b" * 64
    return {**body, "signature": checkpoint._signature(bytes(32), body)}


def forge_no_signature(cp, key):
    return {k: v for k, v in cp.items() if k != "signature"}


@pytest.mark.parametrize(
    "forge", [forge_hash, forge_position, forge_created_at, forge_other_key, forge_no_signature]
)
def test_forged_checkpoint_is_refused(app, tmp_path, auditor_script, forge):
    build_history()
    cp_path = tmp_path / "cp.json"
    cp = write_checkpoint(app, cp_path)
    key = checkpoint.load_key(key_file(app))
    assert checkpoint.read(str(cp_path), key)["hash"] == cp["hash"]

    forged_path = tmp_path / "forged.json"
    forged_path.write_text(json.dumps(forge(cp, key)), encoding="utf-8")
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.read(str(forged_path), key)
    code, output = cli(app, "verify-log", "--checkpoint", str(forged_path))
    assert code == 2 and "BROKEN checkpoint" in output, output
    code, output = auditor_script(app, forged_path, key_file(app))
    assert code == 2 and "BROKEN checkpoint" in output, output


def test_checkpoint_signed_with_another_key_is_refused(app, tmp_path):
    build_history()
    cp = checkpoint.make(bytes.fromhex("11" * 32))  # the right head, the wrong key
    path = tmp_path / "other.json"
    checkpoint.save(cp, str(path))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.read(str(path), checkpoint.load_key(key_file(app)))
    code, output = cli(app, "verify-log", "--checkpoint", str(path))
    assert code == 2 and "BROKEN checkpoint" in output


def test_unreadable_checkpoint_is_refused(app, tmp_path):
    build_history()
    path = tmp_path / "garbage.json"
    path.write_text("not json", encoding="utf-8")
    code, output = cli(app, "verify-log", "--checkpoint", str(path))
    assert code == 2 and "BROKEN checkpoint" in output


# --- docs/VERIFY.md's test vectors are the implementation's ---------------------------------


def test_documented_test_vectors_match_the_implementation():
    with open(VERIFY_DOC, encoding="utf-8") as fh:
        doc = fh.read()
    payload = canonical_json(
        {
            "code": "ncut-info",
            "name": "信息学院党委",
            "level": "committee",
            "kind": None,
            "parent": None,
        }
    )
    assert f"payload='{payload}'" in doc
    h = log.event_hash(
        1, "3f6c1c9e-0000-4000-8000-000000000001", "unit:ncut-info", 1, "OrgUnitCreated", 1,
        payload, "system", "2025-06-10T02:00:00.000000Z", "0" * 64,
    )  # fmt: skip
    assert f"hash = {h}" in doc
    body = {
        "position": 1,
        "hash": h,
        "created_at": "2025-06-10T02:05:00.000000Z",
        "algorithm": "HMAC-SHA256",
    }
    assert checkpoint._signature(bytes(32), body) in doc
