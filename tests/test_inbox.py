"""The inbox through HTTP: who is told what, the unread count in the header, mark read, "new
since your last visit", internal comments kept from the unit, optional e-mail, and rebuilds."""

from __future__ import annotations

import email
import json
import re
import socketserver
import threading
import uuid
from datetime import UTC, datetime

import pytest

from workflow import db, inbox, log, mail, projections
from workflow import demo as demo_data
from workflow.commands import applications
from workflow.commands.accounts import get_account
from workflow.events import NewEvent

PID = "ncut-info-2023.ncut-office.branch_feature"  # the demo leaves it waiting for its secretary
DONE_PID = "ncut-info-2023.ncut-cs-t.branch_feature"  # opinion recorded, with the organizer


def text(response) -> str:
    return response.get_data(as_text=True)


def badge(page: str) -> int:
    """The unread count the header shows (0 when there is no badge)."""
    found = re.search(r'<a id="inbox-badge".*?</a>', page, re.S)
    assert found, "the header has no inbox link"
    count = re.search(r'data-unread="(\d+)"', found.group(0))
    return int(count.group(1)) if count else 0


def positions(page: str) -> list[int]:
    return [int(p) for p in re.findall(r'<li id="n-(\d+)"', page)]


@pytest.fixture
def submitted(seeded):
    return seeded("submitted")


def open_actions(username: str) -> list[tuple]:
    return db.fetchall(
        "SELECT project, text FROM notification WHERE recipient = ? AND kind = 'action' "
        "AND done_position IS NULL ORDER BY position",
        (username,),
    )


def append(stream: str, event: NewEvent, actor: str):
    return log.append(stream, log.stream_version(stream), [event], actor)[0]


def comment(pid, author, body, visibility, mentions=(), parent=None):
    cid = str(uuid.uuid4())
    event = NewEvent(
        "CommentPosted",
        {"comment_id": cid, "parent_id": parent, "project": pid, "revision": 1,
         "target": {"kind": "project", "revision": None, "field": None, "ref": None},
         "visibility": visibility, "body": body, "mentions": list(mentions)},
    )  # fmt: skip
    append(f"comments:{pid}", event, author)
    return cid


# --- Who is told ---------------------------------------------------------------------------


def test_secretaries_and_organizer_get_the_right_action_items(submitted, as_user):
    waiting = db.fetchall("SELECT id, pending_approvals FROM project WHERE state = 'submitted'")
    assert waiting, "the demo leaves some projects waiting for an opinion"
    for pid, pending in waiting:
        secretary = f"s-{json.loads(pending)[0]['unit']}"
        assert pid in [p for p, _ in open_actions(secretary)], secretary
        page = text(as_user(secretary).get("/inbox?show=action"))
        assert f'href="/projects/{pid}"' in page and "请填写" in page and "待办" in page
    # Opinions already recorded settle the secretary's item; the organizer has the next step.
    assert open_actions("s-ncut-cs-t") == []
    assert "没有待办事项" in text(as_user("s-ncut-cs-t").get("/inbox?show=action"))
    reviewable = {r[0] for r in db.fetchall("SELECT id FROM project WHERE state = 'under_review'")}
    assert {p for p, _ in open_actions("org")} == reviewable
    # The general branch acts after the branch, never before.
    branch_waits = [p for p, _ in open_actions("s-mb-jd") if p.endswith("branch_feature")]
    for pid in branch_waits:
        assert applications.get_project(pid)["pending_approvals"][0]["unit"] == "mb-jd"
    # Nobody is told about their own action, and unit members are not told the organizer's work.
    assert not db.fetchall(
        "SELECT 1 FROM notification n JOIN event e ON e.position = n.position "
        "WHERE e.actor = n.recipient"
    )
    assert open_actions("a-ncut-cs-t") == [] and open_actions("reviewer1") == []


