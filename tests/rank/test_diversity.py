import numpy as np
import pytest

from llmrec.rank.diversity import mmr

# Items 0 and 1 are the same direction; item 2 is orthogonal to both.
VECTORS = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
RELEVANCE = np.array([1.0, 0.9, 0.5])


def test_no_diversity_keeps_the_ranking():
    assert mmr(RELEVANCE, VECTORS, 3, 0.0).tolist() == [0, 1, 2]


def test_diversity_lifts_the_dissimilar_item_above_a_near_duplicate():
    # Hand computation with λ = 0.5 after picking item 0 (relevance rescaled to [0, 1]:
    # 1.0, 0.8, 0.0): item 1 gains 0.5·0.8 − 0.5·1 = −0.1, item 2 gains 0 − 0 = 0.
    assert mmr(RELEVANCE, VECTORS, 3, 0.5).tolist() == [0, 2, 1]


def test_small_diversity_does_not_reorder():
    # λ = 0.2: item 1 gains 0.8·0.8 − 0.2 = 0.44, item 2 gains 0.
    assert mmr(RELEVANCE, VECTORS, 3, 0.2).tolist() == [0, 1, 2]


def test_k_larger_than_the_list_returns_every_item_once():
    assert sorted(mmr(RELEVANCE, VECTORS, 10, 0.5).tolist()) == [0, 1, 2]


def test_diversity_outside_the_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="diversity must be in"):
        mmr(RELEVANCE, VECTORS, 2, 1.5)
