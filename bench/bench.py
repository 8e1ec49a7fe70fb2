"""`make bench`: the event log and the pages at scale, written to bench/results.json.

Steps, all on a fresh database of the benchmark's own (SQLite `bench/bench.db`, WAL, synchronous
FULL; or, with DATABASE_URL=postgresql://…, a scratch database created on that server and dropped
at the end):

1. the demo data (workflow.demo.seed, through approval where supported): the `org` user, the
   campaigns and their projects;
2. the bulk of BENCH_EVENTS synthetic events (default 100000) over 200 units and their accounts,
   appended through `workflow.log.append` many events per call and many calls per transaction
   (fast to fill; not what is measured);
3. BENCH_APPENDS (default 2000) single-event appends, one transaction each, through the same
   `log.append` with its projections: `append_per_s`, `append_p95_ms`;
4. `log.verify()` over the whole log (`verify_per_s`) and `projections.rebuild()` (`rebuild_per_s`,
   checked to reproduce the incrementally built tables), each the best of three runs because the
   machine may be shared (every run is in results.json);
5. every GET page of the app (found in its URL map, parameters filled from the demo data), and
   its htmx fragment where htmx gets one, in-process with the Flask test client, logged in as
   `org`: `pages[name] = {"p50_ms", "p95_ms", ...}`; what was skipped and why is in
   `pages_skipped`.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlparse, urlunparse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from app import create_app  # noqa: E402
from workflow import db, log, projections  # noqa: E402
from workflow.events import NewEvent  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
APPENDS = int(os.environ.get("BENCH_APPENDS", "2000"))
PAGE_SAMPLES = int(os.environ.get("BENCH_PAGE_SAMPLES", "50"))
REPEAT = 3  # verify and rebuild: best of three, the machine is shared
UNITS = 200
USERS_PER_UNIT = 2
BATCH = 20  # events per append call while filling
CALLS_PER_TX = 250  # append calls per transaction while filling
PASSWORD = "bench-password"
FAST_HASH = "pbkdf2:sha256:1000"
TTY = sys.stdout.isatty()
GOALS = {
    "append_per_s": 1000,
    "append_p95_ms": 5,
    "verify_per_s": 150_000,
    "rebuild_per_s": 20_000,
    "page_p95_ms": 50,
}


def say(text: str = "", end: str = "\n") -> None:
    print(text, end=end, flush=True)


# --- The database --------------------------------------------------------------------------


def prepare_database(name: str = "bench") -> tuple[str, Callable[[], None]]:
    """A fresh, empty database (bench/NAME.db, or a scratch database on the DATABASE_URL
    server); returns its URL and a cleanup function."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg2

        scratch = f"brandflow_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = psycopg2.connect(url)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{scratch}"')

        def drop():
            if db.database.obj is not None and not db.database.is_closed():
                db.database.close()
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            admin.close()

        return urlunparse(urlparse(url)._replace(path="/" + scratch)), drop
    path = os.path.join(HERE, f"{name}.db")
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return "sqlite:///" + path, lambda: None


def backend_info() -> dict:
    if db.is_postgres():
        version = db.fetchone("SHOW server_version")[0]
        sync = db.fetchone("SHOW synchronous_commit")[0]
        return {"backend": "postgresql", "server_version": version, "synchronous_commit": sync}
    return {
        "backend": "sqlite",
        "sqlite_version": db.fetchone("SELECT sqlite_version()")[0],
        "journal_mode": db.fetchone("PRAGMA journal_mode")[0],
        # 2 = FULL: every commit is fsynced before append returns.
        "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            db.fetchone("PRAGMA synchronous")[0]
        ],
    }


# --- Synthetic events ----------------------------------------------------------------------