def test_each_reader_sees_notifications_in_their_own_language(submitted, as_user):
    """A notification is written once, during somebody's request, and read by others: it is
    stored as a message and rendered in the reader's language; e-mails carry the Chinese."""
    secretary = as_user("s-ncut-office")
    chinese = text(secretary.get("/inbox?show=action"))
    assert "已提交申报，请填写党支部意见。" in chinese
    secretary.post("/lang", {"lang": "en", "next": "/"})
    english = text(secretary.get("/inbox?show=action"))
    assert "submitted the application" in english
    assert "Please enter the Party branch&#39;s opinion." in english
    assert "请填写" not in english
    # The stored text, which mail sends, stays Chinese whoever wrote the event.
    (stored,) = db.fetchall(
        "SELECT text FROM notification WHERE recipient = 's-ncut-office' AND kind = 'action' "
        "AND done_position IS NULL"
    )
    assert stored[0].endswith("已提交申报，请填写党支部意见。")


def test_a_database_from_before_stored_messages_gains_the_column(submitted, as_user):
    """An existing notification table without the message column gets it at start-up; its old
    rows keep showing their Chinese text until a rebuild writes messages for them."""
    from workflow import schema

    before = db.fetchall("SELECT position, recipient, text FROM notification ORDER BY 1, 2")
    db.execute("ALTER TABLE notification DROP COLUMN message")
    try:
        schema.create_all()
        assert db.fetchall("SELECT DISTINCT message FROM notification") == [("",)]
        rows = db.fetchall("SELECT position, recipient, text FROM notification ORDER BY 1, 2")
        assert rows == before
        secretary = as_user("s-ncut-office")
        secretary.post("/lang", {"lang": "en", "next": "/"})
        assert "请填写党支部意见" in text(secretary.get("/inbox?show=action"))
        projections.rebuild()
        assert "Please enter the Party branch" in text(secretary.get("/inbox?show=action"))
    finally:  # the added column came last: later tests on this database expect the usual order
        db.execute("DROP TABLE notification")
        schema.create_all()


