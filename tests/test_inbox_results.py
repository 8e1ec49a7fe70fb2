"""Inbox notices of deferrals, reviewer assignments and final results, on the demo driven
through certification."""

from __future__ import annotations

import pytest

from workflow import db, log, projections
from workflow.authz import Actor
from workflow.commands import certification
from workflow.commands.applications import stream as project_stream


@pytest.fixture
def certified(seeded):
    return seeded("certified")


def rows(event_type: str) -> list[tuple]:
    return db.fetchall(
        "SELECT recipient, kind, project, text, done_position FROM notification "
        "WHERE event_type = ? ORDER BY position, recipient",
        (event_type,),
    )


def test_deferral_request_and_answer_reach_the_right_people(certified):
    asked = rows("DeferralRequested")
    assert asked, "the demo asks for a deferral"
    roles = dict(db.fetchall("SELECT username, roles FROM user_account"))
    for recipient, kind, _pid, text, _done in asked:
        assert "organizer" in roles[recipient].split(",") and kind == "action"
        assert "申请延期" in text
    answered = rows("DeferralGranted") + rows("DeferralRefused")
    assert answered
    # An answered request's action is settled by the answer; one still pending stays open.
    settled = {pid for _r, _k, pid, _t, done in asked if done is not None}
    assert settled == {pid for _r, _k, pid, _t, _d in answered}
    units = dict(db.fetchall("SELECT username, unit FROM user_account"))
    project_units = dict(db.fetchall("SELECT id, unit FROM project"))
    for recipient, _kind, pid, text, _done in answered:
        assert units[recipient] == project_units[pid] and "延期" in text


def test_a_reviewer_hears_once_per_batch_not_once_per_project(certified):
    assigned = db.fetchall("SELECT e.payload FROM event e WHERE e.type = 'ReviewerAssigned'")
    notices = rows("ReviewerAssigned")
    assert notices and len(notices) < len(assigned)
    counted = sum(int(text.split("评审 ", 1)[1].split(" ", 1)[0]) for *_, text, _d in notices)
    assert counted == len(assigned)
    assert all(kind == "action" and "/scoring" for _r, kind, *_ in notices)


def test_units_hear_results_only_when_final(certified):
    assert rows("OutcomeProposed") == [] and rows("PublicityStarted") == []
    final = rows("OutcomeFinalised")
    assert final and all("评估认定结果" in text for *_, text, _d in final)
    units = dict(db.fetchall("SELECT username, unit FROM user_account"))
    project_units = dict(db.fetchall("SELECT id, unit FROM project"))
    parents = dict(db.fetchall("SELECT code, parent FROM org_unit"))
    for recipient, _kind, pid, _text, _done in final:
        assert units[recipient] in (project_units[pid], parents.get(project_units[pid]))


def test_rebuild_reproduces_the_new_notices(certified):
    before = db.fetchall("SELECT * FROM notification ORDER BY position, recipient")
    projections.rebuild()
    assert db.fetchall("SELECT * FROM notification ORDER BY position, recipient") == before


def test_a_revocation_reaches_the_unit(certified):
    (pid,) = db.fetchone("SELECT id FROM project WHERE state = 'certified' ORDER BY id LIMIT 1")
    org = db.fetchone("SELECT roles, unit FROM user_account WHERE username = 'org'")
    actor = Actor("org", frozenset(org[0].split(",")), org[1])
    version = log.stream_version(project_stream(pid))
    certification.revoke(actor, pid, "经核查，成果材料存在重复申报情况。", "passed", version)
    (unit,) = db.fetchone("SELECT unit FROM project WHERE id = ?", (pid,))
    told = [r for r in rows("CertificationRevoked") if r[2] == pid]
    assert told and all("撤销" in text and "重复申报" in text for *_, text, _d in told)
    members = {
        u for (u,) in db.fetchall("SELECT username FROM user_account WHERE unit = ?", (unit,))
    }
    assert members & {r[0] for r in told}
