"""Interest vectors by hand: weights, decay, online updates, multi-interest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmrec.config import DEFAULT_EVENT_WEIGHTS
from llmrec.profile.vectors import UserProfiles, keyword_profile

DAY = 86_400
ITEMS = ["x", "y", "z", "w"]
VECTORS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0]], dtype=np.float32)


def events(rows):
    return pd.DataFrame(
        rows, columns=["user_id", "item_id", "event_type", "value", "query", "timestamp"]
    )


def profiles(**kwargs) -> UserProfiles:
    return UserProfiles(DEFAULT_EVENT_WEIGHTS, half_life_days=1.0, **kwargs)


def test_weights_and_decay_by_hand():
    p = profiles().fit(
        events(
            [
                ("u", "x", "purchase", None, None, 0),  # 8, one day old: 4
                ("u", "y", "view", None, None, DAY),  # 1
                ("u", "z", "rating", 1.0, None, DAY),  # 1 × (1 − 3)/2 = −1
            ]
        ),
        ITEMS,
        VECTORS,
    )
    expected = np.array([4.0, 1.0, -1.0])
    np.testing.assert_allclose(p.vectors(["u"])[0], expected / np.linalg.norm(expected), rtol=1e-6)
    assert p.seen("u") == {"x", "y", "z"}  # a bad rating is seen too: never recommended back
    assert np.all(p.vectors(["nobody"]) == 0)


def test_an_online_update_equals_a_refit():
    first = [("u", "x", "purchase", None, None, 0), ("v", "y", "view", None, None, 0)]
    later = [("u", "y", "like", None, None, 2 * DAY), ("u", "z", "dislike", None, None, DAY)]
    online = profiles().fit(events(first), ITEMS, VECTORS).update(events(later))
    refit = profiles().fit(events(first + later), ITEMS, VECTORS)
    np.testing.assert_allclose(online.vectors(["u", "v"]), refit.vectors(["u", "v"]), atol=1e-6)
    # By hand: x 8 × 1/4, y 4, z −4 × 1/2.
    expected = np.array([2.0, 4.0, -2.0])
    np.testing.assert_allclose(
        online.vectors(["u"])[0], expected / np.linalg.norm(expected), rtol=1e-6
    )


def test_unknown_items_and_zero_weight_events_are_ignored():
    p = profiles().fit(
        events([("u", "nope", "view", None, None, 0), ("u", None, "search", None, "q", 0)]),
        ITEMS,
        VECTORS,
    )
    assert "u" not in p  # no item vector and no query encoder: nothing to add


class _Encoder:
    """Queries as fixed vectors (the tests of the real encoder are in tests/embed)."""

    def encode(self, texts):
        return np.array([[0, 0, 1]] * len(texts), dtype=np.float32)


def test_search_queries_pull_the_vector_with_the_query_weight():
    p = profiles().fit(
        events([("u", None, "search", None, "space", 0), ("u", "x", "view", None, None, 0)]),
        ITEMS,
        VECTORS,
        query_encoder=_Encoder(),
    )
    expected = np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(p.vectors(["u"])[0], expected / np.linalg.norm(expected), rtol=1e-6)


def test_multi_interest_keeps_two_tastes_apart():
    rng = np.random.default_rng(0)
    horror = np.array([1, 0, 0, 0], dtype=np.float32)
    kids = np.array([0, 0, 1, 0], dtype=np.float32)
    vectors = np.vstack(
        [horror + 0.1 * rng.normal(size=(6, 4)), kids + 0.1 * rng.normal(size=(4, 4))]
    )
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"i{j}" for j in range(10)]
    p = UserProfiles(DEFAULT_EVENT_WEIGHTS, max_interests=2, min_items_per_interest=3).fit(
        events([("u", i, "view", None, None, n) for n, i in enumerate(ids)]), ids, vectors
    )
    interests = p.interests("u")
    assert len(interests) == 2
    best = interests @ np.vstack([horror, kids]).T
    assert best[0, 0] > 0.9  # the heavier cluster (6 items) is horror
    assert best[:, 1].max() > 0.9  # and the children's films have their own vector
    assert (p.vectors(["u"]) @ np.vstack([horror, kids]).T).max() < 0.9  # the mean is neither


def test_keyword_profile_uses_the_same_weights():
    ev = events(
        [
            ("u", "x", "purchase", None, None, 0),
            ("u", "y", "view", None, None, 0),
            ("u", "z", "dislike", None, None, 0),
        ]
    )
    p = profiles().fit(ev, ITEMS, VECTORS)
    keywords = {"x": ["war", "drama"], "y": ["drama"], "z": ["horror"]}
    assert keyword_profile(ev, keywords, p, "u") == [
        ("drama", pytest.approx(9 / 17, abs=1e-4)),
        ("war", pytest.approx(8 / 17, abs=1e-4)),
    ]


def test_keyword_profile_blends_the_llm_interests():
    ev = events([("u", "x", "purchase", None, None, 0), ("u", "y", "view", None, None, 0)])
    p = profiles().fit(ev, ITEMS, VECTORS)
    keywords = {"x": ["war"], "y": ["drama"]}  # items: war 8/9, drama 1/9
    llm = [["drama", 0.75], ["history", 0.25]]
    blended = keyword_profile(ev, keywords, p, "u", llm_keywords=llm, llm_share=0.5)
    # war 0.5 × 8/9 = 0.4444; drama 0.5 × 1/9 + 0.5 × 0.75 = 0.4306; history 0.125
    assert blended == [
        ("war", pytest.approx(0.4444, abs=1e-4)),
        ("drama", pytest.approx(0.4306, abs=1e-4)),
        ("history", 0.125),
    ]
    # A user known only to the LLM (no events) still has a profile.
    assert keyword_profile(ev.iloc[0:0], keywords, p, "u", llm_keywords=llm) == [
        ("drama", 0.75),
        ("history", 0.25),
    ]