class Synthetic:
    """200 units (a committee, general branches, branches) with two accounts each, then a
    realistic mix of renames, moves, role changes, deactivations and reactivations."""

    def __init__(self, seed: int = 20250610):
        self.rng = random.Random(seed)
        self.versions: dict[str, int] = {}
        self.units: list[tuple] = []  # (code, level)
        self.general: list[str] = []
        self.users: dict[str, dict] = {}
        self.renames = 0

    def _version(self, stream: str) -> int:
        return self.versions.get(stream, 0)

    def creations(self):
        """(stream, expected version, [events]) for the units, then the accounts."""
        self.units.append(("bench", "committee"))
        yield self._unit("bench", "基准测试学院党委", "committee", None, None)
        for i in range(1, 20):
            code = f"bench-g{i:02d}"
            self.units.append((code, "general_branch"))
            self.general.append(code)
            yield self._unit(code, f"第{i}系党总支", "general_branch", None, "bench")
        for i in range(1, UNITS - 19):
            code = f"bench-b{i:03d}"
            kind = ("staff", "student", "office")[i % 3]
            parent = self.general[i % len(self.general)]
            self.units.append((code, "branch"))
            yield self._unit(code, f"第{i}党支部", "branch", kind, parent)
        for code, level in self.units:
            for j in range(USERS_PER_UNIT):
                username = f"u-{code}-{j}"
                roles = ["approver"] if j == 0 else ["applicant"]
                if level == "committee":
                    roles = ["organizer"] if j == 0 else ["auditor"]
                self.users[username] = {"unit": code, "roles": roles, "active": True}
                stream = f"user:{username}"
                payload = {"username": username, "display_name": f"测试用户{code}-{j}",
                           "roles": roles, "unit": code}  # fmt: skip
                yield self._take(stream, [NewEvent("AccountCreated", payload)])

    def _unit(self, code, name, level, kind, parent):
        payload = {"code": code, "name": name, "level": level, "kind": kind, "parent": parent}
        return self._take(f"unit:{code}", [NewEvent("OrgUnitCreated", payload)])

    def _take(self, stream: str, events: list[NewEvent]):
        version = self._version(stream)
        self.versions[stream] = version + len(events)
        return stream, version, events

    def batch(self, size: int):
        """`size` events for one randomly chosen unit or account stream."""
        if self.rng.random() < 0.4:
            code, level = self.rng.choice(self.units)
            events = [self._unit_change(code, level) for _ in range(size)]
            return self._take(f"unit:{code}", events)
        username = self.rng.choice(list(self.users))
        events = [self._account_change(username) for _ in range(size)]
        return self._take(f"user:{username}", events)

    def _unit_change(self, code, level):
        if level == "branch" and self.rng.random() < 0.1:
            payload = {"code": code, "parent": self.rng.choice(self.general),
                       "kind": self.rng.choice(("staff", "student", "office")),
                       "reason": "院系调整"}  # fmt: skip
            return NewEvent("OrgUnitMoved", payload)
        self.renames += 1
        payload = {"code": code, "name": f"{code} 更名 {self.renames}", "reason": "换届更名"}
        return NewEvent("OrgUnitRenamed", payload)

    def _account_change(self, username):
        user = self.users[username]
        if self.rng.random() < 0.3:
            user["active"] = not user["active"]
            kind = "AccountReactivated" if user["active"] else "AccountDeactivated"
            return NewEvent(kind, {"username": username, "reason": "人员变动"})
        roles = sorted(self.rng.sample(["applicant", "approver", "reviewer"], k=2))
        payload = {"username": username, "roles": roles, "unit": user["unit"],
                   "reason": "岗位调整"}  # fmt: skip
        return NewEvent("AccountRolesChanged", payload)


# --- Steps ---------------------------------------------------------------------------------


def seed_demo() -> str:
    """The demo org trees and accounts (the `org` user); with the campaigns driven through
    approval where the demo supports it, so campaign and project pages have data."""
    from workflow import demo

    through = os.environ.get("BENCH_THROUGH", "approved")
    params = inspect.signature(demo.seed).parameters
    if "through" in params and through in getattr(demo, "THROUGH", ()):
        demo.seed(list(demo.TREES), PASSWORD, through=through, echo=lambda *_: None)
        return through
    demo.seed(list(demo.TREES), PASSWORD, echo=lambda *_: None)
    return "accounts"


