"""The application stage (组织申报 / 品牌设计) of both notices, through HTTP first.

Campaign windows are the notices' real dates (2023, 2025) while web requests use the real clock,
so HTTP tests move the apply stage around "now" the way the organizer would (reschedule). Pure
rules (deadlines to the minute, character counting) are checked on the commands with `now=`.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from workflow import db, deadlines, log
from workflow.commands import applications, campaigns
from workflow.demo import ORGANIZER
from workflow.demo.content import fields_for
from workflow.demo.units import PEOPLE
from workflow.errors import DomainError, Forbidden

NCUT, MINBEI = "ncut-info-2023", "minbei-2025"
FEATURE, BRAND = "branch_feature", "dept_brand"
LAYOUTS = {NCUT: "ncut-2023", MINBEI: "minbei-2025"}
HAS_PDF_RENDERER = importlib.util.find_spec("workflow.documents.application") is not None
TZ = ZoneInfo("Asia/Shanghai")


# --- helpers -------------------------------------------------------------------------------


def local(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def set_apply_window(slug: str, opens: timedelta, due: timedelta) -> None:
    """Move the apply stage relative to the real clock, as the organizer would."""
    now = datetime.now(UTC)
    campaigns.reschedule_stage(
        ORGANIZER, slug, "apply", local(now + opens), local(now + due), "测试：调整申报时间"
    )


@pytest.fixture
def open_apply(demo):
    """Both campaigns with the apply window open now (opened yesterday, due tomorrow)."""
    for slug in (NCUT, MINBEI):
        set_apply_window(slug, -timedelta(days=1), timedelta(days=1))
    return demo


def pid_of(slug, unit, category=FEATURE):
    return applications.project_id(slug, unit, category)


def values_for(slug: str, unit: str, **override) -> dict:
    name = db.fetchone("SELECT name FROM org_unit WHERE code = ?", (unit,))[0]
    values = fields_for(LAYOUTS[slug], name, unit, PEOPLE[unit][1])
    values.update(override)
    return values


def apply_url(slug, category=FEATURE):
    return f"/campaigns/{slug}/apply/{category}"


def text(response) -> str:
    return response.get_data(as_text=True)


def submission_id(page: str) -> str:
    return re.search(r'name="submission_id"[^>]*value="([^"]+)"', page).group(1)


def submit(b, slug, unit, category=FEATURE, sid=None, htmx=False, **override):
    """Open the form like a browser (for its submission id and CSRF token) and submit it."""
    page = b.get(apply_url(slug, category))
    assert page.status_code == 200, text(page)
    data = values_for(slug, unit, **override)
    data["submission_id"] = sid or submission_id(text(page))
    return b.post(apply_url(slug, category), data, htmx=htmx)


def version_on(page: str) -> str:
    return re.search(r'name="version"[^>]*value="(\d+)"', page).group(1)


def opinion(b, pid, decision="agree", reason="同意申报。品牌定位准确、措施可行。", signer="王建国",
            version=None, htmx=False):  # fmt: skip
    page = b.get(f"/projects/{pid}")
    assert page.status_code == 200, text(page)
    if version is None:
        version = version_on(text(page))
    data = {"decision": decision, "text": reason, "signer": signer, "signed_on": "2025-06-15",
            "version": version}  # fmt: skip
    return b.post(f"/projects/{pid}/opinion", data, htmx=htmx)


def state(pid) -> str:
    return applications.get_project(pid)["state"]


def png_bytes(size=(8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def upload(b, pid, data: bytes, name: str, level="branch"):
    return b.post(
        f"/projects/{pid}/paper-copy",
        {"level": level, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def refused(response, status, *phrases):
    body = text(response)
    assert response.status_code == status, (response.status_code, body[:2000])
    for phrase in phrases:
        assert phrase in body, (phrase, body[:3000])


# --- happy paths ---------------------------------------------------------------------------


def test_ncut_happy_path(open_apply, as_user):
    applicant, secretary = as_user("a-ncut-cs-t"), as_user("s-ncut-cs-t")
    pid = pid_of(NCUT, "ncut-cs-t")
    before = log.head()[0]
    response = submit(applicant, NCUT, "ncut-cs-t")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/projects/{pid}")
    assert log.head()[0] == before + 1
    project = applications.get_project(pid)
    assert project["state"] == "submitted" and project["revision"] == 1 and not project["late"]
    event = log.get(before + 1)
    assert event.type == "ApplicationSubmitted" and event.actor == "a-ncut-cs-t"
    assert event.payload["fields"]["brand_name"] == "“码”上先锋"

    page = text(applicant.get(f"/projects/{pid}"))
    assert "“码”上先锋" in page and "已提交（待单位意见）" in page
    assert "等待计算机系教工党支部的党支部意见。" in page
    assert 'name="version"' not in page  # the applicant gets no opinion form

    assert "请您填写党支部意见" in text(secretary.get(f"/projects/{pid}"))
    response = opinion(secretary, pid, htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/projects/{pid}"
    assert state(pid) == "under_review"
    page = text(applicant.get(f"/projects/{pid}"))
    assert "组织部审核中" in page and "单位意见已齐全，等待党委组织部审核。" in page
    assert "同意申报。品牌定位准确、措施可行。" in page and "王建国" in page


def test_minbei_happy_path_branch_then_general_branch(open_apply, as_user):
    pid = pid_of(MINBEI, "mb-jd-t")
    response = submit(as_user("a-mb-jd-t"), MINBEI, "mb-jd-t", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/projects/{pid}"
    project = applications.get_project(pid)
    assert project["state"] == "submitted"
    assert [s["level"] for s in project["pending_approvals"]] == ["branch", "general_branch"]

    applicant = as_user("a-mb-jd-t")
    assert "等待机电工程系教工党支部的党支部意见。" in text(applicant.get(f"/projects/{pid}"))
    assert opinion(as_user("s-mb-jd-t"), pid, signer="许文斌").status_code == 302
    assert state(pid) == "submitted"  # still needs the general branch
    assert "等待机电工程系党总支的党总支意见。" in text(applicant.get(f"/projects/{pid}"))
    general = as_user("s-mb-jd")
    assert "请您填写党总支意见" in text(general.get(f"/projects/{pid}"))
    assert opinion(general, pid, signer="黄志明").status_code == 302
    assert state(pid) == "under_review"
    page = text(applicant.get(f"/projects/{pid}"))
    assert "单位意见已齐全，等待党委组织部审核。" in page
    assert "党支部意见" in page and "党总支意见" in page and "黄志明" in page and "许文斌" in page
    levels = [r[0] for r in db.fetchall(
        "SELECT level FROM unit_opinion WHERE project = ? ORDER BY position", (pid,))]  # fmt: skip
    assert levels == ["branch", "general_branch"]


@pytest.mark.parametrize(
    "unit,category", [("mb-jd", BRAND), ("mb-ts", FEATURE)], ids=["general-branch", "direct"]
)
def test_minbei_one_step_chains(open_apply, as_user, unit, category):
    """A general branch's 一系一品牌 needs its own opinion only; a 直属党支部 only the branch's."""
    pid = pid_of(MINBEI, unit, category)
    assert submit(as_user(f"a-{unit}"), MINBEI, unit, category).status_code == 302
    assert [s["unit"] for s in applications.get_project(pid)["pending_approvals"]] == [unit]
    assert opinion(as_user(f"s-{unit}"), pid).status_code == 302
    assert state(pid) == "under_review"


@pytest.mark.skipif(
    not HAS_PDF_RENDERER, reason="workflow/documents/application.py not written yet"
)
@pytest.mark.parametrize("slug,unit", [(NCUT, "ncut-cs-t"), (MINBEI, "mb-jd-t")])
def test_application_pdf_downloads(open_apply, as_user, slug, unit):
    applicant = as_user(f"a-{unit}")
    assert submit(applicant, slug, unit).status_code == 302
    response = applicant.get(f"/projects/{pid_of(slug, unit)}/application.pdf")
    assert response.status_code == 200, text(response)[:500]
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")


# --- bad input on the form -----------------------------------------------------------------


def test_missing_required_field(open_apply, as_user):
    b = as_user("a-ncut-cs-t")
    before = log.head()
    response = submit(b, NCUT, "ncut-cs-t", brand_name="  ", lead="")
    refused(
        response,
        400,
        "请修改标出的内容后再提交。",
        "请填写“品牌名称”。",
        "请填写“品牌实施负责人”。",
    )
    assert "计算机系教工党支部" in text(response)  # what was typed is kept
    assert log.head() == before and applications.get_project(pid_of(NCUT, "ncut-cs-t")) is None


# brand_name: at most 30 characters in both notices' forms.
CHINESE_30 = "党" * 30
MIXED_30 = "红色AB😀" * 6  # 30 characters, 72 UTF-8 bytes, 36 UTF-16 units


@pytest.mark.parametrize("brand", [CHINESE_30, MIXED_30], ids=["chinese", "mixed-emoji"])
def test_length_limit_counts_characters_not_bytes(open_apply, as_user, brand):
    assert len(brand) == 30 and len(brand.encode()) > 30
    b = as_user("a-mb-jd-t")
    before = log.head()
    response = submit(b, MINBEI, "mb-jd-t", brand_name=brand + "党")
    refused(response, 400, "“品牌名称”最多 30 字，当前 31 字，请删减 1 字。")
    assert brand + "党" in text(response)
    assert log.head() == before
    response = submit(b, MINBEI, "mb-jd-t", brand_name=brand)
    assert response.status_code == 302, text(response)
    assert applications.get_project(pid_of(MINBEI, "mb-jd-t"))["brand_name"] == brand


def test_multiline_limit_counts_a_browser_line_break_as_one_character(open_apply, as_user):
    """Browsers send CRLF from a textarea; the limit counts it as one character, like the counter."""
    body = ("党建引领😀A\n" * 166) + "党建引领"  # 166 * 7 + 4 = 1166 > 1000
    body = body[:1000]
    assert len(body) == 1000 and not body.endswith("\n")
    b = as_user("a-ncut-cs-t")
    before = log.head()
    response = submit(b, NCUT, "ncut-cs-t", intro=(body + "多").replace("\n", "\r\n"))
    refused(response, 400, "“品牌简介”最多 1000 字，当前 1001 字")
    assert log.head() == before
    response = submit(b, NCUT, "ncut-cs-t", intro=body.replace("\n", "\r\n"))
    assert response.status_code == 302, text(response)[:3000]
    stored = db.fetchone("SELECT fields FROM project_revision WHERE project = ?",
                         (pid_of(NCUT, "ncut-cs-t"),))[0]  # fmt: skip
    assert "\\r" not in stored and "\r" not in stored


def test_clean_fields_counts_code_points(demo):
    form = [{"key": "k", "label": "品牌名称", "required": True, "max_length": 5, "multiline": False,
             "help": ""}]  # fmt: skip
    assert applications.clean_fields(form, {"k": "党A😀 建"}) == {"k": "党A😀 建"}
    assert applications.clean_fields(form, {"k": "  党\tA  😀  "}) == {"k": "党 A 😀"}
    with pytest.raises(applications.FormErrors) as exc:
        applications.clean_fields(form, {"k": "党A😀b建设"})
    assert exc.value.errors == {"k": "“品牌名称”最多 5 字，当前 6 字，请删减 1 字。"}
    with pytest.raises(applications.FormErrors) as exc:
        applications.clean_fields(form, {"k": " \n "})
    assert exc.value.errors == {"k": "请填写“品牌名称”。"}


@pytest.mark.parametrize(
    "user,slug,category,status,message",
    [
        ("a-mb-jd-t", MINBEI, BRAND, 400, "“一系一品牌”只能由党总支申报，机电工程系教工党支部是党支部。"),
        ("a-mb-jd", MINBEI, FEATURE, 400, "“一支部一特色”只能由党支部申报，机电工程系党总支是党总支。"),
        ("a-ncut-cs-t", NCUT, BRAND, 400, "该创建活动没有这个创建类型。"),
        ("a-ncut-cs-t", MINBEI, FEATURE, 403, "本单位不在该创建活动的范围内。"),
        ("s-mb-jd-t", MINBEI, FEATURE, 403, "没有权限"),
        ("auditor", MINBEI, FEATURE, 403, "没有权限"),
    ],
    ids=["branch-dept-brand", "general-branch-feature", "no-such-category", "other-college",
         "secretary", "auditor"],
)  # fmt: skip
def test_wrong_category_or_role_cannot_apply(open_apply, as_user, user, slug, category, status,
                                             message):  # fmt: skip
    b = as_user(user)
    before = log.head()
    refused(b.get(apply_url(slug, category)), status, message)
    data = {"brand_name": "测试品牌", "submission_id": "6f1c1f5e-0000-4000-8000-000000000001"}
    refused(b.post(apply_url(slug, category), data), status, message)
    refused(b.post(apply_url(slug, category) + "/draft", data, htmx=True), status, message)
    assert log.head() == before
    assert db.fetchone("SELECT COUNT(*) FROM application_draft")[0] == 0


def test_second_project_for_the_same_unit_and_category(open_apply, as_user):
    b = as_user("a-ncut-cs-t")
    assert submit(b, NCUT, "ncut-cs-t").status_code == 302
    before = log.head()
    page = b.get(apply_url(NCUT))
    assert page.status_code == 200 and "本单位已提交申报（当前状态：已提交（待单位意见））" in text(
        page
    )
    assert 'name="submission_id"' not in text(page)  # no form to submit again
    response = b.post(apply_url(NCUT), {**values_for(NCUT, "ncut-cs-t", brand_name="另一个品牌"),
                                        "submission_id": str(uuid.uuid4())})  # fmt: skip
    refused(response, 400, "项目当前状态为“已提交（待单位意见）”，不能提交申报。")
    assert log.head() == before
    assert db.fetchone("SELECT COUNT(*) FROM project")[0] == 1


def test_double_click_appends_once(open_apply, as_user):
    b = as_user("a-ncut-cs-t")
    page = text(b.get(apply_url(NCUT)))
    sid = submission_id(page)
    data = {**values_for(NCUT, "ncut-cs-t"), "submission_id": sid}
    before = log.head()[0]
    first = b.post(apply_url(NCUT), data, htmx=True)
    second = b.post(apply_url(NCUT), data, htmx=True)
    third = b.post(apply_url(NCUT), data)
    assert first.status_code == second.status_code == 204
    assert third.status_code == 302
    assert log.head()[0] == before + 1
    assert log.find(sid).type == "ApplicationSubmitted"
    assert applications.get_project(pid_of(NCUT, "ncut-cs-t"))["revision"] == 1


def test_submission_id_of_another_units_event_is_not_taken_as_this_submission(open_apply, as_user):
    assert submit(as_user("a-ncut-cs-t"), NCUT, "ncut-cs-t").status_code == 302
    before = log.head()
    taken = log.get(before[0]).event_id
    b = as_user("a-ncut-ee-t")
    response = submit(b, NCUT, "ncut-ee-t", sid=taken)
    refused(response, 400, "本次提交的编号无效，请重新提交。")
    assert log.head() == before and applications.get_project(pid_of(NCUT, "ncut-ee-t")) is None
    fresh = submission_id(text(response))  # the form comes back with a new id: resubmitting works
    assert fresh != taken
    response = b.post(apply_url(NCUT), {**values_for(NCUT, "ncut-ee-t"), "submission_id": fresh})
    assert response.status_code == 302
    assert applications.get_project(pid_of(NCUT, "ncut-ee-t"))["state"] == "submitted"


# --- deadlines -----------------------------------------------------------------------------


def test_minbei_refuses_after_the_deadline(demo, as_user):
    set_apply_window(MINBEI, -timedelta(days=3), -timedelta(hours=1))
    config = campaigns.get(MINBEI)
    due = deadlines.show(deadlines.parse_local(config["stages"][0]["due"]))
    b = as_user("a-mb-jd-t")
    page = b.get(apply_url(MINBEI))
    assert page.status_code == 200 and due in text(page) and "不予受理" in text(page)
    before = log.head()
    response = submit(b, MINBEI, "mb-jd-t")
    refused(
        response, 400, f"“品牌设计”阶段已于 {due} 截止，不能再提交申报。如需延期，请联系组织部。"
    )
    assert log.head() == before


def test_ncut_accepts_late_and_flags_it(demo, as_user):
    set_apply_window(NCUT, -timedelta(days=3), -timedelta(hours=1))
    b = as_user("a-ncut-cs-t")
    assert "可提交，但标记为逾期" in text(b.get(apply_url(NCUT)))
    assert submit(b, NCUT, "ncut-cs-t").status_code == 302
    pid = pid_of(NCUT, "ncut-cs-t")
    assert applications.get_project(pid)["late"]
    assert "逾期提交" in text(b.get(f"/projects/{pid}"))
    assert "逾期提交" in text(as_user("org").get(f"/projects/{pid}"))


def test_apply_before_the_window_opens(demo, as_user):
    set_apply_window(NCUT, timedelta(days=1), timedelta(days=3))
    before = log.head()
    refused(submit(as_user("a-ncut-cs-t"), NCUT, "ncut-cs-t"), 400, "“组织申报”阶段尚未开始")
    assert log.head() == before


def at(text_: str) -> datetime:
    return deadlines.parse_local(text_)


def test_deadline_rules_to_the_minute(demo):
    """The notices' real dates: minbei due 2025-06-16 18:00 (refuse), ncut 2023-04-15 17:00 (flag)."""
    from workflow.commands.accounts import get_account

    def go(slug, unit, when, category=FEATURE):
        actor = get_account(f"a-{unit}")
        return applications.submit(actor, slug, category, values_for(slug, unit),
                                   str(uuid.uuid4()),
                                   now=at(when))  # fmt: skip

    with pytest.raises(DomainError, match="尚未开始（2025年06月06日 09:00 开始）"):
        go(MINBEI, "mb-jd-t", "2025-06-06 08:59")
    with pytest.raises(DomainError, match="已于 2025年06月16日 18:00 截止"):
        go(MINBEI, "mb-jd-s", "2025-06-16 18:01")
    assert go(MINBEI, "mb-jd-t", "2025-06-16 18:00").payload["late"] is False
    # an extension for one unit lets it submit, not late, until the new due time
    campaigns.extend_deadline(ORGANIZER, MINBEI, "mb-jd-s", "apply", "2025-06-20 18:00", "病假")
    assert go(MINBEI, "mb-jd-s", "2025-06-20 17:59").payload["late"] is False
    with pytest.raises(DomainError, match="已于 2025年06月16日 18:00 截止"):
        go(MINBEI, "mb-xx-s", "2025-06-16 18:01")  # the extension was for mb-jd-s only
    # ncut flags instead of refusing
    assert go(NCUT, "ncut-cs-t", "2023-04-15 17:00").payload["late"] is False
    assert go(NCUT, "ncut-ee-t", "2023-04-15 17:01").payload["late"] is True
    assert applications.get_project(pid_of(NCUT, "ncut-ee-t"))["late"] == 1


