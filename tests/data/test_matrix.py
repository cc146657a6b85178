"""The interaction matrix against hand-computed values, and on MovieLens-100K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmrec.config import Settings
from llmrec.data.datasets import load_dataset
from llmrec.data.matrix import build_interaction_matrix, interaction_matrix_from_store
from llmrec.store import Store

WEIGHTS = {"view": 1.0, "purchase": 5.0, "dislike": -3.0, "search": 0.0, "rating": 1.0}
DAY = 86_400


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["b", "b", "a", "a", "a", "c", "c"],
            "item_id": ["x", "x", "y", None, "x", "z", "y"],
            "event_type": ["view", "purchase", "dislike", "search", "rating", "rating", "play"],
            "value": [np.nan, np.nan, np.nan, np.nan, 4.0, 2.0, 9.0],
            "timestamp": pd.array([10 * DAY, 10 * DAY, 8 * DAY, 9 * DAY, 10 * DAY, 6 * DAY, None],
                                  dtype="Int64"),
        }
    )  # fmt: skip


def test_weights_add_up_per_pair_with_sorted_stable_ids():
    m = build_interaction_matrix(_events(), WEIGHTS, default_weight=0.5)
    assert m.user_ids.tolist() == ["a", "b", "c"]
    assert m.item_ids.tolist() == ["x", "y", "z"]  # the search (no item) adds no column
    expected = np.array(
        [
            [1.0, -3.0, 0.0],  # a: rating(1) on x, dislike(-3) on y
            [6.0, 0.0, 0.0],  # b: view(1) + purchase(5) on x
            [0.0, 0.5, 1.0],  # c: custom 'play' gets the default 0.5; rating on z
        ]
    )
    np.testing.assert_allclose(m.matrix.toarray(), expected)
    assert m.nnz == 5
    assert m.user_index(["c", "nobody"]).tolist() == [2, -1]
    assert m.item_index(["z"]).tolist() == [2]


def test_rating_threshold_and_value_transforms():
    m = build_interaction_matrix(_events(), WEIGHTS, rating_threshold=3.0)
    assert m.item_index(["z"]).tolist() == [-1]  # its only event, a rating of 2, is below 3
    assert m.matrix[m.user_index(["a"])[0], m.item_index(["x"])[0]] == 1.0  # rating 4 stays
    raw = build_interaction_matrix(_events(), WEIGHTS, value_transform="raw", default_weight=1.0)
    assert raw.matrix[0, 0] == pytest.approx(4.0)  # rating 1 × value 4
    assert raw.matrix[2, 1] == pytest.approx(9.0)  # play 1 × 9
    logs = build_interaction_matrix(_events(), WEIGHTS, value_transform="log1p", default_weight=1.0)
    assert logs.matrix[2, 1] == pytest.approx(np.log1p(9.0))
    assert logs.matrix[1, 0] == pytest.approx(6.0)  # no value: weight unchanged


def test_time_decay_halves_per_half_life():
    m = build_interaction_matrix(_events(), WEIGHTS, half_life_days=2.0, default_weight=1.0)
    # Reference is the newest event (day 10).
    assert m.matrix[0, 1] == pytest.approx(-3.0 * 0.5)  # day 8: one half-life old
    assert m.matrix[2, 2] == pytest.approx(1.0 * 0.25)  # day 6: two half-lives
    assert m.matrix[2, 1] == pytest.approx(1.0)  # no timestamp: not decayed
    later = build_interaction_matrix(_events(), WEIGHTS, half_life_days=2.0, now=12 * DAY)
    assert later.matrix[1, 0] == pytest.approx(6.0 * 0.5)


def test_cold_items_and_users_get_empty_rows_and_columns():
    m = build_interaction_matrix(_events(), WEIGHTS, item_ids=["w", "x"], user_ids=["d"])
    assert m.item_ids.tolist() == ["w", "x", "y", "z"]
    assert m.user_ids.tolist() == ["a", "b", "c", "d"]
    assert m.matrix[:, 0].nnz == 0 and m.matrix[3].nnz == 0


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="half_life_days must be positive"):
        build_interaction_matrix(_events(), WEIGHTS, half_life_days=0)
    with pytest.raises(ValueError, match="value_transform"):
        build_interaction_matrix(_events(), WEIGHTS, value_transform="sqrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lack column"):
        build_interaction_matrix(pd.DataFrame({"user_id": ["a"]}), WEIGHTS)


def test_movielens_100k_matrix_from_the_store(store: Store, settings: Settings, ml100k: Path):
    load_dataset("movielens-100k", store, settings, path=ml100k)
    m = interaction_matrix_from_store(store, settings)
    assert m.shape == (943, 1682) and m.nnz == 100_000
    assert m.matrix.data.min() == 1.0 and m.matrix.data.max() == 1.0
    liked = interaction_matrix_from_store(store, settings, rating_threshold=4.0)
    assert liked.nnz == 55_375  # ratings of 4 or 5 in MovieLens-100K
    again = interaction_matrix_from_store(store, settings)
    assert (again.matrix != m.matrix).nnz == 0 and again.item_ids.equals(m.item_ids)
