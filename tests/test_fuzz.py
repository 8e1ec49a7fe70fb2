"""Fuzzing every form the app shows: whatever is posted, never a 500, and the log stays sound.

The forms are not listed by hand: each role's client crawls the site (links and htmx fragments)
from its home page and collects every form and htmx POST it is shown, with the values the page
filled in (CSRF token, version, radio choices). Hypothesis then posts those forms with fields
kept, dropped, duplicated or replaced by hostile values (huge text, control characters, NUL,
emoji, bidi overrides, invalid UTF-8 and encoded surrogates, numbers that overflow, dates that
do not exist), sometimes as another role, sometimes without the CSRF token. POST routes that no
page showed are posted with fields from the pool the crawl collected, so a new route is fuzzed
too. Afterwards the log verifies and a rebuild reproduces every projection table exactly.
SQLite always, PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from workflow import db, log, projections

PASSWORD = "demo12345"
FAST_HASH = "pbkdf2:sha256:1000"
TZ = ZoneInfo("Asia/Shanghai")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
PAGES_PER_ROLE = 30

# The people whose pages are crawled. The new unit has an open application form.
ROLES = {
    "anonymous": None,
    "org": "org",
    "admin": "admin",
    "auditor": "auditor",
    "reviewer": "reviewer1",
    "applicant": "a-ncut-fz-t",
    "applicant-done": "a-ncut-cs-t",
    "secretary": "s-ncut-office",  # the demo leaves ncut-office waiting for its secretary
    "general-branch": "s-mb-jd",
}
# Routes a fuzzer must not call: logging out ends the client's session mid-run; switching the
# language would turn the shared clients' pages English for the Chinese checks below (its
# refusals are tested in tests/test_i18n.py).
SKIP_ENDPOINTS = {"auth.logout", "auth.set_language"}
# The forms the issue names; the crawl must find each, or the fuzzing is not what it claims.
MUST_FIND = {
    "auth.login",
    "admin.add_unit",
    "admin.create_user",
    "projects.apply",
    "projects.save_draft",
    "projects.opinion",
    "review.decide",
    "review.bulk",
    "campaign_settings.stage_save",
    "campaign_settings.field_save",
    "campaign_settings.quotas_save",
    "campaign_settings.late_save",
    "comments.post",
}
SKIP_LINKS = re.compile(r"^/static/|^/logout|\.(pdf|csv|xlsx|zip|png|jpe?g)(\?|$)|/files/")


# --- the site under test -------------------------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request, tmp_path_factory):
    """Both notices seeded through submission, one new branch with an open form, apply open."""
    from app import create_app
    from workflow import demo as demo_data
    from workflow.authz import SYSTEM
    from workflow.commands import accounts, campaigns, orgs
    from workflow.demo import ORGANIZER

    base = tmp_path_factory.mktemp("fuzz")
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        import psycopg2

        conn = psycopg2.connect(url)
        conn.autocommit = True
        conn.cursor().execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        conn.close()
    else:
        url = "sqlite:///" + str(base / "fuzz.db")
    app = create_app({"INSTANCE_PATH": str(base / "instance"), "DATABASE_URL": url,
                      "UPLOAD_DIR": str(base / "uploads"), "SECRET_KEY": "fuzz",
                      "CHECKPOINT_KEY_FILE": str(base / "keys" / "checkpoint.key"),
                      "PASSWORD_HASH_METHOD": FAST_HASH, "DEMO_PASSWORD": PASSWORD,
                      "TESTING": True})  # fmt: skip
    db.database.connect(reuse_if_open=True)
    demo_data.seed(list(demo_data.TREES), PASSWORD, through="submitted", echo=lambda *_: None)
    orgs.create_unit(SYSTEM, "ncut-fz-t", "测试工程系教工党支部", "branch", "staff", "ncut-info")
    accounts.create_user(SYSTEM, "a-ncut-fz-t", "测试（品牌负责人）", ["applicant"], "ncut-fz-t",
                         PASSWORD)  # fmt: skip
    now = datetime.now(UTC)
    for slug in ("ncut-info-2023", "minbei-2025"):
        campaigns.reschedule_stage(ORGANIZER, slug, "apply", _local(now - timedelta(days=1)),
                                   _local(now + timedelta(days=1)), "测试：开放申报")  # fmt: skip
    yield app
    if not db.database.is_closed():
        db.database.close()


class Client:
    """A test client that keeps the CSRF token its last page carried."""

    TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')

    def __init__(self, app, username):
        self.client = app.test_client()
        self.username = username
        self.token = None
        self.get("/login")
        if username:
            response = self.client.post(
                "/login",
                data={"username": username, "password": PASSWORD, "csrf_token": self.token},
            )
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
            self.get("/")

    def get(self, url, **kw):
        response = self.client.get(url, **kw)
        if response.mimetype.startswith("text/"):
            match = self.TOKEN.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1) or match.group(2)
        return response


# --- crawling the forms --------------------------------------------------------------------


class FormParser(HTMLParser):
    """Collects links, htmx GETs and every POST target with its fields as the page filled them."""

    FIELD_TAGS = {"input", "textarea", "select"}

    def __init__(self, page_url):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.links, self.targets = [], []
        self.form = None
        self.select = None
        self.textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "hx-get"):
            if a.get(key, "").startswith("/"):
                self.links.append(a[key])
        if tag == "form":
            action = a.get("hx-post") or (
                a.get("action") if a.get("method", "").lower() == "post" else None
            )
            if action is None and a.get("method", "").lower() == "post":
                action = self.page_url
            self.form = {"url": action, "fields": [], "multipart": "multipart" in a.get("enctype", ""),
                         "files": []}  # fmt: skip
            return
        if a.get("hx-post") and tag != "form" and (tag not in self.FIELD_TAGS or self.form is None):
            fields = [(k, str(v)) for k, v in json.loads(a.get("hx-vals") or "{}").items()]
            if a.get("name"):
                fields.append((a["name"], a.get("value", "")))
            self.targets.append(
                {"url": a["hx-post"], "fields": fields, "multipart": False, "files": []}
            )
        form = self.form
        if form is None:
            return
        if tag in ("button", "input") and a.get("formaction"):
            self.targets.append({**form, "url": a["formaction"], "fields": list(form["fields"])})
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind == "file":
                form["files"].append(name)
            elif kind not in ("radio", "checkbox", "submit", "button") or "checked" in a:
                form["fields"].append((name, a.get("value", "")))
            elif kind == "checkbox":  # unticked: posted anyway, as if ticked
                form["fields"].append((name, a.get("value", "on")))
        elif tag == "button" and name:
            form["fields"].append((name, a.get("value", "")))
        elif tag == "textarea" and name:
            self.textarea = [name, ""]
        elif tag == "select" and name:
            self.select = [name, None]
        elif tag == "option" and self.select is not None:
            if self.select[1] is None or "selected" in a:
                self.select[1] = a.get("value", "")

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self.textarea is not None and self.form is not None:
            self.form["fields"].append(tuple(self.textarea))
            self.textarea = None
        elif tag == "select" and self.select is not None and self.form is not None:
            self.form["fields"].append((self.select[0], self.select[1] or ""))
            self.select = None
        elif tag == "form" and self.form is not None:
            if self.form["url"]:
                self.targets.append(self.form)
            self.form = None


def endpoint(app, url, method="POST"):
    adapter = app.url_map.bind("localhost")
    try:
        return adapter.match(urlsplit(url).path, method=method)[0]
    except Exception:
        return None


def crawl(app, client):
    """Breadth first from the home page: at most two pages per endpoint, PAGES_PER_ROLE in all."""
    queue, seen, per_endpoint, targets = ["/", "/login"], set(), Counter(), []
    while queue and len(seen) < PAGES_PER_ROLE:
        url = queue.pop(0)
        ep = endpoint(app, url, "GET")
        if url in seen or SKIP_LINKS.search(url) or ep is None or per_endpoint[ep] >= 2:
            continue
        seen.add(url)
        per_endpoint[ep] += 1
        for htmx in (False, True) if ep in ("projects.show",) else (False,):
            response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
            assert response.status_code < 500, url
            if not response.mimetype.startswith("text/html"):
                continue
            parser = FormParser(url)
            parser.feed(response.get_data(as_text=True))
            targets += parser.targets
            queue += [link for link in parser.links if link not in seen]
    return targets


@pytest.fixture(scope="module")
def forms(site):
    """{role: Client}, the targets found (role, endpoint, target) and the field pool."""
    clients = {role: Client(site, username) for role, username in ROLES.items()}
    found = []
    for role, client in clients.items():
        for target in crawl(site, client):
            ep = endpoint(site, target["url"])
            if ep and ep not in SKIP_ENDPOINTS:
                found.append((role, ep, target))
    pool = sorted({name for _, _, t in found for name, _ in t["fields"]} - {"csrf_token"})
    # POST routes no page showed: posted with the pool's fields, real ids where the rule has one.
    shown = {ep for _, ep, _ in found}
    samples = {"pid": "ncut-info-2023.ncut-cs-t.branch_feature", "slug": "ncut-info-2023",
               "code": "apply", "key": "brand_name", "category": "branch_feature"}  # fmt: skip
    for rule in site.url_map.iter_rules():
        if "POST" in rule.methods and rule.endpoint not in shown | SKIP_ENDPOINTS:
            url = rule.rule
            for arg in rule.arguments:
                url = url.replace(f"<{arg}>", samples.get(arg, uuid.uuid4().hex)).replace(
                    f"<int:{arg}>", "1"
                )
            found.append(("org", rule.endpoint, {"url": url, "fields": [(n, "") for n in pool[:8]],
                                                 "multipart": False, "files": []}))  # fmt: skip
    return clients, found, pool, log.head()[0]


def test_the_crawl_finds_every_form_the_issue_names(forms):
    _, found, _, _ = forms
    assert MUST_FIND <= {ep for _, ep, _ in found}, MUST_FIND - {ep for _, ep, _ in found}


# --- hostile values ------------------------------------------------------------------------

SPECIAL = [
    "", " ", "\x00", "a\x00b", "\r\n\r\n", "\t", "\u202e反转\u202c", "\ufeff", "😀" * 50,
    "<script>alert(1)</script>", "' OR 1=1 --", "{{ 7*7 }}", "../../etc/passwd", "%00", "-1", "0",
    "99999999999999999999999", "1e309", "NaN", "2025-02-30", "2025-06-15 25:00", "０１２３",
    "１９７０-０１-０１", "9999-12-31 23:59", "0000-00-00", "true", "null", "[]", "{}",
]  # fmt: skip
RAW = [b"\xff\xfe\xfd", b"\xed\xa0\x80", b"\xc0\x80", b"\xe4\xb8", b"ok\x80ok"]
POISON = [
    b"\x00",
    b"\x1b[31m",
    "\u202e".encode(),
    "😀".encode(),
    b"\xed\xa0\x80",
    b"\xff",
    b"'",
    b"%",
]

text_values = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=40),
    st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF, exclude_categories=("Cs",)),
        max_size=300,
    ),  # fmt: skip
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["党", "x", "😀", "\x00", "\u0301"]),
        st.sampled_from([1001, 3001, 20001, 200_000]),
    ),  # fmt: skip
)
values = st.one_of(text_values.map(lambda s: s.encode("utf-8")), st.sampled_from(RAW))


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


# No shrinking: every example changes the database, so a shrunk replay would not see the same
# state (and shrinking costs minutes); the failing example is reported as drawn.
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(data=st.data())
def test_no_form_post_gives_a_server_error(forms, data):
    clients, found, pool, _ = forms
    role, ep, target = data.draw(st.sampled_from(found), label="target")
    if data.draw(st.integers(0, 9), label="as another role") == 0:
        role = data.draw(st.sampled_from(sorted(clients)), label="role")
    client = clients[role]
    names = [name for name, _ in target["fields"] if name != "csrf_token"]
    # Either one field is changed and the rest posted as the page filled them (reaches the
    # command behind the form), or every field independently kept, dropped, fuzzed or doubled.
    one = data.draw(st.sampled_from(names), label="the one field") if names and data.draw(
        st.booleans(), label="one field only") else None  # fmt: skip
    fields = []
    for name, value in target["fields"]:
        if name == "csrf_token":
            choice = data.draw(st.sampled_from(["keep"] * 18 + ["drop", "junk"]), label="csrf")
            if choice == "keep":
                fields.append((name, (client.token or value).encode()))
            elif choice == "junk":
                fields.append((name, data.draw(values)))
            continue
        if one is not None and name != one:
            action = "keep"
        else:
            action = data.draw(st.sampled_from(["keep"] * 3 + ["drop", "fuzz", "fuzz", "twice", "poison"]),
                               label=f"{name}")  # fmt: skip
        if action == "keep":
            fields.append((name, value.encode()))
        elif action == "poison":  # the page's own value with one hostile character inside
            at = data.draw(st.integers(0, len(value)), label=f"{name} at")
            bad = data.draw(st.sampled_from(POISON), label=f"{name} poison")
            fields.append((name, value[:at].encode() + bad + value[at:].encode()))
        elif action == "fuzz":
            fields.append((name, data.draw(values, label=f"{name} value")))
        elif action == "twice":
            fields += [(name, value.encode()), (name, data.draw(values))]
    if pool and data.draw(st.integers(0, 4), label="extra field") == 0:
        fields.append((data.draw(st.sampled_from(pool)).encode(), data.draw(values)))
    headers = {}
    if data.draw(st.booleans(), label="htmx"):
        headers = {"HX-Request": "true", "X-CSRFToken": client.token or ""}
    if target["multipart"] or target["files"]:
        form = {_text(k if isinstance(k, bytes) else k.encode()): _text(v) for k, v in fields}
        for name in target["files"]:
            blob = data.draw(st.sampled_from([b"", b"%PDF-1.4\n%%EOF", b"\x89PNG\r\n\x1a\n",
                                              b"\xff\xd8\xff" + b"\x00" * 64, os.urandom(256)]))  # fmt: skip
            form[name] = (io.BytesIO(blob), data.draw(st.sampled_from(
                ["scan.pdf", "a.png", "../../x.jpg", "名字\x00.pdf", "", "x" * 300])))  # fmt: skip
        response = client.client.post(target["url"], data=form, headers=headers,
                                      content_type="multipart/form-data")  # fmt: skip
    else:
        body = urlencode([(k if isinstance(k, bytes) else k.encode(), v) for k, v in fields])
        response = client.client.post(target["url"], data=body, headers=headers,
                                      content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code < 500, (ep, role, response.get_data(as_text=True)[:1000])
    if response.mimetype == "text/html" and response.status_code >= 400:
        assert re.search(r"[\u4e00-\u9fff]", response.get_data(as_text=True)), "no Chinese message"


def test_after_fuzzing_the_log_verifies_and_projections_rebuild(forms):
    start = forms[3]
    result = log.verify()
    assert result.ok, result.summary()
    assert result.count > start, "the fuzzing never got a write through: it tested nothing"
    before = projections.snapshot()
    projections.rebuild()
    assert projections.snapshot() == before


# --- what the fuzzing found, pinned down ---------------------------------------------------


def test_bulk_review_without_htmx_shows_a_page(forms):
    """Without JavaScript the bulk form posts a normal request: it got a 500 (the queue page was
    rendered without its context) both for the dry run and for an error."""
    clients = forms[0]
    org = clients["org"]
    org.get("/review")
    pid = "ncut-info-2023.ncut-cs-t.branch_feature"
    for fields, status, words in [
        ({"action": "approve", "pid": pid}, 200, "预演结果"),
        ({"action": "explode", "pid": pid}, 400, "批量操作只能是批量立项或批量退回"),
        ({"action": "return", "text": "", "pid": pid}, 400, "必须写明原因"),
    ]:
        response = org.client.post("/review/bulk", data={**fields, "csrf_token": org.token})
        page = response.get_data(as_text=True)
        assert response.status_code == status, page[:500]
        assert words in page and "<html" in page


def test_nul_is_dropped_not_a_database_error(forms):
    """PostgreSQL cannot store NUL in text: a NUL in any field or query was a 500 there. It is
    dropped everywhere (comments already dropped control characters)."""
    org = forms[0]["org"]
    org.get("/admin/org")
    response = org.client.post("/admin/org/units", data={
        "code": "nul-\x00test", "name": "名\x00字", "level": "branch", "kind": "staff",
        "parent": "ncut-info", "csrf_token": org.token})  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert db.fetchone("SELECT name FROM org_unit WHERE code = 'nul-test'") == ("名字",)
    response = org.client.get("/campaigns/ncut-info-2023/overview?q=%00")
    assert response.status_code == 200
