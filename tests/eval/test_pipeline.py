"""The evaluation pipeline: systems are judged on their scores, not on catalogue order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmrec.config import Settings
from llmrec.data.records import RecordKind
from llmrec.data.validate import validate_frame
from llmrec.eval.pipeline import run_evaluation
from llmrec.store import Store


def test_popularity_ties_on_cold_items_do_not_follow_item_ids(
    store: Store, settings: Settings, tmp_path
):
    # User u interacts with items 0 .. 19 + u: the lower an item's id, the more users it
    # has, so every user's held-out items are the lowest-id candidates. Cold items have
    # no training events, so MostPop scores them all 0; ranking those ties by id would
    # make it look perfect.
    n_items, n_users = 200, 150
    ids = [f"i{n:03d}" for n in range(n_items)]
    catalogue = pd.DataFrame({"item_id": ids, "title": [f"Item {n}" for n in ids]})
    store.upsert_items(validate_frame(catalogue, RecordKind.ITEMS, "items")[0])
    users = np.repeat(np.arange(n_users), [20 + u for u in range(n_users)])
    items = np.concatenate([np.arange(20 + u) for u in range(n_users)])
    events = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": [ids[i] for i in items],
            "timestamp": np.arange(len(users), dtype=float),
        }
    )
    store.add_events(validate_frame(events, RecordKind.EVENTS, "events")[0])
    results, _ = run_evaluation(
        store, settings, tmp_path / "report", split_names=("cold_items",),
        system_names=("MostPop",), diversities=(),
    )  # fmt: skip
    (most_pop,) = results
    # by id every user would get all their held-out items first (NDCG@10 = 1)
    assert most_pop.metrics["ndcg@10"] < 0.8


def test_systems_that_cannot_score_new_items_alone_on_cold_items_are_refused_by_name(
    store: Store, settings: Settings, tmp_path
):
    catalogue = pd.DataFrame({"item_id": [f"i{n}" for n in range(30)], "title": "Item"})
    store.upsert_items(validate_frame(catalogue, RecordKind.ITEMS, "items")[0])
    events = pd.DataFrame({"user_id": [f"u{n % 10}" for n in range(90)],
                           "item_id": [f"i{n % 30}" for n in range(90)],
                           "timestamp": np.arange(90.0)})  # fmt: skip
    store.add_events(validate_frame(events, RecordKind.EVENTS, "events")[0])
    with pytest.raises(ValueError, match=r"cold_items split .* EASE, llmrec −content cannot"):
        run_evaluation(store, settings, tmp_path / "report", split_names=("cold_items",),
                       system_names=("EASE", "llmrec −content"), diversities=())  # fmt: skip
    assert not (tmp_path / "report").exists()
