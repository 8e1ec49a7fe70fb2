"""The organizer edits a campaign in place (htmx), each edit one event with a reason; per-unit
extensions; a new round from an existing campaign. Everything through HTTP."""

import json
import re

import pytest

from tests.conftest import DEMO_PASSWORD, Browser
from workflow import db, log
from workflow.authz import SYSTEM
from workflow.commands import accounts, campaigns
from workflow.deadlines import parse_local

SLUG = "minbei-2025"
BASE = f"/campaigns/{SLUG}"
VERSION_RE = re.compile(r'name="version" value="(\d+)"')


@pytest.fixture
def org(as_user):
    from workflow import demo

    for slug in ("minbei-2025", "ncut-info-2023"):
        demo.seed_campaign(slug)  # idempotent: the demo fixture may have made them already
    return as_user("org")


def version_in(response) -> str:
    match = VERSION_RE.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def events_since(position):
    return [e for e in log.iter_events(after=position)]


def config():
    return campaigns.get(SLUG)


def assert_refused(response, message, before):
    body = response.get_data(as_text=True)
    assert response.status_code == 400, (response.status_code, body)
    assert message in body, body
    assert log.head() == before


# --- the page -------------------------------------------------------------------------------


def test_organizer_sees_edit_controls_others_do_not(org, as_user):
    page = org.get(BASE).get_data(as_text=True)
    assert f"{BASE}/stages/apply/edit" in page
    assert f"{BASE}/form/brand_name/edit" in page
    assert f"{BASE}/policy/edit" in page
    assert f"{BASE}/extensions/new" in page
    assert f"{BASE}/new-round" in page
    assert "不予受理" in page and "一支部一特色 7 个" in page  # the rules are still shown
    other = as_user("a-mb-jd-t").get(BASE)
    assert other.status_code == 200
    body = other.get_data(as_text=True)
    assert "/edit" not in body and "new-round" not in body and "品牌设计" in body


# --- stages ---------------------------------------------------------------------------------


def test_reschedule_a_stage_in_place(org):
    form = org.get(f"{BASE}/stages/apply/edit", htmx=True)
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    assert "<html" not in body and 'value="2025-06-06T09:00"' in body
    before = log.head()
    response = org.post(
        f"{BASE}/stages/apply",
        {"opens": "2025-06-06T09:00", "due": "2025-06-20T18:00", "reason": "国庆前延长申报",
         "version": version_in(form)},
        htmx=True,
    )  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert '<li id="stage-apply">' in body and "2025年06月20日 18:00" in body
    assert "campaign-version" in response.headers["HX-Trigger"]
    (event,) = events_since(before[0])
    assert event.type == "CampaignStageRescheduled"
    assert event.payload == {"stage": "apply", "opens": "2025-06-06 09:00",
                             "due": "2025-06-20 18:00", "reason": "国庆前延长申报"}  # fmt: skip
    assert config()["stages"][0]["due"] == "2025-06-20 18:00"
    assert "2025年06月20日 18:00" in org.get(BASE).get_data(as_text=True)
    # "YYYY-MM-DD HH:MM" is accepted as well as the datetime-local form
    again = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-07 09:00", "due": "2025-06-20 18:00",
                     "reason": "推迟一天", "version": str(event.version)}, htmx=True)  # fmt: skip
    assert again.status_code == 200 and config()["stages"][0]["opens"] == "2025-06-07 09:00"