# --- opinions: who, when, and what happens ------------------------------------------------


def submitted(as_user, slug, unit, category=FEATURE):
    response = submit(as_user(f"a-{unit}"), slug, unit, category)
    assert response.status_code == 302, text(response)
    return pid_of(slug, unit, category)


@pytest.mark.parametrize(
    "user,message",
    [
        ("s-mb-xx-t", "您只能查看本单位的项目。"),  # another general branch's branch
        ("s-mb-jd-s", "您只能查看本单位的项目。"),  # a sibling branch
        ("s-mb-jd", "该申报正等待党支部意见，您不是该单位的书记。"),  # before its turn
        ("a-mb-jd-t", "没有权限"),  # the applicant
        ("auditor", "没有权限"),
        ("org", "没有权限"),
    ],
)
def test_opinion_refused_to_others_and_before_their_turn(open_apply, as_user, user, message):
    pid = submitted(as_user, MINBEI, "mb-jd-t")
    version = str(log.stream_version(applications.stream(pid)))
    b = as_user(user)
    before = log.head()
    data = {"decision": "agree", "text": "同意。", "signer": "某某", "signed_on": "2025-06-15",
            "version": version}  # fmt: skip
    refused(b.post(f"/projects/{pid}/opinion", data), 403, message)
    refused(b.post(f"/projects/{pid}/opinion", data, htmx=True), 403, message)
    assert log.head() == before and state(pid) == "submitted"


