"""Many writers on one stream, in threads and in processes, and a writer killed mid-append.

Every writer reads the stream version just before appending, as a command does. Exactly one
append may win each version; the others must get ConcurrencyError, never a lost or a doubled
write, and the log must stay gapless and verifiable. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from workflow import db, log, projections
from workflow.events import NewEvent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STREAM = "unit:race"
THREADS, THREAD_ATTEMPTS = 8, 200
PROCESSES, PROCESS_ATTEMPTS = 4, 200


def create_race_unit():
    event = NewEvent(
        "OrgUnitCreated",
        {"code": "race", "name": "竞争党委", "level": "committee", "kind": None, "parent": None},
    )
    log.append(STREAM, 0, [event], "setup")


def attempt_appends(name: str, attempts: int, start=None) -> tuple[list[int], int]:
    """`attempts` read-then-append cycles on STREAM; returns (versions won, conflicts)."""
    won, conflicts = [], 0
    if start is not None:
        start.wait()
    for i in range(attempts):
        expected = log.stream_version(STREAM)
        if i % 3 == 0:
            time.sleep(0)  # let another writer in between the read and the append
        event = NewEvent(
            "OrgUnitRenamed", {"code": "race", "name": f"{name}-{i}", "reason": "并发"}
        )
        try:
            [written] = log.append(STREAM, expected, [event], name)
        except log.ConcurrencyError as exc:
            assert exc.stream == STREAM and exc.expected == expected
            assert exc.actual is None or exc.actual > expected
            conflicts += 1
        else:
            assert written.version == expected + 1
            won.append(written.version)
    return won, conflicts


def check_outcome(results: list[tuple[list[int], int]], attempts: int) -> None:
    won = [v for versions, _ in results for v in versions]
    conflicts = sum(c for _, c in results)
    assert len(won) + conflicts == attempts
    assert conflicts > 0, "the writers never collided: the test did not test concurrency"
    # One winner per version, versions 2..N without gaps (version 1 created the unit).
    assert sorted(won) == list(range(2, len(won) + 2))
    versions = [r[0] for r in db.fetchall(
        "SELECT version FROM event WHERE stream = ? ORDER BY version", (STREAM,)
    )]  # fmt: skip
    assert versions == list(range(1, len(won) + 2))
    positions = [r[0] for r in db.fetchall("SELECT position FROM event ORDER BY position")]
    assert positions == list(range(1, len(positions) + 1))
    result = log.verify()
    assert result.ok, result.summary()
    assert result.count == len(positions)
    # The projection holds the last winner's name, and a rebuild agrees.
    last = log.read_stream(STREAM)[-1]
    assert db.fetchone("SELECT name, position FROM org_unit WHERE code = 'race'") == (
        last.payload["name"],
        last.position,
    )
    incremental = projections.snapshot()
    projections.rebuild()
    assert projections.snapshot() == incremental


def test_threads_racing_on_one_stream(app):
    create_race_unit()
    start = threading.Barrier(THREADS)
    results, errors = [], []

    def run(n):
        db.database.connect(reuse_if_open=True)  # the proxy's connection is per thread
        try:
            results.append(attempt_appends(f"t{n}", THREAD_ATTEMPTS, start))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    check_outcome(results, THREADS * THREAD_ATTEMPTS)


def test_threads_on_their_own_streams_never_conflict(app):
    """Writers of different streams only queue for the writer lock: every append succeeds, and
    the interleaved positions still form one gapless, linear chain."""
    per_thread = 60
    start = threading.Barrier(THREADS)
    written, errors = {}, []

    def run(n):
        db.database.connect(reuse_if_open=True)
        try:
            start.wait()
            stream, mine = f"unit:own{n}", []
            for i in range(per_thread):
                event = NewEvent(
                    "OrgUnitRenamed", {"code": f"own{n}", "name": str(i), "reason": "x"}
                )
                mine.extend(log.append(stream, i, [event], f"t{n}"))
            written[n] = mine
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    positions = sorted(e.position for events in written.values() for e in events)
    assert positions == list(range(1, THREADS * per_thread + 1))
    for n, events in written.items():
        assert [e.version for e in events] == list(range(1, per_thread + 1))
        assert log.read_stream(f"unit:own{n}") == events
    result = log.verify()
    assert result.ok and result.count == THREADS * per_thread, result.summary()


def process_writer(url, name, attempts, start, results):
    """Entry point of a spawned writer process: its own interpreter, its own connection."""
    try:
        from workflow import db as child_db
        from workflow import projections as _projections  # noqa: F401 - registers handlers

        child_db.bind(url)
        child_db.database.connect()
        try:
            results.put((name, attempt_appends(name, attempts, start), None))
        finally:
            child_db.database.close()
    except BaseException as exc:  # noqa: BLE001 - sent to the parent
        results.put((name, None, repr(exc)))


def test_processes_racing_on_one_stream(app, database_url):
    create_race_unit()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(
            target=process_writer, args=(database_url, f"p{n}", PROCESS_ATTEMPTS, start, results)
        )
        for n in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    finally:
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.kill()
    errors = [(name, err) for name, _, err in outcomes if err]
    assert not errors, errors
    assert all(w.exitcode == 0 for w in workers)
    check_outcome([r for _, r, _ in outcomes], PROCESSES * PROCESS_ATTEMPTS)


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from workflow import db, log, projections
    from workflow.events import NewEvent

    url, ready = sys.argv[1], sys.argv[2]
    db.bind(url)
    db.database.connect()
    original = projections.apply_all

    def apply_then_hang(events):
        original(events)  # the projections are written too, inside the open transaction
        open(ready, "w").close()
        time.sleep(600)

    projections.apply_all = apply_then_hang
    events = [NewEvent("OrgUnitCreated", {"code": "doomed", "name": "未完成", "level": "committee",
                                          "kind": None, "parent": None})]
    events += [NewEvent("OrgUnitRenamed", {"code": "doomed", "name": f"第{i}次", "reason": "崩溃"})
               for i in range(49)]
    log.append("unit:doomed", 0, events, "crasher")
    """
)


def test_writer_killed_mid_append_leaves_no_trace(app, database_url, tmp_path):
    from workflow.authz import SYSTEM
    from workflow.commands import accounts, orgs

    orgs.create_unit(SYSTEM, "c1", "信息学院党委", "committee")
    orgs.create_unit(SYSTEM, "g1", "第一党总支", "general_branch", parent="c1")
    accounts.create_user(SYSTEM, "org", "组织部", ["organizer"], None, "secret-123")
    before_head, before_snapshot = log.head(), projections.snapshot()
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": ROOT}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, database_url, str(ready)], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, f"writer exited early with {child.returncode}"
            assert time.monotonic() < deadline, "writer never reached the middle of its append"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # None of the 50 events, nor their projection, survived; the log is intact.
    assert log.read_stream("unit:doomed") == []
    assert db.fetchone("SELECT COUNT(*) FROM event WHERE actor = 'crasher'")[0] == 0
    assert db.fetchone("SELECT 1 FROM org_unit WHERE code = 'doomed'") is None
    assert log.head() == before_head
    result = log.verify()
    assert result.ok, result.summary()
    assert projections.snapshot() == before_snapshot
    projections.rebuild()
    assert projections.snapshot() == before_snapshot
    # The writer lock died with the process: the next append goes through at once.
    event = NewEvent("OrgUnitRenamed", {"code": "c1", "name": "信息学院党委（新）", "reason": "续"})
    [written] = log.append("unit:c1", 1, [event], "tester")
    assert written.position == before_head[0] + 1
    assert log.verify().ok
