"""Background jobs with progress, for work too long for one request (verifying the whole log).

In-process: a job is a thread, and its progress lives in a registry in this process's memory,
keyed by a random id. The page polls the job by id. Under a server with several worker
processes, a poll that reaches another process finds no such job and says so (the page then
offers to start again); run the verifier from the CLI (`flask verify-log`) for scripts.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

KEEP = 20  # finished jobs remembered


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


def start(kind: str, total: int, work: Callable[[Callable[[int], None]], object]) -> Job:
    """Run `work(progress)` in a thread, or return the job of this kind still running.
    `progress(done)` records how far it got; its return value becomes `job.result`."""
    with _lock:
        for job in _jobs.values():
            if job.kind == kind and not job.finished:
                return job
        job = Job(secrets.token_hex(8), kind, total)
        _jobs[job.id] = job
        finished = sorted((j for j in _jobs.values() if j.finished), key=lambda j: j.started)
        for old in finished[:-KEEP]:
            _jobs.pop(old.id, None)

    def progress(done: int) -> None:
        job.done = done

    def run() -> None:
        try:
            job.result = work(progress)
            job.done = job.total
        except Exception as exc:  # a job reports its failure; it never takes the server down
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.ended = time.time()
            job.finished = True

    threading.Thread(target=run, name=f"job-{kind}-{job.id}", daemon=True).start()
    return job


def get(job_id: str) -> Job | None:
    return _jobs.get(job_id)


def wait(job_id: str, timeout: float = 30.0) -> Job | None:
    """For tests and the CLI: block until the job ends (or the timeout passes)."""
    deadline = time.time() + timeout
    job = get(job_id)
    while job is not None and not job.finished and time.time() < deadline:
        time.sleep(0.01)
    return job
