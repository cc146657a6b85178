"""Cold-start pieces by hand: the ridge mapping, CF factors, friends and similar users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from llmrec.retrieve.cold_start import ContentToCF, cf_factors, friends_vector, similar_users_vector


def test_ridge_mapping_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    true = rng.normal(size=(8, 3))
    y = x @ true + 0.5
    mapping = ContentToCF(alpha=1e-6).fit(x, y)
    np.testing.assert_allclose(mapping.transform(x[:5]), y[:5], atol=1e-4)
    with pytest.raises(ValueError, match="200 text vectors but 3"):
        ContentToCF().fit(x, y[:3])


def test_cf_factors_reconstruct_a_low_rank_matrix():
    block = np.zeros((6, 6))
    block[:3, :3] = 1
    block[3:, 3:] = 1
    users, items = cf_factors(sp.csr_matrix(block), dim=2)
    np.testing.assert_allclose(users @ items.T, block, atol=1e-6)


def test_friends_vector_is_the_mean_of_known_friends():
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}
    np.testing.assert_allclose(friends_vector(["a", "b", "stranger"], vectors), [2**-0.5, 2**-0.5])
    assert friends_vector(["stranger"], vectors) is None


def test_similar_users_share_attributes_and_age_band():
    users = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "attributes": [
                {"age": 24, "occupation": "student"},
                {"age": 27, "occupation": "writer"},
                {"age": 61, "occupation": "student"},
            ],
        }
    )
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([-1.0, 0.0])}
    np.testing.assert_allclose(
        similar_users_vector({"age": 22, "occupation": "student"}, users, vectors), [1.0, 0.0]
    )
    np.testing.assert_allclose(
        similar_users_vector({"age": 29}, users, vectors), [2**-0.5, 2**-0.5]
    )
    assert similar_users_vector({"planet": "mars"}, users, vectors) is None
