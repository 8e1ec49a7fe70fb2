"""English UI: the catalogue stays complete, the switch works, documents stay Chinese."""

import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u3400-\u9fff]")
# Jinja expressions _("...") / _('...') / gettext(...) and comments are removed before looking for CJK.
WRAPPED = re.compile(r"""(?:_|gettext|ngettext)\(\s*(?:"[^"]*"|'[^']*')""")
COMMENT = re.compile(r"\{#.*?#\}", re.S)
# Language names are shown in their own language on the switch.
ALLOWED = {"中文"}
# Templates whose literals are not wrapped yet; each one wrapped comes off this list.
PENDING = set()


def unwrapped(text: str) -> list[str]:
    text = WRAPPED.sub("", COMMENT.sub("", text))
    for word in ALLOWED:
        text = text.replace(word, "")
    return [line.strip() for line in text.splitlines() if CJK.search(line)]


def test_templates_wrap_every_chinese_literal():
    # Full-width punctuation outside _() stays Chinese in the English UI too, e.g.
    # `{{ _("截止") }}：{{ t }}` or `「{{ name }}」` or `|join("、")`: it belongs inside the
    # translated string, with named places for the values (`_("截止：%(t)s", t=t)`, `_("、")`).
    # CJK symbols and punctuation (not U+3000, the ideographic space some tables indent with),
    # full-width and half-width forms, curly quotes.
    punctuation = re.compile(r"[\u3001-\u303f\uff01-\uff65“”‘’]")
    bad = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        rel = str(path.relative_to(ROOT / "templates"))
        if rel in PENDING:
            continue
        text = path.read_text(encoding="utf-8")
        lines = unwrapped(text)
        outside = WRAPPED.sub("", COMMENT.sub("", text))
        lines += [line.strip() for line in outside.splitlines() if punctuation.search(line)]
        if lines:
            bad[rel] = lines[:3]
    assert not bad, bad


PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|%d|\{\w*\}")


def test_translated_placeholders_match():
    test_every_msgid_has_english_with_matching_placeholders(require_all=False)


def test_every_msgid_has_english_with_matching_placeholders(require_all=True):
    with open(ROOT / "translations/en/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    missing, mismatched = [], []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strs = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strs):
            missing.append(ids[0])
            continue
        if sorted(PLACEHOLDER.findall(ids[0])) != sorted(PLACEHOLDER.findall(strs[0])):
            mismatched.append(ids[0])
    assert not mismatched, mismatched
    assert not (require_all and missing), f"{len(missing)} untranslated, e.g. {missing[:5]}"


def test_switch_to_english_and_back(as_user, demo):
    browser = as_user("org")
    page = browser.get("/")
    assert '<html lang="zh-CN">' in page.text
    # Without the CSRF token the switch is refused.
    assert browser.post("/lang", {"lang": "en", "next": "/"}, csrf=False).status_code == 400
    assert '<html lang="zh-CN">' in browser.get("/").text
    response = browser.post("/lang", {"lang": "en", "next": "/"})
    assert response.status_code == 302
    page = browser.get("/")
    assert '<html lang="en">' in page.text
    assert "Log out" in page.text
    browser.post("/lang", {"lang": "zh_CN", "next": "/"})
    page = browser.get("/")
    assert '<html lang="zh-CN">' in page.text
    assert "退出" in page.text


def test_unknown_language_refused(as_user, demo):
    browser = as_user("org")
    refused = browser.post("/lang", {"lang": "fr", "next": "/"})
    assert refused.status_code == 400 and "不支持这种界面语言" in refused.text
    assert '<html lang="zh-CN">' in browser.get("/").text


def test_an_error_page_does_not_echo_its_url_into_the_language_switch(as_user, demo):
    """The switch returns the reader to the page they were on, except from an error page,
    whose URL may name something the reader may not see."""
    browser = as_user("a-mb-jd")
    assert 'name="next" value="/?tab=1"' in browser.get("/?tab=1").text
    denied = browser.get("/audit/campaigns/minbei-2025/trail?secret=x")
    assert denied.status_code == 403
    assert 'name="next" value="/"' in denied.text and "secret" not in denied.text


def test_accept_language_english_first(app, demo):
    client = app.test_client()
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in page.text
    page = client.get("/login", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert '<html lang="zh-CN">' in page.text


def test_preference_survives_logout_and_login(as_user, demo):
    browser = as_user("org")
    browser.post("/lang", {"lang": "en", "next": "/"})
    browser.post("/logout", {})
    again = as_user("org")
    assert '<html lang="en">' in again.get("/").text


def test_command_messages_and_dates_follow_the_ui_language(as_user, demo):
    """Messages raised by the commands and the deadlines on a page come in the reader's
    language; the same refusal in Chinese is unchanged."""
    import io

    demo.config["UPLOAD_RATE_FILES"] = 1
    chinese, english = as_user("org"), as_user("admin")
    english.post("/lang", {"lang": "en", "next": "/"})

    def upload(browser):
        data = {"file": (io.BytesIO(b"code,name\n"), "org.csv")}
        return browser.post("/admin/org/import", data, content_type="multipart/form-data")

    upload(chinese), upload(english)  # each account's one upload of the window
    refused = upload(english)
    assert refused.status_code == 429
    assert "Too many uploads: each account may upload at most 1 files" in refused.text
    assert not CJK.search(refused.text.split("<main", 1)[1].split("</main>", 1)[0])
    assert "上传过于频繁" in upload(chinese).text
    page = english.get("/campaigns/minbei-2025").text
    assert "10 Nov 2025 18:00" in page and "2025年11月10日" not in page
    assert "2025年11月10日 18:00" in chinese.get("/campaigns/minbei-2025").text


def test_documents_stay_chinese_in_the_english_ui(as_user, demo):
    """The audit PDF and CSV describe events with the same sentences as the English trail page,
    but documents are for the Chinese file: they keep the Chinese."""
    from tests.test_application_pdf import pdf_text

    auditor = as_user("auditor")
    auditor.post("/lang", {"lang": "en", "next": "/"})
    page = auditor.get("/audit/units/mb-jd/trail").text
    assert "System created the organization" in page and "创建组织" not in page
    text, _pages = pdf_text(auditor.get("/audit/units/mb-jd/report.pdf").data)
    assert "创建组织「机电工程系党总支」" in text and "createdtheorganization" not in text
    csv = auditor.get("/audit/units/mb-jd/trail.csv").get_data(as_text=True)
    assert "创建组织「机电工程系党总支」" in csv and "created the organization" not in csv
    # The language is the reader's again once the document is made.
    assert "System created the organization" in auditor.get("/audit/units/mb-jd/trail").text
    # A spreadsheet, whose rule labels and cells come from the same helpers as the matrix page.
    org = as_user("org")
    org.post("/lang", {"lang": "en", "next": "/"})
    assert "Application and unit opinions" in org.get("/campaigns/ncut-info-2023/compliance").text
    sheet = org.get("/campaigns/ncut-info-2023/compliance.csv").get_data(as_text=True)
    assert "申报与单位意见" in sheet and "未申报" in sheet
    assert "Application and unit opinions" not in sheet and "Not applied" not in sheet
