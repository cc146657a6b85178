import numpy as np
import pytest

from llmrec.rank.ranker import LambdaRanker, ndcg_at_10, scores_with_places_filled


def _queries(n_queries: int, size: int, seed: int):
    """Each query: one positive item whose ``signal`` feature is highest; ``noise`` is
    unrelated. The ranker must learn to put the positive first from ``signal`` alone."""
    rng = np.random.default_rng(seed)
    signal = rng.random((n_queries, size))
    noise = rng.random((n_queries, size))
    labels = (signal == signal.max(axis=1, keepdims=True)).astype(np.float32)
    features = np.column_stack([signal.ravel(), noise.ravel()]).astype(np.float32)
    groups = np.repeat(np.arange(n_queries), size)
    return features, labels.ravel(), groups


def test_ranker_learns_which_feature_matters():
    features, labels, groups = _queries(300, 20, seed=0)
    ranker = LambdaRanker(n_estimators=50, seed=0).fit(
        features, labels, groups, ["signal", "noise"]
    )
    # Early stopping on a fifth of the queries chose the rounds; the final model, trained
    # on all 300, has exactly that many trees (no best_iteration to cut at predict).
    assert 1 <= ranker.rounds_ <= 50 and ranker.model_.num_trees() == ranker.rounds_
    assert ranker.model_.best_iteration == 0 and ranker.groups_trained_ == 300
    test_x, test_y, _ = _queries(50, 20, seed=1)
    predicted = ranker.predict(test_x).reshape(50, 20)
    top = predicted.argmax(axis=1)
    # Chance is 1/20; the misses are near-ties of the top two ``signal`` values, which
    # trees split into bins.
    assert (test_y.reshape(50, 20)[np.arange(50), top] == 1).mean() > 0.7
    contributions = ranker.contributions(test_x)
    assert contributions.shape == (1000, 3)  # two features and the bias
    # SHAP values sum to the prediction, and the signal carries the weight.
    np.testing.assert_allclose(contributions.sum(axis=1), ranker.predict(test_x), rtol=1e-5)
    assert np.abs(contributions[:, 0]).mean() > 5 * np.abs(contributions[:, 1]).mean()


def test_queries_without_a_positive_are_left_out_and_too_few_are_refused():
    features, labels, groups = _queries(5, 10, seed=0)
    with pytest.raises(ValueError, match="only 5 validation users"):
        LambdaRanker().fit(features, labels, groups, ["signal", "noise"])


def test_ndcg_at_10_orders_each_group_and_breaks_ties_in_row_order():
    labels = np.array([0, 1, 0, 0, 0, 1, 1], dtype=float)
    sizes = np.array([3, 4])
    # group 0: the positive second (1/log2 3); group 1: both positives first (1)
    scores = np.array([3, 2, 1, 9, 9, 9, 9], dtype=float)
    first = 1 / np.log2(3)
    ideal = 1 + 1 / np.log2(3)
    group1 = (1 / np.log2(4) + 1 / np.log2(5)) / ideal
    assert ndcg_at_10(scores, labels, sizes) == pytest.approx((first + group1) / 2)
    assert ndcg_at_10(-np.arange(7.0), labels, sizes) == pytest.approx((first + group1) / 2)
    assert ndcg_at_10(labels, labels, sizes) == pytest.approx(1.0)


