"""The store's experiment tables: each experiment's spec and status, and the lists served
inside one (impressions). A mixin of :class:`~llmrec.store.store.Store`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from llmrec.errors import StoreError
from llmrec.store import schema

if TYPE_CHECKING:
    import pandas as pd

STATUSES = ("running", "paused", "stopped")


class ExperimentRecords:
    engine: Engine

    def create_experiment(self, name: str, spec: dict, status: str = "running") -> None:
        """Record a new experiment; :class:`StoreError` when the name is taken."""
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.experiments.insert().values(
                    name=name, spec=spec, status=status, created_at=now, updated_at=now
                ))  # fmt: skip
        except IntegrityError:
            raise StoreError(f"an experiment named {name!r} exists already") from None

    def set_experiment_status(self, name: str, status: str) -> None:
        """Pause, resume or stop; :class:`StoreError` for an unknown experiment or a
        stopped one (a stopped experiment's report is final)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        t = schema.experiments
        with self.engine.begin() as conn:
            found = conn.execute(select(t.c.status).where(t.c.name == name)).scalar()
            if found is None:
                raise StoreError(f"no experiment named {name!r} (llmrec experiments list)")
            if found == "stopped" and status != "stopped":
                raise StoreError(f"experiment {name!r} is stopped: it cannot run again")
            conn.execute(t.update().where(t.c.name == name)
                         .values(status=status, updated_at=time.time()))  # fmt: skip

    def experiment(self, name: str) -> dict | None:
        """An experiment's row (name, spec, status, created_at, updated_at) or None."""
        t = schema.experiments
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).first()
        return None if row is None else dict(row._mapping)

    def experiments_list(self) -> list[dict]:
        """Every experiment's row, oldest first."""
        t = schema.experiments
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at, t.c.name)).all()
        return [dict(r._mapping) for r in rows]

    def add_impressions(self, rows: Sequence[dict]) -> int:
        """Store served lists (experiment, variant, user_id, request_id, items, teams,
        shown_at) in one transaction."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.execute(schema.impressions.insert(), list(rows))
        return len(rows)

    def add_lost_impressions(self, lost: dict[str, int]) -> None:
        """Count impressions that could not be stored, per experiment."""
        rows = [{"experiment": e, "lost": n, "counted_at": time.time()} for e, n in lost.items()]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(schema.impressions_lost.insert(), rows)

    def lost_impressions(self, experiment: str) -> int:
        """How many of the experiment's impressions were never stored."""
        t = schema.impressions_lost
        with self.engine.connect() as conn:
            found = conn.execute(
                select(func.coalesce(func.sum(t.c.lost), 0)).where(t.c.experiment == experiment)
            ).scalar()
        return int(found)

    def impressions_frame(self, experiment: str) -> pd.DataFrame:
        """The experiment's impressions (variant, user_id, request_id, items, teams,
        shown_at) in the order they were stored."""
        import pandas as pd

        t = schema.impressions
        stmt = (
            # c["items"]: c.items is the column collection's own method
            select(t.c.variant, t.c.user_id, t.c.request_id, t.c["items"], t.c.teams, t.c.shown_at)
            .where(t.c.experiment == experiment)
            .order_by(t.c.impression_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return pd.DataFrame([tuple(r) for r in rows],
                            columns=["variant", "user_id", "request_id", "items", "teams",
                                     "shown_at"])  # fmt: skip

    def events_of_users(self, user_ids: Sequence[str], since: float) -> pd.DataFrame:
        """The events (user_id, item_id, event_type, timestamp) of ``user_ids`` after
        ``since``: the outcomes an experiment's report attributes."""
        import pandas as pd

        t = schema.events
        frames = []
        ids = list(dict.fromkeys(map(str, user_ids)))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 1_000):  # bounded IN lists
                stmt = select(t.c.user_id, t.c.item_id, t.c.event_type, t.c.timestamp).where(
                    t.c.user_id.in_(ids[start : start + 1_000]), t.c.timestamp > since
                )
                frames.append(pd.DataFrame([tuple(r) for r in conn.execute(stmt)],
                                           columns=["user_id", "item_id", "event_type",
                                                    "timestamp"]))  # fmt: skip
        if not frames:
            return pd.DataFrame(columns=["user_id", "item_id", "event_type", "timestamp"])
        return pd.concat(frames, ignore_index=True)
