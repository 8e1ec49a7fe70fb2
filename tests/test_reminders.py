"""Reminders: due soon (per the campaign's reminder_days) and overdue, idempotent, from cron and
from the organizer's one-click button; units see them in their inbox.

Times are given with `now=` relative to the notices' real windows (Asia/Shanghai): minbei-2025
applies from 2025-06-06 09:00 to 2025-06-16 18:00; reminder_days is [7, 3, 1].
"""

from __future__ import annotations

import re
import uuid

import pytest

from workflow import db, log, overview, projections
from workflow.authz import SYSTEM
from workflow.commands import applications, campaigns, reminders
from workflow.commands.accounts import get_account
from workflow.deadlines import parse_local
from workflow.demo import ORGANIZER
from workflow.demo.content import fields_for
from workflow.demo.units import PEOPLE
from workflow.errors import Forbidden

MINBEI, NCUT = "minbei-2025", "ncut-info-2023"


def at(text: str):
    return parse_local(text, "Asia/Shanghai")


def units(slug: str) -> set[str]:
    """Every unit of the campaign that may apply (one category per unit level)."""
    return {r["unit"] for r in overview.rows(campaigns.get(slug), at("2025-06-10 09:00"))}


def sent_units(events) -> set[str]:
    return {e.payload["unit"] for e in events}


def submit(unit: str, category: str, when: str):
    name = db.fetchone("SELECT name FROM org_unit WHERE code = ?", (unit,))[0]
    values = fields_for("minbei-2025", name, unit, PEOPLE[unit][1])
    applications.submit(get_account(f"a-{unit}"), MINBEI, category, values, str(uuid.uuid4()),
                        now=at(when))  # fmt: skip


def open_reminders(username: str) -> list[str]:
    rows = db.fetchall(
        "SELECT text FROM notification WHERE recipient = ? AND event_type = 'ReminderSent' "
        "AND done_position IS NULL",
        (username,),
    )
    return [r[0] for r in rows]


def test_due_soon_then_overdue_each_once(demo):
    everyone = units(MINBEI)
    assert len(everyone) == 18  # 5 general branches (一系一品牌) and 13 branches
    # More than 7 days before the due time: nothing yet.
    assert reminders.send_reminders(SYSTEM, at("2025-06-08 09:00")) == []

    week = reminders.send_reminders(SYSTEM, at("2025-06-10 09:00"))
    assert sent_units(week) == everyone and len(week) == len(everyone)
    assert {e.payload["kind"] for e in week} == {"due_soon"}
    assert {e.stream for e in week} == {f"campaign:{MINBEI}"}
    note = next(e for e in week if e.payload["unit"] == "mb-jd-t").payload["note"]
    assert "品牌设计" in note and "2025年06月16日 18:00" in note and "剩余约 6 天" in note
    # Idempotent: the same run again, or later in the same bucket, sends nothing.
    assert reminders.send_reminders(SYSTEM, at("2025-06-10 09:00")) == []
    assert reminders.send_reminders(SYSTEM, at("2025-06-12 20:00")) == []

    # Units that applied are no longer reminded; their reminder is settled in the inbox.
    assert open_reminders("a-mb-jd-t") and open_reminders("s-mb-jd-t")
    submit("mb-jd-t", "branch_feature", "2025-06-13 10:00")
    assert open_reminders("a-mb-jd-t") == [] and open_reminders("s-mb-jd-t") == []

    three = reminders.send_reminders(SYSTEM, at("2025-06-14 09:00"))
    assert sent_units(three) == everyone - {"mb-jd-t"}
    one = reminders.send_reminders(SYSTEM, at("2025-06-16 09:00"))
    assert sent_units(one) == everyone - {"mb-jd-t"}
    assert "剩余约 9 小时" in one[0].payload["note"]
    assert reminders.send_reminders(SYSTEM, at("2025-06-16 17:59")) == []

    # Past the due time: overdue, once a day, for the first week.
    late = reminders.send_reminders(SYSTEM, at("2025-06-17 09:00"))
    assert sent_units(late) == everyone - {"mb-jd-t"}
    assert {e.payload["kind"] for e in late} == {"overdue"}
    assert "已于 2025年06月16日 18:00 截止" in late[0].payload["note"]
    assert "申请延期" in late[0].payload["note"]  # minbei refuses late applications
    assert reminders.send_reminders(SYSTEM, at("2025-06-17 23:00")) == []
    assert len(reminders.send_reminders(SYSTEM, at("2025-06-18 09:00"))) == len(late)
    assert reminders.send_reminders(SYSTEM, at("2025-07-01 09:00")) == []

    # One reminder per (unit, stage, kind, bucket): never two.
    keys = db.fetchall(
        "SELECT campaign, unit, stage, kind, due, COUNT(*) FROM reminder_sent "
        "GROUP BY campaign, unit, stage, kind, due"
    )
    per_unit = {(u, k): n for _c, u, _s, k, _d, n in keys}
    assert per_unit[("mb-jd-s", "due_soon")] == 3 and per_unit[("mb-jd-s", "overdue")] == 2
    # The unit's applicant and secretary see the newest one only as a to-do.
    [todo] = open_reminders("a-mb-jd-s")
    assert todo.startswith("逾期提醒：") and len(open_reminders("s-mb-jd-s")) == 1


