import numpy as np
import scipy.sparse as sp

from llmrec.rank.features import ItemStats, closest_recent, pair_features, source_ranks


def test_source_ranks_count_the_items_scoring_higher():
    scores = np.array([[0.1, 0.9, 0.5, 0.5], [3.0, 1.0, 2.0, -np.inf]])
    rows, cols = np.repeat([1, 0], 4), np.tile(np.arange(4), 2)  # rows out of order
    ranks = source_ranks(scores, rows, cols)
    assert ranks.tolist() == [0, 2, 1, 3, 3, 0, 1, 1]  # the two 0.5s share rank 1


def test_source_ranks_stop_counting_at_the_cap():
    scores = np.arange(10.0)[None, ::-1]  # item i ranks i
    ranks = source_ranks(scores, np.zeros(10, int), np.arange(10), cap=4)
    assert ranks.tolist() == [0, 1, 2, 3, 4, 4, 4, 4, 4, 4]
    # the same as a full sort below the cap, on random scores
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 500))
    rows, cols = np.repeat(np.arange(3), 500), np.tile(np.arange(500), 3)
    full = (scores[rows][:, :] > scores[rows, cols][:, None]).sum(axis=1)
    np.testing.assert_array_equal(source_ranks(scores, rows, cols, cap=100), np.minimum(full, 100))


def test_pair_features_leave_what_a_source_cannot_score_missing():
    # EASE cannot score the cold item 2 (NaN); content scores it from its text
    scores = {"ease": np.array([[0.2, 0.8, np.nan]]), "content": np.array([[0.5, 0.1, 0.9]])}
    stats = ItemStats(
        popularity=np.log1p(np.array([3.0, 1.0, 0.0])),
        trending=np.array([1.0, 0.2, 0.0]),
        age_days=np.array([10.0, 2.0, np.nan]),
        cold=np.array([False, False, True]),
    )
    # The user's history has tag 0 twice and tag 1 once; item tags: 0→{0}, 1→{1}, 2→{0,1}.
    history_tags = sp.csr_matrix(np.array([[2 / 3, 1 / 3]]))
    item_tags = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    x, names = pair_features(
        np.zeros(3, int), np.arange(3), scores, stats, history_tags, item_tags,
        None, None, np.array([np.log1p(3)]), np.array([1.5]),
    )  # fmt: skip
    column = dict(zip(names, x.T, strict=True))
    assert np.isnan(column["ease_score"][2]) and np.isnan(column["ease_log_rank"][2])
    assert column["ease_score"][1] == np.float32(0.8)
    np.testing.assert_allclose(column["ease_log_rank"][:2], np.log1p([1, 0]))
    assert column["content_score"][2] == np.float32(0.9)  # content scores cold items
    np.testing.assert_allclose(column["content_log_rank"], np.log1p([1, 2, 0]))
    np.testing.assert_allclose(column["tag_affinity"], [2 / 3, 1 / 3, 1.0], rtol=1e-6)
    assert column["user_idle_days"].tolist() == [1.5, 1.5, 1.5]


def test_closest_recent_is_the_best_similarity_to_the_rows_last_items_in_any_pair_order():
    rng = np.random.default_rng(0)
    item_vectors = rng.normal(size=(40, 8)).astype(np.float32)
    recent = rng.normal(size=(6, 5, 8)).astype(np.float32)
    recent[2, 3:] = 0.0  # a short history: zero rows, as the recommender pads them
    users, items = rng.integers(0, 6, 200), rng.integers(0, 40, 200)
    users[users == 4] = 5  # a row with no pairs
    expected = np.einsum("rd,rkd->rk", item_vectors[items], recent[users]).max(axis=1)
    np.testing.assert_allclose(closest_recent(users, items, recent, item_vectors), expected,
                               rtol=1e-5, atol=1e-6)  # fmt: skip
