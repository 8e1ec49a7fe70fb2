"""Projections are a pure fold of the log: a rebuild from the log alone gives exactly the rows the
appends built one by one, on generated histories (hypothesis). Old event schema versions are
upcast on read while the stored bytes, and so the chain, stay as written. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow import db, log, projections
from workflow.authz import ROLES, SYSTEM
from workflow.commands import accounts, orgs
from workflow.errors import DomainError
from workflow.events import CATALOGUE, EventType, NewEvent, canonical_json

EXAMPLE = itertools.count(1)
LEVELS = ["committee", "general_branch", "branch"]

# Mostly names the commands accept, sometimes one they refuse (empty, blank, too long).
valid_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=14
).filter(str.strip)
names = st.one_of(
    valid_name,
    st.sampled_from(
        ["计算机系教工党支部", "信息学院党委", "第一党总支", "  空格  ", 'O\'Brien "引号"']
    ),
    valid_name,
    st.sampled_from(["", "   ", "长" * 61]),
)
index = st.integers(min_value=0, max_value=30)
maybe_index = st.one_of(index, index, index, st.none())
roles = st.lists(st.sampled_from(sorted(ROLES)), min_size=1, max_size=3)
kinds = st.sampled_from(["staff", "student", "office", "staff", None])

operations = st.lists(
    st.one_of(
        st.tuples(st.just("unit"), st.sampled_from(LEVELS), index, kinds, names),
        st.tuples(st.just("rename"), index, names),
        st.tuples(st.just("move"), index, index, kinds),
        st.tuples(st.just("user"), names, roles, maybe_index),
        st.tuples(st.just("roles"), index, roles, maybe_index),
        st.tuples(st.just("active"), index, st.booleans()),
        st.tuples(st.just("password"), index),
        st.tuples(st.just("unit"), st.sampled_from(LEVELS[1:]), index, kinds, valid_name),
        st.tuples(st.just("user"), valid_name, roles, index),
    ),
    min_size=5,
    max_size=30,
)


def pick(items, i):
    return items[i % len(items)] if items else None


def run_history(ops):
    """Apply the operations through the commands (or the log, where no command exists yet);
    returns the model of what the projections should now hold for this example's entities."""
    prefix = f"h{next(EXAMPLE)}"
    units: dict[str, str] = {}  # code -> name
    levels: dict[str, str] = {}
    users: dict[str, tuple] = {}  # username -> (roles text, unit, active)
    for op in [("unit", "committee", 0, None, "党委"), *ops]:
        kind, *args = op
        try:
            if kind == "unit":
                level, parent_i, branch_kind, name = args
                code = f"{prefix}-u{len(levels)}"
                parents = [c for c in levels if level != "committee"]
                parent = pick(parents, parent_i) if level != "committee" else None
                orgs.create_unit(SYSTEM, code, name, level, branch_kind, parent)
                units[code], levels[code] = name.strip(), level
            elif kind == "rename":
                code, name = pick(list(units), args[0]), args[1]
                if code is None:
                    continue
                orgs.rename_unit(SYSTEM, code, name, "调整")
                units[code] = name.strip()
            elif kind == "move":
                code, parent = pick(list(units), args[0]), pick(list(units), args[1])
                if code is None or code == parent:
                    continue
                stream = orgs.stream(code)
                event = NewEvent(
                    "OrgUnitMoved",
                    {"code": code, "parent": parent, "kind": args[2], "reason": "调整隶属"},
                )
                log.append(stream, log.stream_version(stream), [event], SYSTEM.username)
            elif kind == "user":
                name, wanted, unit_i = args
                username = f"{prefix}-user{len(users)}"
                unit = pick(list(units), unit_i) if unit_i is not None else None
                accounts.create_user(SYSTEM, username, name, wanted, unit, "password-1")
                users[username] = (",".join(sorted(set(wanted))), unit, 1)
            elif kind == "roles":
                username, wanted, unit_i = pick(list(users), args[0]), args[1], args[2]
                if username is None:
                    continue
                unit = pick(list(units), unit_i) if unit_i is not None else None
                accounts.change_roles(SYSTEM, username, wanted, unit, "调整角色")
                users[username] = (",".join(sorted(set(wanted))), unit, users[username][2])
            elif kind == "active":
                username, active = pick(list(users), args[0]), args[1]
                if username is None:
                    continue
                type_ = "AccountReactivated" if active else "AccountDeactivated"
                stream = accounts.stream(username)
                event = NewEvent(type_, {"username": username, "reason": "测试"})
                log.append(stream, log.stream_version(stream), [event], SYSTEM.username)
                users[username] = (*users[username][:2], int(active))
            elif kind == "password":
                username = pick(list(users), args[0])
                if username is None:
                    continue
                accounts.set_password(SYSTEM, username, "password-2")
        except DomainError:
            continue  # the command refused it: nothing may have been written
    return units, users


def check_model(units, users):
    for code, name in units.items():
        assert db.fetchone("SELECT name FROM org_unit WHERE code = ?", (code,))[0] == name
    for username, (roles_text, unit, active) in users.items():
        got = db.fetchone(
            "SELECT roles, unit, active FROM user_account WHERE username = ?", (username,)
        )
        assert tuple(got) == (roles_text, unit, active)