def test_an_extension_starts_a_new_series(demo):
    reminders.send_reminders(SYSTEM, at("2025-06-16 09:00"))
    campaigns.extend_deadline(ORGANIZER, MINBEI, "mb-ts", "apply", "2025-06-20 18:00", "病假",
                              now=at("2025-06-16 10:00"))  # fmt: skip
    late = reminders.send_reminders(SYSTEM, at("2025-06-17 09:00"))
    overdue = [e for e in late if e.payload["kind"] == "overdue"]
    assert sent_units(overdue) == units(MINBEI) - {"mb-ts"}
    [soon] = [e.payload for e in late if e.payload["kind"] == "due_soon"]
    assert soon["unit"] == "mb-ts" and soon["due"] == "2025-06-20 18:00"
    assert "2025年06月20日 18:00" in soon["note"]
    assert [e.payload["unit"] for e in reminders.send_reminders(SYSTEM, at("2025-06-18 09:00"))
            if e.payload["kind"] == "due_soon"] == ["mb-ts"]  # 3 days left  # fmt: skip


def test_returned_applications_are_reminded_before_the_due_time_only(demo):
    submit("mb-ts", "branch_feature", "2025-06-09 10:00")
    pid = applications.project_id(MINBEI, "mb-ts", "branch_feature")
    applications.record_opinion(get_account("s-mb-ts"), pid, "return", "请补充工作举措。", "程秀英",
                                "2025-06-09", log.stream_version(f"project:{pid}"),
                                now=at("2025-06-09 15:00"))  # fmt: skip
    soon = reminders.send_reminders(SYSTEM, at("2025-06-14 09:00"))
    note = next(e.payload["note"] for e in soon if e.payload["unit"] == "mb-ts")
    assert "根据退回意见修改并重新提交" in note
    late = reminders.send_reminders(SYSTEM, at("2025-06-17 09:00"))
    assert "mb-ts" not in sent_units(late)


def test_the_cli_reports_how_many_were_sent(demo):
    runner = demo.test_cli_runner()
    first = runner.invoke(args=["send-reminders", "--now", "2025-06-10 09:00"])
    assert first.exit_code == 0 and f"已发送 {len(units(MINBEI))} 条提醒" in first.output
    again = runner.invoke(args=["send-reminders", "--now", "2025-06-10 09:00"])
    assert again.exit_code == 0 and "已发送 0 条提醒" in again.output
    bad = runner.invoke(args=["send-reminders", "--now", "next tuesday"])
    assert bad.exit_code != 0 and "时间格式" in bad.output


def test_only_organizers_send_reminders_by_command(demo):
    with pytest.raises(Forbidden):
        reminders.send_reminders(get_account("s-mb-jd"), at("2025-06-10 09:00"))
    with pytest.raises(Forbidden):
        reminders.remind_overdue(get_account("auditor"), MINBEI, at("2025-06-20 09:00"))


# --- The organizer's button ---------------------------------------------------------------


def count_in(page: str) -> int:
    return int(re.search(r"已向 (\d+) 个逾期单位发送提醒", page).group(1))


def test_organizer_reminds_all_overdue_units_in_one_action(as_user):
    org = as_user("org")
    page = org.get(f"/campaigns/{MINBEI}/overview").get_data(as_text=True)
    assert "一键提醒逾期单位" in page and f'hx-post="/campaigns/{MINBEI}/remind-overdue"' in page
    # Web requests use the real clock: the 2025 apply window is long closed.
    response = org.post(f"/campaigns/{MINBEI}/remind-overdue", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert count_in(body) == len(units(MINBEI))
    again = org.post(f"/campaigns/{MINBEI}/remind-overdue", htmx=True).get_data(as_text=True)
    assert "今天已提醒过全部 18 个逾期单位" in again

    applicant = as_user("a-mb-xx-t")
    inbox = applicant.get("/inbox?show=action").get_data(as_text=True)
    assert "逾期提醒" in inbox and "2025年06月16日 18:00" in inbox
    home = applicant.get("/").get_data(as_text=True)
    assert 'data-unread="1"' in home

    # Without htmx it answers with a page.
    ncut = org.post(f"/campaigns/{NCUT}/remind-overdue")
    assert ncut.status_code == 200 and "提醒逾期单位" in ncut.get_data(as_text=True)
    assert count_in(ncut.get_data(as_text=True)) == len(units(NCUT))


@pytest.mark.parametrize("username", ["auditor", "admin", "reviewer1", "a-mb-jd-t", "s-mb-jd"])
def test_only_the_organizer_may_press_it(as_user, username):
    b = as_user(username)
    before = log.head()
    response = b.post(f"/campaigns/{MINBEI}/remind-overdue", htmx=True)
    assert response.status_code == 403 and "没有权限" in response.get_data(as_text=True)
    assert log.head() == before
    if username == "auditor":  # sees the overview, without the button
        page = b.get(f"/campaigns/{MINBEI}/overview").get_data(as_text=True)
        assert "一键提醒逾期单位" not in page


def test_rebuild_reproduces_reminders_and_their_notifications(demo):
    reminders.send_reminders(SYSTEM, at("2025-06-10 09:00"))
    submit("mb-jd-t", "branch_feature", "2025-06-13 10:00")
    reminders.send_reminders(SYSTEM, at("2025-06-17 09:00"))
    before = projections.snapshot()
    assert before["reminder_sent"] and before["notification"]
    projections.rebuild()
    assert projections.snapshot() == before
