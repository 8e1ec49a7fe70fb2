"""Browser end-to-end fixtures: the real app served by werkzeug in a subprocess on a seeded
temporary SQLite database, driven by Playwright with Debian's chromium (never a downloaded one).

- chromium comes from BRANDFLOW_CHROMIUM (default /usr/bin/chromium). When it or playwright is
  missing the tests are skipped with the reason, except under BRANDFLOW_REQUIRE_BROWSER=1 (CI),
  where that is a failure.
- The database holds `seed-demo --through approved` for both notices, plus three new units (with
  an applicant and a secretary each) that have not applied yet, and both campaigns' apply stage
  moved around the real clock by the organizer, as a real organizer reopening it would.
- A failed test leaves screenshots of its pages in test-artifacts/; every test fails when the
  server answered 500 or logged a traceback, or the page raised a script or CSP error.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.browser.browser_helpers import HTMX_TRACKER, PASSWORD, login

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BRANDFLOW_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("BRANDFLOW_REQUIRE_BROWSER") == "1"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",  # chromium refuses to run as root otherwise
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAST_HASH = "pbkdf2:sha256:1000"
TZ = ZoneInfo("Asia/Shanghai")
NCUT, MINBEI = "ncut-info-2023", "minbei-2025"

# Units that join after the demo was seeded, so their applicant starts from an empty form:
# (code, name, level, kind, parent, secretary, brand lead).
NEW_UNITS = [
    ("ncut-net-t", "网络工程系教工党支部", "branch", "staff", "ncut-info", "黄卫东", "马晓丽"),
    ("ncut-se-t", "软件工程系教工党支部", "branch", "staff", "ncut-info", "宋立军", "唐雨桐"),
    ("mb-jd-q", "机电工程系汽车教工党支部", "branch", "staff", "mb-jd", "吕振华", "施佳慧"),
    ("ncut-ai-t", "人工智能系教工党支部", "branch", "staff", "ncut-info", "龚建明", "白若冰"),
]
# ncut-ai-t's application is submitted and agreed during setup: it waits in the review queue.
WAITING_UNIT = "ncut-ai-t"
WAITING_FIELDS = {
    "branch_name": "人工智能系教工党支部",
    "brand_name": "智汇党建",
    "lead": "白若冰",
    "intro": "人工智能系教工党支部以“智汇党建”为品牌，把党建工作融入人工智能课程建设与科研团队。",
    "measures": "一、党员教师牵头建设人工智能课程思政案例库。\n二、每月开展一次“智汇讲堂”主题党日。",
    "outcomes": "形成课程思政案例不少于 10 个；在学院及以上平台刊发新闻稿件不少于 2 篇。",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end tests driving chromium (tests/browser)")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"chromium not found at {CHROMIUM} (apt-get install chromium, or set BRANDFLOW_CHROMIUM)"
    return None


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"BRANDFLOW_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    print(f"\nbrowser tests skipped: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    """One headless chromium for the session."""
    reason = _missing()
    if reason:
        _unavailable(reason)
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            _unavailable(f"chromium at {CHROMIUM} does not start: {str(exc).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source():
    if not AXE_JS.exists():
        _unavailable(f"{AXE_JS.relative_to(ROOT)} is missing (npm ci)")
    return AXE_JS.read_text(encoding="utf-8")


# --- the site --------------------------------------------------------------------------------


@dataclass
class Site:
    url: str
    database_url: str
    log_path: Path
    process: subprocess.Popen
    env: dict = field(repr=False, default_factory=dict)

    def bind(self):
        """Point this process's database proxy at the site's database (for checks)."""
        from workflow import db

        db.bind(self.database_url)
        db.database.connect(reuse_if_open=True)
        return db

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def local(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def site_env(base: Path) -> dict:
    """The environment of a site in folder `base`: its SQLite database, instance, uploads, key."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": "sqlite:///" + str(base / "brandflow.db"),
        "BRANDFLOW_INSTANCE": str(base / "instance"),
        "UPLOAD_DIR": str(base / "uploads"),
        "CHECKPOINT_KEY_FILE": str(base / "keys" / "checkpoint.key"),
        "SECRET_KEY": "browser-test-secret",
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "DEMO_PASSWORD": PASSWORD,
    })  # fmt: skip
    return env


def site_app(env: dict):
    """The app on the site's database and folders, for seeding it in this process."""
    from app import create_app

    return create_app({"INSTANCE_PATH": env["BRANDFLOW_INSTANCE"], "DATABASE_URL": env["DATABASE_URL"],
                       "SECRET_KEY": env["SECRET_KEY"], "PASSWORD_HASH_METHOD": FAST_HASH,
                       "UPLOAD_DIR": env["UPLOAD_DIR"],
                       "CHECKPOINT_KEY_FILE": env["CHECKPOINT_KEY_FILE"]})  # fmt: skip


