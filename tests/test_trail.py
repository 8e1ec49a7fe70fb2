"""The auditor's trails through HTTP: a branch's whole history in plain Chinese, filters and bad
input, paging by position, permalinks and payloads, what changed, who may read which trail
(internal comments only for staff), reads and exports logged, CSV and PDF, the integrity page."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time

import pytest

from workflow import checkpoint, db, log, schema, trail
from workflow.commands import campaigns, comments
from workflow.commands.accounts import get_account
from workflow.events import CATALOGUE, Event

DEMO_PASSWORD = "demo12345"
GB = "mb-jd"  # 机电工程系党总支, with branches mb-jd-t and mb-jd-s
GB_PROJECT = "minbei-2025.mb-jd.dept_brand"
RETURNED = "minbei-2025.mb-jd-t.branch_feature"  # returned, revised and approved by the demo
OTHER_UNIT = "ncut-cs-t"


@pytest.fixture
def history(seeded):
    """Both campaigns driven through review: submitted, opinions, one returned and resubmitted,
    one rejected, the rest approved."""
    return seeded("approved")


def rows_of(html: str) -> list[int]:
    return [int(p) for p in re.findall(r'<tr id="event-(\d+)"', html)]


def text(response) -> str:
    return response.get_data(as_text=True)


def new_events(before: int) -> list[Event]:
    return list(log.iter_events(after=before))


# --- Reading a branch's history ----------------------------------------------------------------


def test_auditor_reads_a_general_branch_with_its_branches_in_chinese(history, as_user):
    auditor = as_user("auditor")
    response = auditor.get(f"/audit/units/{GB}/trail")
    assert response.status_code == 200
    page = text(response)
    assert "机电工程系党总支（含下属党支部）" in page
    # Its own and its branches' creation, accounts, submissions, opinions, the return and approval.
    for sentence in (
        "创建组织「机电工程系教工党支部」",
        "提交了机电工程系党总支的申报「匠心铸魂·机电先锋」（第 1 版）",
        "修改后重新提交了机电工程系教工党支部的申报「工匠党员工作室」（第 2 版）",
        "组织部 王老师 将「工匠党员工作室」退回修改：申报方案总体可行",
        "同意「匠心铸魂·机电先锋」立项",
    ):
        assert sentence in page, sentence
    positions = rows_of(page)
    assert positions == sorted(positions) and len(positions) == len(set(positions))
    # Nothing of another college, nor of another general branch.
    assert "计算机系教工党支部" not in page and "经济管理系" not in page
    # Beijing time shown, UTC kept: the demo submitted at 14:00 local = 06:00Z.
    assert 'datetime="2025-06-07T06:00:00.000000Z"' in page and "2025-06-07 14:00:00" in page
    assert "品牌设计" in page and "审核论证" in page  # the stage each event fell in


def test_every_declared_type_reads_as_a_sentence():
    names = trail.Names.__new__(trail.Names)
    names._users = {"org": "组织部 王老师"}
    names._units, names._projects, names._campaigns = {}, {}, {}
    names._comments, names._comment_streams, names._configs = {}, {"comments:p"}, {}
    samples = {str: "样例", int: 1, bool: False, dict: {}, list: [], float: 1.0}
    for name, et in CATALOGUE.items():
        payload = {}
        for field, spec in et.fields.items():
            kind = spec[0] if isinstance(spec, tuple) else spec
            payload[field] = samples.get(kind, "样例")
        event = Event(1, "e", "comments:p", 1, name, et.version, payload, "org",
                      "2025-06-10T02:00:00.000000Z", "0" * 64, "0" * 64)  # fmt: skip
        sentence = trail.describe(event, names)
        assert sentence and ("组织部 王老师" in sentence or "「" in sentence), (name, sentence)
    declared_now = {
        "OrgUnitCreated", "OrgUnitRenamed", "OrgUnitMoved", "AccountCreated",
        "AccountRolesChanged", "AccountDeactivated", "AccountReactivated", "PasswordChanged",
        "CheckpointWritten", "CampaignCreated", "CampaignStageRescheduled", "CampaignFormChanged",
        "CampaignSettingChanged", "DeadlineExtended", "ApplicationSubmitted",
        "UnitOpinionRecorded", "PaperCopyUploaded", "ReviewReturned", "ProjectApproved",
        "ProjectRejected", "CommentPosted", "CommentEdited", "CommentResolved",
        "CommentReopened", "ReminderSent", "DocumentDownloaded", "ExportMade",
    }  # fmt: skip
    assert declared_now <= set(trail.DESCRIBE)
    unknown = Event(1, "e", "x:y", 1, "SomethingLater", 1, {}, "org", "2025-06-10T02:00:00.000000Z",
                    "0" * 64, "0" * 64)  # fmt: skip
    assert trail.describe(unknown, names) == "组织部 王老师 SomethingLater"


def test_project_and_user_and_campaign_trails(history, as_user):
    auditor = as_user("auditor")
    project = text(auditor.get(f"/audit/projects/{RETURNED}/trail"))
    assert "退回修改" in project and "第 2 版" in project and "立项" in project
    assert "匠心铸魂" not in project  # only this project
    user = text(auditor.get("/audit/users/a-mb-jd-t/trail"))
    assert "创建账号 a-mb-jd-t" in user and "修改后重新提交了" in user
    assert "黄志明（书记） 填写" not in user  # someone else's doing
    campaign = text(auditor.get("/audit/campaigns/minbei-2025/trail"))
    assert "创建品牌创建活动「闽北职院2025年" in campaign
    assert "信息学院" not in re.sub(r"<option.*?</option>", "", campaign)


def test_filters_by_type_actor_dates_and_stage(history, as_user):
    auditor = as_user("auditor")
    url = f"/audit/units/{GB}/trail"
    returned = text(auditor.get(url + "?type=ReviewReturned"))
    assert len(rows_of(returned)) == 1 and "退回修改" in returned
    by_org = text(auditor.get(url + "?actor=org"))
    assert rows_of(by_org) and "林国栋" not in by_org.split("<tbody")[1]
    june = text(auditor.get(url + "?from=2025-06-07&to=2025-06-07"))
    assert rows_of(june) and all(
        "2025-06-07" in row for row in re.findall(r"<time[^>]*>([^<]*)</time>", june)
    )
    review = text(auditor.get(url + "?stage=minbei-2025:review"))
    apply_ = text(auditor.get(url + "?stage=minbei-2025:apply"))
    assert "退回修改" in review and "退回修改" not in apply_.split("<tbody")[1]
    assert "提交了机电工程系党总支的申报" in apply_
    assert not set(rows_of(review)) & set(rows_of(apply_))
    # htmx: the list alone
    fragment = text(auditor.get(url + "?type=ProjectApproved", htmx=True))
    assert "<html" not in fragment and 'id="trail"' in fragment


BAD_FILTERS = [
    ("from=2025-07-01&to=2025-06-01", "开始日期晚于结束日期"),
    ("from=2025-13-45", "开始日期格式不正确"),
    ("to=yesterday", "结束日期格式不正确"),
    ("type=ReviewReturned'%20OR%20'1'='1", "事件类型不存在"),
    ("type=x%3B%20DROP%20TABLE%20event", "事件类型不存在"),
    ("actor='%20OR%201=1%20--", "操作人账号格式不正确"),
    ("actor=org%22%3E%3Cscript%3E", "操作人账号格式不正确"),
    ("stage=minbei-2025:nope", "阶段不存在"),
    ("stage=ncut-info-2023:apply", "阶段不存在"),  # another committee's campaign
    ("after=99999999", "超出了日志头"),
    ("after=-3", "位置须为正整数"),
    ("after=1%20OR%201", "位置须为正整数"),
]


def test_bad_filters_get_clear_messages(history, as_user):
    auditor = as_user("auditor")
    before = log.head()
    for query, message in BAD_FILTERS:
        response = auditor.get(f"/audit/units/{GB}/trail?{query}")
        assert response.status_code == 400, query
        body = text(response)
        assert message in body and "<script>" not in body, query
        csv_response = auditor.get(f"/audit/units/{GB}/trail.csv?{query}")
        assert csv_response.status_code == 400 and message in text(csv_response), query
    assert log.head() == before  # nothing exported, nothing written
    assert db.fetchone("SELECT COUNT(*) FROM event")[0] == before[0]  # the table is still there


def test_load_more_pages_by_position(history, as_user):
    auditor = as_user("auditor")
    url = "/audit/campaigns/minbei-2025/trail"
    first = text(auditor.get(url))
    seen = rows_of(first)
    assert len(seen) == trail.PAGE
    more = (
        re.search(r'id="trail-more".*?hx-get="([^"]+)"', first, re.S).group(1).replace("&amp;", "&")
    )
    assert f"after={seen[-1]}" in more
    pages = 1
    while more:
        page = text(auditor.get(more, htmx=True))
        assert "<html" not in page and "<table" not in page
        positions = rows_of(page)
        assert positions and min(positions) > max(seen)
        seen += positions
        found = re.search(r'id="trail-more".*?hx-get="([^"]+)"', page, re.S)
        more = found.group(1).replace("&amp;", "&") if found else None
        pages += 1
    assert pages >= 2
    reader = trail.Reader(trail.campaign_scope("minbei-2025"), True)
    assert seen == [e.position for e in reader.events(trail.Filters())]


# --- One event -----------------------------------------------------------------------------------


def _position(type_, stream):
    return db.fetchone(
        "SELECT MAX(position) FROM event WHERE type = ? AND stream = ?", (type_, stream)
    )[0]


def test_permalink_payload_and_what_changed(history, as_user):
    auditor = as_user("auditor")
    resubmitted = _position("ApplicationSubmitted", f"project:{RETURNED}")
    page = text(auditor.get(f"/audit/events/{resubmitted}"))
    event = log.get(resubmitted)
    assert event.hash in page and event.prev_hash in page and event.event_id in page
    assert "何丽娟（品牌负责人）（a-mb-jd-t）" in page
    assert "与之前相比的变化" in page and "<del>" in page and "<ins>" in page
    assert "年度工作目标" in page and "（未修改）" in page
    payload = text(auditor.get(f"/audit/events/{resubmitted}/payload", htmx=True))
    assert "<html" not in payload and "&#34;revision&#34;: 2" in payload
    # A decision changes no document: its payload shows, no diff.
    approved = _position("ProjectApproved", f"project:{RETURNED}")
    plain = text(auditor.get(f"/audit/events/{approved}/payload", htmx=True))
    assert "与之前相比的变化" not in plain and "note" in plain


def test_position_beyond_the_head_is_a_clear_404(history, as_user):
    auditor = as_user("auditor")
    head = log.head()[0]
    response = auditor.get(f"/audit/events/{head + 10}")
    assert response.status_code == 404 and f"当前日志头为 {head}" in text(response)


def test_campaign_settings_changes_show_before_and_after(history, as_user):
    org = get_account("org")
    campaigns.change_setting(org, "minbei-2025", "late_policy", "flag", "允许逾期但需标注")
    config = campaigns.get("minbei-2025")
    form = [dict(f) for f in config["form"]]
    form[0]["label"] = "品牌负责人姓名"
    campaigns.change_form(org, "minbei-2025", form, "字段名称与通知附件一致")
    auditor = as_user("auditor")
    setting = _position("CampaignSettingChanged", "campaign:minbei-2025")
    page = text(auditor.get(f"/audit/events/{setting}"))
    assert "逾期处理方式" in page and "<del>" in page and "允许逾期提交并标注" in page
    changed = _position("CampaignFormChanged", "campaign:minbei-2025")
    page = text(auditor.get(f"/audit/events/{changed}"))
    assert "<ins>品牌</ins>" in page or "<ins>品牌负责人" in page
    trail_page = text(auditor.get("/audit/campaigns/minbei-2025/trail?type=CampaignFormChanged"))
    assert "修改了申报表字段" in trail_page and "字段名称与通知附件一致" in trail_page


# --- Who reads what ------------------------------------------------------------------------------


def _comment(actor_name, visibility, body):
    actor = get_account(actor_name)
    return comments.post(actor, GB_PROJECT, body, visibility=visibility, confirmed=True)


def test_internal_comments_for_auditors_not_for_the_unit(history, as_user):
    internal = _comment("org", "internal", "内部：该支部的经费安排需再核实。")
    shared = _comment("org", "unit", "请补充年度目标的量化指标。")
    auditor = text(as_user("auditor").get(f"/audit/projects/{GB_PROJECT}/trail"))
    assert "内部：该支部的经费安排需再核实" in auditor and "请补充年度目标的量化指标" in auditor
    assert "内部评论（仅组织部和评审专家可见）" in auditor
    secretary = as_user("s-mb-jd")
    unit_view = text(secretary.get(f"/audit/projects/{GB_PROJECT}/trail"))
    assert "请补充年度目标的量化指标" in unit_view
    assert "内部：该支部的经费安排" not in unit_view and "不含内部评论" in unit_view
    assert 'value="ExportMade"' not in unit_view  # audit types are not offered either
    assert secretary.get(f"/audit/events/{internal.position}").status_code == 403
    assert secretary.get(f"/audit/events/{internal.position}/payload").status_code == 403
    assert secretary.get(f"/audit/events/{shared.position}").status_code == 200
    # The unit does not see who audited it either.
    as_user("auditor").get(f"/projects/{GB_PROJECT}/application.pdf")
    unit_view = text(secretary.get(f"/audit/projects/{GB_PROJECT}/trail"))
    assert "下载了" not in unit_view


ACCESS = [
    ("s-mb-jd", f"/audit/units/{GB}/trail", 200),
    ("s-mb-jd", "/audit/units/mb-jd-t/trail", 200),  # a branch under the general branch
    ("s-mb-jd", f"/audit/units/{OTHER_UNIT}/trail", 403),  # another college's branch
    ("s-mb-jd", "/audit/units/mb-jg/trail", 403),  # another general branch
    ("s-mb-jd", "/audit/campaigns/minbei-2025/trail", 403),
    ("s-mb-jd", "/audit/users/a-mb-jd/trail", 403),
    ("s-mb-jd", f"/audit/projects/{GB_PROJECT}/as-of", 403),
    ("s-mb-jd", f"/audit/units/{GB}/bundle.zip", 403),
    ("a-mb-jd-t", "/audit/units/mb-jd-t/trail", 200),
    ("a-mb-jd-t", f"/audit/units/{GB}/trail", 403),  # the general branch above it
    ("a-mb-jd-t", f"/audit/projects/{GB_PROJECT}/trail", 403),
    ("a-ncut-cs-t", f"/audit/units/{GB}/trail", 403),
    ("a-ncut-cs-t", f"/audit/units/{OTHER_UNIT}/trail", 200),
    ("reviewer1", f"/audit/units/{GB}/trail", 403),
    ("reviewer1", "/audit", 403),
    ("auditor", "/audit/units/nowhere/trail", 404),
    ("auditor", "/audit/planets/x/trail", 404),
]


def test_who_may_open_which_trail(history, as_user):
    browsers = {}
    for username, url, status in ACCESS:
        browser = browsers.setdefault(username, as_user(username))
        before = log.head()
        response = browser.get(url)
        assert response.status_code == status, (username, url, response.status_code)
        if status == 403:
            assert "没有权限" in text(response) and log.head() == before


def test_an_applicant_reads_only_their_own_unit(history, as_user):
    page = text(as_user("a-mb-jd-t").get("/audit/units/mb-jd-t/trail"))
    assert "工匠党员工作室" in page and "匠心铸魂" not in page
    desk = text(as_user("a-mb-jd-t").get("/audit"))
    assert "本单位操作记录" in desk and "/audit/units/mb-jd-t/trail" in desk
    assert "/audit/units/mb-jd/trail" not in desk


def test_a_unit_member_may_not_look_up_users_by_url(history, as_user):
    response = as_user("s-mb-jd").get("/audit?user=org")
    assert response.status_code == 403


# --- Reads and exports logged --------------------------------------------------------------------


@pytest.mark.parametrize("username", ["auditor", "org"])
def test_document_downloads_by_auditors_and_organizers_are_logged(history, as_user, username):
    browser = as_user(username)
    before = log.head()[0]
    response = browser.get(f"/projects/{GB_PROJECT}/application.pdf")
    assert response.status_code == 200
    (event,) = new_events(before)
    assert event.type == "DocumentDownloaded" and event.actor == username
    assert event.stream == f"access:project:{GB_PROJECT}"
    assert event.payload["sha256"] == hashlib.sha256(response.data).hexdigest()
    assert event.payload["name"].endswith(".pdf") and event.payload["size"] == len(response.data)
    page = text(as_user("auditor").get(f"/audit/projects/{GB_PROJECT}/trail"))
    assert "下载了「申报表-" in page


def test_a_unit_members_own_download_is_not_an_audit_read(history, as_user):
    before = log.head()
    assert as_user("s-mb-jd").get(f"/projects/{GB_PROJECT}/application.pdf").status_code == 200
    assert log.head() == before


def test_csv_export_is_logged_and_safe_for_spreadsheets(history, as_user):
    org = get_account("org")
    campaigns.extend_deadline(org, "minbei-2025", "mb-jd-t", "apply", "2025-06-20 18:00",
                              "=HYPERLINK(\"http://x\")")  # fmt: skip
    auditor = as_user("auditor")
    before = log.head()[0]
    response = auditor.get(f"/audit/units/{GB}/trail.csv?type=DeadlineExtended")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert table[0] == trail.CSV_HEADER and len(table) == 2
    assert "'=HYPERLINK" not in table[1][7] and table[1][7].startswith("组织部")
    (event,) = new_events(before)
    assert event.type == "ExportMade" and event.payload["export"] == "csv"
    assert event.payload["sha256"] == hashlib.sha256(response.data).hexdigest()
    assert event.payload["filters"] == {"type": "DeadlineExtended"}
    assert event.payload["scope"] == f"unit:{GB}" and event.payload["events"] == 1
    formula = csv.reader(io.StringIO(trail.csv_text([log.get(before)], trail.Names())))
    assert next(formula) and next(formula)[7].startswith("组织部")


def test_audit_report_pdf_in_chinese_and_logged(history, as_user):
    from pypdf import PdfReader

    auditor = as_user("auditor")
    before = log.head()[0]
    response = auditor.get(f"/audit/projects/{RETURNED}/report.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    pdf = PdfReader(io.BytesIO(response.data))
    content = re.sub(r"\s+", "", "".join(p.extract_text() for p in pdf.pages))
    for expected in (
        "审计轨迹报告",
        "工匠党员工作室",
        "退回修改",
        "修改了：年度工作目标",
        "整条日志校验",
    ):
        assert expected in content, expected
    (event,) = new_events(before)
    assert event.type == "ExportMade" and event.payload["export"] == "pdf"


def test_cli_export_pdf_audit(history, tmp_path):
    out = tmp_path / "audit.pdf"
    before = log.head()[0]
    result = history.test_cli_runner().invoke(
        args=[
            "export-pdf",
            "audit",
            "--campaign",
            "minbei-2025",
            "--project",
            RETURNED,
            "-o",
            str(out),
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    (event,) = new_events(before)
    assert event.type == "ExportMade" and event.actor == "system"
    wrong = history.test_cli_runner().invoke(
        args=[
            "export-pdf",
            "audit",
            "--campaign",
            "ncut-info-2023",
            "--project",
            RETURNED,
            "-o",
            str(out),
        ]  # fmt: skip
    )
    assert wrong.exit_code != 0 and "不属于" in wrong.output


# --- The integrity page --------------------------------------------------------------------------


def _run_verification(browser) -> str:
    started = text(browser.get("/audit/integrity/verify", htmx=True))
    assert "<html" not in started
    job = re.search(r"/audit/integrity/jobs/([0-9a-f]+)", started)
    body = started
    deadline = time.time() + 30
    while job and 'hx-trigger="every 500ms"' in body and time.time() < deadline:
        time.sleep(0.05)
        body = text(browser.get(f"/audit/integrity/jobs/{job.group(1)}", htmx=True))
    return body


def test_integrity_page_verifies_in_the_background_and_names_a_break(history, as_user):
    auditor = as_user("auditor")
    page = text(auditor.get("/audit/integrity"))
    assert "日志头：位置" in page and "还没有检查点" in page and "签署检查点" not in page
    done = _run_verification(auditor)
    assert "校验通过" in done and str(log.head()[0]) in done
    schema.drop_triggers()
    db.execute("UPDATE event SET payload = ? WHERE position = 40", ('{"forged":true}',))
    broken = _run_verification(auditor)
    assert "校验失败：第一个异常位置 40" in broken


def test_checkpoints_written_listed_and_extended(history, as_user):
    org = as_user("org")
    before = log.head()
    written = org.post("/audit/integrity/checkpoint", htmx=True)
    assert written.status_code == 200 and f"已签署检查点：位置 {before[0]}" in text(written)
    assert log.get(before[0] + 1).type == "CheckpointWritten"
    result = history.test_cli_runner().invoke(args=["checkpoint"])  # what the daily cron runs
    assert result.exit_code == 0, result.output
    page = text(as_user("auditor").get("/audit/integrity"))
    assert page.count('class="tag ok">有效') == 2 and "还没有检查点" not in page
    listed = checkpoint.recent(checkpoint.directory(history), checkpoint.load_key(
        history.config["CHECKPOINT_KEY_FILE"]))  # fmt: skip
    assert [c["cp"]["position"] for c in listed] == [before[0] + 1, before[0]]
    assert all(c["valid"] and c["extended"] for c in listed)
    # The full verification checks them too.
    assert "核对了 2 个签名有效的检查点" in _run_verification(as_user("auditor"))


def test_write_now_is_the_function_certification_calls(history):
    with history.app_context():
        cp = checkpoint.write_now("org")
    assert cp["position"] == log.head()[0] - 1
    assert log.get(log.head()[0]).payload["file"].startswith("checkpoint-")


def test_a_committee_organizer_reads_only_their_committee(history, as_user):
    from workflow.authz import SYSTEM
    from workflow.commands import accounts

    accounts.create_user(SYSTEM, "org-ncut", "信息学院组织员", ["organizer"], "ncut-info",
                         DEMO_PASSWORD)  # fmt: skip
    browser = as_user("org-ncut")
    assert browser.get(f"/audit/units/{OTHER_UNIT}/trail").status_code == 200
    assert browser.get(f"/audit/units/{GB}/trail").status_code == 403
    assert browser.get("/audit/campaigns/minbei-2025/trail").status_code == 403
    minbei = _position("ProjectApproved", f"project:{GB_PROJECT}")
    ncut = db.fetchone(
        "SELECT MIN(position) FROM event WHERE stream LIKE ?", ("project:ncut-info-2023.%",)
    )[0]
    assert browser.get(f"/audit/events/{minbei}").status_code == 403
    assert browser.get(f"/audit/events/{ncut}").status_code == 200
