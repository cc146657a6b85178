"""The summary `llmrec stats` shows, kept in ``store_meta`` beside a fingerprint of the data.

Computing it (:meth:`llmrec.store.Store.summary`) scans and sorts every event; a kept
summary is shown for as long as the fingerprint is unchanged. Checking and reading one
takes plain SQL that SQLite and PostgreSQL both run on any DB-API cursor, so that
:func:`read_sqlite` can answer `llmrec stats` on a SQLite store through the standard
library: importing SQLAlchemy would cost a third of a second, most of what is left.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import orjson

NAME = "stats_summary"  # the row in store_meta
# The layout of the kept value: a change to it must bump this, so that a summary kept
# by another llmrec version is recomputed instead of misread.
FORMAT = 1
TABLES = ("items", "users", "user_links", "events", "quarantine")
_KEYS_PER_QUERY = 900  # below SQLite's smallest limit on bound parameters

# One statement: rows per table, the fingerprint, the store's schema version and the
# kept summary. Events are only appended or deleted, so their count, last id and the sum
# of their keys (modulo a prime: a plain sum of 64-bit hashes overflows SQLite's
# integers) change with them; users leave only by Store.delete_user, which records
# each one in forgotten_users with the time; items never leave, so their count tells a
# new one. Titles are not kept but read with the summary.
_STATE_SQL = (
    "SELECT "
    + ", ".join(f"(SELECT count(*) FROM {table})" for table in TABLES)
    + ", (SELECT max(event_id) FROM events),"
    " (SELECT sum(event_key % 2147483647) FROM events),"
    " (SELECT count(*) FROM forgotten_users),"
    " (SELECT max(forgotten_at) FROM forgotten_users),"
    " (SELECT max(version) FROM schema_migrations),"
    f" (SELECT value FROM store_meta WHERE name = '{NAME}')"
)


@dataclass(frozen=True, slots=True)
class StoreSummary:
    """What `llmrec stats` shows, as plain values: ``counts`` (rows per table),
    ``activity`` (see :meth:`llmrec.store.Store.activity_summary`), ``events_per_type``
    as (type, events) and ``top_items`` as (item_id, title or None, events), the most
    first."""

    counts: dict[str, int]
    activity: dict[str, int]
    events_per_type: list[tuple[str, int]]
    top_items: list[tuple[str, str | None, int]]


@dataclass(frozen=True, slots=True)
class State:
    """What one read of the store found: its counts and fingerprint, and the kept
    summary (None: none kept)."""

    counts: dict[str, int]
    fingerprint: list[int | float]
    schema_version: int
    kept: dict | None

    def current(self, top: int) -> dict | None:
        """The kept summary if it holds the data as it is now and ``top`` items."""
        kept = self.kept
        if (
            kept is None
            or kept.get("format") != FORMAT
            or kept["schema_version"] != self.schema_version
            or kept["fingerprint"] != self.fingerprint
            or kept["top_limit"] < top
        ):
            return None
        return kept


def read_state(cursor) -> State:
    """Read the store's :class:`State` with ``cursor`` (DB-API, SQLite or PostgreSQL)."""
    cursor.execute(_STATE_SQL)
    *numbers, last_id, keys, forgotten, last_forgotten, version, kept = cursor.fetchone()
    counts = {table: int(n) for table, n in zip(TABLES, numbers, strict=True)}
    # PostgreSQL sums bigints as numeric (Decimal): plain numbers compare with JSON's.
    fingerprint = [
        counts["events"],
        counts["items"],
        counts["users"],
        int(last_id or 0),
        int(keys or 0),
        int(forgotten),
        float(last_forgotten or 0.0),
    ]
    if isinstance(kept, str | bytes):  # SQLite's JSON is text; psycopg decodes JSONB
        kept = orjson.loads(kept)
    return State(counts, fingerprint, int(version or 0), kept)


def assemble(cursor, mark: str, counts: dict[str, int], kept: dict, top: int) -> StoreSummary:
    """The summary of a kept value with the ``top`` items' titles as they are now (read
    with ``cursor``, whose driver takes ``mark`` as its placeholder)."""
    ranked = kept["top_items"][: max(top, 0)]
    titles: dict[str, str] = {}
    for start in range(0, len(ranked), _KEYS_PER_QUERY):
        part = [item for item, _ in ranked[start : start + _KEYS_PER_QUERY]]
        marks = ", ".join([mark] * len(part))
        cursor.execute(f"SELECT item_id, title FROM items WHERE item_id IN ({marks})", part)
        titles.update(cursor.fetchall())
    return StoreSummary(
        counts=counts,
        activity=kept["activity"],
        events_per_type=[(kind, n) for kind, n in kept["events_per_type"]],
        top_items=[(item, titles.get(item), n) for item, n in ranked],
    )


def read_sqlite(url: str, top: int) -> StoreSummary | None:
    """The kept summary of the SQLite file at ``url`` (``top`` items), read without
    SQLAlchemy; None when none is current or ``url`` is not a plain SQLite file path:
    then :meth:`llmrec.store.Store.summary` computes (and keeps) it."""
    prefix = "sqlite:///"
    rest = url[len(prefix) :]
    # Anything SQLAlchemy would decode (query, escapes) takes the full path.
    if not url.startswith(prefix) or not rest or any(c in rest for c in "?%") or rest == ":memory:":
        return None
    path = Path(rest)
    if not path.is_file():
        return None
    try:
        # mode=rw: never create a file; one transaction: every read sees one state.
        with closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30,
                            isolation_level=None)
        ) as conn:  # fmt: skip
            cursor = conn.cursor()
            cursor.execute("BEGIN")
            state = read_state(cursor)
            kept = state.current(top)
            return None if kept is None else assemble(cursor, "?", state.counts, kept, top)
    except sqlite3.Error:  # e.g. a store from before store_meta: Store.open migrates it
        return None