def fill(synthetic: Synthetic, total: int) -> dict:
    """Append until the log holds `total` events, many per call and per transaction."""
    start_count = position = log.head()[0]
    target = max(total, start_count)
    started = time.perf_counter()
    calls = 0
    last_report = 0.0

    def progress(force=False):
        nonlocal last_report
        now = time.perf_counter()
        if force or now - last_report > (1.0 if TTY else 5.0):
            last_report = now
            done = position
            rate = (done - start_count) / max(now - started, 1e-9)
            line = f"  填充 {done:>8,}/{target:,} 事件  {rate:>8,.0f}/s"
            if TTY:
                say("\r" + line, end="")
            else:
                say(line)

    creations = synthetic.creations()
    pending = True
    while pending:
        with db.writer_transaction():
            for _ in range(CALLS_PER_TX):
                if position >= target:
                    pending = False
                    break
                item = next(creations, None)
                if item is None:
                    item = synthetic.batch(min(BATCH, target - position))
                stream, version, events = item
                position = log.append(stream, version, events, "bench")[-1].position
                calls += 1
        if pending:
            progress()
    progress(force=True)
    if TTY:
        say()
    elapsed = time.perf_counter() - started
    added = position - start_count
    return {"events": added, "calls": calls, "seconds": round(elapsed, 2),
            "per_s": round(added / elapsed)}  # fmt: skip


def single_appends(synthetic: Synthetic, count: int) -> dict:
    """One event per call, each in its own transaction (fsynced), projections included."""
    items = [synthetic.batch(1) for _ in range(count)]
    times = []
    started = time.perf_counter()
    for stream, version, events in items:
        t0 = time.perf_counter()
        log.append(stream, version, events, "bench")
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return {"count": count, "seconds": round(elapsed, 3), "per_s": round(count / elapsed),
            **latency(times)}  # fmt: skip


def latency(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)

    def pct(p):
        return ms[min(len(ms) - 1, int(round(p / 100 * (len(ms) - 1))))]

    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(pct(95), 3),
            "p99_ms": round(pct(99), 3), "max_ms": round(ms[-1], 3), "n": len(ms)}  # fmt: skip


def best_of(run) -> dict:
    """Run `run() -> (count, seconds)` REPEAT times; report the fastest and every run."""
    runs = [run() for _ in range(REPEAT)]
    count, seconds = min(runs, key=lambda r: r[1])
    return {"count": count, "seconds": round(seconds, 3), "per_s": round(count / seconds),
            "runs_per_s": [round(c / s) for c, s in runs]}  # fmt: skip


def measure_verify() -> dict:
    def run():
        t0 = time.perf_counter()
        result = log.verify()
        elapsed = time.perf_counter() - t0
        if not result.ok:
            raise SystemExit(f"verify failed: {result.summary()}")
        return result.count, elapsed

    return best_of(run)


def measure_rebuild() -> dict:
    before = projections.snapshot()

    def run():
        t0 = time.perf_counter()
        count = projections.rebuild()
        elapsed = time.perf_counter() - t0
        if projections.snapshot() != before:
            raise SystemExit("rebuild did not reproduce the incrementally built projections")
        return count, elapsed

    return best_of(run)


# --- Pages ---------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class Browser:
    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def request(self, method, url, htmx=False, data=None):
        headers = {"HX-Request": "true"} if htmx else {}
        if method == "POST":
            data = dict(data or {})
            if htmx:
                headers["X-CSRFToken"] = self.token
            else:
                data.setdefault("csrf_token", self.token)
        response = self.client.open(url, method=method, headers=headers, data=data)
        match = CSRF_RE.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1) or match.group(2)
        return response

    def login(self, username):
        self.request("GET", "/login")
        response = self.request("POST", "/login", data={"username": username, "password": PASSWORD})
        if response.status_code != 302:
            raise SystemExit(f"login as {username} failed: {response.status_code}")
        self.request("GET", "/")  # a fresh token for the renewed session


# Routes that are not pages: files and exports, and GETs that start work rather than show it.
SKIP = {
    "static": "static files",
    "main.healthz": "health check",
    "audit.verify": "starts a background verification of the whole log (see verify_per_s)",
}
EXPORTS = (".csv", ".pdf", ".xlsx", ".zip")


