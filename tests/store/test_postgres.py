"""The same store on a real PostgreSQL server (started by the ``postgres_url`` fixture)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from llmrec.config import Settings
from llmrec.data.datasets import load_dataset
from llmrec.data.ingest import ingest_file
from llmrec.data.readers import TableSpec
from llmrec.data.records import RecordKind
from llmrec.store import Store

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(postgres_url: str):
    with Store.open(postgres_url) as store:
        with store.engine.begin() as conn:
            for table in ("items", "users", "user_links", "events", "quarantine"):
                conn.exec_driver_sql(f"TRUNCATE {table}")
        yield store


def test_movielens_100k_into_postgres_matches_sqlite(
    pg_store: Store, store: Store, settings: Settings, ml100k: Path
):
    for target in (pg_store, store):
        reports = load_dataset("movielens-100k", target, settings, path=ml100k)
        assert [r.stored for r in reports] == [1681, 943, 100_000]
    assert pg_store.counts() == store.counts()
    assert pg_store.top_items(5).values.tolist() == store.top_items(5).values.tolist()
    pg_items = pg_store.items_frame().set_index("item_id")
    assert pg_items.loc["1", "tags"] == ["Animation", "Children's", "Comedy"]
    assert pg_items.loc["1", "attributes"]["year"] == 1995
    again = load_dataset("movielens-100k", pg_store, settings, path=ml100k)
    assert [r.stored for r in again] == [0, 0, 0]
    assert [r.duplicates for r in again] == [1681, 943, 100_000]
    # The summary of `llmrec stats`: computed, then read back from store_meta (JSONB).
    assert pg_store.summary(5) == store.summary(5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "activity_summary", lambda self: pytest.fail("recomputed"))
        assert pg_store.summary(5) == store.summary(5)
    pg_store.delete_user("1")
    assert pg_store.summary(5).activity == pg_store.activity_summary()


def test_postgres_reports_updates_and_quarantine(
    pg_store: Store, tmp_path: Path, settings: Settings
):
    path = tmp_path / "items.csv"
    path.write_text("item_id,title\na,Alpha\nb,\n")
    first = ingest_file(pg_store, TableSpec(path), RecordKind.ITEMS, settings)
    assert (first.stored, first.quarantined) == (1, 1)
    path.write_text("item_id,title\na,Alpha 2\nb,\n")
    second = ingest_file(pg_store, TableSpec(path), RecordKind.ITEMS, settings)
    assert (second.stored, second.duplicates) == (1, 0)
    assert pg_store.counts()["quarantine"] == 1
    assert pg_store.items_frame()["title"].tolist() == ["Alpha 2"]


def test_postgres_stores_a_batch_of_events_as_sqlite_does(pg_store: Store, store: Store):
    """One batch as one statement (arrays per column): missing fields stay NULL, an event
    sent twice in the batch or again later is stored once, any text arrives unchanged."""
    from llmrec.data.validate import validate_frame

    raw = pd.DataFrame({
        "user_id": ["u1", "u1", "ü-用户", "u2", "u3"],
        "item_id": ["a", "a", "b", None, "c'); DROP TABLE events; --"],
        "event_type": ["click", "click", "rating", "search", "view"],
        "value": [None, None, 4.5, None, None],
        "query": [None, None, None, "red shoes, 'cheap'", None],
        "timestamp": [10, 10, None, 12, 13],
    })  # fmt: skip
    events = validate_frame(raw, RecordKind.EVENTS, "events")[0]  # two clicks: two events
    events = pd.concat([events, events.iloc[[0]]], ignore_index=True)  # one sent twice
    for target in (pg_store, store):
        first = target.add_events(events)
        assert (first.written, first.unchanged) == (5, 1)
        again = target.add_events(events.iloc[[0, 2]])
        assert (again.written, again.unchanged) == (0, 2)

    def stored(target: Store) -> list:
        frame = target.events_frame(["user_id", "item_id", "event_type", "value", "query",
                                     "timestamp"])  # fmt: skip
        return sorted(map(str, frame.astype(object).where(frame.notna(), None).values.tolist()))

    assert stored(pg_store) == stored(store)
    assert len(stored(pg_store)) == 5


def test_two_writers_crossing_the_same_events_both_succeed(pg_store: Store, postgres_url: str):
    """Replica A stores batches x then y while replica B stores y then x (a client's
    retry sent to the other replica): PostgreSQL breaks the deadlock by failing one
    transaction, which is tried again, so both writes succeed and each event is stored
    once."""
    import threading
    import time

    from llmrec.data.validate import validate_frame
    from llmrec.store import store as store_module

    def batch(user: str) -> pd.DataFrame:
        raw = pd.DataFrame({"user_id": user, "item_id": ["a", "b", "c"],
                            "event_type": "click", "timestamp": [1, 2, 3]})  # fmt: skip
        return validate_frame(raw, RecordKind.EVENTS, "events")[0]

    x, y = batch("x"), batch("y")
    inserted = store_module._insert_new

    def slowly(*args, **kwargs):  # each holds its first batch's rows while the other starts
        written = inserted(*args, **kwargs)
        time.sleep(0.3)
        return written

    results: dict[str, list] = {}
    with Store.open(postgres_url) as other, pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "_insert_new", slowly)
        writers = [
            threading.Thread(target=lambda: results.update(a=pg_store.add_event_groups([x, y]))),
            threading.Thread(target=lambda: results.update(b=other.add_event_groups([y, x]))),
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    assert set(results) == {"a", "b"}
    written = sum(r.written for r in results["a"] + results["b"])
    assert written == 6 and pg_store.counts()["events"] == 6


def test_postgres_keeps_vectors_answers_links_and_rejections_as_sqlite_does(
    pg_store: Store, store: Store
):
    """Every insert-if-new table goes through the one-statement array insert on
    PostgreSQL: bytes, text, numbers and NULLs come back as SQLite gives them."""
    import numpy as np

    from llmrec.data.validate import Rejection

    vectors = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    answer = ("text ü 用户", "stop", 1, 1, 0.1, 0)
    for target in (pg_store, store):
        with target.engine.begin() as conn:
            for table in ("embeddings", "llm_cache"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
        assert target.put_embeddings("enc", ["a", "b", "c"], vectors) == 3
        assert target.put_embeddings("enc", ["a", "d"], vectors[:2]) == 1
        assert target.put_llm_outputs([("k0", "m", "p", 1, *answer, None),
                                       ("k0", "m", "p", 1, *answer, None)]) == 1  # fmt: skip
        target.add_links(pd.DataFrame({"user_id": ["u0", "u0"], "friend_id": ["u1", "u2"]}))
        target.add_quarantine("e.csv", "events", [Rejection(2, "bad", "u0,i1,'x'")])
    for target in (pg_store, store):
        found = target.embeddings("enc", ["a", "b", "c", "d"], 8)
        np.testing.assert_array_equal(np.stack([found[h] for h in "abc"]), vectors)
        np.testing.assert_array_equal(found["d"], vectors[1])
    assert pg_store.llm_outputs(["k0"]) == store.llm_outputs(["k0"])
    assert pg_store.counts()["quarantine"] == store.counts()["quarantine"] == 1
