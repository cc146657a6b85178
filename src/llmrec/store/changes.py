"""Changes one process writes to a shared PostgreSQL store, told to every other process
that serves from it (the replicas of ``llmrec serve``), with PostgreSQL's LISTEN/NOTIFY.

Why LISTEN/NOTIFY: the notification is sent in the writing transaction and delivered
only when it commits (never for a rolled-back write, never before the row is
readable), in commit order, by the database every replica already talks to — no broker
to run. What it does not do is keep notifications for a listener that was disconnected:
a listener that reconnects is told to resynchronise (:class:`ChangeListener`'s
``on_reconnect``), and rebuilds what it keeps from the store.

A change is small JSON: who wrote it (``origin``: one per :class:`~llmrec.store.Store`,
so that a replica skips its own), what kind, and its data. Kinds:

- ``events``: the new events with an item, ``[user, item, type, value, timestamp]``
  each, split over several notifications to stay under PostgreSQL's 8,000-byte payload;
  a bulk write of more than ``BULK_EVENTS`` sends ``resync`` instead.
- ``items``: ids of items inserted or changed (the rows are read from the store).
- ``forget``: a forgotten user's id.
- ``keys``: ids of revoked API keys.
- ``model``: the model version to serve now (published, or rolled back to).
- ``resync``: rebuild everything kept from the store.

Applying a change twice is harmless (histories add each item once), so a replica may
also resynchronise at any time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

CHANNEL = "llmrec_changes"
KINDS = ("events", "items", "forget", "keys", "model", "resync")
MAX_PAYLOAD_BYTES = 7_000  # PostgreSQL refuses 8,000 bytes or more
BULK_EVENTS = 5_000  # more in one write: the listeners rebuild from the store instead

_log = logging.getLogger("llmrec.store")


@dataclass(frozen=True, slots=True)
class Change:
    origin: str
    kind: str
    data: list[Any]


def payloads(origin: str, kind: str, data: Sequence[Any]) -> Iterator[str]:
    """``data`` as notification payloads of at most ``MAX_PAYLOAD_BYTES`` bytes each (one
    when ``data`` is empty). An element too large for a payload of its own is an error
    of the caller: ids and event rows are bounded far below it."""
    if kind not in KINDS:
        raise ValueError(f"unknown change kind {kind!r}; known: {', '.join(KINDS)}")
    head = orjson.dumps({"o": origin, "k": kind, "d": []})[:-2]  # ends before "]}"
    room = MAX_PAYLOAD_BYTES - len(head) - 2
    chunk: list[bytes] = []
    size = 0
    for element in data:
        encoded = orjson.dumps(element)
        if len(encoded) > room:
            raise ValueError(f"a {kind} change element of {len(encoded)} bytes is too large")
        if chunk and size + len(encoded) + 1 > room:
            yield (head + b",".join(chunk) + b"]}").decode()
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk or not data:
        yield (head + b",".join(chunk) + b"]}").decode()


def parse(payload: str) -> Change | None:
    """The change in a notification payload; None (logged) for one this code cannot read
    — another channel's writer or a newer llmrec — which is skipped, not fatal."""
    try:
        found = orjson.loads(payload)
        change = Change(str(found["o"]), str(found["k"]), list(found["d"]))
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        _log.warning("llmrec: unreadable change notification skipped (%s)", exc)
        return None
    if change.kind not in KINDS:
        _log.warning("llmrec: change of unknown kind %r skipped", change.kind)
        return None
    return change


class ChangeListener:
    """A daemon thread that LISTENs on a dedicated connection (``connect()``: a DBAPI
    connection in autocommit) and calls ``on_change`` with each change written by
    another origin than ``origin``, in commit order.

    A lost connection is retried every ``retry_s`` seconds; once back, ``on_reconnect``
    is called (what was written meanwhile was not told). A quiet connection is checked
    every ``ping_s`` seconds, so that a dead one is noticed without traffic.
    ``connected`` is set while listening. Errors of the callbacks are logged and do not
    stop the listener."""

    def __init__(
        self,
        connect: Callable[[], Any],
        origin: str,
        on_change: Callable[[Change], None],
        on_reconnect: Callable[[], None],
        retry_s: float = 1.0,
        ping_s: float = 5.0,
    ) -> None:
        self.connect = connect
        self.origin = origin
        self.on_change = on_change
        self.on_reconnect = on_reconnect
        self.retry_s = retry_s
        self.ping_s = ping_s
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="store-changes", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        first, warned = True, False
        while not self._stop.is_set():
            try:
                conn = self.connect()
            except Exception as exc:  # the database is down or unreachable: try again
                if not warned:
                    _log.warning("llmrec: cannot listen for changes (%s); retrying", exc)
                    warned = True
                self._stop.wait(self.retry_s)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                self.connected.set()
                if not first:
                    _log.info("llmrec: listening for changes again; resynchronising")
                    self._call(self.on_reconnect)
                first, warned = False, False
                self._listen(conn)
            except Exception as exc:
                _log.warning("llmrec: change listener lost its connection (%s)", exc)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):  # already broken
                    conn.close()

    def _listen(self, conn) -> None:
        quiet_since = time.monotonic()
        while not self._stop.is_set():
            for notice in conn.notifies(timeout=0.5):
                quiet_since = time.monotonic()
                change = parse(notice.payload)
                if change is not None and change.origin != self.origin:
                    self._call(self.on_change, change)
                if self._stop.is_set():
                    return
            if time.monotonic() - quiet_since > self.ping_s:
                conn.execute("SELECT 1")  # raises on a dead connection
                quiet_since = time.monotonic()

    @staticmethod
    def _call(callback: Callable, *args) -> None:
        try:
            callback(*args)
        except Exception:
            _log.exception("llmrec: applying a change from the store failed")
