"""One replica among several: the served model follows what the other processes write
to a shared PostgreSQL store (other ``llmrec serve`` replicas, the CLI).

The store tells each write's change (:mod:`llmrec.store.changes`, LISTEN/NOTIFY);
:class:`Replication` applies it through the same :class:`~llmrec.app.service.Service`
methods a local write uses, so a replica's model, kept lists and key cache change as if
the write had come to it. After a lost connection to the database it rebuilds its user
state from the store, because what was written meanwhile was not told.

User rows (stated interests, links) need nothing: the service reads them from the store
when it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from llmrec.app.service import Service
from llmrec.store.changes import Change, ChangeListener

_log = logging.getLogger("llmrec.serve")
EVENT_FIELDS = ["user_id", "item_id", "event_type", "value", "timestamp"]


class Replication:
    """Applies the changes other processes write to ``service``'s store.
    ``on_keys_revoked(key_ids)`` drops revoked keys from the caller's key cache."""

    def __init__(
        self,
        service: Service,
        on_keys_revoked: Callable[[list[str]], None],
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.service = service
        self.on_keys_revoked = on_keys_revoked
        self.connect_timeout_s = connect_timeout_s
        self.listener: ChangeListener | None = None

    def start(self) -> None:
        """Listen, waiting up to ``connect_timeout_s`` for the database: a model loaded
        after this misses no change (those told while it loads are replayed on it)."""
        self.listener = self.service.store.listen(self.apply, self.service.resync)
        if not self.listener.connected.wait(self.connect_timeout_s):
            _log.warning("llmrec: not yet listening for other replicas' changes")

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()

    @property
    def listening(self) -> bool:
        return self.listener is not None and self.listener.connected.is_set()

    def apply(self, change: Change) -> None:
        service = self.service
        if change.kind == "events":
            service.apply_events(event_frame(change.data))
        elif change.kind == "items":
            items = service.store.items_frame(change.data)
            if len(items):
                service.apply_items(items)
        elif change.kind == "forget":
            for user_id in change.data:
                service.apply_forget(str(user_id))
        elif change.kind == "keys":
            self.on_keys_revoked([str(k) for k in change.data])
        elif change.kind == "model":
            service.state.follow()
        elif change.kind == "resync":
            service.resync()


def event_frame(rows: list) -> pd.DataFrame:
    """Told event rows (``EVENT_FIELDS`` each) as a frame a local write applies: ids and
    types as Python strings (what the histories read; an Arrow column would be converted
    back, a few hundred rows at a time, on every replica), numbers typed."""
    frame = pd.DataFrame(rows, columns=EVENT_FIELDS, dtype=object)
    frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    frame["timestamp"] = frame["timestamp"].astype("Int64")
    return frame
