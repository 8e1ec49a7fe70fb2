"""Login, throttling, CSRF and the per-role route table, through HTTP."""

import hashlib
import uuid

import pytest

from workflow import db, log

# Every route (endpoint) with who may reach it. A new route must be added here: the matrix
# test fails on any endpoint not listed. Values: the demo users who get 200; everyone else
# (other roles) gets 403, anonymous users are sent to the login page.
ALL = {"admin", "org", "auditor", "reviewer1", "a-ncut-cs-t", "s-mb-jd"}
ROUTES = {
    ("GET", "/"): ALL,
    # inbox and reminders (POST /inbox/read without a position answers 400)
    ("GET", "/inbox"): ALL,
    ("GET", "/inbox/count"): ALL,
    ("POST", "/inbox/read"): ALL,
    ("POST", "/inbox/read-all"): ALL,
    ("POST", "/campaigns/<slug>/remind-overdue"): {"org"},
    ("GET", "/admin/org"): {"admin", "org", "auditor"},
    ("GET", "/admin/users"): {"admin", "org", "auditor"},
    ("GET", "/audit/integrity"): {"admin", "org", "auditor"},
    ("GET", "/audit/integrity/verify"): {"admin", "org", "auditor"},
    ("POST", "/audit/integrity/checkpoint"): {"admin", "org"},
    # the auditor's desk (tests/test_trail.py, test_timetravel.py, test_bundle.py)
    ("GET", "/audit/integrity/jobs/<job_id>"): {"admin", "org", "auditor"},
    ("GET", "/audit"): {"admin", "org", "auditor", "a-ncut-cs-t", "s-mb-jd"},
    ("GET", "/audit/<kind>/<ref>/trail"): {"admin", "org", "auditor", "s-mb-jd"},
    ("GET", "/audit/<kind>/<ref>/trail.csv"): {"admin", "org", "auditor"},
    ("GET", "/audit/<kind>/<ref>/report.pdf"): {"admin", "org", "auditor"},
    ("GET", "/audit/<kind>/<ref>/bundle.zip"): {"admin", "org", "auditor"},
    ("GET", "/audit/events/<position>"): {"admin", "org", "auditor"},
    ("GET", "/audit/events/<position>/payload"): {"admin", "org", "auditor"},
    ("GET", "/audit/projects/<pid>/as-of"): {"admin", "org", "auditor"},
    ("GET", "/audit/projects/<pid>/as-of/<panel>"): {"admin", "org", "auditor"},
    ("GET", "/audit/campaigns/<slug>/as-of"): {"admin", "org", "auditor"},
    ("POST", "/admin/org/units"): {"admin", "org"},
    ("POST", "/admin/org/import"): {"admin", "org"},
    ("POST", "/admin/users"): {"admin", "org"},
    ("GET", "/campaigns/<slug>/stages/<code>"): {"org"},
    ("GET", "/campaigns/<slug>/stages/<code>/edit"): {"org"},
    ("POST", "/campaigns/<slug>/stages/<code>"): {"org"},
    ("GET", "/campaigns/<slug>/form"): {"org"},
    ("GET", "/campaigns/<slug>/form/<key>/edit"): {"org"},
    ("POST", "/campaigns/<slug>/form/<key>"): {"org"},
    ("GET", "/campaigns/<slug>/policy"): {"org"},
    ("GET", "/campaigns/<slug>/policy/edit"): {"org"},
    ("POST", "/campaigns/<slug>/policy/quotas"): {"org"},
    ("POST", "/campaigns/<slug>/policy/late"): {"org"},
    ("GET", "/campaigns/<slug>/extensions"): {"org"},
    ("GET", "/campaigns/<slug>/extensions/new"): {"org"},
    ("POST", "/campaigns/<slug>/extensions"): {"org"},
    ("GET", "/campaigns/<slug>/new-round"): {"org"},
    ("POST", "/campaigns/<slug>/new-round"): {"org"},
    # cultivation (the sample project still waits for its opinion: evidence posts answer 400)
    ("GET", "/projects/<pid>/evidence"): {"org", "auditor", "s-mb-jd"},
    ("POST", "/projects/<pid>/evidence/news"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/evidence/activities"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/evidence/photos"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/evidence/caption"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/evidence/withdraw"): {"s-mb-jd"},
    ("GET", "/projects/<pid>/evidence/files/<sha256>"): {"org", "auditor", "s-mb-jd"},
    ("POST", "/projects/<pid>/funding/budget"): {"org"},
    ("POST", "/projects/<pid>/funding/expenses"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/deferrals"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/deferrals/decide"): {"org"},
    ("GET", "/campaigns/<slug>/compliance"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/compliance.csv"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/compliance.xlsx"): {"org", "auditor"},
    # campaigns and the application stage (project: minbei-2025.mb-jd.dept_brand, see below)
    ("GET", "/campaigns"): ALL,
    ("GET", "/campaigns/<slug>"): {"admin", "org", "auditor", "reviewer1", "s-mb-jd"},
    ("GET", "/campaigns/<slug>/overview"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/overview.csv"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/apply/<category>"): {"a-ncut-cs-t"},
    ("POST", "/campaigns/<slug>/apply/<category>"): {"a-ncut-cs-t"},
    ("POST", "/campaigns/<slug>/apply/<category>/draft"): {"a-ncut-cs-t"},
    ("GET", "/projects/<pid>"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/application.pdf"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/files/<sha256>"): {"org", "auditor", "s-mb-jd"},
    ("POST", "/projects/<pid>/opinion"): {"s-mb-jd"},
    ("POST", "/projects/<pid>/paper-copy"): {"s-mb-jd"},
    # comments (<cid>: a unit-visible comment by org, see seed_comment)
    ("GET", "/projects/<pid>/comments"): {"org", "auditor", "s-mb-jd"},
    ("POST", "/projects/<pid>/comments"): {"org", "s-mb-jd"},
    ("GET", "/projects/<pid>/comments/<cid>/edit"): {"org"},
    ("POST", "/projects/<pid>/comments/<cid>/edit"): {"org"},
    ("GET", "/projects/<pid>/comments/<cid>/history"): {"org", "auditor", "s-mb-jd"},
    ("POST", "/projects/<pid>/comments/<cid>/resolve"): {"org"},
    ("POST", "/projects/<pid>/comments/<cid>/reopen"): {"org"},
    # review (the sample project still waits for its opinion: decisions answer 400)
    ("GET", "/review"): {"org"},
    ("POST", "/review/bulk"): {"org"},
    ("POST", "/projects/<pid>/review"): {"org"},
    ("GET", "/projects/<pid>/review-panel"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/diff"): {"org", "auditor", "s-mb-jd"},
    # scoring and certification (the sample project is not in a round: reviewer1 is not on its
    # panel, so the reviewer's own routes answer 403 to everyone here; tests/test_scoring.py)
    ("GET", "/campaigns/<slug>/rubric"): {"admin", "org", "auditor", "reviewer1", "s-mb-jd"},
    ("GET", "/campaigns/<slug>/rubric.<fmt>"): {"admin", "org", "auditor", "reviewer1", "s-mb-jd"},
    ("GET", "/campaigns/<slug>/rubric/<criterion>/edit"): {"org"},
    ("POST", "/campaigns/<slug>/rubric/<criterion>"): {"org"},
    ("POST", "/campaigns/<slug>/rubric/<criterion>/delete"): {"org"},
    ("POST", "/campaigns/<slug>/rubric/add"): {"org"},
    ("POST", "/campaigns/<slug>/rubric/import"): {"org"},
    ("GET", "/campaigns/<slug>/scoring"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/scoring/<round_>"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/scoring/<round_>/scores.<fmt>"): {"org", "auditor"},
    ("POST", "/campaigns/<slug>/scoring/<round_>/open"): {"org"},
    ("POST", "/campaigns/<slug>/scoring/<round_>/close"): {"org"},
    ("POST", "/campaigns/<slug>/scoring/<round_>/assign"): {"org"},
    ("POST", "/campaigns/<slug>/scoring/<round_>/unassign"): {"org"},
    ("POST", "/campaigns/<slug>/scoring/<round_>/assign-csv"): {"org"},
    ("POST", "/campaigns/<slug>/scoring/<round_>/auto"): {"org"},
    ("POST", "/campaigns/<slug>/scoring/conflicts"): {"org"},
    ("GET", "/scoring"): {"reviewer1"},
    ("GET", "/projects/<pid>/scoring"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/scoring/<round_>"): {"org", "auditor"},
    ("POST", "/projects/<pid>/scoring/<round_>/total"): set(),
    ("POST", "/projects/<pid>/scoring/<round_>/draft"): set(),
    ("POST", "/projects/<pid>/scoring/<round_>/submit"): set(),
    ("POST", "/projects/<pid>/conflict"): set(),
    ("GET", "/campaigns/<slug>/certification"): {"admin", "org", "auditor", "reviewer1", "s-mb-jd"},
    ("POST", "/campaigns/<slug>/certification/propose"): {"org"},
    ("POST", "/campaigns/<slug>/certification/publicity"): {"org"},
    ("POST", "/campaigns/<slug>/certification/objections"): {
        "admin",
        "org",
        "reviewer1",
        "s-mb-jd",
    },
    ("POST", "/campaigns/<slug>/certification/objections/answer"): {"org"},
    ("POST", "/campaigns/<slug>/certification/finalise"): {"org"},
    ("POST", "/projects/<pid>/revoke"): {"org"},
    # results documents (the sample project has no final report nor outcome: those answer 400)
    ("GET", "/projects/<pid>/report.pdf"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/report.docx"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/application.docx"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/certificate.pdf"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/campaigns/<slug>/certificates.pdf"): {"org", "auditor"},
    ("GET", "/campaigns/<slug>/booklet"): {"org", "auditor"},
    ("POST", "/campaigns/<slug>/booklet/foreword"): {"org"},
    ("POST", "/campaigns/<slug>/booklet/generate"): {"org"},
    ("GET", "/campaigns/<slug>/booklet/jobs/<job_id>"): {"org"},
    ("GET", "/campaigns/<slug>/booklet.pdf"): {"org", "auditor"},
    # showcase (tests/test_showcase.py): unpublished here, so the organizer alone previews it and
    # everyone else gets 404 (HIDDEN); the sample project is not certified, the scan not on it
    ("GET", "/campaigns/<slug>/showcase"): {"org"},
    ("GET", "/campaigns/<slug>/showcase/exhibition"): {"org"},
    ("GET", "/campaigns/<slug>/showcase/brands/<pid>"): set(),
    ("GET", "/campaigns/<slug>/showcase/photos/<sha256>"): set(),
    ("POST", "/campaigns/<slug>/showcase/publish"): {"org"},
    ("POST", "/campaigns/<slug>/showcase/withdraw"): {"org"},
    ("POST", "/campaigns/<slug>/showcase/brands/<pid>"): {"org"},
    # reports (the sample project is only submitted: submitting answers 400, no attachment 400)
    ("GET", "/projects/<pid>/reports"): {"org", "auditor", "s-mb-jd"},
    ("GET", "/projects/<pid>/reports/<kind>"): {"org", "auditor", "s-mb-jd"},
    ("POST", "/projects/<pid>/reports/<kind>"): {"s-mb-jd"},
    ("GET", "/projects/<pid>/reports/<kind>/files/<sha256>"): {"org", "auditor", "s-mb-jd"},
}
# Routes that answer 404 rather than 403 to whoever may not see them (they do not reveal that
# an unpublished showcase exists).
HIDDEN = {("GET", "/campaigns/<slug>/showcase"), ("GET", "/campaigns/<slug>/showcase/exhibition"),
          ("GET", "/campaigns/<slug>/showcase/brands/<pid>"),
          ("GET", "/campaigns/<slug>/showcase/photos/<sha256>")}  # fmt: skip
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/lang"),
}
# Values for the URL parameters of ROUTES keys (the demo fixture seeds both campaigns).
SCAN = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SAMPLE_ARGS = {"<slug>": "minbei-2025", "<code>": "apply", "<key>": "brand_name",
               "<pid>": "minbei-2025.mb-jd.dept_brand", "<sha256>": hashlib.sha256(SCAN).hexdigest(),
               "<cid>": "5a0c0c5e-0000-4000-8000-00000000c1d0",
               "<criterion>": "P4", "<round_>": "midterm", "<fmt>": "csv",
               "<kind>": "units", "<ref>": "mb-jd", "<position>": "1", "<job_id>": "0",
               "<panel>": "review"}  # fmt: skip
# The applicant in ALL applies in the other campaign.
SAMPLE_URLS = {
    "/projects/<pid>/reports/<kind>": "/projects/<pid>/reports/final",
    "/campaigns/<slug>/apply/<category>": "/campaigns/ncut-info-2023/apply/branch_feature",
}


def seed_project(app):
    """mb-jd's 一系一品牌 submitted inside its window, with a scan of the paper copy."""
    from workflow.commands import applications
    from workflow.commands.accounts import get_account
    from workflow.deadlines import parse_local

    applicant, when = get_account("a-mb-jd"), parse_local("2025-06-10 10:00")
    values = {"lead_name": "林国栋", "lead_title": "党总支书记", "lead_phone": "0599-8000000",
              "brand_name": "匠心铸魂·机电先锋", "intro": "简介", "plan_approach": "思路",
              "plan_goals": "目标", "plan_annual": "年度目标", "plan_measures": "举措"}  # fmt: skip
    pid = SAMPLE_ARGS["<pid>"]
    applications.submit(applicant, "minbei-2025", "dept_brand", values, str(uuid.uuid4()), when)
    applications.attach_paper_copy(applicant, pid, "general_branch", SCAN, "scan.pdf",
                                   app.config["UPLOAD_DIR"], now=when)  # fmt: skip


def seed_comment():
    """A unit-visible comment by the organizer on the sample project."""
    from workflow.commands import comments
    from workflow.commands.accounts import get_account

    comments.post(get_account("org"), SAMPLE_ARGS["<pid>"], "请补充材料", visibility="unit",
                  confirmed=True, comment_id=SAMPLE_ARGS["<cid>"])  # fmt: skip


def concrete(path):
    for prefix, value in SAMPLE_URLS.items():
        path = path.replace(prefix, value)
    for name, value in SAMPLE_ARGS.items():
        path = path.replace(name, value)
    return path


def endpoints(app):
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.add((method, rule.rule))
    return out


def test_every_route_is_in_the_matrix_and_declares_access(demo):
    missing = endpoints(demo) - set(ROUTES) - PUBLIC
    assert not missing, f"routes missing from the security matrix: {sorted(missing)}"
    for rule in demo.url_map.iter_rules():
        if rule.endpoint != "static":
            assert hasattr(demo.view_functions[rule.endpoint], "permission"), rule.endpoint


@pytest.mark.parametrize("method,path", sorted(ROUTES))
def test_role_matrix(demo, as_user, method, path):
    if "<pid>" in path:
        seed_project(demo)
    if "<cid>" in path:
        seed_comment()
    url = concrete(path)
    for username in sorted(ALL):
        b = as_user(username)
        before = log.head()
        if method == "GET":
            response = b.get(url)
        else:
            response = b.post(url, {}, htmx=True)
        if username in ROUTES[(method, path)]:
            assert response.status_code in (200, 400), (username, path, response.status_code)
        elif (method, path) in HIDDEN:
            assert response.status_code == 404, (username, path, response.status_code)
        else:
            assert response.status_code == 403, (username, path, response.status_code)
            assert "没有权限" in response.get_data(as_text=True)
            assert log.head() == before  # a refused request writes nothing


def test_anonymous_is_sent_to_login(demo):
    """Every route of the matrix, on one database: an anonymous request changes nothing."""
    client = demo.test_client()
    before, wrong = log.head(), []
    for method, path in sorted(ROUTES):
        response = client.get(path) if method == "GET" else client.post(path)
        if method == "GET":
            sent = response.status_code == 302 and "/login" in response.headers["Location"]
        else:
            sent = response.status_code in (302, 400)  # CSRF refuses the anonymous post first
        if not sent:
            wrong.append((method, path, response.status_code))
    assert not wrong, wrong
    assert log.head() == before


def test_login_and_logout(browser, demo):
    response = browser.login("org")
    assert response.status_code == 302
    page = browser.get("/admin/org").get_data(as_text=True)
    assert "中共闽北职业技术学院委员会" in page and "中共北方工业大学信息学院委员会" in page
    assert "机电工程系党总支" in page and "直属党支部" in page
    assert browser.post("/logout").status_code == 302
    assert browser.get("/admin/org").status_code == 302


def test_wrong_password_then_throttle(browser, demo):
    for _attempt in range(5):
        response = browser.login("org", "wrong-password")
        assert response.status_code == 401
        assert "用户名或密码错误" in response.get_data(as_text=True) or "锁定" in response.get_data(
            as_text=True
        )
    # the right password is now refused too, for 15 minutes
    response = browser.login("org")
    assert response.status_code == 401
    assert "15 分钟" in response.get_data(as_text=True)
    # another account from the same address is unaffected
    assert browser.login("auditor").status_code == 302


def test_unknown_user_gets_the_same_message(browser, demo):
    response = browser.login("nobody", "whatever1")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_csrf_missing_on_form_post_and_htmx_post(as_user):
    b = as_user("org")
    before = log.head()
    form = b.post(
        "/admin/org/units", {"code": "x1", "name": "测试支部", "level": "committee"}, csrf=False
    )
    assert form.status_code == 400 and "CSRF" in form.get_data(as_text=True)
    hx = b.post(
        "/admin/org/units",
        {"code": "x1", "name": "测试支部", "level": "committee"},
        htmx=True,
        csrf=False,
    )
    assert hx.status_code == 400 and "CSRF" in hx.get_data(as_text=True)
    assert log.head() == before
    ok = b.post(
        "/admin/org/units", {"code": "x1", "name": "测试党委", "level": "committee"}, htmx=True
    )
    assert ok.status_code == 200 and "已添加" in ok.get_data(as_text=True)
    assert log.head()[0] == before[0] + 1


def test_session_is_renewed_at_login(demo):
    client = demo.test_client()
    client.get("/login")
    before = client.get_cookie("session")
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"username": "org", "password": "demo12345", "csrf_token": token})
    after = client.get_cookie("session")
    assert before is not None and after is not None and before.value != after.value


def test_security_headers(browser, demo):
    response = browser.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    browser.login("org")
    cookie = browser.client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_htmx_errors_come_as_fragments(as_user):
    b = as_user("a-ncut-cs-t")
    response = b.get("/admin/org", htmx=True)
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "<html" not in body and "没有权限" in body


def test_healthz(browser, demo):
    assert browser.get("/healthz").get_json() == {"status": "ok"}


def test_account_events_carry_no_secret(demo):
    for event in log.iter_events():
        text = str(event.payload)
        assert "demo12345" not in text and "pbkdf2" not in text and "scrypt" not in text
    hashed = db.fetchone("SELECT password_hash FROM credential WHERE username = 'org'")[0]
    assert hashed.startswith("pbkdf2:")
