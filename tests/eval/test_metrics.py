"""Every metric against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from llmrec.eval import metrics

# user 0 ranks items 0..4; relevant {1, 4, 7}: hits at ranks 2 and 5
# user 1 ranks 2, 3, then a short list; relevant {2}
RANKED = np.array([[0, 1, 2, 3, 4], [2, 3, -1, -1, -1]])
RELEVANT = sp.csr_matrix(([1, 1, 1, 1], ([0, 0, 0, 1], [1, 4, 7, 2])), shape=(2, 8))


@pytest.fixture
def hit():
    return metrics.hits(RANKED, RELEVANT)


def test_hits_and_padding(hit):
    assert hit.tolist() == [[False, True, False, False, True], [True] + [False] * 4]


def test_recall_at_k(hit):
    n = metrics.relevant_counts(RELEVANT)
    assert metrics.recall_at_k(hit, n, 2) == pytest.approx([1 / 3, 1.0])
    assert metrics.recall_at_k(hit, n, 5) == pytest.approx([2 / 3, 1.0])


def test_ndcg_at_k(hit):
    n = metrics.relevant_counts(RELEVANT)
    expected = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3) + 1 / 2)
    assert metrics.ndcg_at_k(hit, n, 5) == pytest.approx([expected, 1.0])
    # only the first k count, and the ideal is capped at k: user 0 has no hit at rank 1
    assert metrics.ndcg_at_k(hit, n, 1) == pytest.approx([0.0, 1.0])


def test_hit_rate_and_reciprocal_rank(hit):
    assert metrics.hit_rate_at_k(hit, 1).tolist() == [0.0, 1.0]
    assert metrics.hit_rate_at_k(hit, 2).tolist() == [1.0, 1.0]
    assert metrics.reciprocal_rank(hit) == pytest.approx([1 / 2, 1.0])
    assert metrics.reciprocal_rank(np.zeros((1, 3), dtype=bool)).tolist() == [0.0]


def test_no_relevant_items_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="undefined"):
        metrics.relevant_counts(sp.csr_matrix((1, 3)))


def test_catalogue_coverage():
    # items 0, 1, 2, 3 appear in the top 2 lists... of 8 items; -1 is not an item
    assert metrics.catalogue_coverage(RANKED, 8, 2) == pytest.approx(4 / 8)
    assert metrics.catalogue_coverage(RANKED, 8, 5) == pytest.approx(5 / 8)


def test_intra_list_diversity():
    # tags: item 0 {a, b}, item 1 {b}, item 2 {c}; Jaccard distances 0-1: 1 - 1/2,
    # 0-2: 1, 1-2: 1 → mean 5/6
    tags = sp.csr_matrix(([1, 1, 1, 1], ([0, 0, 1, 2], [0, 1, 1, 2])), shape=(3, 3))
    ranked = np.array([[0, 1, 2], [0, -1, -1]])
    assert metrics.intra_list_diversity(ranked, tags, 3) == pytest.approx([5 / 6, 0.0])
    assert metrics.intra_list_diversity(ranked, tags, 2) == pytest.approx([0.5, 0.0])


def test_novelty_and_popularity_bias():
    share = np.array([0.5, 0.25, 0.125])
    ranked = np.array([[0, 1], [2, -1]])
    assert metrics.novelty_at_k(ranked, share, 2) == pytest.approx([1.5, 3.0])
    assert metrics.popularity_bias_at_k(ranked, share, 2) == pytest.approx([0.375, 0.125])
