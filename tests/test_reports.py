"""Final and mid-term reports: the command, the accessor and the refusals (nothing stored)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflow import compliance, db, log
from workflow.authz import Actor
from workflow.commands import reports
from workflow.commands.applications import stream as project_stream
from workflow.errors import DomainError, Forbidden

IN_FINAL = {"ncut-2023": datetime(2024, 1, 10, 2, tzinfo=UTC),
            "minbei-2025": datetime(2025, 11, 5, 2, tzinfo=UTC)}  # fmt: skip


@pytest.fixture
def cultivating(seeded):
    return seeded("cultivating")


def actor(username):
    roles, unit = db.fetchone(
        "SELECT roles, unit FROM user_account WHERE username = ?", (username,)
    )
    return Actor(username, frozenset(roles.split(",")), unit)


def a_project():
    """A cultivating project with at least 3 live photos, its campaign and its applicant."""
    for pid, campaign, unit in db.fetchall(
        "SELECT id, campaign, unit FROM project WHERE state = 'cultivating' ORDER BY id"
    ):
        photos = [r[0] for r in db.fetchall(
            "SELECT photo_id FROM project_photo WHERE project = ? AND withdrawn_position IS NULL "
            "ORDER BY position", (pid,))]  # fmt: skip
        if len(photos) >= 5 and campaign in IN_FINAL:
            return pid, campaign, f"a-{unit}", photos
    raise AssertionError("no cultivating project with photos")


def texts(total: int, titles=5, filler="品"):
    per, extra = divmod(total, titles)
    return {f"s{i + 1}": filler * (per + (1 if i < extra else 0)) for i in range(titles)}


def submit(pid, user, tx, picks, now, version=None, uploads=(), tmp="/tmp"):
    version = log.stream_version(project_stream(pid)) if version is None else version
    return reports.submit(actor(user), pid, "final", tx, picks, list(uploads), [], version, tmp,
                          now=now)  # fmt: skip


def refused(fn, message):
    before = db.fetchone("SELECT COUNT(*) FROM event")
    with pytest.raises((DomainError, Forbidden)) as err:
        fn()
    assert message in str(err.value)
    assert db.fetchone("SELECT COUNT(*) FROM event") == before
    return err


def test_submit_and_accessor_shape(cultivating, tmp_path):
    pid, campaign, user, photos = a_project()
    picks = [(p, f"第{i}张：主题党日活动") for i, p in enumerate(photos[:3], 1)]
    submit(pid, user, texts(3000), picks, IN_FINAL[campaign], tmp=str(tmp_path))
    got = reports.get_report(pid)
    assert got["kind"] == "final" and got["revision"] == 1 and got["chars"] == 3000
    assert [s["title"] for s in got["sections"]] == ["品牌名称", "创建背景", "品牌内涵", "主要举措",
                                                     "取得成效"]  # fmt: skip
    assert [p["photo_id"] for p in got["photos"]] == photos[:3]
    assert set(got["photos"][0]) == {"photo_id", "sha256", "caption", "width", "height", "mime"}
    assert got["submitted_by"] == user and got["late"] is False and got["attachments"] == []
    state = db.fetchone("SELECT state FROM project WHERE id = ?", (pid,))[0]
    assert state == "final_submitted"
    project = {"id": pid}
    assert compliance.report_lookup(project["id"])["chars"] == 3000
    # a resubmission is a new revision
    submit(pid, user, texts(1200), picks[::-1], IN_FINAL[campaign], tmp=str(tmp_path))
    got = reports.get_report(pid)
    assert got["revision"] == 2 and got["chars"] == 1200
    assert [p["photo_id"] for p in got["photos"]] == photos[:3][::-1]


def test_refusals(cultivating, tmp_path):
    pid, campaign, user, photos = a_project()
    now = IN_FINAL[campaign]
    good = [(p, "说明") for p in photos[:3]]
    refused(lambda: submit(pid, user, texts(3001), good, now), "超过 3000 字")
    mixed = texts(3001, filler="a")
    mixed["s1"] = "品牌" + mixed["s1"][2:]
    refused(lambda: submit(pid, user, mixed, good, now), "超过 3000 字")
    missing = texts(500)
    missing["s3"] = "   "
    refused(lambda: submit(pid, user, missing, good, now), "缺少以下部分：品牌内涵")
    refused(lambda: submit(pid, user, texts(500), good[:2], now), "3–5 张照片，现在选了 2 张")
    six = good + [(p, "说明") for p in photos[3:5]] + [("x", "说明")]
    refused(lambda: submit(pid, user, texts(500), six, now), "现在选了 6 张")
    refused(lambda: submit(pid, user, texts(500), [good[0], good[1], (photos[2], " ")], now),
            "缺少说明文字")  # fmt: skip
    other = db.fetchone(
        "SELECT photo_id FROM project_photo WHERE project <> ? LIMIT 1", (pid,))[0]  # fmt: skip
    refused(lambda: submit(pid, user, texts(500), good[:2] + [(other, "说明")], now),
            "不是本项目的照片")  # fmt: skip
    fake = [("材料.pdf", b"MZ\x90\x00 this is an executable")]
    refused(lambda: submit(pid, user, texts(500), good, now, uploads=fake), "附件“材料.pdf”")
    before = db.fetchone("SELECT COUNT(*) FROM event")
    with pytest.raises(log.ConcurrencyError):
        submit(pid, user, texts(500), good, now, version=0)
    assert db.fetchone("SELECT COUNT(*) FROM event") == before
    (other_unit,) = db.fetchone(
        "SELECT username FROM user_account WHERE username LIKE ? AND unit <> "
        "(SELECT unit FROM project WHERE id = ?) ORDER BY username LIMIT 1", ("a-%", pid))  # fmt: skip
    refused(lambda: submit(pid, other_unit, texts(500), good, now), "只有本单位")
    assert reports.get_report(pid) is None


def test_late_refused_or_flagged(cultivating, tmp_path):
    pid, campaign, user, photos = a_project()
    good = [(p, "说明") for p in photos[:3]]
    late = datetime(2026, 6, 1, tzinfo=UTC)
    from workflow.commands import campaigns

    policy = campaigns.get(campaign).get("late_policy")
    if policy == "refuse":
        refused(lambda: submit(pid, user, texts(500), good, late), "截止")
    else:
        submit(pid, user, texts(500), good, late)
        assert reports.get_report(pid)["late"] is True


def test_trail_describes_and_diffs_revisions(cultivating, tmp_path):
    from workflow import trail

    pid, campaign, user, photos = a_project()
    picks = [(p, "说明") for p in photos[:3]]
    submit(pid, user, texts(600), picks, IN_FINAL[campaign])
    changed = texts(600)
    changed["s2"] = "新的创建背景"
    submit(pid, user, changed, picks, IN_FINAL[campaign])
    event = log.read_stream(project_stream(pid))[-1]
    assert "总结报告" in trail.describe(event) and "第 2 版" in trail.describe(event)
    rows = {r["label"]: r["changed"] for r in trail.changes(event)}
    assert rows["创建背景"] is True and rows["品牌名称"] is False


def test_midterm_report_keeps_the_state(cultivating, tmp_path):
    (pid, unit) = db.fetchone(
        "SELECT id, unit FROM project WHERE campaign = 'minbei-2025' AND state = 'cultivating' "
        "ORDER BY id LIMIT 1"
    )
    version = log.stream_version(project_stream(pid))
    tx = {"s1": "工作进展顺利", "s2": "阶段成效明显", "s3": "存在问题不多", "s4": "下一步计划"}
    reports.submit(actor(f"a-{unit}"), pid, "midterm", tx, [], [], [], version, str(tmp_path),
                   now=datetime(2025, 9, 1, 2, tzinfo=UTC))  # fmt: skip
    got = reports.get_report(pid, "midterm")
    assert [s["title"] for s in got["sections"]] == [
        "工作进展",
        "阶段成效",
        "存在问题",
        "下一步计划",
    ]
    assert got["photos"] == [] and reports.get_report(pid) is None
    assert db.fetchone("SELECT state FROM project WHERE id = ?", (pid,))[0] == "cultivating"
