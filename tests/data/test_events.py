"""What an event means: the policy's answers, and every layer that weighs events giving
the same ones (the interaction matrices, profiles, interests, splits, the recommender)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from llmrec.config import Settings
from llmrec.data.events import DEFAULT_EVENT_WEIGHTS, NEGATIVE_EVENT_TYPES, EventPolicy
from llmrec.data.matrix import build_interaction_matrix
from llmrec.enrich.interests import collect_behaviour
from llmrec.eval.splits import leave_last_one_out
from llmrec.models import Interactions
from llmrec.profile.vectors import UserProfiles

# The weights before the policy existed: none of them may change.
EARLIER_WEIGHTS = {
    "view": 1.0, "click": 2.0, "search": 0.0, "cart": 4.0, "purchase": 8.0, "rating": 1.0,
    "like": 4.0, "dislike": -4.0, "skip": -1.0, "play": 1.0, "tag": 1.0, "interaction": 1.0,
}  # fmt: skip
TYPES = [*DEFAULT_EVENT_WEIGHTS, "wishlist"]  # every known type and a custom one


def test_negative_feedback_is_never_positive_history():
    policy = EventPolicy()
    for kind in ("not_interested", "dislike", "skip"):
        assert policy.is_negative(kind) and not policy.is_positive(kind)
        assert policy.weight(kind) < 0
    assert policy.negative_types == NEGATIVE_EVENT_TYPES
    # the web page's "Not interested" button posts exactly this type
    assert policy.weight("not_interested") == -2.0


def test_every_other_type_weighs_what_it_did():
    policy = EventPolicy()
    for kind, weight in EARLIER_WEIGHTS.items():
        assert policy.weight(kind) == weight
        assert policy.is_positive(kind) == (weight > 0)
        assert policy.is_negative(kind) == (kind in {"dislike", "skip"})
    assert policy.weight("wishlist") == 1.0 and policy.is_positive("wishlist")
    assert EventPolicy(default_weight=0.0).weight("wishlist") == 0.0


def test_a_negative_type_configured_positive_still_is_not():
    policy = EventPolicy({"not_interested": 3.0, "view": 2.0})
    assert policy.weight("not_interested") == 0.0 and not policy.is_positive("not_interested")
    assert policy.weight("skip") == 0.0  # unlisted: the default weight, capped at 0
    assert policy.weight("view") == 2.0


def test_vectorised_answers_match_one_at_a_time():
    policy = EventPolicy()
    types = pd.Series([*TYPES, "view", None, "dislike"])
    weights = policy.weights_of(types)
    assert weights.tolist()[: len(TYPES)] == [policy.weight(t) for t in TYPES]
    assert weights[-2] == policy.default_weight  # a missing type
    assert policy.positive_mask(types).tolist() == (weights > 0).tolist()
    assert policy.negative_mask(types).tolist() == [t in NEGATIVE_EVENT_TYPES for t in types]
    assert policy.weights_of([]).shape == (0,)


def test_the_policy_is_frozen_and_owns_its_weights():
    weights = {"view": 1.0}
    policy = EventPolicy(weights)
    weights["view"] = 5.0
    assert policy.weight("view") == 1.0
    with pytest.raises(AttributeError):
        policy.default_weight = 2.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(policy)) == policy


def test_settings_give_the_policy(settings):
    configured = Settings(event_weights={"view": 3.0}, default_event_weight=0.25)
    policy = configured.event_policy
    assert policy.weight("view") == 3.0 and policy.weight("wishlist") == 0.25
    assert policy.is_negative("not_interested") and policy.weight("not_interested") == -2.0


def _one_event_of_each_type() -> pd.DataFrame:
    """User ``u<n>`` has one event of type ``TYPES[n]``, on item ``x``, and a view of
    ``y`` (so that every user has a positive event)."""
    rows = []
    for n, kind in enumerate(TYPES):
        rows += [(f"u{n}", "y", "view", 10 * n), (f"u{n}", "x", kind, 10 * n + 1)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    return frame.assign(value=np.nan, query=None, timestamp=frame["timestamp"].astype(float))


def test_every_layer_agrees_on_what_is_positive(settings):
    events = _one_event_of_each_type()
    policy = settings.event_policy
    expected = {f"u{n}" for n, kind in enumerate(TYPES) if policy.is_positive(kind)}
    assert "u" + str(TYPES.index("not_interested")) not in expected

    data = Interactions.from_events(events, event_weights=policy.weights)
    x = data.item_ids.get_loc("x")
    assert {u for r, u in enumerate(data.user_ids) if x in data.sequences[r]} == expected

    matrix = build_interaction_matrix(events, policy.weights)
    column = matrix.matrix[:, matrix.item_index(["x"])[0]].toarray().ravel()
    assert set(matrix.user_ids[column > 0]) == expected
    assert set(matrix.user_ids[column < 0]) == {
        f"u{n}" for n, kind in enumerate(TYPES) if policy.weight(kind) < 0
    }

    split = leave_last_one_out(events, policy.weights, min_train=0)
    assert set(split.test.loc[split.test["item_id"] == "x", "user_id"]) == expected

    profiles = UserProfiles(policy.weights, policy.default_weight)
    on_x = events[(events["item_id"] == "x") & (events["event_type"] != "search")]
    # (a search weighs the profile's query_weight: its text says what the user wants)
    assert profiles.weights_of(on_x).tolist() == policy.weights_of(on_x["event_type"]).tolist()

    items = pd.DataFrame({"item_id": ["x", "y"], "title": ["X", "Y"], "tags": [["ex"], ["why"]]})
    behaviour = collect_behaviour(events, items, policy.weights, policy.default_weight, 50, 1000)
    assert {u for u, b in behaviour.items() if "ex" in b.support} == expected
