"""Background jobs with progress, for work too long for one request (verifying the whole log,
compiling the booklet).

A job is a thread in the process that started it. Its state is also written to a small file
under the instance directory (`<instance>/jobs/<id>.json`, the result beside it once it ends),
so that a poll answered by another worker process of the same server finds the job and its
progress. A job whose process has died before it ended shows as failed, never as running
forever. The files are scratch data outside the log; nothing else reads them.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .i18n import N_, _

KEEP = 20  # finished jobs remembered
WRITE_EVERY = 0.2  # seconds between progress writes of one job
ID_RE = re.compile(r"^[0-9a-f]{16}$")
# Job messages stay Chinese when the job thread writes them (no request there); the two below
# are set while a request reads a job, so they are in its language.
DIED = N_("任务所在的进程已退出，任务未完成，请重新开始。")


@dataclass
class Job:
    id: str
    kind: str
    total: int
    done: int = 0
    result: object = None
    error: str = ""
    finished: bool = False
    started: float = field(default_factory=time.time)
    ended: float | None = None

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0

    @property
    def seconds(self) -> float:
        return round((self.ended or time.time()) - self.started, 2)


_jobs: dict[str, Job] = {}
_lock = threading.Lock()
_HOST = socket.gethostname()


def directory() -> str:
    """Where job state lives: the app's instance directory, shared by its worker processes."""
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            base = current_app.instance_path
        else:
            base = os.environ.get("INSTANCE_PATH") or os.path.join(
                tempfile.gettempdir(), "brandflow"
            )
    except ImportError:  # pragma: no cover - flask is always installed with the app
        base = os.path.join(tempfile.gettempdir(), "brandflow")
    path = os.path.join(base, "jobs")
    os.makedirs(path, exist_ok=True)
    return path


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _save(folder: str, job: Job, pid: int | None = None) -> None:
    state = {
        "id": job.id,
        "kind": job.kind,
        "total": job.total,
        "done": job.done,
        "error": job.error,
        "finished": job.finished,
        "started": job.started,
        "ended": job.ended,
        "pid": pid or os.getpid(),
        "host": _HOST,
    }
    if job.finished and job.result is not None:
        try:
            _write(os.path.join(folder, f"{job.id}.result"), pickle.dumps(job.result))
        except (pickle.PicklingError, TypeError, AttributeError):
            state["error"] = state["error"] or "任务结果无法保存。"
    _write(os.path.join(folder, f"{job.id}.json"), json.dumps(state).encode())


def _alive(state: dict) -> bool:
    if state.get("host") != _HOST:
        return True  # another machine: its process cannot be checked from here
    try:
        os.kill(int(state["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, ValueError, KeyError):
        return True
    return True


def _load(folder: str, job_id: str) -> Job | None:
    try:
        with open(os.path.join(folder, f"{job_id}.json"), "rb") as fh:
            state = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    job = Job(state["id"], state["kind"], state["total"], state["done"],
              None, state["error"], state["finished"], state["started"], state["ended"])  # fmt: skip
    if job.finished:
        try:
            with open(os.path.join(folder, f"{job_id}.result"), "rb") as fh:
                job.result = pickle.loads(
                    fh.read()
                )  # written by this app only, in its instance dir
        except FileNotFoundError:
            pass
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            job.error = job.error or _("任务结果无法读取。")
    elif not _alive(state):
        job.finished, job.error = True, _(DIED)
        job.ended = os.path.getmtime(os.path.join(folder, f"{job_id}.json"))
    return job


def _all(folder: str) -> list[Job]:
    found = []
    for name in os.listdir(folder):
        if name.endswith(".json") and ID_RE.match(name[:-5]):
            job = _load(folder, name[:-5])
            if job is not None:
                found.append(job)
    return found


def _prune(folder: str) -> None:
    finished = sorted((j for j in _all(folder) if j.finished), key=lambda j: j.started)
    for old in finished[:-KEEP]:
        for suffix in (".json", ".result"):
            try:
                os.remove(os.path.join(folder, old.id + suffix))
            except FileNotFoundError:
                pass
        _jobs.pop(old.id, None)


def start(kind: str, total: int, work: Callable[[Callable[[int], None]], object]) -> Job:
    """Run `work(progress)` in a thread, or return the job of this kind still running (in this
    process or another). `progress(done)` records how far it got; its return value becomes
    `job.result`."""
    folder = directory()
    with _lock:
        for job in _jobs.values():
            if job.kind == kind and not job.finished:
                return job
        for job in _all(folder):
            if job.kind == kind and not job.finished:
                return job
        job = Job(secrets.token_hex(8), kind, total)
        _jobs[job.id] = job
        _save(folder, job)
        _prune(folder)

    last = [0.0]

    def progress(done: int) -> None:
        job.done = done
        now = time.monotonic()
        if now - last[0] >= WRITE_EVERY:
            last[0] = now
            _save(folder, job)

    def run() -> None:
        try:
            job.result = work(progress)
            job.done = job.total
        except Exception as exc:  # a job reports its failure; it never takes the server down
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.ended = time.time()
            # The file says "finished" before this process does, so a process that exits as
            # soon as it sees the job end never leaves it looking unfinished.
            try:
                _save(folder, replace(job, finished=True))
            except OSError:
                pass
            job.finished = True

    threading.Thread(target=run, name=f"job-{kind}-{job.id}", daemon=True).start()
    return job


def get(job_id: str) -> Job | None:
    """The job by id: this process's own, or one another process of the server runs or ran."""
    if not isinstance(job_id, str) or not ID_RE.match(job_id):
        return None
    job = _jobs.get(job_id)
    if job is not None:
        return job
    return _load(directory(), job_id)


def wait(job_id: str, timeout: float = 30.0) -> Job | None:
    """For tests and the CLI: block until the job ends (or the timeout passes)."""
    deadline = time.time() + timeout
    job = get(job_id)
    while job is not None and not job.finished and time.time() < deadline:
        time.sleep(0.01)
        job = get(job_id)
    return job