def test_auditor_reads_but_cannot_write(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    auditor = as_user("auditor")
    page = auditor.get(f"/projects/{pid}")
    assert page.status_code == 200 and "“码”上先锋" in text(page)
    assert 'name="version"' not in text(page) and "paper-copy" not in text(page)
    before = log.head()
    refused(upload(auditor, pid, png_bytes(), "scan.png"), 403, "没有权限")
    assert log.head() == before


def test_other_units_applicant_cannot_see_a_project(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    for user in ("a-ncut-ee-t", "s-ncut-ee-t", "a-mb-jd-t", "reviewer1"):
        b = as_user(user)
        refused(b.get(f"/projects/{pid}"), 403, "您只能查看本单位的项目。")
        fragment = b.get(f"/projects/{pid}", htmx=True)
        assert fragment.status_code == 403 and "<html" not in text(fragment)
    refused(as_user("org").get("/projects/ncut-info-2023.nobody.branch_feature"), 404, "项目不存在")


def test_opinion_form_errors(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    b = as_user("s-ncut-cs-t")
    before = log.head()
    response = opinion(b, pid, decision="return", reason="  ", signer="", htmx=True)
    refused(response, 400, "请填写意见；退回时请写明原因。", "请填写签字人姓名")
    assert "<html" not in text(response)
    response = opinion(b, pid, decision="maybe")
    refused(response, 400, "请选择“同意”或“退回修改”。")
    response = opinion(b, pid, reason="意" * 1001)
    refused(response, 400, "意见最多 1000 字，当前 1001 字。")
    assert log.head() == before and state(pid) == "submitted"


def test_return_then_resubmit_starts_the_chain_again(open_apply, as_user):
    pid = submitted(as_user, MINBEI, "mb-jd-t")
    assert opinion(as_user("s-mb-jd-t"), pid).status_code == 302
    reason = "请补充年度工作目标的量化指标，并写明经费来源。"
    assert opinion(as_user("s-mb-jd"), pid, decision="return", reason=reason).status_code == 302
    project = applications.get_project(pid)
    assert project["state"] == "returned" and project["returned_reason"] == reason

    applicant = as_user("a-mb-jd-t")
    page = text(applicant.get(f"/projects/{pid}"))
    assert "退回修改" in page and reason in page and "请根据退回意见修改后重新提交" in page
    form = text(applicant.get(apply_url(MINBEI)))
    assert reason in form and "工匠党员工作室" in form  # prefilled with revision 1

    response = submit(
        applicant, MINBEI, "mb-jd-t", plan_annual="2025 年建成工作室 1 个，经费 2 万元。"
    )
    assert response.status_code == 302, text(response)
    project = applications.get_project(pid)
    assert project["revision"] == 2 and project["state"] == "submitted"
    assert project["returned_reason"] is None
    assert [s["level"] for s in project["pending_approvals"]] == ["branch", "general_branch"]
    # the general branch waits for the branch again
    current = log.stream_version(applications.stream(pid))
    refused(opinion(as_user("s-mb-jd"), pid, version=current), 403, "该申报正等待党支部意见")
    assert opinion(as_user("s-mb-jd-t"), pid).status_code == 302
    assert opinion(as_user("s-mb-jd"), pid).status_code == 302
    assert state(pid) == "under_review"
    revisions = db.fetchall(
        "SELECT revision FROM unit_opinion WHERE project = ? ORDER BY position", (pid,))  # fmt: skip
    assert [r[0] for r in revisions] == [1, 1, 2, 2]
    assert "第 2 版" in text(applicant.get(f"/projects/{pid}"))


def test_stale_opinion_is_a_conflict_showing_the_new_state(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    secretary = as_user("s-ncut-cs-t")
    stale = version_on(text(secretary.get(f"/projects/{pid}")))
    # meanwhile the applicant uploads the signed scan: the stream moves on
    assert upload(as_user("a-ncut-cs-t"), pid, png_bytes(), "扫描件.png").status_code == 302
    before = log.head()
    response = opinion(secretary, pid, reason="同意。", version=stale, htmx=True)
    refused(response, 409, "这份申报已有新的变化", "意见未保存", "扫描件.png")  # the new state
    assert response.headers["HX-Retarget"] == "#project"
    assert log.head() == before and state(pid) == "submitted"
    fresh = version_on(text(response))  # the page carries the new version and keeps the text
    assert int(fresh) == int(stale) + 1, text(response)
    assert "同意。</textarea>" in text(response)
    assert opinion(secretary, pid, version=fresh).status_code == 302
    assert state(pid) == "under_review"


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,name,message",
    [
        (png_bytes(), "scan.pdf", "文件扩展名 .pdf 与其实际内容（PNG）不符。"),
        ("这是一份文本文件".encode(), "scan.png", "文件内容不是允许的格式（PDF、JPEG、PNG）。"),
        (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "big.pdf", "文件超过 10 MB 的大小限制。"),
        (b"", "empty.pdf", "上传的文件是空的。"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "broken.png", "图片文件已损坏"),
        (b"%PDF-1.4\n1 0 obj", "cut.pdf", "PDF 文件不完整。"),
    ],
    ids=["png-named-pdf", "text-named-png", "over-10mb", "empty", "broken-png", "truncated-pdf"],
)
def test_bad_uploads_are_refused(open_apply, as_user, data, name, message):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    b = as_user("a-ncut-cs-t")
    b.get(f"/projects/{pid}")
    before = log.head()
    refused(upload(b, pid, data, name), 400, message)
    assert log.head() == before
    assert db.fetchone("SELECT COUNT(*) FROM paper_copy")[0] == 0


def test_upload_needs_a_file_and_a_level_of_this_campaign(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    b = as_user("a-ncut-cs-t")
    before = log.head()
    refused(
        b.post(f"/projects/{pid}/paper-copy", {"level": "branch"}), 400, "请选择要上传的扫描件。"
    )
    refused(
        upload(b, pid, png_bytes(), "a.png", level="general_branch"), 400, "请选择扫描件对应的意见"
    )
    refused(upload(b, pid, png_bytes(), "a.png", level="x"), 400, "请选择扫描件对应的意见")
    assert log.head() == before


@pytest.mark.parametrize("name,stored", [
    ("../../../etc/扫描件.png", "扫描件.png"),
    # Werkzeug reads a multipart filename as a quoted string, so backslashes never arrive as such
    ("..\\..\\windows\\scan.png", "windowsscan.png"),
    ("/abs/path/\x07evil\x1b.png", "evil.png"),
    ("../..", "未命名文件"),
])  # fmt: skip
def test_path_traversal_names_are_sanitized(open_apply, as_user, tmp_path, name, stored):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    data = png_bytes()
    response = upload(as_user("a-ncut-cs-t"), pid, data, name)
    assert response.status_code == 302, text(response)
    row = db.fetchone("SELECT name, sha256 FROM paper_copy WHERE project = ?", (pid,))
    assert row[0] == stored and "/" not in row[0] and "\\" not in row[0]
    sha = row[1]
    assert os.path.exists(tmp_path / "uploads" / sha[:2] / sha[2:4] / sha)
    assert not (tmp_path / "etc").exists() and not (tmp_path / "abs").exists()


def test_safe_name_keeps_no_directories():
    from workflow.files import safe_name

    assert safe_name("..\\..\\windows\\scan.png") == "scan.png"
    assert safe_name("C:\\fakepath\\申报表.pdf") == "申报表.pdf"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("a\x00b\nc.png") == "abc.png"
    assert safe_name("..") == "未命名文件" and safe_name("") == "未命名文件"
    assert len(safe_name("长" * 300 + ".png")) == 100


@pytest.mark.parametrize("data,name,mime", [(png_bytes(), "支部意见.png", "image/png"),
                                            (PDF_BYTES, "申报表签字版.pdf", "application/pdf")])  # fmt: skip
def test_valid_scan_is_stored_content_addressed_and_downloadable(
    open_apply, as_user, demo, data, name, mime
):
    import hashlib

    pid = submitted(as_user, NCUT, "ncut-cs-t")
    other = submitted(as_user, NCUT, "ncut-ee-t")
    b = as_user("a-ncut-cs-t")
    before = log.head()[0]
    assert upload(b, pid, data, name).status_code == 302
    assert log.head()[0] == before + 1
    event = log.get(before + 1)
    sha = hashlib.sha256(data).hexdigest()
    assert event.type == "PaperCopyUploaded"
    assert event.payload["file"] == {"sha256": sha, "name": name, "mime": mime, "size": len(data)}
    path = os.path.join(demo.config["UPLOAD_DIR"], sha[:2], sha[2:4], sha)
    with open(path, "rb") as fh:
        assert fh.read() == data

    url = f"/projects/{pid}/files/{sha}"
    assert url in text(b.get(f"/projects/{pid}"))
    for user in ("a-ncut-cs-t", "s-ncut-cs-t", "org", "auditor"):
        response = as_user(user).get(url)
        assert response.status_code == 200 and response.data == data and response.mimetype == mime
        assert response.headers["Content-Disposition"].startswith("attachment;")
    refused(as_user("a-ncut-ee-t").get(url), 403, "您只能查看本单位的项目。")
    # a file is reachable only through the project it belongs to, never by hash alone
    refused(as_user("a-ncut-ee-t").get(f"/projects/{other}/files/{sha}"), 404)
    refused(b.get(f"/projects/{pid}/files/{'0' * 64}"), 404)
    refused(b.get(f"/projects/{pid}/files/..%2f..%2fsecret"), 404)

    # the same content again is stored once and recorded again
    assert upload(as_user("s-ncut-cs-t"), pid, data, "again" + name[-4:]).status_code == 302
    assert db.fetchone("SELECT COUNT(*) FROM paper_copy")[0] == 2


# --- drafts --------------------------------------------------------------------------------


def test_drafts_autosave_outside_the_log_and_prefill(open_apply, as_user):
    b = as_user("a-mb-jd-t")
    b.get(apply_url(MINBEI))
    before = log.head()
    long_intro = "草" * 1200  # over the limit: a draft keeps whatever was typed
    response = b.post(apply_url(MINBEI) + "/draft",
                      {"brand_name": "草稿里的品牌", "intro": long_intro, "unknown": "x"}, htmx=True)  # fmt: skip
    assert response.status_code == 200 and "草稿已自动保存" in text(response)
    assert "<html" not in text(response)
    assert log.head() == before
    page = text(b.get(apply_url(MINBEI)))
    assert 'value="草稿里的品牌"' in page and long_intro in page
    # another unit does not see it
    assert "草稿里的品牌" not in text(as_user("a-mb-jd-s").get(apply_url(MINBEI)))
    # submitting clears the draft; nothing of the draft ever reached the log
    assert submit(b, MINBEI, "mb-jd-t").status_code == 302
    assert db.fetchone("SELECT COUNT(*) FROM application_draft")[0] == 0
    assert all("草稿里的品牌" not in str(e.payload) for e in log.iter_events())


# --- the organizer's overview --------------------------------------------------------------


def test_overview_counts_and_csv(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    assert opinion(as_user("s-ncut-cs-t"), pid).status_code == 302
    submit(as_user("a-ncut-ee-t"), NCUT, "ncut-ee-t", brand_name='=HYPERLINK("http://x")')
    org = as_user("org")
    page = org.get(f"/campaigns/{NCUT}/overview")
    body = text(page)
    assert page.status_code == 200
    assert "已提交申报：2 / 8" in body and "单位意见已齐：1 / 8" in body
    assert "“码”上先锋" in body and "组织部审核中" in body and "未申报" in body

    response = org.get(f"/campaigns/{NCUT}/overview.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    raw = response.get_data(as_text=True)
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw[1:])))
    assert rows[0][:5] == ["组织编码", "组织名称", "类别", "创建类型", "状态"]
    by_unit = {r[0]: r for r in rows[1:]}
    assert len(by_unit) == 8
    assert by_unit["ncut-cs-t"][4] == "组织部审核中" and by_unit["ncut-cs-t"][5] == "“码”上先锋"
    assert by_unit["ncut-cs-t"][7] == pid
    assert by_unit["ncut-ee-t"][5].startswith("'=")  # no formula runs in Excel
    assert by_unit["ncut-pg2"][4] == "未申报"
    # filtered export
    only = org.get(f"/campaigns/{NCUT}/overview.csv?status=under_review").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(only[1:])))) == 2

    auditor = as_user("auditor")
    assert auditor.get(f"/campaigns/{NCUT}/overview").status_code == 200
    for user in ("a-ncut-cs-t", "s-ncut-cs-t", "reviewer1"):
        refused(as_user(user).get(f"/campaigns/{NCUT}/overview.csv"), 403, "没有权限")


