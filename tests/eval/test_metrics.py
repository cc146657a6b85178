"""Every metric against values computed by hand."""

from __future__ import annotations

import math

import pytest

from llmrec.eval.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k, reciprocal_rank

RANKED = ["a", "b", "c", "d", "e"]


def test_recall_at_k():
    assert recall_at_k(RANKED, {"b", "e", "z"}, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, {"b", "e", "z"}, 5) == pytest.approx(2 / 3)


def test_ndcg_at_k():
    # hits at ranks 2 and 5: (1/log2(3) + 1/log2(6)) / (1/log2(2) + 1/log2(3) + 1/log2(4))
    expected = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3) + 1 / 2)
    assert ndcg_at_k(RANKED, {"b", "e", "z"}, 5) == pytest.approx(expected)
    assert ndcg_at_k(RANKED, {"a"}, 5) == 1.0
    assert ndcg_at_k(RANKED, {"z"}, 5) == 0.0
    # only the first k count, and the ideal is capped at k
    assert ndcg_at_k(RANKED, {"c", "x", "y"}, 2) == 0.0


def test_hit_rate_and_reciprocal_rank():
    assert hit_rate_at_k(RANKED, {"c"}, 2) == 0.0 and hit_rate_at_k(RANKED, {"c"}, 3) == 1.0
    assert reciprocal_rank(RANKED, {"c", "e"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, {"z"}) == 0.0


def test_no_relevant_items_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="undefined"):
        ndcg_at_k(RANKED, set(), 10)
    with pytest.raises(ValueError, match="undefined"):
        recall_at_k(RANKED, set(), 10)
