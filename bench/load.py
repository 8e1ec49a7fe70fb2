"""`make load`: simulated users against the real server, then the log is verified.

1. A fresh database of its own (SQLite `bench/load.db`; with DATABASE_URL=postgresql://… a
   scratch database created on that server and dropped at the end): the demo through approval
   (`workflow.demo.seed`), then synthetic org and account events up to LOAD_EVENTS (default
   BENCH_EVENTS, else 100000) with bench/bench.py's builder.
2. gunicorn with LOAD_WORKERS (4) workers on 127.0.0.1 (a free port), password hashing as in
   production (scrypt) unless LOAD_PASSWORD_HASH says otherwise.
3. LOAD_USERS (50) simulated people for LOAD_SECONDS (60), each in a thread with its own
   cookies, logging in through the form and then, with an exponential think time around
   LOAD_THINK_MS (1 s), doing what their role does: applicants open their home page and
   project (with the fragments the page loads), autosave drafts, comment and read the inbox;
   branch secretaries look at their units' projects; the organizer reads the overview, the review
   queue, the compliance matrix and projects and writes internal comments; auditors and
   reviewers read. Now and then someone logs out and in again.
4. The server is stopped and the log verified (LOAD_REBUILD=1 also checks that a rebuild
   reproduces the projections).

Writes bench/load.json: requests, errors (5xx, refused connections, unexpected statuses),
requests per second, p50/p95/p99 per page and overall. Exit status 1 when there were errors or
the log does not verify. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from http.cookiejar import CookieJar
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from app import create_app  # noqa: E402
from workflow import db, log, projections  # noqa: E402

SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
USERS = int(os.environ.get("LOAD_USERS", "50"))
WORKERS = int(os.environ.get("LOAD_WORKERS", "4"))
EVENTS = int(os.environ.get("LOAD_EVENTS") or os.environ.get("BENCH_EVENTS") or "100000")
# A person reads a page before the next click: one second on average is already several times
# faster than office staff work; LOAD_THINK_MS=250 measures the server saturated instead.
THINK_MS = float(os.environ.get("LOAD_THINK_MS", "1000"))
# Arrivals spread over the first LOAD_RAMP_SECONDS: fifty logins within two seconds cost about
# seven CPU-seconds of scrypt on a two-core machine, which no office sees.
RAMP = float(os.environ.get("LOAD_RAMP_SECONDS", "10"))
HASH = os.environ.get("LOAD_PASSWORD_HASH", "scrypt")
PASSWORD = os.environ.get("DEMO_PASSWORD", "demo12345")
INSTANCE = os.path.join(HERE, "instance", "load")
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
LOADED_RE = re.compile(r'hx-get="([^"]+)"[^>]*hx-trigger="load"')
# What each role does, with weights.
MIX = {
    "applicant": {"home": 20, "project": 25, "draft": 15, "comment": 4, "campaign": 5,
                  "inbox": 8, "poll": 10, "relogin": 2},
    "approver": {"home": 30, "project": 35, "inbox": 10, "poll": 10, "relogin": 2},
    "organizer": {"home": 8, "overview": 15, "queue": 15, "project": 25, "campaign": 5,
                  "compliance": 5, "comment": 5, "inbox": 5, "poll": 10, "relogin": 1},
    "auditor": {"home": 10, "overview": 25, "project": 40, "integrity": 5, "poll": 10},
    "reviewer": {"home": 50, "inbox": 20, "poll": 20, "relogin": 2},
}  # fmt: skip
COMMENT_STATES = {"submitted", "under_review", "returned", "approved", "rejected", "cultivating"}


def say(text: str = "") -> None:
    print(text, flush=True)


# --- 1. the database -----------------------------------------------------------------------


def _bench_module():
    """bench/bench.py: the same database preparation and synthetic events as `make bench`."""
    spec = importlib.util.spec_from_file_location("brandflow_bench", os.path.join(HERE, "bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench_module()


def build(url: str) -> dict:
    from workflow import demo

    create_app({"DATABASE_URL": url, "INSTANCE_PATH": INSTANCE, "SECRET_KEY": "load",
                "PASSWORD_HASH_METHOD": HASH, "DEMO_PASSWORD": PASSWORD,
                "UPLOAD_DIR": os.path.join(INSTANCE, "uploads"),
                "CHECKPOINT_KEY_FILE": os.path.join(INSTANCE, "checkpoint.key")})  # fmt: skip
    db.database.connect(reuse_if_open=True)
    through = "approved" if "approved" in getattr(demo, "THROUGH", ()) else "submitted"
    started = time.perf_counter()
    demo.seed(list(demo.TREES), PASSWORD, through=through, echo=lambda *_: None)
    say(
        f"  演示数据（--through {through}）：{log.head()[0]:,} 个事件，{time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    BENCH.fill(BENCH.Synthetic(), EVENTS)
    events = log.head()[0]
    say(f"  合成事件（bench/bench.py）：共 {events:,} 个事件，"
        f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    projects = db.fetchall(
        "SELECT p.id, p.campaign, p.unit, p.category, p.state, u.parent FROM project p "
        "JOIN org_unit u ON u.code = p.unit ORDER BY p.id"
    )
    forms = {slug: [f["key"] for f in json.loads(cfg)["form"]]
             for slug, cfg in db.fetchall("SELECT slug, config FROM campaign")}  # fmt: skip
    db.database.close()
    return {"events": events, "through": through, "projects": projects, "forms": forms,
            "synthetic_builder": "bench/bench.py"}  # fmt: skip


# --- 2. the server -------------------------------------------------------------------------


def start_server(url: str, log_path: str) -> tuple[subprocess.Popen, str]:
    """gunicorn on a port the kernel picks (read back from its log): no race for a free port."""
    env = dict(os.environ, DATABASE_URL=url, BRANDFLOW_INSTANCE=INSTANCE, SECRET_KEY="load",
               PASSWORD_HASH_METHOD=HASH, DEMO_PASSWORD=PASSWORD,
               UPLOAD_DIR=os.path.join(INSTANCE, "uploads"),
               CHECKPOINT_KEY_FILE=os.path.join(INSTANCE, "checkpoint.key"))  # fmt: skip
    offset = os.path.getsize(log_path)
    with open(log_path, "ab") as fh:
        process = subprocess.Popen(
            [GUNICORN, "--preload", "--workers", str(WORKERS), "--bind", "127.0.0.1:0",
             "--timeout", "60", "app:create_app()"],
            cwd=ROOT, env=env, stdout=fh, stderr=fh, start_new_session=True,
        )  # fmt: skip
    deadline, base = time.monotonic() + 60, None
    while time.monotonic() < deadline and process.poll() is None:
        if base is None:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                fh.seek(offset)
                found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", fh.read())
            base = found.group(1) if found else None
        try:
            if base and Session(base).request("GET", "/healthz")[0] == 200:
                return process, base
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise SystemExit("gunicorn 未能启动，见 " + log_path)


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in the server's process group (Linux)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- 3. the users --------------------------------------------------------------------------


class NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    """One person's browser: cookies, the CSRF token of the last page, timings of each request."""

    def __init__(self, base: str, record=None):
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), NoRedirect)
        self.token = None
        self.record = record

    def request(self, method, path, fields=None, htmx=False, label=None, expect=(200,)):
        headers = {"HX-Request": "true", "X-CSRFToken": self.token or ""} if htmx else {}
        data = None
        if method == "POST":
            data = urlencode({**(fields or {}), "csrf_token": self.token or ""}).encode()
        started = time.perf_counter()
        status, body, problem = 0, "", None
        try:
            with self.opener.open(Request(self.base + path, data=data, headers=headers,
                                          method=method), timeout=60) as response:  # fmt: skip
                status, body = response.status, response.read().decode("utf-8", "replace")
        except HTTPError as exc:
            status, body = exc.code, exc.read().decode("utf-8", "replace")
        except (URLError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        if problem is None and status not in expect:
            problem = f"HTTP {status}: " + re.sub(r"\s+", " ", body)[:200]
        if self.record:
            self.record(label or f"{method} {path}", elapsed, problem)
        match = TOKEN_RE.search(body)
        if match:
            self.token = match.group(1) or match.group(2)
        return status, body


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times = defaultdict(list)
        self.errors = defaultdict(int)
        self.samples = []

    def record(self, label, seconds, problem):
        with self.lock:
            self.times[label].append(seconds)
            if problem:
                self.errors[label] += 1
                if len(self.samples) < 20:
                    self.samples.append(f"{label}: {problem}")


def percentiles(seconds: list[float]) -> dict:
    ordered = sorted(seconds)

    def pct(p):
        return round(
            ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 1
        )

    return {"n": len(ordered), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}  # fmt: skip


class User(threading.Thread):
    def __init__(self, base, stats, role, username, projects, forms, deadline, seed):
        super().__init__(daemon=True)
        self.base, self.stats, self.role, self.username = base, stats, role, username
        self.projects, self.forms, self.deadline = projects, forms, deadline
        self.rng = random.Random(seed)
        self.session = None
        # The campaigns this person may open: their own units' (everyone's for staff).
        self.campaigns = sorted({p[1] for p in projects}) or sorted(forms)

    def login(self):
        self.session = Session(self.base, self.stats.record)
        self.session.request("GET", "/login", label="GET /login")
        self.session.request("POST", "/login", {"username": self.username, "password": PASSWORD},
                             label="POST /login", expect=(302,))  # fmt: skip
        self.session.request("GET", "/", label="GET /")

    def run(self):
        time.sleep(self.rng.random() * RAMP)  # people arrive over the first seconds, not at once
        self.login()
        actions, weights = zip(*MIX[self.role].items())
        while time.monotonic() < self.deadline:
            getattr(self, "do_" + self.rng.choices(actions, weights)[0])()
            time.sleep(min(self.rng.expovariate(1000 / THINK_MS), 5 * THINK_MS / 1000))

    def get(self, path, label, htmx=False):
        return self.session.request("GET", path, htmx=htmx, label=label)

    def do_home(self):
        self.get("/", "GET /")

    def do_poll(self):
        self.get("/inbox/count", "GET /inbox/count (htmx)", htmx=True)

    def do_inbox(self):
        self.get("/inbox", "GET /inbox")

    def do_relogin(self):
        self.session.request("POST", "/logout", label="POST /logout", expect=(302,))
        self.login()

    def do_project(self):
        if not self.projects:
            return self.do_home()
        pid = self.rng.choice(self.projects)[0]
        status, body = self.get(f"/projects/{pid}", "GET /projects/<pid>")
        for url in LOADED_RE.findall(body):  # the panels the page fetches as it loads
            label = "GET " + re.sub(r"^/projects/[^/]+", "/projects/<pid>", url) + " (htmx)"
            self.get(url, label, htmx=True)

    def do_campaign(self):
        slug = self.rng.choice(self.campaigns)
        self.get(f"/campaigns/{slug}", "GET /campaigns/<slug>")

    def do_overview(self):
        slug = self.rng.choice(self.campaigns)
        self.get(f"/campaigns/{slug}/overview", "GET /campaigns/<slug>/overview")

    def do_compliance(self):
        slug = self.rng.choice(self.campaigns)
        self.get(f"/campaigns/{slug}/compliance", "GET /campaigns/<slug>/compliance")

    def do_queue(self):
        self.get("/review", "GET /review")

    def do_integrity(self):
        self.get("/audit/integrity", "GET /audit/integrity")

    def do_draft(self):
        if not self.projects:
            return self.do_home()
        _pid, slug, _unit, category, _state, _parent = self.rng.choice(self.projects)
        keys = self.forms[slug]
        fields = {
            k: f"草稿内容 {self.rng.randrange(10**6)} " * self.rng.randint(1, 40) for k in keys[:3]
        }
        self.session.request("POST", f"/campaigns/{slug}/apply/{category}/draft", fields, htmx=True,
                             label="POST /campaigns/<slug>/apply/<category>/draft (htmx)")  # fmt: skip

    def do_comment(self):
        candidates = [p for p in self.projects if p[4] in COMMENT_STATES]
        if not candidates:
            return self.do_home()
        pid = self.rng.choice(candidates)[0]
        self.get(f"/projects/{pid}/comments", "GET /projects/<pid>/comments (htmx)", htmx=True)
        fields = {"body": f"负载测试留言 {uuid.uuid4().hex[:8]}：请补充活动照片。", "about": "project",
                  "comment_id": str(uuid.uuid4())}  # fmt: skip
        if self.role == "organizer":
            fields["visibility"] = "internal"
        self.session.request("POST", f"/projects/{pid}/comments", fields, htmx=True,
                             label="POST /projects/<pid>/comments (htmx)")  # fmt: skip


def cast(projects) -> list[tuple[str, str, list]]:
    """USERS people: 60% applicants, 20% secretaries, 12% organizer, 4% auditor, 4% reviewers."""
    units = sorted({p[2] for p in projects})
    shares = [("applicant", 0.60), ("approver", 0.20), ("organizer", 0.12), ("auditor", 0.04)]
    people, counts = [], {role: max(1, round(USERS * share)) for role, share in shares}
    counts["reviewer"] = max(0, USERS - sum(counts.values()))
    for i in range(counts["applicant"]):
        unit = units[i % len(units)]
        people.append(("applicant", f"a-{unit}", [p for p in projects if p[2] == unit]))
    secretaries = sorted({p[2] for p in projects} | {p[5] for p in projects if p[5]})
    secretaries = [u for u in secretaries if u not in ("ncut-info", "minbei")]
    for i in range(counts["approver"]):
        unit = secretaries[i % len(secretaries)]
        people.append(("approver", f"s-{unit}", [p for p in projects if unit in (p[2], p[5])]))
    people += [("organizer", "org", projects)] * counts["organizer"]
    people += [("auditor", "auditor", projects)] * counts["auditor"]
    people += [("reviewer", f"reviewer{1 + i % 5}", []) for i in range(counts["reviewer"])]
    return people[:USERS]


# --- 4. run --------------------------------------------------------------------------------


def main() -> int:
    started_all = time.perf_counter()
    url, cleanup = BENCH.prepare_database("load")
    backend = "postgresql" if url.startswith("postgres") else "sqlite"
    os.makedirs(INSTANCE, exist_ok=True)
    server_log = os.path.join(INSTANCE, "gunicorn.log")
    open(server_log, "w").close()
    try:
        say(
            f"BrandFlow load: {USERS} 个模拟用户，{SECONDS:g} s，gunicorn {WORKERS} 个 worker，{backend}"
        )
        say(f"1/4 准备数据库（{EVENTS:,} 个事件）")
        data = build(url)
        say("2/4 启动 gunicorn（127.0.0.1）")
        process, base = start_server(url, server_log)
        try:
            say(f"3/4 {USERS} 个用户访问 {SECONDS:g} s")
            stats = Stats()
            deadline = time.monotonic() + SECONDS
            people = cast(data["projects"])
            users = [User(base, stats, role, name, projects, data["forms"], deadline, seed=i)
                     for i, (role, name, projects) in enumerate(people)]  # fmt: skip
            load_before = os.getloadavg()[0]
            server_cpu, client_cpu = group_cpu_seconds(process.pid), time.process_time()
            began = time.perf_counter()
            for user in users:
                user.start()
            for user in users:
                user.join(SECONDS + 120)
            elapsed = time.perf_counter() - began
            server_cpu = group_cpu_seconds(process.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
            load_after = os.getloadavg()[0]
        finally:
            stop_server(process)
        tracebacks = open(server_log, encoding="utf-8", errors="replace").read().count("Traceback")
        say("4/4 校验日志")
        create_app({"DATABASE_URL": url, "INSTANCE_PATH": INSTANCE, "SECRET_KEY": "load",
                    "CHECKPOINT_KEY_FILE": os.path.join(INSTANCE, "checkpoint.key")})  # fmt: skip
        db.database.connect(reuse_if_open=True)
        verified = log.verify()
        rebuild_equal = None
        if os.environ.get("LOAD_REBUILD") == "1":
            before = projections.snapshot()
            projections.rebuild()
            rebuild_equal = projections.snapshot() == before
        db.database.close()
    finally:
        cleanup()

    all_times = [t for times in stats.times.values() for t in times]
    errors = sum(stats.errors.values()) + tracebacks
    result = {
        "backend": backend,
        "users": USERS,
        "workers": WORKERS,
        "seconds": round(elapsed, 1),
        "think_ms": THINK_MS,
        "ramp_seconds": RAMP,
        "password_hash": HASH.split(":")[0],
        "db_pool_max": db.POOL_MAX if backend != "sqlite" else None,  # per worker, PostgreSQL only
        "events_before": data["events"],
        "events_after": verified.count,
        "demo_through": data["through"],
        "synthetic_builder": data["synthetic_builder"],
        "requests": len(all_times),
        "errors": errors,
        "server_tracebacks": tracebacks,
        "error_samples": stats.samples,
        "requests_per_s": round(len(all_times) / elapsed, 1),
        "overall": percentiles(all_times) if all_times else {},
        "pages": {
            label: {**percentiles(times), "errors": stats.errors.get(label, 0)}
            for label, times in sorted(stats.times.items())
        },  # fmt: skip
        # Where the time went: the server's CPU per request (all gunicorn processes) tells the
        # cost of a page apart from the queueing a busy or shared machine adds to latencies.
        "server_cpu_s": round(server_cpu, 1),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(len(all_times), 1), 1),
        "client_cpu_s": round(client_cpu, 1),
        "cpu_capacity_s": round(elapsed * (os.cpu_count() or 1), 1),
        "loadavg_1min": [round(load_before, 2), round(load_after, 2)],
        "log_verified": verified.ok,
        "log_summary": verified.summary(),
        "rebuild_equal": rebuild_equal,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },  # fmt: skip
        "total_seconds": round(time.perf_counter() - started_all, 1),
    }
    path = os.path.join(HERE, "load.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    report(result)
    say(f"\n结果已写入 {os.path.relpath(path, ROOT)}（{result['total_seconds']} s）")
    return 0 if errors == 0 and verified.ok and rebuild_equal is not False else 1


def report(r: dict) -> None:
    o = r["overall"]
    say("\n=== 结果 ===")
    say(f"requests {r['requests']:,}  ({r['requests_per_s']}/s)   errors {r['errors']}   "
        f"overall p50 {o.get('p50_ms')} ms  p95 {o.get('p95_ms')} ms  p99 {o.get('p99_ms')} ms")  # fmt: skip
    say(f"server CPU {r['server_cpu_s']} s ({r['server_cpu_ms_per_request']} ms/request), client CPU "
        f"{r['client_cpu_s']} s, of {r['cpu_capacity_s']} s on {r['machine']['cpus']} CPUs; "
        f"load average {r['loadavg_1min'][0]} → {r['loadavg_1min'][1]}")  # fmt: skip
    say(f"{'page':<58} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'err':>4}")
    for label, p in r["pages"].items():
        say(
            f"{label:<58} {p['n']:>6} {p['p50_ms']:>8} {p['p95_ms']:>8} {p['p99_ms']:>8} {p['errors']:>4}"
        )
    for sample in r["error_samples"][:10]:
        say("  " + sample)
    say(
        f"log: {r['log_summary']}"
        + (f"; rebuild equal: {r['rebuild_equal']}" if r["rebuild_equal"] is not None else "")
    )


if __name__ == "__main__":
    sys.exit(main())