def test_get_requests_write_nothing(open_apply, as_user):
    pid = submitted(as_user, NCUT, "ncut-cs-t")
    before = log.head()
    for user, url in [("a-ncut-cs-t", f"/projects/{pid}"), ("s-ncut-cs-t", f"/projects/{pid}"),
                      ("a-ncut-cs-t", apply_url(NCUT)), ("org", f"/campaigns/{NCUT}/overview")]:  # fmt: skip
        assert as_user(user).get(url).status_code == 200
    assert log.head() == before


def test_commands_check_the_same_rules(demo):
    """The commands refuse on their own, whatever the web layer does."""
    from workflow.commands.accounts import get_account

    when = at("2025-06-10 10:00")
    applicant = get_account("a-mb-jd-t")
    applications.submit(applicant, MINBEI, FEATURE, values_for(MINBEI, "mb-jd-t"),
                        "11111111-1111-4111-8111-111111111111", now=when)  # fmt: skip
    pid = pid_of(MINBEI, "mb-jd-t")
    version = log.stream_version(applications.stream(pid))
    with pytest.raises(Forbidden, match="等待党支部意见"):
        applications.record_opinion(get_account("s-mb-jd"), pid, "agree", "同意", "黄志明",
                                    "2025-06-11", version, now=when)  # fmt: skip
    with pytest.raises(Forbidden):
        applications.record_opinion(get_account("auditor"), pid, "agree", "同意", "某", "2025-06-11",
                                    version, now=when)  # fmt: skip
    with pytest.raises(log.ConcurrencyError):
        applications.record_opinion(get_account("s-mb-jd-t"), pid, "agree", "同意", "许文斌",
                                    "2025-06-11", version - 1, now=when)  # fmt: skip
    with pytest.raises(Forbidden):
        applications.submit(get_account("s-mb-jd-t"), MINBEI, FEATURE, {}, "x", now=when)
    with pytest.raises(DomainError, match="不能提交申报"):
        applications.submit(applicant, MINBEI, FEATURE, values_for(MINBEI, "mb-jd-t"),
                            "22222222-2222-4222-8222-222222222222", now=when)  # fmt: skip
