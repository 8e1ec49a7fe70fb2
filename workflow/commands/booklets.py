"""The compiled booklet's foreword: written by the organizer, a document change kept in the log.

Stream "booklet:<campaign>"; the foreword is the text of its last ``BookletForewordSet`` (the
stream is short: one event per edit), read straight from the log.
"""

from __future__ import annotations

from datetime import datetime

from .. import db, log
from ..authz import Actor, require
from ..errors import DomainError
from ..events import NewEvent
from ..i18n import _
from . import campaigns
from .scoring import check_version

MAX_CHARS = 5000


def stream(slug: str) -> str:
    return f"booklet:{slug}"


def foreword(slug: str) -> tuple[str, int]:
    """The current foreword and the stream version (for the edit form)."""
    events = log.read_stream(stream(slug))
    text = next((e.payload["text"] for e in reversed(events) if e.type == "BookletForewordSet"), "")
    return text, log.stream_version(stream(slug))


def set_foreword(actor: Actor, slug: str, text: str, version, now: datetime | None = None):
    require(actor, "campaign.manage")
    campaigns.get(slug)  # NotFound for an unknown campaign
    text = str(text or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_CHARS:
        raise DomainError(
            _("前言不能超过 %(max)s 字（现为 %(n)s 字）。", max=MAX_CHARS, n=len(text))
        )
    if text == foreword(slug)[0]:
        raise DomainError(_("前言没有改动。"))
    with db.writer_transaction():
        version = check_version(stream(slug), version)
        return log.append(
            stream(slug), version, [NewEvent("BookletForewordSet", {"text": text})],
            actor.username, now,
        )  # fmt: skip
