"""Time travel: a project, or a campaign's overview, as it stood at a past position of the log.

Built from the log, not from the live projections: the prefix of the log up to position P (the
events of other campaigns' projects left out) is replayed, through the very projection handlers
the live database uses, into a scratch in-memory SQLite database; the page's usual context
functions then read that database (`db.reading_from`), and the page is rendered with the live
page's templates once the scratch database is closed. What a page computes from the
projections is therefore exactly what it showed at P.

"As of a date/time" means the prefix up to the last event recorded at or before that moment.
(Commands run under a simulated clock, as the demo does, may record times out of position
order; the prefix is still the one consistent state the log had at that point.)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import peewee

from . import db, log, projections, schema, visits
from .errors import DomainError
from .events import from_row
from .i18n import N_, _
from .trail import TZ, local, parse_local_input, parse_position, split_stream, utc_text

BATCH = 2000


@dataclass
class Moment:
    position: int
    local_text: str  # "YYYY-MM-DD HH:MM", Beijing time
    moment: datetime  # aware; "now" for the pages that compute lateness
    asked: str  # what the user asked for, to fill the form again

    @property
    def banner(self) -> str:
        return _("以下为 %(time)s（位置 %(position)s）时的状态", time=self.local_text,
                 position=self.position)  # fmt: skip


def resolve(at: str | None, position: str | None) -> Moment | None:
    """The moment asked for by `at` (a Beijing date or date and time) or `position`; None when
    neither is given. Bad input is a DomainError with a clear message."""
    at, position = (at or "").strip(), (position or "").strip()
    if at and position:
        raise DomainError(_("请只填写时间或位置中的一项。"))
    if position:
        p = parse_position(position)
        event = log.get(p)
        moment = log.parse_time(event.occurred_at)
        return Moment(p, local(event.occurred_at, seconds=False), moment, position)
    if at:
        moment = parse_local_input(at, True, N_("时间"))
        row = db.fetchone(
            "SELECT MAX(position) FROM event WHERE occurred_at <= ?", (utc_text(moment),)
        )
        if not row or not row[0]:
            raise DomainError(_("%(at)s 之前日志中还没有任何事件。", at=at))
        text = moment.astimezone(ZoneInfo(TZ)).strftime("%Y-%m-%d %H:%M")
        return Moment(row[0], text, moment, at)
    return None


def _other_campaign(stream: str, keep: str | None, others: list[str]) -> bool:
    """Does this stream belong to another campaign (its own stream or one of its projects')?"""
    if keep is None:
        return False
    ident = split_stream(stream)[1]
    return any(ident == o or ident.startswith(o + ".") for o in others if o != keep)


def _rows(position: int, campaign: str | None) -> list[tuple]:
    others = [r[0] for r in db.fetchall("SELECT slug FROM campaign")]
    return [r for r in log.iter_rows(upto=position) if not _other_campaign(r[2], campaign, others)]


def _create(scratch: peewee.Database) -> None:
    for sql in [schema.EVENT_TABLE, *schema.SIDE_TABLES, visits.TABLE]:
        scratch.execute_sql(sql)
    for p in projections.REGISTRY:
        for sql in [*p.tables.values(), *p.indexes]:
            scratch.execute_sql(sql)
        scratch.execute_sql(
            "INSERT INTO projection_checkpoint (name, position) VALUES (?, 0)", (p.name,)
        )


@contextmanager
def replayed(position: int, campaign: str | None = None):
    """Inside the block, this thread's queries read the state of the log at `position`.

    `campaign` leaves the other campaigns' streams out of the replay (they cannot change what
    this campaign's pages show), which keeps a time-travel view fast on a long log.
    """
    rows = _rows(position, campaign)
    scratch = peewee.SqliteDatabase(":memory:")
    scratch.connect()
    try:
        with db.reading_from(scratch):
            with scratch.atomic():
                _create(scratch)
                marks = ", ".join("?" * 11)
                insert = f"INSERT INTO event ({log.COLUMNS}) VALUES ({marks})"
                for start in range(0, len(rows), BATCH):
                    batch = rows[start : start + BATCH]
                    scratch.cursor().executemany(insert, batch)
                    projections.apply_all([from_row(r) for r in batch])
            yield scratch
    finally:
        scratch.close()


def project_context(pid: str, moment: Moment) -> dict | None:
    """The project page's context as of `moment` (None: the project did not exist yet). Call
    inside a request: the page context is the live page's, for the current user, with every
    action switched off."""
    from .commands import applications
    from .web import projects as project_pages

    with replayed(moment.position, campaign_of(pid)):
        project = applications.get_project(pid)
        if project is None:
            return None
        context = project_pages.page_context(project)
    context.update(my_turn=False, may_upload=False, as_of=moment)
    return context


def overview_context(slug: str, moment: Moment) -> dict | None:
    """The campaign overview's rows and summary as of `moment` (None: no campaign yet)."""
    from . import overview
    from .projections.campaigns import load_config

    with replayed(moment.position, slug):
        config = load_config(slug)
        if config is None:
            return None
        table = overview.rows(config, now=moment.moment)
        summary = overview.summary(config, table)
    return {"config": config, "rows": table, "summary": summary, "as_of": moment}


def campaign_of(pid: str) -> str | None:
    row = db.fetchone("SELECT campaign FROM project WHERE id = ?", (pid,))
    return row[0] if row else None


def moments_of(stream_ids: set[str], limit: int = 200) -> list[dict]:
    """Positions worth jumping to: each event of these streams (newest first)."""
    from .trail import Names, describe

    names = Names()
    streams = [s for s in db.fetchall("SELECT DISTINCT stream FROM event")]
    wanted = [s[0] for s in streams if split_stream(s[0])[1] in stream_ids]
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = db.fetchall(
        f"SELECT {log.COLUMNS} FROM event WHERE stream IN ({marks}) ORDER BY position DESC LIMIT ?",
        (*wanted, limit),
    )
    out = []
    for r in rows:
        e = from_row(r)
        out.append({"position": e.position, "local": local(e.occurred_at, seconds=False),
                    "text": describe(e, names)})  # fmt: skip
    return out
