"""Threaded comments on a project, through HTTP: who sees what in every fragment, posting with
the confirmation step, replies, edits with history and conflicts, resolve/reopen, mentions."""

from __future__ import annotations

import re

import pytest

from workflow import db, log, projections
from workflow.commands import comments
from workflow.commands.accounts import get_account
from workflow.errors import DomainError, Forbidden

PID = "minbei-2025.mb-jd-t.branch_feature"  # unit mb-jd-t under general branch mb-jd
OTHER = "minbei-2025.mb-xx-t.branch_feature"
STREAM = f"comments:{PID}"
SECRET = "内部评议：该支部创建措施偏弱，建议暂缓立项"
SHARED = "请补充年度工作目标的量化指标"
# The unit's own people see unit-visible comments only; staff and auditors see everything.
UNIT_MEMBERS = ["a-mb-jd-t", "s-mb-jd-t", "s-mb-jd"]
OUTSIDERS = ["a-mb-xx-t", "a-mb-jd", "a-ncut-cs-t"]  # other unit, general branch's applicant


@pytest.fixture
def projects(seeded):
    """The demo with every project submitted; PID waits for the organizer's review."""
    demo = seeded("submitted")
    state = db.fetchone("SELECT state FROM project WHERE id = ?", (PID,))[0]
    assert state == "under_review"
    return demo


def text(response) -> str:
    return response.get_data(as_text=True)


def url(suffix="", pid=PID) -> str:
    return f"/projects/{pid}/comments{suffix}"


def send(browser, body, pid=PID, **fields):
    return browser.post(url(pid=pid), {"body": body, **fields}, htmx=True)


def last_comment_id() -> str:
    posted = [e for e in log.read_stream(STREAM) if e.type == "CommentPosted"]
    return posted[-1].payload["comment_id"]


def post_as_org(as_user, body, visibility="internal", **fields) -> str:
    org = as_user("org")
    extra = {"confirm_unit": "1"} if visibility == "unit" else {}
    response = send(org, body, visibility=visibility, **extra, **fields)
    assert response.status_code == 200, text(response)
    return last_comment_id()


@pytest.fixture
def thread(projects, as_user):
    """An internal comment with an internal reply, and a unit-visible comment, by the organizer."""
    internal = post_as_org(as_user, SECRET)
    reply = post_as_org(as_user, SECRET + "（补充）", parent_id=internal)
    shared = post_as_org(as_user, SHARED, visibility="unit")
    return {"internal": internal, "reply": reply, "shared": shared}


# --- Who sees what ---------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["org", "auditor"])
def test_staff_and_auditor_see_every_comment(thread, as_user, username):
    b = as_user(username)
    fragment = text(b.get(url(), htmx=True))
    assert SECRET in fragment and SHARED in fragment and "内部" in fragment
    assert "<html" not in fragment
    page = b.get(url())
    assert page.status_code == 200 and "<html" in text(page) and SECRET in text(page)
    history = b.get(url(f"/{thread['internal']}/history"), htmx=True)
    assert history.status_code == 200 and SECRET in text(history)


@pytest.mark.parametrize("username", UNIT_MEMBERS)
def test_unit_members_never_receive_an_internal_comment(thread, as_user, username):
    b = as_user(username)
    responses = [
        b.get(url(), htmx=True),
        b.get(url()),
        b.get(f"/projects/{PID}"),
        b.get(url(f"/{thread['shared']}/history"), htmx=True),
    ]
    for r in responses:
        assert r.status_code == 200
        assert SHARED in text(r) or r.request.path == f"/projects/{PID}"
    for cid in (thread["internal"], thread["reply"]):
        responses += [
            b.get(url(f"/{cid}/history"), htmx=True),
            b.get(url(f"/{cid}/history")),
            b.get(url(f"/{cid}/edit"), htmx=True),
            b.post(url(f"/{cid}/edit"), {"body": "x", "edits": "0"}, htmx=True),
            b.post(url(f"/{cid}/resolve"), htmx=True),
            b.post(url(f"/{cid}/reopen"), htmx=True),
            send(b, "回复内部评论", parent_id=cid, visibility="unit"),
        ]
        for r in responses[-7:]:
            assert r.status_code == 403, (r.request.path, r.status_code)
    for r in responses:
        assert SECRET not in text(r)
        assert thread["internal"] not in text(r) and thread["reply"] not in text(r)