def test_reschedule_errors_are_inline_and_write_nothing(org):
    version = version_in(org.get(f"{BASE}/stages/apply/edit", htmx=True))
    before = log.head()
    missing_reason = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-06T09:00",
                              "due": "2025-06-20T18:00", "reason": "  ", "version": version},
                              htmx=True)  # fmt: skip
    assert_refused(missing_reason, "请填写修改原因", before)
    body = missing_reason.get_data(as_text=True)
    assert "<form" in body and 'value="2025-06-20T18:00"' in body  # the input is kept
    backwards = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-20T09:00",
                         "due": "2025-06-10T18:00", "reason": "调整", "version": version},
                         htmx=True)  # fmt: skip
    assert_refused(backwards, "截止时间必须晚于开始时间", before)
    garbled = org.post(f"{BASE}/stages/apply", {"opens": "明天", "due": "2025-06-10T18:00",
                       "reason": "调整", "version": version}, htmx=True)  # fmt: skip
    assert_refused(garbled, "时间格式应为", before)
    unchanged = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-06T09:00",
                         "due": "2025-06-16T18:00", "reason": "调整", "version": version},
                         htmx=True)  # fmt: skip
    assert_refused(unchanged, "没有修改任何内容", before)
    no_version = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-06T09:00",
                          "due": "2025-06-20T18:00", "reason": "调整"}, htmx=True)  # fmt: skip
    assert_refused(no_version, "请刷新页面", before)
    assert org.get(f"{BASE}/stages/nope/edit", htmx=True).status_code == 404


def test_cancel_brings_the_row_back(org):
    row = org.get(f"{BASE}/stages/review", htmx=True)
    assert row.status_code == 200
    body = row.get_data(as_text=True)
    assert body.strip().startswith('<li id="stage-review">') and "审核论证" in body


def test_plain_form_post_redirects_back_to_the_campaign(org):
    page = org.get(f"{BASE}/stages/apply/edit")  # without htmx: a small page with the form
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    response = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-06T09:00",
                        "due": "2025-06-18T18:00", "reason": "延长两天",
                        "version": version_in(page)})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{BASE}#stage-apply")


# --- form fields ----------------------------------------------------------------------------


def test_edit_a_form_field(org):
    form = org.get(f"{BASE}/form/intro/edit", htmx=True)
    assert form.status_code == 200
    assert 'value="项目简介"' in form.get_data(as_text=True)
    old = config()["form"]
    before = log.head()
    response = org.post(
        f"{BASE}/form/intro",
        {"label": "项目概述", "help": "300 字以内", "max_length": "300", "position": "5",
         "reason": "按新要求压缩篇幅", "version": version_in(form)},  # 'required' unticked
        htmx=True,
    )  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert 'id="form-fields"' in body and "项目概述" in body and "300 字以内" in body
    (event,) = events_since(before[0])
    assert event.type == "CampaignFormChanged" and event.payload["reason"] == "按新要求压缩篇幅"
    new = event.payload["form"]
    assert [f["key"] for f in new] == [f["key"] for f in old]  # the whole list, same order
    intro = new[4]
    assert intro == {**old[4], "label": "项目概述", "help": "300 字以内", "required": False,
                     "max_length": 300}  # fmt: skip
    assert new[:4] == old[:4] and new[5:] == old[5:]
    assert config()["form"] == new
    assert "项目概述" in org.get(BASE).get_data(as_text=True)


def test_move_a_form_field_up_and_down(org):
    keys = [f["key"] for f in config()["form"]]
    assert keys.index("brand_name") == 3
    page = org.get(BASE).get_data(as_text=True)
    assert f"{BASE}/form/brand_name/edit?to=3" in page  # 上移
    assert f"{BASE}/form/brand_name/edit?to=5" in page  # 下移
    form = org.get(f"{BASE}/form/brand_name/edit?to=1", htmx=True)
    assert '<option value="1" selected>' in form.get_data(as_text=True)
    before = log.head()
    response = org.post(f"{BASE}/form/brand_name", {"label": "品牌名称", "help": "",
                        "required": "1", "max_length": "30", "position": "1",
                        "reason": "品牌名称放在最前", "version": version_in(form)},
                        htmx=True)  # fmt: skip
    assert response.status_code == 200
    (event,) = events_since(before[0])
    moved = [f["key"] for f in event.payload["form"]]
    assert moved == ["brand_name"] + [k for k in keys if k != "brand_name"]
    body = response.get_data(as_text=True)
    assert body.index("品牌名称") < body.index("负责人姓名")
    # and down again, to the end
    form = org.get(f"{BASE}/form/brand_name/edit?to=99", htmx=True)  # clamped to the last place
    assert f'<option value="{len(keys)}" selected>' in form.get_data(as_text=True)
    org.post(f"{BASE}/form/brand_name", {"label": "品牌名称", "required": "1",
             "max_length": "30", "position": str(len(keys)), "reason": "放回末尾",
             "version": version_in(form)}, htmx=True)  # fmt: skip
    assert [f["key"] for f in config()["form"]][-1] == "brand_name"