def page_list(app) -> tuple[list[tuple], dict]:
    """Every GET route of the app, its parameters filled from the benchmark's data: the demo
    campaign (`slug`, a stage `code`, a form field `key`) and project (`pid`).
    Returns ([(rule, url)], {rule: why skipped})."""
    from flask import url_for

    values = {
        "slug": _first("SELECT slug FROM campaign ORDER BY slug"),
        "pid": _first("SELECT id FROM project ORDER BY id"),
    }
    try:  # the campaign's first stage and form field, for their edit fragments
        config = json.loads(_first("SELECT config FROM campaign ORDER BY slug"))
        values["code"], values["key"] = config["stages"][0]["code"], config["form"][0]["key"]
    except Exception:  # no campaign, or a config of another shape: those routes are skipped
        pass
    pages, skipped = [], {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods:
            continue
        if rule.endpoint in SKIP or rule.rule.endswith(EXPORTS):
            skipped[rule.rule] = SKIP.get(rule.endpoint, "a download, not a page")
            continue
        missing = [a for a in sorted(rule.arguments) if values.get(a) is None]
        if missing:
            skipped[rule.rule] = f"no value for {', '.join(missing)} in the benchmark's data"
            continue
        with app.test_request_context():
            url = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
        pages.append((rule.rule, url))
    return pages, skipped


def _first(sql):
    try:
        with db.database.connection_context():
            row = db.fetchone(sql)
    except Exception:  # a table another part of the app has not created yet
        return None
    return row[0] if row else None


def is_full_page(response) -> bool:
    return b"<html" in response.get_data()[:2000].lower()


def measure_pages(app) -> tuple[dict, dict]:
    """p50/p95 of each page; where htmx gets a fragment instead of the page, of that too."""
    app.logger.disabled = True  # a failing page is reported by its status, not a traceback
    browser = Browser(app)
    browser.login("org")
    out = {}
    pages, skipped = page_list(app)
    for rule, url in pages:
        full = browser.request("GET", url)
        variants = [(f"GET {rule}", False)]
        if full.status_code == 200 and not is_full_page(full):
            variants = [(f"GET {rule} (fragment)", False)]
        elif full.status_code == 200 and not is_full_page(browser.request("GET", url, True)):
            variants.append((f"GET {rule} (htmx fragment)", True))
        for name, htmx in variants:
            out[name] = measure_page(browser, url, htmx)
            entry = out[name]
            flag = "" if entry["status"] == 200 else f"  (HTTP {entry['status']})"
            say(
                f"  {name:<56} p50 {entry['p50_ms']:>6.1f} ms  p95 {entry['p95_ms']:>6.1f} ms{flag}"
            )
    for rule, why in skipped.items():
        say(f"  {'GET ' + rule:<56} skipped: {why}")
    return out, skipped


def measure_page(browser, url, htmx) -> dict:
    for _ in range(2):  # warm up templates and caches
        browser.request("GET", url, htmx)
    times, status, size = [], None, 0
    for _ in range(PAGE_SAMPLES):
        t0 = time.perf_counter()
        response = browser.request("GET", url, htmx)
        times.append(time.perf_counter() - t0)
        status, size = response.status_code, len(response.get_data())
    entry = latency(times)
    entry.update({"url": url, "htmx": htmx, "status": status, "bytes": size})
    return entry


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    total_started = time.perf_counter()
    url, cleanup = prepare_database()
    try:
        results = run(url)
    finally:
        cleanup()
    results["total_seconds"] = round(time.perf_counter() - total_started, 1)
    path = os.path.join(HERE, "results.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    report(results)
    say(f"\n结果已写入 {os.path.relpath(path, ROOT)}（{results['total_seconds']} s）")


def run(url: str) -> dict:
    instance = os.path.join(HERE, "instance")
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
                      "PASSWORD_HASH_METHOD": FAST_HASH, "DEMO_PASSWORD": PASSWORD,
                      "CHECKPOINT_KEY_FILE": os.path.join(instance, "checkpoint.key"),
                      "UPLOAD_DIR": os.path.join(instance, "uploads")})  # fmt: skip
    db.database.connect(reuse_if_open=True)
    info = backend_info()
    load_before = os.getloadavg()[0]
    if load_before > (os.cpu_count() or 1):
        say(f"注意：机器负载 {load_before:.1f}（{os.cpu_count()} 核），其他进程会压低下面的数字。")
    say(f"BrandFlow bench: {EVENTS:,} events, {APPENDS:,} single appends, "
        f"{info['backend']} {json.dumps(info, ensure_ascii=False)}")  # fmt: skip

    say("1/5 演示数据（workflow.demo.seed）")
    seeded = seed_demo()
    say(f"    demo seeded through: {seeded}")
    synthetic = Synthetic()
    say(f"2/5 批量填充到 {EVENTS - APPENDS:,} 个事件（{UNITS} 个组织，每次 {BATCH} 个事件）")
    filled = fill(synthetic, EVENTS - APPENDS)
    say(f"3/5 单事件追加 ×{APPENDS:,}（每次一个事务）")
    appended = single_appends(synthetic, APPENDS)
    say(f"    {appended['per_s']:,}/s  p50 {appended['p50_ms']} ms  p95 {appended['p95_ms']} ms")
    events = log.head()[0]
    say(f"4/5 校验与重建（{events:,} 个事件）")
    verified = measure_verify()
    say(
        f"    verify  {verified['per_s']:,}/s  ({verified['seconds']} s; runs {verified['runs_per_s']})"
    )
    rebuilt = measure_rebuild()
    say(
        f"    rebuild {rebuilt['per_s']:,}/s  ({rebuilt['seconds']} s; runs {rebuilt['runs_per_s']})"
    )
    db.database.close()

    say("5/5 页面（以 org 登录，Flask 测试客户端）")
    pages, skipped = measure_pages(app)
    return {
        "events": events,
        "append_per_s": appended["per_s"],
        "append_p95_ms": appended["p95_ms"],
        "verify_per_s": verified["per_s"],
        "rebuild_per_s": rebuilt["per_s"],
        "pages": pages,
        "pages_skipped": skipped,
        "append": appended,
        "fill": filled,
        "verify": verified,
        "rebuild": rebuilt,
        "database": info,
        "demo_through": seeded,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            # 1-minute load at the start and at the end: other processes slow every number.
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "goals": GOALS,
    }