@pytest.mark.parametrize("username", OUTSIDERS)
def test_other_units_see_no_comment_at_all(thread, as_user, username):
    b = as_user(username)
    for path in (url(), url(f"/{thread['shared']}/history")):
        r = b.get(path, htmx=True)
        assert r.status_code == 403 and "没有权限" in text(r)
        assert SHARED not in text(r) and SECRET not in text(r)
    before = log.head()
    assert send(b, "我来评论一下", visibility="unit").status_code == 403
    assert log.head() == before


def test_the_project_page_loads_the_thread_in_place(projects, as_user):
    page = text(as_user("a-mb-jd-t").get(f"/projects/{PID}"))
    assert f'hx-get="/projects/{PID}/comments"' in page and 'hx-trigger="load"' in page


def test_a_comment_of_another_project_is_not_found_under_this_one(thread, as_user):
    r = as_user("org").get(url(f"/{thread['internal']}/history", pid=OTHER), htmx=True)
    assert r.status_code == 404 and SECRET not in text(r)


# --- Posting ---------------------------------------------------------------------------------


def test_unit_visible_needs_a_confirmation_step(projects, as_user):
    org = as_user("org")
    before = log.head()
    first = send(org, SHARED, visibility="unit", comment_id="7e0d1c46-3f7b-4d1e-9d7e-2f5f3d8c1a01")
    assert first.status_code == 200
    body = text(first)
    assert 'name="confirm_unit" value="1"' in body and "确认发表（申报单位可见）" in body
    assert SHARED in body  # what was typed is kept
    assert log.head() == before  # nothing became visible yet
    assert SHARED not in text(as_user("a-mb-jd-t").get(url(), htmx=True))
    second = send(org, SHARED, visibility="unit", confirm_unit="1",
                  comment_id="7e0d1c46-3f7b-4d1e-9d7e-2f5f3d8c1a01")  # fmt: skip
    assert second.status_code == 200 and second.headers["HX-Retarget"] == "#comments"
    event = log.read_stream(STREAM)[-1]
    assert event.type == "CommentPosted" and event.payload["visibility"] == "unit"
    assert event.payload["revision"] == 1 and event.actor == "org"
    assert SHARED in text(as_user("a-mb-jd-t").get(url(), htmx=True))


def test_internal_is_posted_at_once_and_is_the_default_for_staff(projects, as_user):
    org = as_user("org")
    form = text(org.get(url(), htmx=True))
    assert re.search(r'value="internal" checked', form)
    r = send(org, SECRET)
    assert r.status_code == 200 and SECRET in text(r)
    assert log.read_stream(STREAM)[-1].payload["visibility"] == "internal"


def test_unit_member_posts_unit_visible_without_a_choice(projects, as_user):
    b = as_user("a-mb-jd-t")
    form = text(b.get(url(), htmx=True))
    assert 'value="internal"' not in form
    r = send(b, "已按要求补充，请审阅。", visibility="unit")
    assert r.status_code == 200
    event = log.read_stream(STREAM)[-1]
    assert event.payload["visibility"] == "unit" and event.actor == "a-mb-jd-t"
    assert "已按要求补充" in text(as_user("org").get(url(), htmx=True))


@pytest.mark.parametrize("username", UNIT_MEMBERS)
def test_unit_member_cannot_post_internal(projects, as_user, username):
    before = log.head()
    r = send(as_user(username), "想发内部评论", visibility="internal")
    assert r.status_code == 403 and "只能发表对本单位可见的评论" in text(r)
    assert log.head() == before


def test_auditor_and_admin_cannot_post(thread, as_user):
    for username in ("auditor", "admin"):
        b = as_user(username)
        before = log.head()
        assert send(b, "审计意见", visibility="internal").status_code == 403
        assert b.post(url(f"/{thread['shared']}/resolve"), htmx=True).status_code == 403
        assert b.get(url(f"/{thread['shared']}/edit"), htmx=True).status_code == 403
        assert log.head() == before
    page = text(as_user("auditor").get(url(), htmx=True))
    assert 'name="body"' not in page and "标记已解决" not in page


@pytest.mark.parametrize(
    "body,message",
    [("", "不能为空"), ("   \n\t  ", "不能为空"), ("党" * 2001, "最多 2000 字，当前 2001 字")],
)
def test_empty_or_oversized_is_refused_and_nothing_is_written(projects, as_user, body, message):
    org = as_user("org")
    before = log.head()
    r = send(org, body)
    assert r.status_code == 400 and message in text(r)
    assert 'id="comment-form-new"' in text(r)  # the form comes back, in place
    assert log.head() == before


def test_the_limit_counts_characters_not_bytes(projects, as_user):
    assert send(as_user("org"), "党" * 2000).status_code == 200
    assert len(log.read_stream(STREAM)[-1].payload["body"]) == 2000


