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
    bad = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        rel = str(path.relative_to(ROOT / "templates"))
        if rel in PENDING:
            continue
        lines = unwrapped(path.read_text(encoding="utf-8"))
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
