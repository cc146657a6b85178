"""The summary `llmrec stats` shows: kept with a fingerprint, never shown stale, read from a
SQLite file without SQLAlchemy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from llmrec.config import Settings
from llmrec.store import Store, StoreSummary
from llmrec.store.summary import read_sqlite
from tests.store.test_store import _events


def _items(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [i for i, _ in pairs],
            "title": [t for _, t in pairs],
            "description": "",
            "tags": [[] for _ in pairs],
            "attributes": [{} for _ in pairs],
            "created_at": pd.array([None] * len(pairs), dtype="Int64"),
            "available": True,
        }
    )


def _users(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(ids), "attributes": [{} for _ in ids]})


def _summary(store: Store, url: str, top: int = 3) -> StoreSummary:
    """The store's summary, which the SQLite reader then finds current and equal."""
    computed = store.summary(top)
    assert read_sqlite(url, top) == computed
    return computed


@pytest.fixture
def url(settings: Settings, store: Store) -> str:
    store.upsert_items(_items(("i0", "Alpha"), ("i1", "Beta"), ("cold", "Gamma")))
    store.upsert_users(_users("u0", "u1", "lurker"))
    store.add_events(_events(6))  # by u0, u1 and u2 (not stored) on i0..i5
    return settings.effective_database_url


def test_the_summary_equals_the_live_queries_and_is_computed_once(
    store: Store, url: str, monkeypatch: pytest.MonkeyPatch
):
    assert read_sqlite(url, 3) is None  # nothing kept yet
    summary = _summary(store, url)
    assert summary.counts == store.counts()
    assert summary.activity == store.activity_summary()
    assert summary.activity["cold_items"] == 1 and summary.activity["cold_users"] == 1
    assert summary.events_per_type == [("view", 6)]
    live = store.top_items(3)
    assert summary.top_items == [
        (i, None if pd.isna(t) else t, n) for i, t, n in live.itertuples(index=False)
    ]
    assert summary.top_items[0] == ("i0", "Alpha", 1)  # titles of items not stored: None
    monkeypatch.setattr(Store, "activity_summary", lambda self: pytest.fail("recomputed"))
    assert store.summary(3) == summary


@pytest.mark.parametrize(
    "change",
    [
        lambda store: store.add_events(_events(2, offset=6)),
        lambda store: store.delete_user("u1"),
        lambda store: store.upsert_items(_items(("new", "Delta"))),
        lambda store: store.upsert_users(_users("another")),
    ],
    ids=["events added", "user deleted", "item added", "user added"],
)
def test_a_kept_summary_is_never_shown_after_the_data_changed(store: Store, url: str, change):
    before = _summary(store, url)
    store.upsert_users(_users("u0", "u1"))  # unchanged rows change nothing
    assert read_sqlite(url, 3) == before
    change(store)
    assert read_sqlite(url, 3) is None  # old: left to Store.summary to recompute
    after = _summary(store, url)
    assert after != before
    assert after.activity == store.activity_summary() and after.counts == store.counts()


def test_a_cold_user_swapped_for_one_with_events_is_seen(store: Store, url: str):
    before = _summary(store, url)
    store.delete_user("lurker")  # no events
    store.upsert_users(_users("u2"))  # has events, was not stored
    assert read_sqlite(url, 3) is None
    after = _summary(store, url)
    assert after.counts == before.counts  # the same rows in every table
    assert (before.activity["cold_users"], after.activity["cold_users"]) == (1, 0)


def test_a_new_title_shows_at_once(store: Store, url: str):
    _summary(store, url)
    store.upsert_items(_items(("i0", "Alpha, renamed")))
    assert read_sqlite(url, 3).top_items[0] == ("i0", "Alpha, renamed", 1)
    assert store.summary(3).top_items[0] == ("i0", "Alpha, renamed", 1)


def test_more_top_items_than_kept_recomputes(store: Store, url: str):
    store.add_events(_events(150, offset=6))
    assert len(_summary(store, url, top=10).top_items) == 10
    assert len(read_sqlite(url, 100).top_items) == 100  # 100 are kept
    assert read_sqlite(url, 120) is None
    assert len(_summary(store, url, top=120).top_items) == 120
    assert _summary(store, url, top=0).top_items == []


def test_the_sqlite_reader_leaves_other_stores_to_the_store(tmp_path: Path):
    missing = tmp_path / "missing.db"
    for url in (
        "postgresql://localhost/llmrec",
        "sqlite:///:memory:",
        f"sqlite:///{missing}",
        f"sqlite:///{tmp_path}/a%20b.db",  # escapes: SQLAlchemy decodes them, not this
        f"sqlite:///{tmp_path}/x.db?mode=ro",
    ):
        assert read_sqlite(url, 3) is None
    assert not missing.exists()  # looked for, not created
    old = tmp_path / "old.db"  # a store from before store_meta: Store.open migrates it
    sqlite3.connect(old).close()
    assert read_sqlite(f"sqlite:///{old}", 3) is None