def _with_a_source(n_queries: int, size: int, seed: int):
    """A source whose rank finds the positive, and a feature unrelated to it."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n_queries, size), np.float32)
    labels[:, 0] = 1
    rank = np.tile(np.arange(1.0, size + 1), (n_queries, 1))
    hint = rng.random((n_queries, size))
    order = rng.permuted(np.tile(np.arange(size), (n_queries, 1)), axis=1)
    take = np.take_along_axis
    features = np.column_stack([
        take(np.log1p(rank), order, 1).ravel(), take(hint, order, 1).ravel()
    ]).astype(np.float32)  # fmt: skip
    return features, take(labels, order, 1).ravel(), np.repeat(np.arange(n_queries), size)


def test_a_source_that_ranks_held_out_lists_better_than_the_model_leads():
    names = ["ease_log_rank", "hint"]
    # The model sees the source's rank too, but leaves this large allow no split: it
    # cannot reproduce it, and the source's own order is better on the held-out fifth.
    features, labels, groups = _with_a_source(300, 20, seed=0)
    ranker = LambdaRanker(n_estimators=2, min_child_samples=100_000, seed=0)
    ranker.fit(features, labels, groups, names)
    assert ranker.holdout_ndcg_["ease"] == pytest.approx(1.0)
    assert ranker.lead_ == "ease"
    test_x, test_y, _ = _with_a_source(50, 20, seed=1)
    top = ranker.predict(test_x).reshape(50, 20).argmax(axis=1)
    assert (test_y.reshape(50, 20)[np.arange(50), top] == 1).all()
    # items the lead cannot rank come after all it ranks, in the model's order
    unranked = test_x.copy()
    unranked[:10, 0] = np.nan
    scores = ranker.predict(unranked)
    assert scores[:10].max() < scores[10:20].min()


def test_the_model_keeps_the_lead_when_it_ranks_better():
    features, labels, groups = _queries(300, 20, seed=0)
    features = np.column_stack([features, np.log1p(np.tile(np.arange(20.0), 300))])
    ranker = LambdaRanker(n_estimators=50, seed=0).fit(
        features, labels, groups, ["signal", "noise", "popular_log_rank"]
    )
    assert ranker.lead_ is None
    assert ranker.holdout_ndcg_["model"] > ranker.holdout_ndcg_["popular"]
    assert set(ranker.holdout_ndcg_) == {"model", "popular"}


def _warm_and_cold(n_queries: int, size: int, seed: int):
    """Warm lists, whose positive has the highest ``signal``, then as many cold views
    (``item_age_days`` NaN: items without events), whose positive has the highest
    ``text`` and the lowest ``signal``."""
    rng = np.random.default_rng(seed)
    signal, text = rng.random((2, 2 * n_queries, size))
    cold = np.repeat(np.arange(2 * n_queries) >= n_queries, size)
    best = np.where(cold.reshape(-1, size)[:, :1], text, signal)
    labels = (best == best.max(axis=1, keepdims=True)).astype(np.float32).ravel()
    signal = signal.ravel()
    signal[cold & (labels == 1)] = 0.0
    age = np.where(cold, np.nan, 1.0)
    features = np.column_stack([signal, text.ravel(), age]).astype(np.float32)
    return features, labels, np.repeat(np.arange(2 * n_queries), size), cold


def _top_is_positive(scores, labels, size):
    top = scores.reshape(-1, size).argmax(axis=1)
    return (labels.reshape(-1, size)[np.arange(len(top)), top] == 1).mean()


def test_a_second_model_learns_the_cold_views_and_orders_the_items_without_events():
    names = ["signal", "text", "item_age_days"]
    features, labels, groups, cold = _warm_and_cold(300, 20, seed=0)
    ranker = LambdaRanker(n_estimators=50, seed=0).fit(features, labels, groups, names, cold)
    assert ranker.cold_model_ is not None
    assert ranker.groups_trained_ == 300 and ranker.cold_groups_trained_ == 300
    # the cold model learns at its own rate, the warm model at the ranker's
    assert ranker.cold_model_.params["learning_rate"] == ranker.cold_learning_rate == 0.1
    assert ranker.model_.params["learning_rate"] == ranker.learning_rate == 0.05
    test_x, test_y, test_groups, test_cold = _warm_and_cold(50, 20, seed=1)
    scores = ranker.predict(test_x, test_groups)
    assert _top_is_positive(scores[~test_cold], test_y[~test_cold], 20) > 0.7
    assert _top_is_positive(scores[test_cold], test_y[test_cold], 20) > 0.7
    # A list of warm and cold items: the cold items keep the places the warm order gives
    # them, filled in the cold model's order; the warm items do not move.
    mixed = np.vstack([test_x[:10], test_x[-10:]])
    alone = ranker.model_.predict(mixed)
    together = ranker.predict(mixed, np.zeros(20, int))
    np.testing.assert_array_equal(together[:10], alone[:10])
    cold_above = [(alone[10:] > v).sum() for v in alone[:10]]
    assert [(together[10:] > v).sum() for v in together[:10]] == cold_above
    by_cold_model = np.argsort(-ranker.cold_model_.predict(mixed[10:]), kind="stable")
    assert (np.diff(together[10:][by_cold_model]) <= 0).all()
    # Each list is its own: two lists of one cold item each keep their own places.
    np.testing.assert_array_equal(ranker.predict(mixed[10:12], np.arange(2)), alone[10:12])


def test_without_enough_cold_views_items_without_events_are_ranked_by_the_warm_model():
    names = ["signal", "text", "item_age_days"]
    features, labels, groups, cold = _warm_and_cold(300, 20, seed=0)
    few = groups < 305  # the warm lists and five cold views
    ranker = LambdaRanker(n_estimators=50, seed=0).fit(
        features[few], labels[few], groups[few], names, cold[few]
    )
    assert ranker.cold_model_ is None and ranker.cold_groups_trained_ == 0
    np.testing.assert_array_equal(ranker.predict(features), ranker.model_.predict(features))


def test_a_source_that_ranks_the_held_out_cold_views_better_leads_them():
    features, labels, groups, cold = _warm_and_cold(300, 20, seed=0)
    # a text source's rank: the cold views' own order (the positive first), random for
    # the warm lists; leaves this large allow the models no split
    text_rank = np.tile(np.arange(20.0), 600)
    text_rank[cold] = np.argsort(np.argsort(-features[cold, 1].reshape(-1, 20))).ravel()
    names = ["signal", "text", "item_age_days", "content_log_rank"]
    x = np.column_stack([features, np.log1p(text_rank)]).astype(np.float32)
    ranker = LambdaRanker(n_estimators=2, min_child_samples=100_000, seed=0)
    ranker.fit(x, labels, groups, names, cold)
    assert ranker.cold_lead_ == "content"
    assert ranker.cold_holdout_ndcg_["content"] == pytest.approx(1.0)
    scores = ranker.predict(x[cold], groups[cold])
    assert _top_is_positive(scores, labels[cold], 20) == 1.0


def test_places_are_handed_over_in_order_even_where_the_scores_tie():
    scores = np.array([5.0, 3.0, 3.0, 3.0, 1.0, 2.0, 0.0])
    rows, lists = np.array([1, 2, 3, 5, 6]), np.array([0, 0, 0, 1, 1])
    out = scores_with_places_filled(scores, rows, np.array([0.1, 0.9, 0.5, 0.0, 1.0]), lists)
    # list 0: the three tied places go to rows 2, 3, 1 in that order, between 5 and 1
    assert 5.0 > out[2] > out[3] > out[1] > 1.0 and out[2] == 3.0
    # list 1: row 6 takes row 5's place and row 5 row 6's; the others do not move
    assert out[6] == 2.0 and -1.0 < out[5] <= 0.0 and (out[0], out[4]) == (5.0, 1.0)