def test_form_field_errors(org):
    version = version_in(org.get(f"{BASE}/form/intro/edit", htmx=True))
    before = log.head()
    good = {"label": "项目简介", "help": "", "required": "1", "max_length": "800",
            "position": "5", "reason": "缩短", "version": version}  # fmt: skip
    assert_refused(org.post(f"{BASE}/form/intro", {**good, "reason": ""}, htmx=True),
                   "请填写修改原因", before)  # fmt: skip
    assert_refused(org.post(f"{BASE}/form/intro", {**good, "label": ""}, htmx=True),
                   "字段名称不能为空", before)  # fmt: skip
    assert_refused(org.post(f"{BASE}/form/intro", {**good, "max_length": "0"}, htmx=True),
                   "最大长度须在 1–20000 字之间", before)  # fmt: skip
    assert_refused(org.post(f"{BASE}/form/intro", {**good, "max_length": "很多"}, htmx=True),
                   "须为整数", before)  # fmt: skip
    response = org.post(f"{BASE}/form/intro", {**good, "label": ""}, htmx=True)
    body = response.get_data(as_text=True)
    assert 'id="form-fields"' in body and 'name="max_length" value="800"' in body


# --- quotas and the late policy ------------------------------------------------------------


def test_quotas_per_category(org):
    form = org.get(f"{BASE}/policy/edit", htmx=True)
    body = form.get_data(as_text=True)
    assert 'name="quota-dept_brand"' in body and 'value="7"' in body
    before = log.head()
    response = org.post(f"{BASE}/policy/quotas", {"quota-dept_brand": "3",
                        "quota-branch_feature": "", "reason": "党委会研究决定",
                        "version": version_in(form)}, htmx=True)  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert "一系一品牌 3 个" in body and "一支部一特色 不限" in body
    (event,) = events_since(before[0])
    assert event.type == "CampaignSettingChanged"
    assert event.payload == {"key": "quotas", "value": {"dept_brand": 3, "branch_feature": None},
                             "reason": "党委会研究决定"}  # fmt: skip
    assert config()["quotas"] == {"dept_brand": 3, "branch_feature": None}


@pytest.mark.parametrize("bad", ["-1", "abc", "2.5", "1001"])
def test_bad_quota_is_refused(org, bad):
    version = version_in(org.get(f"{BASE}/policy/edit", htmx=True))
    before = log.head()
    response = org.post(f"{BASE}/policy/quotas", {"quota-dept_brand": bad,
                        "quota-branch_feature": "7", "reason": "调整", "version": version},
                        htmx=True)  # fmt: skip
    assert_refused(response, "认定名额须为 0–1000 的整数", before)


def test_quota_needs_a_reason(org):
    version = version_in(org.get(f"{BASE}/policy/edit", htmx=True))
    before = log.head()
    response = org.post(f"{BASE}/policy/quotas", {"quota-dept_brand": "3",
                        "quota-branch_feature": "7", "version": version}, htmx=True)  # fmt: skip
    assert_refused(response, "请填写修改原因", before)


