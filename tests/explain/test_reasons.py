"""Explanations come from the scoring itself: removing the top reason item lowers the score."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from llmrec.errors import UnknownIdError
from llmrec.explain import explain


def _score(model, user: str, item: str) -> float:
    """The item's score as ``recommend`` gives it (the public path, not the explainer's)."""
    return float(model.recommend([user], k=1, candidates=[item])["score"].iloc[0])


def test_explanation_of_a_recommendation(fitted_recommender):
    model = fitted_recommender
    top = model.recommend(["1"], k=1).iloc[0]
    why = explain(model, "1", top["item_id"])
    assert why.user_id == "1" and why.item_id == top["item_id"]
    assert why.title == model.items_.loc[top["item_id"], "title"]
    assert why.score == pytest.approx(top["score"], rel=1e-6)
    assert why.sources == top["sources"].split(",")
    assert 1 <= len(why.history) <= 5
    contributions = [h.contribution for h in why.history]
    assert all(c > 0 for c in contributions) and contributions == sorted(
        contributions, reverse=True
    )
    history_ids = set(model.item_ids_[model.histories_.items_of("1")])
    assert {h.item_id for h in why.history} <= history_ids
    # keywords: the item's own tags that the history shares
    assert set(why.keywords) <= set(model.items_.loc[top["item_id"], "tags"])
    # SHAP values of the ranker, largest first, named by the ranker's features
    assert len(why.features) == 5
    assert {f.feature for f in why.features} <= set(model.ranker_.feature_names_)
    sizes = [abs(f.contribution) for f in why.features]
    assert sizes == sorted(sizes, reverse=True)
    assert why.to_dict()["history"][0]["item_id"] == why.history[0].item_id


def test_removing_the_top_reason_lowers_the_score(fitted_recommender):
    """Faithfulness on a sample of users' top recommendations. A history reason is an
    item whose removal lowers the score; the ranker is not monotone, so an item can be
    recommended although no single history item raises it (then there is none)."""
    rng = np.random.default_rng(0)
    users = [str(u) for u in rng.choice(np.arange(1, 944), size=20, replace=False)]
    tops = fitted_recommender.recommend(users, k=1)
    explained = 0
    for user, item in zip(tops["user_id"], tops["item_id"], strict=True):
        why = explain(fitted_recommender, user, item)
        if not why.history:
            continue
        explained += 1
        without = copy.deepcopy(fitted_recommender).forget(user, [why.history[0].item_id])
        before, after = _score(fitted_recommender, user, item), _score(without, user, item)
        assert after == pytest.approx(before - why.history[0].contribution, abs=1e-6)
        assert after < before
    assert explained >= 18


def test_unknown_ids_are_named(fitted_recommender):
    with pytest.raises(UnknownIdError, match="no-such-item"):
        explain(fitted_recommender, "1", "no-such-item")
    # A user without a history has nothing to explain: their list is popular items.
    with pytest.raises(UnknownIdError, match="unknown user id: someone-new"):
        explain(fitted_recommender, "someone-new", "50")


def test_a_disliked_item_is_never_a_reason(fitted_recommender):
    model = copy.deepcopy(fitted_recommender)
    user = "1"
    top = model.recommend([user], k=1).iloc[0]["item_id"]
    cited = explain(model, user, top).history[0].item_id
    model.update(pd.DataFrame({"user_id": [user], "item_id": [cited], "event_type": ["dislike"],
                               "timestamp": [9e9]}))  # fmt: skip
    assert cited not in [h.item_id for h in explain(model, user, top).history]


def test_the_recommenders_explain_is_a_deprecated_alias(fitted_recommender):
    top = fitted_recommender.recommend(["1"], k=1).iloc[0]
    with pytest.warns(DeprecationWarning, match=r"llmrec.explain.explain\(model"):
        old = fitted_recommender.explain("1", top["item_id"])
    assert old == explain(fitted_recommender, "1", top["item_id"])