def report(r: dict) -> None:
    def mark(ok):
        return "OK  " if ok else "MISS"

    say("\n=== 结果 ===")
    say(f"events         {r['events']:>10,}")
    say(f"append         {r['append_per_s']:>10,} /s   {mark(r['append_per_s'] >= GOALS['append_per_s'])}"
        f" (goal ≥ {GOALS['append_per_s']:,})")  # fmt: skip
    say(f"append p95     {r['append_p95_ms']:>10} ms  {mark(r['append_p95_ms'] < GOALS['append_p95_ms'])}"
        f" (goal < {GOALS['append_p95_ms']})")  # fmt: skip
    say(f"verify         {r['verify_per_s']:>10,} /s   {mark(r['verify_per_s'] >= GOALS['verify_per_s'])}"
        f" (goal ≥ {GOALS['verify_per_s']:,})")  # fmt: skip
    say(f"rebuild        {r['rebuild_per_s']:>10,} /s   {mark(r['rebuild_per_s'] >= GOALS['rebuild_per_s'])}"
        f" (goal ≥ {GOALS['rebuild_per_s']:,})")  # fmt: skip
    ok = {n: p for n, p in r["pages"].items() if p["status"] == 200}
    slow = [n for n, p in ok.items() if p["p95_ms"] >= GOALS["page_p95_ms"]]
    worst = max(((p["p95_ms"], n) for n, p in ok.items()), default=(0, "-"))
    say(f"pages p95 max  {worst[0]:>10} ms  {mark(not slow)} (goal < {GOALS['page_p95_ms']}; "
        f"{len(ok)} pages and fragments, slowest {worst[1]})")  # fmt: skip
    for n in slow:
        say(f"  over the goal: {n}  p95 {ok[n]['p95_ms']} ms")
    for n, p in r["pages"].items():
        if p["status"] != 200:
            say(f"  not measured as a page (HTTP {p['status']}): {n}")


if __name__ == "__main__":
    main()