def test_html_and_script_are_shown_as_text(projects, as_user):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)> **粗体** <b>b</b>'
    send(as_user("a-mb-jd-t"), payload, visibility="unit")
    for username in ("org", "a-mb-jd-t"):
        page = text(as_user(username).get(url(), htmx=True))
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>b</b>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert log.read_stream(STREAM)[-1].payload["body"] == payload  # kept as typed


def test_control_characters_are_dropped_and_line_breaks_kept(projects, as_user):
    send(as_user("org"), "第一行\r\n第二行\x00\x07")
    assert log.read_stream(STREAM)[-1].payload["body"] == "第一行\n第二行"


def test_a_double_clicked_send_posts_once(projects, as_user):
    org = as_user("org")
    cid = "0b5c0f0e-8a43-4c55-9a55-5d6a8e0f7c11"
    assert send(org, SECRET, comment_id=cid).status_code == 200
    before = log.head()
    assert send(org, SECRET, comment_id=cid).status_code == 200
    assert log.head() == before
    # The same id under someone else is refused, not taken as theirs.
    r = send(as_user("a-mb-jd-t"), "借用编号", visibility="unit", comment_id=cid)
    assert r.status_code == 400 and log.head() == before


def test_target_field_and_revision(projects, as_user):
    org = as_user("org")
    send(org, "品牌名称可以更凝练", about="brand_name")
    p = log.read_stream(STREAM)[-1].payload
    assert p["target"] == {"kind": "field", "revision": 1, "field": "brand_name", "ref": None}
    assert "针对“品牌名称”（第 1 版）" in text(org.get(url(), htmx=True))
    send(org, "整体意见", about="revision")
    assert log.read_stream(STREAM)[-1].payload["target"]["kind"] == "revision"
    before = log.head()
    r = send(org, "不存在的字段", about="no_such_field")
    assert r.status_code == 400 and log.head() == before


# --- Replies ---------------------------------------------------------------------------------


def test_reply_to_a_comment_of_another_project_is_refused(thread, as_user):
    before = log.head()
    r = send(as_user("org"), "串到别的项目", pid=OTHER, parent_id=thread["internal"])
    assert r.status_code == 400 and "只能回复本项目中的评论" in text(r)
    assert SECRET not in text(r)
    r = send(as_user("org"), "不存在的评论", parent_id="1d7a1b8e-0000-4000-8000-000000000000")
    assert r.status_code == 400
    assert log.head() == before


def test_a_reply_to_an_internal_comment_is_internal(thread, as_user):
    org = as_user("org")
    before = log.head()
    r = send(org, "回复", parent_id=thread["internal"], visibility="unit", confirm_unit="1")
    assert r.status_code == 400 and "回复内部评论只能是内部评论" in text(r)
    assert log.head() == before
    assert send(org, "内部回复", parent_id=thread["internal"]).status_code == 200
    assert log.read_stream(STREAM)[-1].payload["visibility"] == "internal"
    # The reply form under an internal comment offers no unit-visible choice.
    page = text(org.get(url(), htmx=True))
    form = page.split(f'id="comment-form-{thread["internal"]}"')[1].split("</form>")[0]
    assert 'value="unit"' not in form and 'name="visibility" value="internal"' in form


def test_unit_member_replies_to_a_shared_comment(thread, as_user):
    b = as_user("a-mb-jd-t")
    r = send(b, "收到，已补充量化指标。", parent_id=thread["shared"], visibility="unit")
    assert r.status_code == 200
    event = log.read_stream(STREAM)[-1]
    assert event.payload["parent_id"] == thread["shared"]
    assert event.payload["target"] == {"kind": "project", "revision": None, "field": None,
                                       "ref": None}  # fmt: skip


def test_deep_replies_are_indented_then_flattened(projects, as_user):
    org = as_user("org")
    parent = None
    ids = []
    for depth in range(7):
        send(org, f"第{depth}层", **({"parent_id": parent} if parent else {}))
        parent = last_comment_id()
        ids.append(parent)
    page = text(org.get(url(), htmx=True))
    for cid in ids:
        assert page.count(f'id="comment-{cid}"') == 1
    # Depth 0..4 nest; depths 5 and 6 sit flat beside depth 4, naming whom they answer.
    nested = page.split(f'id="comment-{ids[3]}"')[1]
    assert f'id="comment-{ids[4]}"' in nested and f'id="comment-{ids[6]}"' in nested
    deep = page.split(f'id="comment-{ids[4]}"')[1]
    assert deep.index("</article>") < deep.index(f'id="comment-{ids[5]}"')  # not inside 4
    assert page.count("回复 @组织部 王老师") == 2


