"""Top-K ranking metrics for one user's list; average them over users.

``ranked`` is the recommended item ids, best first; ``relevant`` the ids the user
actually interacted with in the test period. Binary relevance throughout.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    if not relevant:
        raise ValueError("recall is undefined for a user without relevant items")
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """DCG of the top ``k`` (gain 1 / log2(rank + 1)) over the best DCG possible."""
    if not relevant:
        raise ValueError("NDCG is undefined for a user without relevant items")
    gains = [1.0 / np.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return float(sum(gains) / ideal)


def hit_rate_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    return float(any(item in relevant for item in ranked[:k]))


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0