@contextmanager
def serve(base: Path, env: dict) -> Iterator[Site]:
    """The site served by tests/browser/serve.py in a subprocess until the block ends."""
    log_path = base / "server.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("serve.py"))],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log_file,
        )  # fmt: skip
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            raise RuntimeError(f"the server did not start: {log_path.read_text()[-2000:]}")
        url = f"http://127.0.0.1:{line}"
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            assert response.status == 200
        yield Site(url, env["DATABASE_URL"], log_path, process, env)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _build_database(env: dict) -> None:
    """seed-demo --through approved, the new units, and the apply window open now."""
    from workflow import db, log
    from workflow import demo as demo_data
    from workflow.authz import SYSTEM
    from workflow.commands import accounts, applications, campaigns, orgs
    from workflow.demo import ORGANIZER

    site_app(env)
    db.database.connect(reuse_if_open=True)
    try:
        demo_data.seed(list(demo_data.TREES), PASSWORD, through="approved", echo=lambda *_: None)
        for code, name, level, kind, parent, secretary, lead in NEW_UNITS:
            orgs.create_unit(SYSTEM, code, name, level, kind, parent)
            accounts.create_user(SYSTEM, f"s-{code}", f"{secretary}（书记）", ["approver"], code,
                                 PASSWORD)  # fmt: skip
            accounts.create_user(SYSTEM, f"a-{code}", f"{lead}（品牌负责人）", ["applicant"], code,
                                 PASSWORD)  # fmt: skip
        now = datetime.now(UTC)
        for slug in (NCUT, MINBEI):
            campaigns.reschedule_stage(ORGANIZER, slug, "apply", local(now - timedelta(days=1)),
                                       local(now + timedelta(days=2)), "新支部补报：重新开放申报")  # fmt: skip
        applicant, secretary = (
            accounts.get_account(f"a-{WAITING_UNIT}"),
            accounts.get_account(f"s-{WAITING_UNIT}"),
        )
        applications.submit(applicant, NCUT, "branch_feature", WAITING_FIELDS, str(uuid.uuid4()))
        pid = applications.project_id(NCUT, WAITING_UNIT, "branch_feature")
        applications.record_opinion(secretary, pid, "agree", "同意申报。", "龚建明",
                                    local(now)[:10], log.stream_version(applications.stream(pid)))  # fmt: skip
    finally:
        db.database.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory, chromium):
    """The app on a seeded database, served in a subprocess; yields a Site."""
    base = tmp_path_factory.mktemp("site")
    env = site_env(base)
    _build_database(env)
    with serve(base, env) as served:
        yield served


# --- pages -----------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


SERVER_FAILURE = re.compile(r'" 5\d\d |Traceback \(most recent call last\)')


@pytest.fixture(scope="session")
def _sessions():
    """Storage state (the session cookie) per user: each logs in through the form once."""
    return {}


@pytest.fixture
def open_as(chromium, site, request, _sessions):
    """open_as("a-ncut-net-t") -> a logged-in page in a fresh browser context (None: anonymous).

    Keyword arguments go to the context (viewport=..., is_mobile=...)."""
    contexts, problems = [], []
    log_start = site.log_path.stat().st_size

    def open_page(username: str | None = None, **context_options):
        options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                   "viewport": {"width": 1280, "height": 900}}  # fmt: skip
        options.update(context_options)
        if username in _sessions:
            options["storage_state"] = _sessions[username]
        context = chromium.new_context(base_url=site.url, accept_downloads=True, **options)
        context.set_default_timeout(10_000)
        context.add_init_script(HTMX_TRACKER)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"{page.url}: script error: {exc}"))
        page.on("console", lambda msg: problems.append(f"{page.url}: {msg.text}")
                if "Content Security Policy" in msg.text else None)  # fmt: skip
        if username and username not in _sessions:
            login(page, username)
            _sessions[username] = context.storage_state()
        return page

    yield open_page

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for ci, context in enumerate(contexts):
            for pi, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{ci}-{pi}.png"), full_page=True)
                except Exception as exc:  # a crashed page must not hide the real failure
                    print(f"screenshot failed: {exc}", file=sys.stderr)
    for context in contexts:
        context.close()
    with open(site.log_path, encoding="utf-8", errors="replace") as fh:
        fh.seek(log_start)
        server_log = fh.read()
    failures = [line for line in server_log.splitlines() if SERVER_FAILURE.search(line)]
    assert not failures, "the server failed:\n" + server_log[-4000:]
    assert not problems, "the page reported errors:\n" + "\n".join(problems)
