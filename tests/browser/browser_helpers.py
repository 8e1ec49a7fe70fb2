"""Helpers shared by the browser tests (imported by name: pytest puts this directory on
sys.path, as it does for every test directory without an __init__.py)."""

from __future__ import annotations

PASSWORD = "demo12345"

# Counts htmx requests in flight, so a test can wait for the panels a page loads on its own
# (hx-trigger="load") without sleeping for "network idle". Injected by the browser, not the page,
# so the app's CSP (scripts from 'self' only) is untouched.
HTMX_TRACKER = """
window.__htmxPending = 0;
document.addEventListener('htmx:beforeRequest', () => { window.__htmxPending++; });
document.addEventListener('htmx:afterRequest', () => { window.__htmxPending--; });
"""
SETTLED = "() => window.__htmxPending === 0 && !document.querySelector('.htmx-request')"


def settle(page) -> None:
    """Wait for the page and the fragments it fetched on load (htmx) to be in place."""
    page.wait_for_load_state("load")
    page.wait_for_function(SETTLED)


def login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_role("textbox", name="用户名", exact=True).fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(lambda url: "/login" not in url)
    assert page.locator(".who").count() == 1, page.content()[:2000]
