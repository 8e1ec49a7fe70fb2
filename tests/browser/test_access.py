"""Applicants on a phone (375×812): no sideways scrolling, the form usable by keyboard alone;
and axe-core on the main pages: no serious or critical accessibility violations."""

from __future__ import annotations

import pytest

from tests.browser.browser_helpers import settle

pytestmark = pytest.mark.browser

NCUT = "ncut-info-2023"
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
APPLY_FORM = f"/campaigns/{NCUT}/apply/branch_feature"
DEMO_PROJECT = f"/projects/{NCUT}.ncut-cs-t.branch_feature"  # approved in the demo
WAITING_PROJECT = f"/projects/{NCUT}.ncut-ai-t.branch_feature"  # waits for the organizer


OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 1)
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
         (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''));
  return {scroll: document.scrollingElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""


@pytest.mark.parametrize(
    "username, path",
    [
        ("a-ncut-cs-t", "/"),
        ("a-ncut-se-t", APPLY_FORM),
        ("a-ncut-cs-t", DEMO_PROJECT),
        ("a-ncut-cs-t", f"/projects/{NCUT}.ncut-cs-t.branch_feature/diff?a=1&b=1"),
    ],
)
def test_applicant_pages_fit_a_phone(open_as, username, path):
    page = open_as(username, **PHONE)
    page.goto(path)
    settle(page)
    result = page.evaluate(OVERFLOW_JS)
    assert result["width"] == 375
    assert result["scroll"] <= 375 + 2, f"{path} scrolls sideways: {result}"


def test_the_form_is_reachable_by_keyboard(open_as):
    """Tab from the top: the skip link first, then every field in order, then submit."""
    page = open_as("a-ncut-se-t", **PHONE)
    page.goto(APPLY_FORM)
    settle(page)
    fields = page.locator("#apply form").locator("input:not([type=hidden]), textarea")
    expected = [fields.nth(i).get_attribute("id") for i in range(fields.count())]
    assert len(expected) == 6
    seen = []
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "跳到正文"
    for _ in range(40):
        page.keyboard.press("Tab")
        active = page.evaluate(
            "() => ({id: document.activeElement.id, tag: document.activeElement.tagName,"
            " text: document.activeElement.textContent.trim(),"
            " visible: document.activeElement.getBoundingClientRect().height > 0})"
        )
        assert active["visible"], active
        if active["tag"] == "BUTTON" and active["text"] == "提交申报":
            break
        if active["id"] in expected:
            seen.append(active["id"])
    else:
        pytest.fail("Tab never reached the submit button")
    assert seen == expected
    # Enter on the skip link moves to the main content.
    page.keyboard.press("Shift+Tab")
    page.goto(APPLY_FORM)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#main"


# --- axe-core ---------------------------------------------------------------------------------

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
  }));
}"""

PAGES = [
    (None, "/login"),
    ("a-ncut-cs-t", "/"),
    ("a-ncut-cs-t", DEMO_PROJECT),
    ("a-ncut-se-t", APPLY_FORM),
    ("s-ncut-ai-t", "/"),
    ("org", "/"),
    ("org", f"/campaigns/{NCUT}"),
    ("org", f"/campaigns/{NCUT}/overview"),
    ("org", "/review"),
    ("org", WAITING_PROJECT),
    ("org", f"/projects/{NCUT}.ncut-cs-t.branch_feature/diff?a=1&b=1"),
    ("a-mb-jd", "/campaigns/minbei-2025"),
]


@pytest.mark.parametrize("username, path", PAGES)
def test_no_serious_accessibility_violations(open_as, axe_source, username, path):
    page = open_as(username)
    page.goto(path)
    settle(page)
    if path == WAITING_PROJECT:
        assert page.locator("#review-actions").count() == 1  # the review form is checked too
    page.evaluate(axe_source)
    violations = [v for v in page.evaluate(AXE_RUN) if v["impact"] in ("serious", "critical")]
    assert not violations, "\n".join(
        f"{v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )


def test_an_applicant_switches_to_english_by_keyboard(open_as, axe_source):
    """The header's language switch by keyboard on a phone; the form and its live counter (a
    script that takes its words from the page) in English, with no accessibility faults."""
    page = open_as("a-ncut-se-t", **PHONE)
    page.goto(APPLY_FORM)
    settle(page)
    page.get_by_role("button", name="English").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    try:
        settle(page)
        assert page.url.endswith(APPLY_FORM)  # back on the page it was switched from
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
        page.locator("#intro").fill("支部品牌")
        assert page.locator("#intro + .char-counter").inner_text() == "4 / 1000 characters"
        assert page.get_by_role("button", name="Submit application").count() == 1
        page.evaluate(axe_source)
        serious = [v for v in page.evaluate(AXE_RUN) if v["impact"] in ("serious", "critical")]
        assert not serious, [v["id"] for v in serious]
    finally:  # the preference is the account's: give the other tests their Chinese back
        page.get_by_role("button", name="中文").click()
        page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
