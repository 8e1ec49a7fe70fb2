"""Background jobs are visible to every worker process of one server (same instance directory):
a job started in another process is polled here with its progress and result; a job whose
process died shows as failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from workflow import jobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def other_process(app, body: str) -> str:
    """Run `body` in a second app instance on the same database and instance directory;
    returns what it prints."""
    config = {
        "INSTANCE_PATH": app.instance_path,
        "DATABASE_URL": app.config["DATABASE_URL"],
        "UPLOAD_DIR": app.config["UPLOAD_DIR"],
        "CHECKPOINT_KEY_FILE": app.config["CHECKPOINT_KEY_FILE"],
        "SECRET_KEY": "test-secret",
        "TESTING": True,
    }
    script = "import json, os, sys, time\nfrom app import create_app\nfrom workflow import jobs\n"
    script += f"app = create_app(json.loads({json.dumps(json.dumps(config))}))\n"
    script += "with app.app_context():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_verification_started_by_another_worker_is_polled_here(demo, as_user):
    app = demo
    job_id = other_process(
        app,
        """
        from workflow.web.audit import start_verify
        job = start_verify()
        jobs.wait(job.id, 60)
        print(job.id)
    """,
    )
    assert job_id not in jobs._jobs  # not this process's own
    with app.app_context():
        found = jobs.get(job_id)
    assert found is not None and found.finished and not found.error
    assert found.kind == "verify-log" and found.done == found.total
    page = as_user("auditor").get(f"/audit/integrity/jobs/{job_id}", htmx=True)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "不存在" not in body and "核对了" in body


def test_a_running_job_of_another_worker_shows_progress_and_is_joined(demo):
    app = demo
    # The other process starts a job, reports progress, then waits to be told to stop.
    flag = os.path.join(app.instance_path, "stop-flag")
    script = f"""
        def work(progress):
            progress(3)
            while not os.path.exists({flag!r}):
                time.sleep(0.05)
            return "done"
        job = jobs.start("slow-test", 10, work)
        print(job.id, flush=True)
        jobs.wait(job.id, 60)
        time.sleep(0.3)
        print(job.id)
    """
    config = {"INSTANCE_PATH": app.instance_path, "DATABASE_URL": app.config["DATABASE_URL"],
              "UPLOAD_DIR": app.config["UPLOAD_DIR"], "SECRET_KEY": "x",
              "CHECKPOINT_KEY_FILE": app.config["CHECKPOINT_KEY_FILE"]}  # fmt: skip
    code = "import json, os, sys, time\nfrom app import create_app\nfrom workflow import jobs\n"
    code += f"app = create_app(json.loads({json.dumps(json.dumps(config))}))\n"
    code += "with app.app_context():\n" + textwrap.indent(textwrap.dedent(script), "    ")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        job_id = proc.stdout.readline().strip()
        with app.app_context():
            running = jobs.wait(job_id, 0.5)
            assert running is not None and not running.finished and running.done == 3
            assert running.percent == 30
            # Starting the same kind here joins the running job instead of a second one.
            joined = jobs.start("slow-test", 10, lambda progress: "second")
            assert joined.id == job_id
            open(flag, "w").close()
            finished = jobs.wait(job_id, 30)
            assert finished.finished and finished.result == "done" and not finished.error
    finally:
        proc.wait(30)


def test_a_job_whose_process_died_shows_as_failed(demo, as_user):
    app = demo
    config = {"INSTANCE_PATH": app.instance_path, "DATABASE_URL": app.config["DATABASE_URL"],
              "UPLOAD_DIR": app.config["UPLOAD_DIR"], "SECRET_KEY": "x",
              "CHECKPOINT_KEY_FILE": app.config["CHECKPOINT_KEY_FILE"]}  # fmt: skip
    code = (
        "import json, os, sys, time\nfrom app import create_app\nfrom workflow import jobs\n"
        f"app = create_app(json.loads({json.dumps(json.dumps(config))}))\n"
        "with app.app_context():\n"
        "    job = jobs.start('verify-log', 100, lambda progress: time.sleep(60))\n"
        "    print(job.id, flush=True)\n"
        "    os._exit(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    job_id = done.stdout.strip()
    with app.app_context():
        dead = jobs.get(job_id)
        assert dead is not None and dead.finished and dead.error == jobs.DIED
        # A new verification is not blocked by the dead one.
        assert jobs.start("verify-log", 1, lambda progress: None).id != job_id
    body = (
        as_user("auditor").get(f"/audit/integrity/jobs/{job_id}", htmx=True).get_data(as_text=True)
    )
    assert "任务所在的进程已退出" in body


def test_unknown_or_malformed_ids_find_nothing(demo):
    with demo.app_context():
        assert jobs.get("0123456789abcdef") is None
        assert jobs.get("../../etc/passwd") is None
