"""The store: migrations, upserts, idempotent event and quarantine writes (SQLite)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from llmrec.data.readers import Rejection
from llmrec.data.validate import event_keys
from llmrec.errors import StoreError
from llmrec.store import Store
from llmrec.store.schema import SCHEMA_VERSION
from llmrec.store.store import forgotten_user_hash
from tests.conftest import time_limit


def _events(n: int, offset: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i % 3}" for i in range(offset, offset + n)],
            "item_id": [f"i{i}" for i in range(offset, offset + n)],
            "event_type": ["view"] * n,
            "value": [np.nan] * n,
            "query": [None] * n,
            "timestamp": pd.array(range(offset, offset + n), dtype="Int64"),
        }
    )
    frame.insert(0, "event_key", event_keys(frame))
    return frame


def test_new_store_is_migrated_and_in_wal_mode(store: Store):
    assert store.schema_version() == SCHEMA_VERSION
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert store.counts() == dict.fromkeys(
        ["items", "users", "user_links", "events", "quarantine"], 0
    )


def test_reopening_applies_no_migration_twice(settings, store: Store):
    with Store.open(settings.effective_database_url) as again, again.engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM schema_migrations")).scalar()
    assert n == SCHEMA_VERSION


def test_a_newer_schema_is_refused(settings, store: Store):
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO schema_migrations VALUES (:v, 'future', 0)"),
            {"v": SCHEMA_VERSION + 1},
        )
    with pytest.raises(StoreError, match="newer than this llmrec"):
        Store.open(settings.effective_database_url)


def test_events_are_stored_once_across_writes(store: Store):
    assert store.add_events(_events(5)).written == 5
    second = store.add_events(_events(5, offset=3))  # 2 already stored
    assert (second.written, second.unchanged) == (3, 2)
    frame = store.events_frame()
    assert sorted(frame["item_id"]) == [f"i{i}" for i in range(8)]
    assert frame["timestamp"].dtype == "Int64" and frame["value"].isna().all()


def test_event_groups_share_a_transaction_and_report_each_batch(store: Store):
    first, second, empty = store.add_event_groups([_events(4), _events(4, offset=2), _events(0)])
    assert (first.written, first.unchanged) == (4, 0)
    assert (second.written, second.unchanged) == (2, 2)  # i2, i3 came with the first
    assert (empty.written, empty.unchanged) == (0, 0)
    assert store.counts()["events"] == 6


def test_a_named_batch_is_stored_once_and_its_retry_told_the_first_result(store: Store):
    first, same_request = store.add_event_groups([_events(3), _events(3)], ["k1:a", "k1:a"])
    assert (first.written, first.replayed) == (3, False)
    assert (same_request.written, same_request.replayed) == (3, True)
    later = _events(3).assign(timestamp=pd.array([100, 101, 102], dtype="Int64"))
    later["event_key"] = event_keys(later)
    [retry] = store.add_event_groups([later], ["k1:a"])  # other times: still the same request
    assert (retry.written, retry.replayed) == (3, True)
    assert store.counts()["events"] == 3
    [other] = store.add_event_groups([later], ["k2:a"])  # another API key's token
    assert (other.written, other.replayed) == (3, False)


def test_events_stream_in_bounded_chunks(store: Store):
    store.add_events(_events(25))
    sizes = [len(f) for f in store.iter_events(["user_id"], chunk_rows=10)]
    assert sizes == [10, 10, 5]


def test_quarantine_keeps_one_copy_of_a_rejection(store: Store):
    rejections = [Rejection(3, "missing user_id", ",i1"), Rejection(9, "bad", "x")]
    assert store.add_quarantine("f.csv", "events", rejections) == 2
    assert store.add_quarantine("f.csv", "events", rejections) == 0
    assert store.quarantine_frame()["line"].tolist() == [3, 9]


def test_unsupported_and_invalid_urls_are_clear_errors():
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store.open("mysql://localhost/x")
    with pytest.raises(StoreError, match="invalid database URL"):
        Store.open("not a url")


def test_processes_opening_a_new_store_at_once_take_turns(tmp_path):
    """Several processes create the same new store concurrently: all succeed, once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    code = "import sys; from llmrec.store import Store; Store.open(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=time_limit(120))[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with Store.open(url) as store, store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM schema_migrations")).scalar() == SCHEMA_VERSION
        )  # each migration once