# --- Edits -----------------------------------------------------------------------------------


def edit_form(browser, cid):
    r = browser.get(url(f"/{cid}/edit"), htmx=True)
    assert r.status_code == 200
    return int(re.search(r'name="edits" value="(\d+)"', text(r)).group(1))


def test_edit_keeps_history_shown_on_demand(thread, as_user):
    org = as_user("org")
    cid = thread["shared"]
    edits = edit_form(org, cid)
    assert edits == 0
    r = org.post(url(f"/{cid}/edit"), {"body": SHARED + "（请在6月20日前）", "edits": "0"},
                 htmx=True)  # fmt: skip
    assert r.status_code == 200 and "已修改 1 次" in text(r) and f'id="c-{cid}"' in text(r)
    assert log.read_stream(STREAM)[-1].type == "CommentEdited"
    for username in ("org", "a-mb-jd-t", "auditor"):
        history = text(as_user(username).get(url(f"/{cid}/history"), htmx=True))
        assert "原文" in history and "第 1 次修改" in history
        assert SHARED + "（请在6月20日前）" in history and history.count(SHARED) == 2
    page = text(as_user("a-mb-jd-t").get(url(), htmx=True))
    assert f'hx-get="/projects/{PID}/comments/{cid}/history"' in page


def test_only_the_author_edits(thread, as_user):
    before = log.head()
    b = as_user("a-mb-jd-t")
    assert b.get(url(f"/{thread['shared']}/edit"), htmx=True).status_code == 403
    r = b.post(url(f"/{thread['shared']}/edit"), {"body": "改掉", "edits": "0"}, htmx=True)
    assert r.status_code == 403 and log.head() == before


def test_edit_refuses_empty_oversized_and_unchanged(thread, as_user):
    org = as_user("org")
    before = log.head()
    for body, message in (("", "不能为空"), ("字" * 2001, "最多 2000 字"), (SHARED, "没有变化")):
        r = org.post(url(f"/{thread['shared']}/edit"), {"body": body, "edits": "0"}, htmx=True)
        assert r.status_code == 400 and message in text(r)
    assert log.head() == before


def test_two_editors_at_once_the_second_gets_a_409_with_the_new_state(thread, as_user):
    first, second = as_user("org"), as_user("org")
    cid = thread["shared"]
    seen = edit_form(first, cid), edit_form(second, cid)
    assert seen == (0, 0)
    ok = first.post(url(f"/{cid}/edit"), {"body": "第一位的修改", "edits": "0"}, htmx=True)
    assert ok.status_code == 200
    before = log.head()
    late = second.post(url(f"/{cid}/edit"), {"body": "第二位的修改", "edits": "0"}, htmx=True)
    assert late.status_code == 409
    body = text(late)
    assert "内容已被他人修改" in body and "第一位的修改" in body  # the new state
    assert "第二位的修改" in body and 'name="edits" value="1"' in body  # typed text kept
    assert "<html" not in body
    assert log.head() == before
    again = second.post(url(f"/{cid}/edit"), {"body": "第二位的修改", "edits": "1"}, htmx=True)
    assert again.status_code == 200
    assert comments.get_comment(cid)["edits"] == 2


# --- Resolve / reopen ------------------------------------------------------------------------


def test_resolve_and_reopen(thread, as_user):
    org = as_user("org")
    cid = thread["shared"]
    r = org.post(url(f"/{cid}/resolve"), htmx=True)
    assert r.status_code == 200 and "已解决" in text(r) and "重新打开" in text(r)
    assert log.read_stream(STREAM)[-1].type == "CommentResolved"
    assert "已解决（组织部 王老师" in text(as_user("a-mb-jd-t").get(url(), htmx=True))
    before = log.head()
    again = org.post(url(f"/{cid}/resolve"), htmx=True)
    assert again.status_code == 400 and log.head() == before
    r = org.post(url(f"/{cid}/reopen"), htmx=True)
    assert r.status_code == 200 and "标记已解决" in text(r)
    assert log.read_stream(STREAM)[-1].type == "CommentReopened"
    assert not comments.get_comment(cid)["resolved"]


