"""Changes told between processes through PostgreSQL (LISTEN/NOTIFY): what a write
tells, to whom, and what a listener does when its connection is lost."""

from __future__ import annotations

import queue
import threading

import orjson
import pandas as pd
import pytest
from sqlalchemy import text

from llmrec.data.records import RecordKind
from llmrec.data.validate import validate_frame
from llmrec.errors import StoreError
from llmrec.store import Store
from llmrec.store.changes import (
    BULK_EVENTS,
    MAX_PAYLOAD_BYTES,
    Change,
    parse,
    payloads,
)
from tests.conftest import local_postgres, time_limit


def test_payloads_split_under_the_limit_and_read_back_whole() -> None:
    rows = [[f"user-{i}", f"item-{i}", "view", None, 1_700_000_000 + i] for i in range(2_000)]
    told = list(payloads("origin", "events", rows))
    assert len(told) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in told)
    back = [parse(p) for p in told]
    assert all(c is not None and c.origin == "origin" and c.kind == "events" for c in back)
    assert [row for c in back for row in c.data] == rows


def test_a_change_without_data_is_one_payload_and_unknown_kinds_are_refused() -> None:
    assert [parse(p) for p in payloads("o", "resync", [])] == [Change("o", "resync", [])]
    with pytest.raises(ValueError, match="unknown change kind 'plan'"):
        list(payloads("o", "plan", ["x"]))


@pytest.mark.parametrize(
    "payload", ["not json", "[]", '{"o": "a", "k": "events"}', '{"o": "a", "k": "new", "d": []}']
)
def test_unreadable_notifications_are_skipped(payload: str) -> None:
    assert parse(payload) is None


def test_sqlite_has_no_shared_changes(store: Store) -> None:
    assert not store.shares_changes
    with pytest.raises(StoreError, match="PostgreSQL"):
        store.listen(lambda change: None, lambda: None)


class Heard:
    """What a listener was told, and how often it was asked to resynchronise."""

    def __init__(self) -> None:
        self.changes: queue.Queue[Change] = queue.Queue()
        self.reconnects = threading.Event()

    def next(self, timeout: float = 10.0) -> Change:
        return self.changes.get(timeout=time_limit(timeout))


def _events(rows: list[dict]) -> pd.DataFrame:
    good, bad = validate_frame(pd.DataFrame(rows), RecordKind.EVENTS, "events")
    assert not bad
    return good


def _items(rows: list[dict]) -> pd.DataFrame:
    good, bad = validate_frame(pd.DataFrame(rows), RecordKind.ITEMS, "items")
    assert not bad
    return good


@pytest.fixture
def two_stores(postgres_url: str):
    """Two processes' stores on one database, the second one listening."""
    with Store.open(postgres_url) as writer, Store.open(postgres_url) as reader:
        heard = Heard()
        listener = reader.listen(heard.changes.put, heard.reconnects.set, retry_s=0.2)
        assert listener.connected.wait(time_limit(10))
        try:
            yield writer, reader, heard, listener
        finally:
            listener.stop()


@pytest.mark.postgres
def test_a_write_is_told_to_the_other_store_after_it_commits(two_stores) -> None:
    writer, reader, heard, _ = two_stores
    events = _events(
        [
            {"user_id": "ann", "item_id": "i1", "event_type": "view", "timestamp": 1},
            {"user_id": "ann", "event_type": "search", "query": "jazz", "timestamp": 2},
            {"user_id": "bob", "item_id": "i2", "event_type": "rating", "value": 4.0},
        ]
    )
    writer.add_events(events)
    change = heard.next()
    assert change == Change(writer.origin, "events", [
        ["bob", "i2", "rating", 4.0, None], ["ann", "i1", "view", None, 1],
    ])  # fmt: skip
    # the listener's own writes are not told back to it
    reader.add_events(_events([{"user_id": "cy", "item_id": "i3", "event_type": "view"}]))
    writer.upsert_items(_items([{"item_id": "i9", "title": "Nine"}]))
    assert heard.next() == Change(writer.origin, "items", ["i9"])
    writer.delete_user("ann")
    assert heard.next() == Change(writer.origin, "forget", ["ann"])


@pytest.mark.postgres
def test_unchanged_items_and_replayed_batches_tell_nothing(two_stores) -> None:
    writer, _, heard, _ = two_stores
    item = _items([{"item_id": "same", "title": "Same"}])
    writer.upsert_items(item)
    assert heard.next().kind == "items"
    writer.upsert_items(item)
    batch = _events([{"user_id": "dee", "item_id": "same", "event_type": "view"}])
    writer.add_event_groups([batch], ["receipt-1"])
    assert heard.next().data == [["dee", "same", "view", None, None]]
    retry = writer.add_event_groups([batch], ["receipt-1"])  # already stored
    assert retry[0].replayed and retry[0].written == 1
    writer.revoke_api_key("no-such-key")
    writer.add_api_key("k1", "hash", ["read"], "test")
    writer.revoke_api_key("k1")
    assert heard.next() == Change(writer.origin, "keys", ["k1"])  # nothing in between


@pytest.mark.postgres
def test_a_rolled_back_write_tells_nothing(two_stores) -> None:
    writer, _, heard, _ = two_stores
    with pytest.raises(RuntimeError), writer.engine.begin() as conn:
        writer._publish(conn, "forget", ["never"])
        raise RuntimeError("rolled back")
    writer.delete_user("after")
    assert heard.next().data == ["after"]


@pytest.mark.postgres
def test_a_bulk_write_asks_for_a_resync(two_stores) -> None:
    writer, _, heard, _ = two_stores
    rows = [
        {"user_id": f"bulk-{i % 50}", "item_id": f"b{i}", "event_type": "view", "timestamp": i}
        for i in range(BULK_EVENTS + 1)
    ]
    writer.add_events(_events(rows))
    assert heard.next() == Change(writer.origin, "resync", [])


@pytest.mark.postgres
def test_a_lost_connection_is_retried_and_asks_for_a_resync(two_stores) -> None:
    writer, _, heard, listener = two_stores
    with writer.engine.begin() as conn:
        ended = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
        ).scalars()
        assert any(ended)
    assert heard.reconnects.wait(time_limit(15))
    assert listener.connected.wait(time_limit(10))
    writer.delete_user("later")
    assert heard.next().data == ["later"]


@pytest.mark.postgres
def test_a_store_that_cannot_be_reached_says_so() -> None:
    server = local_postgres()
    try:
        with Store.open(server.url) as store:
            assert store.ping()
            server.stop()
            assert not store.ping()
            with pytest.raises(StoreError, match="cannot be reached"):
                store.add_events(_events([{"user_id": "u", "item_id": "i", "event_type": "view"}]))
            server.start()
            assert store.ping()  # the pool reconnects by itself
            store.add_events(_events([{"user_id": "u", "item_id": "i", "event_type": "view"}]))
            assert len(store.events_frame()) == 1
    finally:
        server.remove()


def test_told_rows_are_plain_json() -> None:
    told = next(payloads("o", "events", [["u", "i", "view", 1.5, 3]]))
    assert orjson.loads(told) == {"o": "o", "k": "events", "d": [["u", "i", "view", 1.5, 3]]}
