"""Projections: tables of current state, each folded from the events it declares.

A projection owns its tables, handles a set of event types with deterministic functions of
(event, its own tables), and is applied inside the append's transaction. `rebuild()` empties
every projection table and replays the whole log, which must give exactly the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import db
from ..events import Event


@dataclass
class Projection:
    name: str
    tables: dict[str, str]  # table name -> CREATE TABLE statement
    handlers: dict[str, Callable[[Event], None]] = field(default_factory=dict)
    indexes: list[str] = field(default_factory=list)
    # Columns added to a table after it first shipped: (name, type with default), added to
    # existing databases by schema.create_all. Rows from before keep the default until a rebuild.
    added_columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def on(self, *types: str):
        def register(fn):
            for t in types:
                self.handlers[t] = fn
            return fn

        return register


REGISTRY: list[Projection] = []
_dispatch: dict[str, list[Callable[[Event], None]]] = defaultdict(list)


def register(projection: Projection) -> Projection:
    REGISTRY.append(projection)
    _dispatch.clear()
    return projection


def _handlers_for(type_: str):
    if not _dispatch:
        for p in REGISTRY:
            for t, fn in p.handlers.items():
                _dispatch[t].append(fn)
    return _dispatch.get(type_, ())


def apply_all(events: list[Event]) -> None:
    """Fold new events into every projection and move their checkpoints (same transaction)."""
    for event in events:
        for handler in _handlers_for(event.type):
            handler(event)
    db.execute("UPDATE projection_checkpoint SET position = ?", (events[-1].position,))


def table_names() -> list[str]:
    return [name for p in REGISTRY for name in p.tables]


def rebuild(progress=None, page: int = 5000) -> int:
    """Truncate every projection table and replay the log; returns the number of events."""
    from .. import log

    count = 0
    with db.writer_transaction():
        db.take_writer_lock()
        for name in table_names():
            db.execute(f"DELETE FROM {name}")
        db.execute("UPDATE projection_checkpoint SET position = 0")
        batch: list[Event] = []
        for event in log.iter_events(page=page):
            batch.append(event)
            if len(batch) == page:
                apply_all(batch)
                count += len(batch)
                batch = []
                if progress:
                    progress(count)
        if batch:
            apply_all(batch)
            count += len(batch)
    return count


def snapshot() -> dict[str, list[tuple]]:
    """Every projection table's rows in a stable order: what a rebuild must reproduce."""
    out = {}
    for name in table_names():
        rows = db.fetchall(f"SELECT * FROM {name}")
        out[name] = sorted(tuple("" if v is None else v for v in r) for r in rows)
    return out


# Importing the modules registers them. Order matters: a projection may read the tables of
# those registered before it (inbox reads projects and comments), never of those after.
# isort: off
from . import orgs  # noqa: E402,F401
from . import accounts  # noqa: E402,F401
from . import campaigns  # noqa: E402,F401
from . import projects  # noqa: E402,F401
from . import evidence  # noqa: E402,F401
from . import scoring  # noqa: E402,F401
from . import comments  # noqa: E402,F401
from . import inbox  # noqa: E402,F401
from . import reports  # noqa: E402,F401
# isort: on