def test_late_policy(org):
    form = org.get(f"{BASE}/policy/edit", htmx=True)
    before = log.head()
    refused = org.post(f"{BASE}/policy/late", {"late_policy": "maybe", "reason": "x",
                       "version": version_in(form)}, htmx=True)  # fmt: skip
    assert_refused(refused, "请选择逾期提交的处理方式", before)
    response = org.post(f"{BASE}/policy/late", {"late_policy": "flag", "reason": "允许补交",
                        "version": version_in(form)}, htmx=True)  # fmt: skip
    assert response.status_code == 200
    assert "逾期提交：可提交，但标记为逾期" in response.get_data(as_text=True)
    (event,) = events_since(before[0])
    assert event.payload == {"key": "late_policy", "value": "flag", "reason": "允许补交"}
    assert config()["late_policy"] == "flag"


# --- per-unit extensions --------------------------------------------------------------------


def test_grant_one_unit_an_extension(org):
    form = org.get(f"{BASE}/extensions/new", htmx=True)
    body = form.get_data(as_text=True)
    assert '<option value="mb-jd-t">机电工程系教工党支部</option>' in body
    assert "ncut-cs-t" not in body and '<option value="minbei">' not in body
    before = log.head()
    response = org.post(f"{BASE}/extensions", {"unit": "mb-jd-t", "stage": "apply",
                        "due": "2025-06-26T18:00", "reason": "支部书记外出培训",
                        "version": version_in(form)}, htmx=True)  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert "机电工程系教工党支部" in body and "2025年06月26日 18:00" in body
    assert "支部书记外出培训" in body
    (event,) = events_since(before[0])
    assert event.type == "DeadlineExtended"
    assert event.payload == {"unit": "mb-jd-t", "stage": "apply", "due": "2025-06-26 18:00",
                             "reason": "支部书记外出培训"}  # fmt: skip
    row = db.fetchone("SELECT due FROM campaign_extension WHERE slug = ? AND unit = ?",
                      (SLUG, "mb-jd-t"))  # fmt: skip
    assert row[0] == "2025-06-26 18:00"
    assert config()["stages"][0]["due"] == "2025-06-16 18:00"  # other units keep the date
    assert "支部书记外出培训" in org.get(BASE).get_data(as_text=True)


def test_extension_errors(org):
    version = version_in(org.get(f"{BASE}/extensions/new", htmx=True))
    before = log.head()
    good = {"unit": "mb-jd-t", "stage": "apply", "due": "2025-06-26T18:00", "reason": "外出",
            "version": version}  # fmt: skip
    # apply is due 2025-06-16 18:00; 92 days later is 2025-09-16 18:00
    too_long = org.post(f"{BASE}/extensions", {**good, "due": "2025-09-16T19:00"}, htmx=True)
    assert_refused(too_long, "最多只能延长 92 天", before)
    assert_refused(org.post(f"{BASE}/extensions", {**good, "reason": ""}, htmx=True),
                   "请填写修改原因", before)  # fmt: skip
    assert_refused(org.post(f"{BASE}/extensions", {**good, "due": "2025-06-15T18:00"},
                            htmx=True), "必须晚于原截止时间", before)  # fmt: skip
    assert_refused(org.post(f"{BASE}/extensions", {**good, "unit": "ncut-cs-t"}, htmx=True),
                   "请选择本活动所属党委下的组织", before)  # fmt: skip
    assert_refused(org.post(f"{BASE}/extensions", {**good, "stage": "nope"}, htmx=True),
                   "阶段 nope 不存在", before)  # fmt: skip
    exactly = org.post(f"{BASE}/extensions", {**good, "due": "2025-09-16T18:00"}, htmx=True)
    assert exactly.status_code == 200  # 92 days is allowed


# --- concurrency ----------------------------------------------------------------------------


