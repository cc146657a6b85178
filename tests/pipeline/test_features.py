import numpy as np
import pandas as pd

from llmrec.models import History, Interactions
from llmrec.pipeline.features import candidate_features, cold_stats, item_stats, tag_matrix
from tests.sources.contract import COLD_ITEM, tiny_interactions


def test_the_tag_matrix_marks_each_items_tags():
    items = pd.DataFrame({"tags": [["a", "b"], None, ["b"]]})
    assert tag_matrix(items).toarray().tolist() == [[1, 1], [0, 0], [0, 1]]
    assert tag_matrix(pd.DataFrame({"tags": [[], None]})) is None
    assert tag_matrix(pd.DataFrame({"title": ["x"]})) is None


def test_item_stats_and_the_cold_view():
    data = tiny_interactions()
    stats = item_stats(data)
    assert stats.cold.tolist() == [i == COLD_ITEM for i in range(data.n_items)]
    assert stats.trending.max() == 1.0 and np.isnan(stats.age_days[COLD_ITEM])
    assert cold_stats(3).cold.all() and not cold_stats(3).popularity.any()


def test_only_items_without_events_have_no_age_when_events_are_undated():
    # Play counts have no times: an item that was played is not cold (the ranker's cold
    # model orders only the items whose age is NaN).
    day = 86_400.0
    events = pd.DataFrame(
        {
            "user_id": ["u", "u", "v", "v", "v"],
            "item_id": ["a", "b", "b", "d", "c"],
            "timestamp": [np.nan, np.nan, np.nan, 40 * day, 100 * day],
        }
    )
    data = Interactions.from_events(events, item_ids=["a", "b", "c", "d", "new"])
    stats = item_stats(data)
    assert stats.cold.tolist() == [False, False, False, False, True]
    # undated events count as the oldest
    assert stats.age_days.tolist()[:4] == [60.0, 60.0, 0.0, 60.0]
    assert np.isnan(stats.age_days[4])
    undated = Interactions.from_events(events.assign(timestamp=np.nan), item_ids=["a", "new"])
    assert item_stats(undated).age_days[0] == 0.0 and np.isnan(item_stats(undated).age_days[1])


def test_features_per_pair_from_the_history_and_the_item_side():
    data = tiny_interactions()
    history = History.of_sequences([np.array([0, 1]), np.array([2])], data.n_items, [0, -1])
    scores = {"ease": np.array([[0.1, 0.2, 0.3, np.nan] * 2] * 2, np.float32)}
    pairs = np.array([[0, 2], [1, 3], [1, 2]])
    vectors = np.eye(data.n_items, dtype=np.float32)
    x, names = candidate_features(
        history, pairs, scores, item_stats(data), vectors=vectors, tags=None,
        last_times=np.array([data.now, np.nan]), now=data.now,
    )  # fmt: skip
    column = dict(zip(names, x.T, strict=True))
    assert x.shape == (3, len(names)) and "tag_affinity" not in names
    assert np.isnan(column["ease_score"][1]) and column["ease_score"][0] == np.float32(0.3)
    # one-hot text vectors: 1 for an item among the row's last ones, else 0
    assert column["closest_recent_item"].tolist() == [0, 0, 1]
    assert column["user_idle_days"][0] == 0 and np.isnan(column["user_idle_days"][1])
    np.testing.assert_allclose(column["user_log_activity"], np.log1p([2, 1, 1]))
