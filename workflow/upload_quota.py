"""Upload rate limits: how many files and bytes one account may send in a window.

Uploads are the most expensive requests (Pillow decodes and re-encodes every photo) and the
only ones that fill a disk, so each account gets a budget per window, counted in the database
(table `upload_attempt`) so that every server process sees the same count. Uploads are counted
as they arrive, before their content is checked: polyglots and huge images that are refused
spend the budget as fast as accepted ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import db, log
from .errors import DomainError
from .i18n import _


@dataclass(frozen=True)
class Limits:
    files: int = 120  # an activity with its photos is about 10; a busy evening is a few dozen
    megabytes: int = 500
    window: timedelta = timedelta(minutes=10)

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(
            files=int(config.get("UPLOAD_RATE_FILES", cls.files)),
            megabytes=int(config.get("UPLOAD_RATE_MEGABYTES", cls.megabytes)),
            window=timedelta(
                minutes=int(config.get("UPLOAD_RATE_MINUTES", cls.window.seconds // 60))
            ),
        )


class UploadRateLimited(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def admit(username: str, files: int, size: int, limits: Limits, now: datetime | None = None):
    """Count an upload of `files` files and `size` bytes against the account's budget, or
    refuse it (UploadRateLimited, nothing counted) when it would go over."""
    now = now or datetime.now(UTC)
    since = log.format_time(now - limits.window)
    used_files, used_bytes, oldest = db.fetchone(
        "SELECT COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0), MIN(at) "
        "FROM upload_attempt WHERE username = ? AND at > ?",
        (username, since),
    )
    minutes = int(limits.window.total_seconds() // 60)
    if used_files + files > limits.files or used_bytes + size > limits.megabytes * 1024 * 1024:
        wait = _seconds_until_free(oldest, limits.window, now)
        raise UploadRateLimited(
            _(
                "上传过于频繁：每个账号 %(minutes)s 分钟内最多上传 %(files)s 个文件、"
                "共 %(mb)s MB。请约 %(wait)s 分钟后再试，已上传的内容不受影响。",
                minutes=minutes,
                files=limits.files,
                mb=limits.megabytes,
                wait=max(1, -(-wait // 60)),
            ),
            retry_after=wait,
        )
    with db.database.atomic():
        db.execute(
            "INSERT INTO upload_attempt (username, at, files, bytes) VALUES (?, ?, ?, ?)",
            (username, log.format_time(now), files, size),
        )


def _seconds_until_free(oldest: str | None, window: timedelta, now: datetime) -> int:
    """When the oldest upload in the window leaves it: the earliest a retry can succeed."""
    if oldest is None:  # this one request alone is over the budget
        return int(window.total_seconds())
    left = log.parse_time(oldest) + window - now
    return max(1, int(left.total_seconds()))
