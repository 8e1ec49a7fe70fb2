"""Exhibition mode (专题交流展览) in chromium: keyboard only, slide by slide.

A site of its own: 闽北职院's campaign seeded through `showcased` (certified brands, the showcase
published on the intranet), so an anonymous visitor opens it without logging in.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import MINBEI, PASSWORD, serve, site_app, site_env

pytestmark = pytest.mark.browser


def _build(env: dict) -> None:
    from workflow import db
    from workflow import demo as demo_data

    with site_app(env).app_context():  # the demo's photos go to this site's upload folder
        db.database.connect(reuse_if_open=True)
        try:
            demo_data.seed([MINBEI], PASSWORD, through="showcased", echo=lambda *_: None)
        finally:
            db.database.close()


@pytest.fixture(scope="module")
def showcase_site(tmp_path_factory, chromium):
    base = tmp_path_factory.mktemp("showcase-site")
    env = site_env(base)
    _build(env)
    with serve(base, env) as site:
        yield site.url, site.log_path


def _current(page) -> int:
    return int(page.locator(".slide:not([hidden])").get_attribute("data-slide"))


def test_exhibition_by_keyboard(chromium, showcase_site):
    url, log_path = showcase_site
    context = chromium.new_context(base_url=url, locale="zh-CN",
                                   viewport={"width": 1280, "height": 800})  # fmt: skip
    problems = []
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    try:
        page.goto(f"/campaigns/{MINBEI}/showcase")  # anonymous: published on the intranet
        assert page.locator(".showcase-card").count() >= 1
        page.keyboard.press("Tab")  # reach the exhibition link without a mouse
        page.goto(f"/campaigns/{MINBEI}/showcase/exhibition")
        total = page.locator(".slide[data-slide]").count()
        assert total >= 2
        assert _current(page) == 1
        assert page.locator(".slide:not([hidden]) h1").is_visible()
        page.keyboard.press("ArrowRight")
        assert _current(page) == 2
        page.keyboard.press("Space")
        assert _current(page) == 3 if total >= 3 else 2
        page.keyboard.press("ArrowLeft")
        assert _current(page) == 2
        page.keyboard.press("End")
        assert _current(page) == total
        page.keyboard.press("ArrowRight")  # stays on the last slide
        assert _current(page) == total
        page.keyboard.press("Home")
        assert _current(page) == 1
        assert "slide=1" in page.url
        # the photo slides show their captions, and the images load
        page.keyboard.press("ArrowRight")
        img = page.locator(".slide:not([hidden]) img.big")
        if img.count():
            assert page.evaluate("(el) => el.complete && el.naturalWidth > 0", img.element_handle())
        page.keyboard.press("f")  # the Fullscreen API; headless may refuse it, never an error
        page.wait_for_timeout(300)
        if page.evaluate("() => !!document.fullscreenElement"):
            page.keyboard.press("Escape")  # leaves fullscreen first
            page.wait_for_function("() => !document.fullscreenElement")
            assert "exhibition" in page.url
        page.keyboard.press("Escape")
        page.wait_for_url(f"**/campaigns/{MINBEI}/showcase")
        assert problems == []
        assert " 500 " not in log_path.read_text(encoding="utf-8", errors="replace")
    finally:
        context.close()


def test_exhibition_without_javascript_is_a_sequence_of_pages(chromium, showcase_site):
    url, _ = showcase_site
    context = chromium.new_context(base_url=url, java_script_enabled=False,
                                   viewport={"width": 375, "height": 700})  # fmt: skip
    try:
        page = context.new_page()
        page.goto(f"/campaigns/{MINBEI}/showcase/exhibition")
        assert _current(page) == 1
        page.locator(".slide:not([hidden]) a.next").click()
        assert "slide=2" in page.url and _current(page) == 2
        page.locator(".slide:not([hidden]) a.prev").click()
        assert _current(page) == 1
        page.goto(f"/campaigns/{MINBEI}/showcase")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375  # the grid fits a phone without sideways scrolling
    finally:
        context.close()
