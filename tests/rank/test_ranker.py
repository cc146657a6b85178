import numpy as np
import pytest

from llmrec.rank.ranker import LambdaRanker


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