def test_unread_count_in_header_and_mark_read(submitted, as_user):
    secretary = as_user("s-ncut-office")
    home = text(secretary.get("/"))
    unread = inbox.unread_count("s-ncut-office")
    assert unread >= 1 and badge(home) == unread
    assert 'hx-get="/inbox/count"' in home and "every 60s" in home

    page = text(secretary.get("/inbox"))
    items = positions(page)
    assert len(items) == unread and items == sorted(items, reverse=True)  # newest first
    assert "学院机关党支部「服务零距离」已提交申报，请填写党支部意见。" in page
    assert 'class="inbox-item unread todo"' in page and "全部标为已读" in page

    fragment = secretary.get("/inbox/count", htmx=True)
    assert "<html" not in text(fragment) and badge(text(fragment)) == unread

    response = secretary.post("/inbox/read", {"position": items[0]}, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "inbox-changed"
    assert f'id="n-{items[0]}"' in text(response) and "unread" not in text(response)
    assert badge(text(secretary.get("/"))) == unread - 1
    again = secretary.post("/inbox/read", {"position": items[0]}, htmx=True)
    assert again.status_code == 200 and inbox.unread_count("s-ncut-office") == unread - 1

    # Someone else's notification, or none at all: refused, nothing changes.
    other = db.fetchone("SELECT position FROM notification WHERE recipient = 'org'")[0]
    assert secretary.post("/inbox/read", {"position": other}, htmx=True).status_code == 404
    assert secretary.post("/inbox/read", {}, htmx=True).status_code == 400
    assert inbox.unread_count("org") > 0

    response = secretary.post("/inbox/read-all", htmx=True)
    assert response.status_code == 200 and "没有未读消息" not in text(response)
    assert badge(text(secretary.get("/"))) == 0
    assert "没有未读消息" in text(secretary.get("/inbox?show=unread"))
    # Still listed (read), and the open action is still to do: reading is not doing.
    assert len(positions(text(secretary.get("/inbox")))) == len(items)
    assert len(open_actions("s-ncut-office")) == 1

    # Without htmx the buttons work as plain forms.
    org = as_user("org")
    assert org.post("/inbox/read-all").status_code == 302
    assert inbox.unread_count("org") == 0


def open_project(browser, pid):
    """What a browser does: the page, then the comment thread it loads (which records the visit)."""
    assert browser.get(f"/projects/{pid}").status_code == 200
    assert browser.get(f"/projects/{pid}/comments", htmx=True).status_code == 200


def test_opening_a_project_clears_its_new_marker_and_reads_its_notices(submitted, as_user):
    applicant = as_user("a-ncut-cs-t")
    home = text(applicant.get("/"))
    assert "tag new" in home  # never opened since it changed
    assert inbox.unread_count("a-ncut-cs-t") >= 1
    open_project(applicant, DONE_PID)
    assert "tag new" not in text(applicant.get("/"))
    assert inbox.unread_count("a-ncut-cs-t") == 0

    org = as_user("org")
    overview = text(org.get("/campaigns/ncut-info-2023/overview"))
    assert (
        overview.count("tag new")
        == db.fetchone("SELECT COUNT(*) FROM project WHERE campaign = 'ncut-info-2023'")[0]
    )
    open_project(org, DONE_PID)
    after = text(org.get("/campaigns/ncut-info-2023/overview"))
    assert after.count("tag new") == overview.count("tag new") - 1
    # Something new happens on it: new again for those who had seen it.
    comment(DONE_PID, "reviewer1", "请补充创建步骤的时间安排。", "unit")
    assert "tag new" in text(applicant.get("/"))


def test_return_and_resubmit_and_review_decisions(submitted, as_user):
    secretary = as_user("s-ncut-office")
    page = text(secretary.get(f"/projects/{PID}"))
    version = re.search(r'name="version"[^>]*value="(\d+)"', page).group(1)
    response = secretary.post(f"/projects/{PID}/opinion", {
        "decision": "return", "text": "请补充预期成效的量化指标。", "signer": "孙丽华",
        "signed_on": "2023-04-10", "version": version})  # fmt: skip
    assert response.status_code == 302
    assert open_actions("s-ncut-office") == []
    [(pid, told)] = open_actions("a-ncut-office")
    assert pid == PID and "退回修改" in told and "请补充预期成效的量化指标。" in told
    assert "请补充预期成效的量化指标" in text(as_user("a-ncut-office").get("/inbox"))

    # The applicant resubmits: their item is settled, the secretary is asked again.
    applicant = applications.get_project(PID)
    fields = json.loads(db.fetchone(
        "SELECT fields FROM project_revision WHERE project = ? AND revision = 1", (PID,))[0])  # fmt: skip
    actor = get_account("a-ncut-office")
    applications.submit(actor, "ncut-info-2023", "branch_feature", fields, str(uuid.uuid4()))
    assert open_actions("a-ncut-office") == []
    [(pid, ask)] = open_actions("s-ncut-office")
    assert pid == PID and "修改后重新提交，第 2 版" in ask
    assert applicant["revision"] == 1

    # The organizer's decisions on the project stream reach the unit.
    stream = f"project:{DONE_PID}"
    append(stream, NewEvent("ReviewReturned", {"revision": 1, "reason": "请突出专业特色。"}), "org")
    [(pid, told)] = open_actions("a-ncut-cs-t")
    assert told.startswith("组织部 王老师 将「“码”上先锋」退回修改：请突出专业特色。")
    assert "请突出专业特色" in text(as_user("s-ncut-cs-t").get("/inbox"))
    assert open_actions("org") and DONE_PID not in [p for p, _ in open_actions("org")]
    other = "ncut-info-2023.ncut-ee-t.branch_feature"
    append(f"project:{other}", NewEvent("ProjectApproved", {"revision": 1, "note": ""}), "org")
    assert "已审核通过，正式立项" in text(as_user("a-ncut-ee-t").get("/inbox"))
    assert "已审核通过，正式立项" in text(as_user("s-ncut-ee-t").get("/inbox"))


# --- Comments: internal ones never reach the unit -------------------------------------------


def recipients(position: int) -> set[str]:
    rows = db.fetchall("SELECT recipient FROM notification WHERE position = ?", (position,))
    return {r[0] for r in rows}


def test_internal_comments_never_reach_unit_members(submitted, as_user):
    secret = "内部：该支部去年材料有拼凑嫌疑，评审时注意核实。"
    cid = comment(DONE_PID, "org", secret, "internal",
                  mentions=["a-ncut-cs-t", "s-ncut-cs-t", "reviewer1", "nobody"])  # fmt: skip
    told = recipients(log.head()[0])
    assert told == {"reviewer1"}  # mentioned reviewer; never the author, never the unit
    for member in ("a-ncut-cs-t", "s-ncut-cs-t"):
        page = text(as_user(member).get("/inbox"))
        assert "材料有拼凑" not in page and "内部评论" not in page
    assert "材料有拼凑" in text(as_user("reviewer1").get("/inbox"))

    # A reviewer replies internally: the author of the parent hears, the unit still does not.
    comment(DONE_PID, "reviewer1", "同意，已核对。", "internal", parent=cid)
    assert recipients(log.head()[0]) == {"org"}
    row = db.fetchone("SELECT text FROM notification WHERE position = ?", (log.head()[0],))
    assert "回复了您" in row[0]

    # A comment shared with the unit reaches the unit and the thread's participants.
    comment(DONE_PID, "reviewer1", "请补充活动照片。", "unit", mentions=["a-ncut-ee-t"])
    told = recipients(log.head()[0])
    assert {"a-ncut-cs-t", "s-ncut-cs-t", "org"} <= told
    assert "reviewer1" not in told and "a-ncut-ee-t" not in told  # another unit cannot read it
    assert "请补充活动照片" in text(as_user("a-ncut-cs-t").get("/inbox"))

    # No unit member has a row for any internal comment.
    leaks = db.fetchall(
        "SELECT n.recipient FROM notification n JOIN event e ON e.position = n.position "
        "JOIN user_account a ON a.username = n.recipient "
        "WHERE e.type = 'CommentPosted' AND e.payload LIKE ? "
        "AND (a.roles LIKE ? OR a.roles LIKE ?)",
        ('%"visibility":"internal"%', "%applicant%", "%approver%"),
    )
    assert leaks == []


# --- Rebuild ------------------------------------------------------------------------------


def test_rebuild_reproduces_the_notification_tables(submitted, as_user):
    comment(DONE_PID, "org", "内部备注", "internal", mentions=["reviewer2", "a-ncut-cs-t"])
    cid = comment(DONE_PID, "reviewer1", "请补充照片。", "unit")
    append(f"comments:{DONE_PID}", NewEvent("CommentResolved", {"comment_id": cid}), "org")
    as_user("s-ncut-office").post("/inbox/read-all", htmx=True)
    unread = {u: inbox.unread_count(u) for u in ("s-ncut-office", "org", "a-ncut-cs-t")}
    before = projections.snapshot()
    assert before["notification"] and before["inbox_comment"]
    projections.rebuild()
    assert projections.snapshot() == before
    assert {u: inbox.unread_count(u) for u in unread} == unread  # read marks survive


# --- Mail ---------------------------------------------------------------------------------


class SMTPSink(socketserver.ThreadingTCPServer):
    """A tiny SMTP server on 127.0.0.1 that keeps what it is sent."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        self.messages: list[dict] = []
        super().__init__(("127.0.0.1", 0), SMTPHandler)


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 sink ready")
        envelope = {"from": None, "to": []}
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").strip()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                envelope = {"from": line[10:].strip("<>"), "to": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(line[8:].strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append({**envelope, "data": b"".join(data)})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp_sink():
    server = SMTPSink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_mail_is_off_without_mail_server(submitted, monkeypatch):
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    result = mail.send_pending(submitted)
    assert not result.configured and "未配置 MAIL_SERVER" in result.summary()
    cli = submitted.test_cli_runner().invoke(args=["send-mail"])
    assert cli.exit_code == 0 and "未配置 MAIL_SERVER" in cli.output
    assert db.fetchone("SELECT COUNT(*) FROM mail_log")[0] == 0


def test_mail_sends_unread_notifications_once_and_logs_each(submitted, smtp_sink, as_user):
    as_user("org").post("/inbox/read-all", htmx=True)  # read ones are not mailed
    as_user("s-mb-jd").post("/lang", {"lang": "en", "next": "/"})
    submitted.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.server_address[1],
                            MAIL_DOMAIN="example.edu.cn", MAIL_FROM="brandflow@example.edu.cn",
                            MAIL_BASE_URL="http://brandflow.example.edu.cn",
                            MAIL_MAX_AGE_DAYS=100000)  # fmt: skip
    # (MAIL_MAX_AGE_DAYS: the demo's history is dated 2023 and 2025.)
    expected = db.fetchone("SELECT COUNT(*) FROM notification WHERE recipient <> 'org'")[0]
    cli = submitted.test_cli_runner().invoke(args=["send-mail"])
    assert cli.exit_code == 0, cli.output
    assert f"已发送 {expected} 封" in cli.output
    assert len(smtp_sink.messages) == expected
    sent_to = {m["to"][0] for m in smtp_sink.messages}
    assert "s-ncut-office@example.edu.cn" in sent_to and "org@example.edu.cn" not in sent_to
    office = next(m for m in smtp_sink.messages if m["to"] == ["s-ncut-office@example.edu.cn"])
    msg = email.message_from_bytes(office["data"], policy=email.policy.default)
    assert "请填写党支部意见" in str(msg["Subject"])
    assert f"http://brandflow.example.edu.cn/projects/{PID}" in msg.get_content()
    assert "您好：" in msg.get_content()
    # Each e-mail in its recipient's language: this one chose English.
    english = next(m for m in smtp_sink.messages if m["to"] == ["s-mb-jd@example.edu.cn"])
    msg = email.message_from_bytes(english["data"], policy=email.policy.default)
    assert str(msg["Subject"]).startswith("[Party-building brand] ")
    body = msg.get_content()
    assert "Please enter the" in body and "View: http://brandflow.example.edu.cn/projects/" in body
    assert not re.search(r"[：，。]|您好|请填写", body)
    logged = db.fetchall("SELECT status, address FROM mail_log")
    assert len(logged) == expected and {s for s, _ in logged} == {"sent"}

    # Nothing twice; a new notification goes out on the next run.
    assert mail.send_pending(submitted).sent == 0
    comment(DONE_PID, "reviewer1", "请补充照片。", "unit")
    assert mail.send_pending(submitted).sent == len(recipients(log.head()[0]))


def test_turning_mail_on_does_not_send_the_history(submitted, smtp_sink):
    submitted.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.server_address[1],
                            MAIL_DOMAIN="example.edu.cn")  # fmt: skip
    assert mail.send_pending(submitted).sent == 0  # the demo's notices are months old
    comment(DONE_PID, "reviewer1", "请补充照片。", "unit")
    assert mail.send_pending(submitted).sent == len(recipients(log.head()[0])) > 0
    assert len(smtp_sink.messages) == len(recipients(log.head()[0]))


def test_mail_without_addresses_logs_skips(submitted, smtp_sink):
    submitted.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.server_address[1],
                            MAIL_MAX_AGE_DAYS=100000)  # fmt: skip
    result = mail.send_pending(submitted)
    assert result.sent == 0 and result.skipped > 0 and smtp_sink.messages == []
    assert {r[0] for r in db.fetchall("SELECT status FROM mail_log")} == {"skipped"}
    assert mail.send_pending(submitted).skipped == 0  # logged once


def test_mail_server_down_is_reported_and_retried(submitted):
    submitted.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_DOMAIN="example.edu.cn",
                            MAIL_MAX_AGE_DAYS=100000)  # fmt: skip
    result = mail.send_pending(submitted)
    assert result.failed == 1 and result.sent == 0 and "失败 1 封" in result.summary()
    assert db.fetchone("SELECT status FROM mail_log")[0] == "failed"
    assert mail.pending(mail.settings(submitted), datetime.now(UTC))  # retried on the next run


def test_demo_seed_is_idempotent_for_the_inbox(submitted):
    before = db.fetchone("SELECT COUNT(*) FROM notification")[0]
    demo_data.seed(list(demo_data.TREES), "demo12345", through="submitted", echo=lambda *_: None)
    assert db.fetchone("SELECT COUNT(*) FROM notification")[0] == before