def test_a_stale_form_gets_409_and_writes_nothing(org):
    stage_form = org.get(f"{BASE}/stages/apply/edit", htmx=True)
    policy_form = org.get(f"{BASE}/policy/edit", htmx=True)
    field_form = org.get(f"{BASE}/form/intro/edit", htmx=True)
    extension_form = org.get(f"{BASE}/extensions/new", htmx=True)
    stale = version_in(stage_form)
    assert stale == version_in(policy_form) == version_in(field_form)
    # someone else changes the campaign meanwhile
    other = accounts.get_account("org")
    campaigns.change_setting(other, SLUG, "late_policy", "flag", "另一位老师修改")
    before = log.head()
    responses = [
        org.post(f"{BASE}/stages/apply", {"opens": "2025-06-06T09:00", "due": "2025-06-20T18:00",
                 "reason": "调整", "version": stale}, htmx=True),
        org.post(f"{BASE}/policy/quotas", {"quota-dept_brand": "3", "quota-branch_feature": "7",
                 "reason": "调整", "version": version_in(policy_form)}, htmx=True),
        org.post(f"{BASE}/form/intro", {"label": "简介", "max_length": "800", "position": "5",
                 "reason": "调整", "version": version_in(field_form)}, htmx=True),
        org.post(f"{BASE}/extensions", {"unit": "mb-jd-t", "stage": "apply",
                 "due": "2025-06-26T18:00", "reason": "外出",
                 "version": version_in(extension_form)}, htmx=True),
    ]  # fmt: skip
    for response in responses:
        body = response.get_data(as_text=True)
        assert response.status_code == 409, body
        assert "已被他人修改" in body and "<html" not in body
    assert log.head() == before
    # a form fetched now carries the new version and saves
    fresh = org.get(f"{BASE}/stages/apply/edit", htmx=True)
    assert int(version_in(fresh)) == int(stale) + 1
    ok = org.post(f"{BASE}/stages/apply", {"opens": "2025-06-06T09:00", "due": "2025-06-20T18:00",
                  "reason": "调整", "version": version_in(fresh)}, htmx=True)  # fmt: skip
    assert ok.status_code == 200


# --- a new round ----------------------------------------------------------------------------


def test_new_round_copies_the_structure_with_new_dates(org):
    page = org.get(f"{BASE}/new-round")
    assert page.status_code == 200 and 'name="first_opens"' in page.get_data(as_text=True)
    source = config()
    before = log.head()
    response = org.post(f"{BASE}/new-round", {"slug": "minbei-2026",
                        "title": "闽北职院2026年党建品牌创建", "first_opens": "2026-06-05T09:00"})  # fmt: skip
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/campaigns/minbei-2026")
    (event,) = events_since(before[0])
    assert event.type == "CampaignCreated" and event.stream == "campaign:minbei-2026"
    assert event.payload["template"] == SLUG
    new = campaigns.get("minbei-2026")
    assert new["title"] == "闽北职院2026年党建品牌创建" and new["slug"] == "minbei-2026"
    shift = parse_local("2026-06-05 09:00") - parse_local(source["stages"][0]["opens"])
    for old_stage, new_stage in zip(source["stages"], new["stages"], strict=True):
        for key in ("opens", "due"):
            assert parse_local(new_stage[key]) - parse_local(old_stage[key]) == shift
        assert {k: v for k, v in new_stage.items() if k not in ("opens", "due")} == {
            k: v for k, v in old_stage.items() if k not in ("opens", "due")
        }
    assert new["stages"][0]["due"] == "2026-06-15 18:00"
    structure = {k: v for k, v in source.items() if k not in ("slug", "title", "stages")}
    assert {k: v for k, v in new.items() if k not in ("slug", "title", "stages")} == structure
    shown = org.get("/campaigns/minbei-2026").get_data(as_text=True)
    assert "闽北职院2026年党建品牌创建" in shown and "2026年06月15日 18:00" in shown


def test_new_round_carries_edits_of_the_source(org):
    form = org.get(f"{BASE}/policy/edit", htmx=True)
    org.post(f"{BASE}/policy/quotas", {"quota-dept_brand": "4", "quota-branch_feature": "8",
             "reason": "扩大名额", "version": version_in(form)}, htmx=True)  # fmt: skip
    response = org.post(f"{BASE}/new-round", {"slug": "minbei-2026", "title": "第二轮",
                        "first_opens": "2026-06-05 09:00"}, htmx=True)  # fmt: skip
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/campaigns/minbei-2026"
    assert campaigns.get("minbei-2026")["quotas"] == {"dept_brand": 4, "branch_feature": 8}