def checkpoints():
    return {r[0]: r[1] for r in db.fetchall("SELECT name, position FROM projection_checkpoint")}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_rebuild_equals_incremental_projections(app, ops):
    head_before = log.head()[0]
    units, users = run_history(ops)
    incremental = projections.snapshot()
    check_model(units, users)
    head = log.head()[0]
    if head > 0:
        assert set(checkpoints().values()) == {head}

    assert projections.rebuild() == head
    assert projections.snapshot() == incremental
    if head > 0:
        assert set(checkpoints().values()) == {head}
    assert log.verify().ok
    assert head >= head_before


def test_rebuild_repairs_damaged_projection_tables(app):
    orgs.create_unit(SYSTEM, "c1", "信息学院党委", "committee")
    orgs.create_unit(SYSTEM, "g1", "第一党总支", "general_branch", parent="c1")
    accounts.create_user(SYSTEM, "org", "组织部", ["organizer"], None, "password-1")
    good = projections.snapshot()
    db.execute("UPDATE org_unit SET name = '被改动' WHERE code = 'g1'")
    db.execute("DELETE FROM user_account")
    db.execute(
        "INSERT INTO org_unit (code, name, level, kind, parent, root, position) "
        "VALUES ('ghost', '幽灵', 'committee', NULL, NULL, 'ghost', 99)"
    )
    assert projections.snapshot() != good
    code = app.test_cli_runner().invoke(args=["rebuild-projections"])
    assert code.exit_code == 0, code.output
    assert projections.snapshot() == good


def test_rebuild_of_the_demo_with_submitted_projects(app):
    """Campaigns and projects too: seed both notices through submission, then rebuild."""
    from workflow import demo

    demo.seed(list(demo.TREES), "demo12345", through="submitted", echo=lambda *_: None)
    assert db.fetchone("SELECT COUNT(*) FROM project")[0] > 0
    incremental = projections.snapshot()
    assert all(incremental[name] for name in ("org_unit", "user_account", "campaign", "project"))
    projections.rebuild(page=7)  # small pages: replay across page boundaries
    assert projections.snapshot() == incremental
    assert log.verify().ok


# --- Upcasting ---------------------------------------------------------------------------------


@pytest.fixture
def probe_type():
    """A test-only event type at schema version 3, with upcasters 1 -> 2 -> 3."""
    name = f"ProbeRecorded{uuid.uuid4().hex[:8]}"
    CATALOGUE[name] = EventType(
        name,
        {"title": str, "level": str, "tags": list},
        version=3,
        upcasters={
            1: lambda p: {**p, "level": "branch"},  # v2 added a level
            2: lambda p: {**p, "tags": []},  # v3 added tags
        },
    )
    yield name
    del CATALOGUE[name]


def raw_insert(type_, schema_version, payload, stream, version):
    """Store an event as an older release wrote it: straight into the table, hash computed."""
    position, prev = log.head()
    position += 1
    event_id, at, text = str(uuid.uuid4()), "2024-03-01T08:00:00.000000Z", canonical_json(payload)
    h = log.event_hash(
        position, event_id, stream, version, type_, schema_version, text, "legacy", at, prev
    )
    db.execute(
        f"INSERT INTO event ({log.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (position, event_id, stream, version, type_, schema_version, text, "legacy", at, prev, h),
    )
    return position, text


def test_old_versions_are_upcast_on_read_and_still_verify(app, probe_type):
    orgs.create_unit(SYSTEM, "c1", "信息学院党委", "committee")
    p1, text1 = raw_insert(probe_type, 1, {"title": "第一版事件"}, "probe:1", 1)
    p2, text2 = raw_insert(probe_type, 2, {"title": "第二版", "level": "committee"}, "probe:1", 2)
    [written] = log.append(
        "probe:1",
        2,
        [NewEvent(probe_type, {"title": "新事件", "level": "general_branch", "tags": ["a"]})],
        "tester",
    )

    events = log.read_stream("probe:1")
    assert [e.payload for e in events] == [
        {"title": "第一版事件", "level": "branch", "tags": []},
        {"title": "第二版", "level": "committee", "tags": []},
        {"title": "新事件", "level": "general_branch", "tags": ["a"]},
    ]
    assert [e.schema_version for e in events] == [3, 3, 3]
    assert events[2] == written
    assert log.get(p1).payload == events[0].payload
    assert [e.payload for e in log.iter_events(after=1)] == [e.payload for e in events]

    # Stored rows are never rewritten: old version numbers and bytes stay, so the chain holds.
    stored = db.fetchall(
        "SELECT schema_version, payload FROM event WHERE stream = 'probe:1' ORDER BY version"
    )
    assert [tuple(r) for r in stored[:2]] == [(1, text1), (2, text2)]
    assert stored[2][0] == 3
    result = log.verify()
    assert result.ok and result.count == 4, result.summary()

    # Replaying the log, old versions included, is fine too.
    before = projections.snapshot()
    projections.rebuild()
    assert projections.snapshot() == before