def test_who_may_resolve(thread, as_user):
    applicant = as_user("a-mb-jd-t")
    before = log.head()
    r = applicant.post(url(f"/{thread['shared']}/resolve"), htmx=True)
    assert r.status_code == 403 and log.head() == before
    send(applicant, "我们的问题：经费如何报销？", visibility="unit")
    own = last_comment_id()
    assert applicant.post(url(f"/{own}/resolve"), htmx=True).status_code == 200
    # A reply is part of its thread: the thread is resolved, not the reply.
    r = as_user("org").post(url(f"/{thread['reply']}/resolve"), htmx=True)
    assert r.status_code == 400 and "首条评论" in text(r)


# --- Mentions and "new since your last visit" ------------------------------------------------


def test_mentions_go_into_the_event(projects, as_user):
    org = as_user("org")
    send(org, "请 @a-mb-jd-t 和 @s-mb-jd 看一下。联系 li@example.com", visibility="unit",
         confirm_unit="1")  # fmt: skip
    assert log.read_stream(STREAM)[-1].payload["mentions"] == ["a-mb-jd-t", "s-mb-jd"]
    page = text(as_user("a-mb-jd-t").get(url(), htmx=True))
    assert '<strong class="mention">@a-mb-jd-t</strong>' in page
    send(org, "内部：@org 记一下")
    assert log.read_stream(STREAM)[-1].payload["mentions"] == ["org"]


@pytest.mark.parametrize(
    "body,visibility,message",
    [
        ("@nobody 请看", "internal", "找不到用户 @nobody"),
        ("@a-mb-jd-t 请看", "internal", "看不到内部评论"),
        ("@a-mb-xx-t 请看", "unit", "无权查看该项目"),
        ("@auditor 请看", "unit", "无权查看该项目"),
    ],
)
def test_unknown_or_not_allowed_mentions_are_refused(projects, as_user, body, visibility,
                                                     message):  # fmt: skip
    before = log.head()
    r = send(as_user("org"), body, visibility=visibility, confirm_unit="1")
    assert r.status_code == 400 and message in text(r) and "不能提及" in text(r)
    assert log.head() == before


def test_edit_rechecks_mentions(thread, as_user):
    org = as_user("org")
    before = log.head()
    r = org.post(url(f"/{thread['internal']}/edit"), {"body": "@a-mb-jd-t 看看", "edits": "0"},
                 htmx=True)  # fmt: skip
    assert r.status_code == 400 and "看不到内部评论" in text(r) and log.head() == before
    r = org.post(url(f"/{thread['shared']}/edit"), {"body": "@a-mb-jd-t 看看", "edits": "0"},
                 htmx=True)  # fmt: skip
    assert r.status_code == 200
    assert log.read_stream(STREAM)[-1].payload["mentions"] == ["a-mb-jd-t"]


def test_new_since_last_visit(projects, as_user):
    applicant = as_user("a-mb-jd-t")
    applicant.get(url(), htmx=True)  # a first visit
    post_as_org(as_user, SHARED, visibility="unit")
    first = text(applicant.get(url(), htmx=True))
    assert '<mark class="tag new">新</mark>' in first
    second = text(applicant.get(url(), htmx=True))
    assert "tag new" not in second
    # The author's own comments are never "new" to them.
    assert "tag new" not in text(as_user("org").get(url(), htmx=True))


# --- Rules on the commands, and the projection ----------------------------------------------


def test_commands_check_the_same_rules(thread):
    applicant, org = get_account("a-mb-jd-t"), get_account("org")
    with pytest.raises(Forbidden):
        comments.post(applicant, PID, "内部？", visibility="internal")
    with pytest.raises(Forbidden):
        comments.post(get_account("auditor"), PID, "审计", visibility="internal")
    with pytest.raises(comments.NeedsConfirmation):
        comments.post(org, PID, "给单位", visibility="unit")
    with pytest.raises(DomainError):
        comments.post(org, PID, "回复", visibility="internal", parent_id=thread["internal"] + "x")
    assert comments.project_comments(PID, "unit") == [
        c for c in comments.project_comments(PID, "all") if c["visibility"] == "unit"
    ]
    assert comments.audience(get_account("s-mb-jd"), comments.get_project(PID)) == "unit"
    assert comments.audience(get_account("auditor"), comments.get_project(PID)) == "all"


def test_rebuild_reproduces_the_comment_tables(thread, as_user):
    org = as_user("org")
    org.post(url(f"/{thread['shared']}/edit"), {"body": "改过的内容", "edits": "0"}, htmx=True)
    org.post(url(f"/{thread['internal']}/resolve"), htmx=True)
    before = projections.snapshot()
    assert before["project_comment"] and len(before["project_comment_version"]) == 4
    projections.rebuild()
    assert projections.snapshot() == before