def test_new_round_errors(org):
    before = log.head()
    good = {"slug": "ncut-info-2024", "title": "第二轮", "first_opens": "2024-04-01T09:00"}
    url = "/campaigns/ncut-info-2023/new-round"
    assert_refused(org.post(url, {**good, "slug": SLUG}, htmx=True), "已被使用", before)
    assert_refused(org.post(url, {**good, "slug": "Bad Slug"}, htmx=True), "活动编码须为", before)
    assert_refused(org.post(url, {**good, "title": ""}, htmx=True), "请填写活动名称", before)
    assert_refused(org.post(url, {**good, "first_opens": ""}, htmx=True), "时间格式应为", before)
    response = org.post(url, {**good, "slug": SLUG}, htmx=True)
    assert 'value="第二轮"' in response.get_data(as_text=True)  # the input is kept


# --- who may ---------------------------------------------------------------------------------


def settings_routes(app):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("campaign_settings."):
            path = (rule.rule.replace("<slug>", SLUG).replace("<code>", "apply")
                    .replace("<key>", "brand_name"))  # fmt: skip
            out += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


@pytest.mark.parametrize("username", ["a-mb-jd-t", "s-mb-jd", "auditor", "reviewer1", "admin"])
def test_non_organizers_get_403_everywhere(org, demo, as_user, username):
    routes = settings_routes(demo)
    assert len(routes) == 15
    b = as_user(username)
    version = str(log.stream_version(campaigns.stream(SLUG)))
    data = {"opens": "2025-06-06T09:00", "due": "2025-06-20T18:00", "reason": "x",
            "label": "品牌", "max_length": "30", "position": "1", "quota-dept_brand": "1",
            "late_policy": "flag", "unit": "mb-jd-t", "stage": "apply", "slug": "minbei-2099",
            "title": "x", "first_opens": "2026-01-01T09:00", "version": version}  # fmt: skip
    before = log.head()
    for method, path in routes:
        for htmx in (False, True):
            if method == "GET":
                response = b.get(path, htmx=htmx)
            else:
                response = b.post(path, data, htmx=htmx)
            assert response.status_code == 403, (username, method, path, response.status_code)
            assert "没有权限" in response.get_data(as_text=True)
    assert log.head() == before


def test_an_organizer_of_another_committee_is_out_of_scope(org, demo):
    accounts.create_user(SYSTEM, "org-ncut", "信息学院组织员", ["organizer"], "ncut-info",
                         DEMO_PASSWORD)  # fmt: skip
    b = Browser(demo)
    assert b.login("org-ncut").status_code == 302
    assert b.get("/campaigns/ncut-info-2023/stages/apply/edit", htmx=True).status_code == 200
    before = log.head()
    assert b.get(f"{BASE}/stages/apply/edit", htmx=True).status_code == 403
    response = b.post(f"{BASE}/policy/late", {"late_policy": "flag", "reason": "x",
                      "version": "1"}, htmx=True)  # fmt: skip
    assert response.status_code == 403 and log.head() == before


def test_edit_forms_mark_their_version_for_the_page_script(org):
    body = org.get(f"{BASE}/stages/apply/edit", htmx=True).get_data(as_text=True)
    assert f'data-stream="campaign:{SLUG}"' in body
    form = org.get(f"{BASE}/policy/edit", htmx=True)
    response = org.post(f"{BASE}/policy/late", {"late_policy": "flag", "reason": "允许补交",
                        "version": version_in(form)}, htmx=True)  # fmt: skip
    trigger = json.loads(response.headers["HX-Trigger"])["campaign-version"]
    assert trigger == {"stream": f"campaign:{SLUG}", "from": int(version_in(form)),
                       "to": int(version_in(form)) + 1}  # fmt: skip