def test_api_keys_keep_only_a_hash_and_can_be_revoked(store: Store):
    store.add_api_key("k1", "ab" * 32, ["read", "write"], "ci")
    assert store.api_key("k1") == ("ab" * 32, ("read", "write"))
    assert store.api_key("nope") is None
    assert store.api_keys_frame()[["key_id", "name", "scopes"]].values.tolist() == [
        ["k1", "ci", "read,write"]
    ]
    assert store.revoke_api_key("k1") and store.api_key("k1") is None
    assert not store.revoke_api_key("nope")


def test_delete_user_removes_their_rows_and_cached_answers_only(store: Store):
    store.add_events(_events(9))  # users u0, u1, u2
    store.upsert_users(pd.DataFrame({"user_id": ["u0", "u1"], "attributes": [{}, {}]}))
    store.add_links(pd.DataFrame({"user_id": ["u0", "u1"], "friend_id": ["u1", "u0"]}))
    answer = ("text", "stop", 1, 1, 0.1, 0)
    store.put_llm_outputs([("key0", "m", "user-interests", 1, *answer, "u0"),
                           ("key1", "m", "user-interests", 1, *answer, "u1")])  # fmt: skip
    store.add_quarantine("e.csv", "events", [
        Rejection(2, "bad", "u0,i1,rating,abc"), Rejection(3, "bad", "u00,i1,rating,abc"),
        Rejection(4, "bad", '{"user_id": "u0", "value": "x"}'), Rejection(5, "bad", "u1,i1,x"),
    ])  # fmt: skip
    before = time.time()
    removed = store.delete_user("u0")
    assert removed == {"events": 3, "user_links": 2, "user_interests": 0, "users": 1,
                       "llm_cache": 1, "impressions": 0, "quarantine": 2}  # fmt: skip
    assert set(store.events_frame()["user_id"]) == {"u1", "u2"}
    assert store.users_frame()["user_id"].tolist() == ["u1"]
    assert list(store.llm_outputs(["key0", "key1"])) == ["key1"]
    assert sorted(store.quarantine_frame()["line"]) == [3, 5]  # u00 is another user
    assert store.forgotten_user_hashes(since=before - 1) == {forgotten_user_hash("u0")}
    assert store.forgotten_user_hashes(since=time.time() + 1) == set()


def test_deleted_rows_are_overwritten_on_disk(store: Store, tmp_path):
    marker = "forget-me-please-0123456789"
    events = _events(50).assign(user_id=marker)
    events["event_key"] = event_keys(events)
    store.add_events(events)
    store.delete_user(marker)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database = Path(store.engine.url.database)
    assert marker.encode() not in database.read_bytes()


def test_the_sqlite_page_cache_is_sized_per_connection(tmp_path):
    for mib, expected in ((None, -128 * 1024), (8, -8 * 1024)):
        url = f"sqlite:///{tmp_path / f'cache-{mib}.db'}"
        opened = Store.open(url) if mib is None else Store.open(url, sqlite_cache_mib=mib)
        with opened as store, store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA cache_size")).scalar() == expected


def test_one_users_attributes_and_interests_are_read_by_key(store: Store):
    store.upsert_users(pd.DataFrame({"user_id": ["u0", "u1"],
                                     "attributes": [{"interests": "jazz"}, {}]}))  # fmt: skip
    assert store.user_attributes("u0") == {"interests": "jazz"}
    assert store.user_attributes("u1") == {}
    assert store.user_attributes("nobody") is None
    store.upsert_user_interests(pd.DataFrame({
        "user_id": ["u1"], "keywords": [[["drama", 1.0]]], "summary": ["Likes drama."], "source": ["llm"],
        "model_id": ["m"], "prompt_version": [1], "source_hash": ["h"],
    }))  # fmt: skip
    mine = store.user_interests_of("u1")
    assert mine["user_id"].tolist() == ["u1"] and mine["summary"].tolist() == ["Likes drama."]
    assert store.user_interests_of("u0").empty
