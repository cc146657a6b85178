"""The candidate scorers on ML-100K (leave-last-one-out) and on hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from llmrec.models import (
    ALS,
    BPR,
    EASE,
    ContentScorer,
    ContentToCFScorer,
    CoVisitation,
    Interactions,
    ItemKNN,
    MostPopular,
    SASRec,
)  # fmt: skip


def _events(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return frame.assign(event_type="interaction")


def test_interactions_keep_time_order_and_drop_repeats():
    data = Interactions.from_events(
        _events([("u", "b", 20), ("u", "a", 10), ("u", "b", 30), ("v", "c", 5)]),
        item_ids=["a", "b", "c", "d"],
    )
    assert list(data.user_ids) == ["u", "v"]
    assert data.sequences[0].tolist() == [0, 1]  # a then b; the second b is a repeat
    assert data.matrix.toarray().tolist() == [[1, 1, 0, 0], [0, 0, 1, 0]]
    assert data.last_time.tolist() == [30, 5]
    assert np.isnan(data.item_first_time[3])  # d has no events


def test_negative_events_are_not_interactions():
    events = _events([("u", "a", 1), ("u", "b", 2)])
    events.loc[1, "event_type"] = "dislike"
    data = Interactions.from_events(events, event_weights={"dislike": -4.0})
    assert list(data.item_ids) == ["a"]


@pytest.fixture(scope="module")
def loo(ml100k_frames):
    events, _ = ml100k_frames
    ordered = events.sort_values(["user_id", "timestamp"], kind="stable")
    last = ordered.groupby("user_id").tail(1)
    data = Interactions.from_events(ordered.drop(last.index),
                                    item_ids=sorted(events["item_id"].unique()))  # fmt: skip
    rows = data.user_ids.get_indexer(last["user_id"])
    return data, rows, data.item_ids.get_indexer(last["item_id"])


def _ndcg10(scores: np.ndarray, data: Interactions, rows, target) -> float:
    scores = np.where(data.matrix[rows].toarray() > 0, -np.inf, scores)
    rank = (scores > scores[np.arange(len(target)), target][:, None]).sum(axis=1)
    return float(np.where(rank < 10, 1 / np.log2(rank + 2), 0).mean())


@pytest.mark.parametrize(
    ("scorer", "beats"),
    [(MostPopular(), 0.03), (ItemKNN(100), 0.05), (EASE(500), 0.06), (ALS(), 0.05),
     (BPR(), 0.03), (CoVisitation(), 0.08)],
)  # fmt: skip
def test_collaborative_scorers_reach_known_accuracy(loo, scorer, beats):
    """Leave-last-one-out NDCG@10 on ML-100K well above random (≈0.003)."""
    data, rows, target = loo
    scores = scorer.fit(data).score(data.history(rows))
    assert scores.shape == (len(rows), data.n_items)
    assert _ndcg10(scores, data, rows, target) > beats


def test_ease_rejects_a_catalogue_it_cannot_hold(loo):
    with pytest.raises(ValueError, match="max_items"):
        EASE(max_items=100).fit(loo[0])


def test_ease_leaves_out_items_too_few_users_had(loo):
    data, rows, target = loo
    users_per_item = np.diff(data.matrix.tocsc().indptr)
    model = EASE(500, min_item_users=3).fit(data)
    scores = model.score(data.history(rows))
    assert set(model.modelled_items_) == set(np.flatnonzero(users_per_item >= 3))
    left_out = scores[:, (users_per_item > 0) & (users_per_item < 3)]
    assert (left_out == 0).all()  # scored 0: no evidence
    assert np.isnan(scores[:, users_per_item == 0]).all()  # no events: cannot score
    whole = EASE(500, min_item_users=1).fit(data)
    assert len(whole.modelled_items_) == (users_per_item >= 1).sum()
    # the rare items carry almost nothing: accuracy within 0.005
    full = whole.score(data.history(rows))
    assert abs(_ndcg10(scores, data, rows, target) - _ndcg10(full, data, rows, target)) < 0.005


def test_als_folds_a_user_in_as_its_own_training_step_does(loo):
    """Only item factors are kept: a user's factors come from the history passed, by
    ALS's least-squares user step (implicit's recalculate_user gives the same)."""
    from implicit.cpu.als import AlternatingLeastSquares

    data, rows, _ = loo
    model = ALS(iterations=5).fit(data)
    assert not hasattr(model, "user_factors_")
    reference = AlternatingLeastSquares(factors=model.factors, regularization=model.regularization,
                                        alpha=model.alpha, iterations=0)  # fmt: skip
    reference.item_factors = model.item_factors_
    rows = rows[:50]
    wanted = reference.recalculate_user(rows, data.matrix[rows])
    np.testing.assert_allclose(model.user_vectors(data.history(rows)), wanted, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_sasrec_learns_the_next_item(loo):
    data, rows, target = loo
    model = SASRec(max_len=50, max_epochs=40, patience=5).fit(data)
    assert model.validation_ndcg_ > 0.05
    assert _ndcg10(model.score(data.history(rows)), data, rows, target) > 0.05


def test_content_scorers_score_cold_items(loo):
    data, rows, _ = loo
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((data.n_items, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    history = data.history(rows[:5])
    content = ContentScorer(vectors).fit(data).score(history)
    # a user whose only item is i scores i's own vector highest
    one = type(history)(history.matrix[:1], [np.array([7])], np.array([0]))
    assert int(np.argmax(ContentScorer(vectors).fit(data).score(one)[0])) == 7
    assert content.shape == (5, data.n_items)
    mapped = ContentToCFScorer(vectors, dim=8).fit(data).score(history)
    assert np.isfinite(mapped).all() and mapped.std() > 0


@pytest.mark.parametrize(("n_items", "dims"), [(40, 8), (30, 64), (300, 32)])
def test_the_text_prior_is_its_closed_form_without_the_text_matrix(n_items, dims):
    """TextPriorEASE never forms the text's n×n matrix; its weights are still exactly
    the module docstring's closed form, computed here the direct way."""
    from llmrec.models.ease import ease_weights
    from llmrec.models.text_ease import TextPriorEASE

    rng = np.random.default_rng(n_items)
    vectors = rng.normal(size=(n_items, dims))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    users = 60
    x = (rng.random((users, n_items)) < 0.1).astype(np.float32)
    data = Interactions(
        user_ids=pd.Index([f"u{u}" for u in range(users)]),
        item_ids=pd.Index([f"i{i}" for i in range(n_items)]),
        matrix=sp.csr_matrix(x),
        sequences=[np.flatnonzero(row) for row in x],
        last_time=np.zeros(users),
        item_first_time=np.zeros(n_items),
        item_last_times=[np.zeros(int(row.sum())) for row in x],
    )
    l2, prior, text_l2 = 50.0, 30.0, 10.0
    fitted = TextPriorEASE(vectors, l2=l2, prior=prior, text_l2=text_l2).fit(data)
    text = ease_weights(vectors @ vectors.T, text_l2)
    precision = np.linalg.inv(x.T.astype(np.float64) @ x + (l2 + prior) * np.eye(n_items))
    expected = np.eye(n_items) - (l2 + prior) * precision + prior * precision @ text
    expected -= precision * (np.diag(expected) / np.diag(precision))[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(fitted.weights_, expected, atol=1e-6)
