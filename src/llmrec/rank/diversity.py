"""Maximal marginal relevance (Carbonell & Goldstein, 1998): pick, one at a time, the item
maximising ``(1 − λ)·relevance − λ·max similarity to the items already picked``.
λ = 0 keeps the ranking; larger λ trades accuracy for a more varied list."""

from __future__ import annotations

import numpy as np


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Positions (into ``relevance``) of the ``k`` items picked, in order.

    ``relevance`` is rescaled to [0, 1] so λ means the same whatever the scorer's scale;
    ``vectors`` are unit rows, so similarity is cosine.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    k = min(k, len(relevance))
    if diversity == 0.0 or k <= 1:
        return np.argsort(-relevance, kind="stable")[:k]
    span = relevance.max() - relevance.min()
    rel = (relevance - relevance.min()) / span if span > 0 else np.zeros_like(relevance)
    similarity = vectors @ vectors.T
    picked = [int(np.argmax(rel))]
    closest = similarity[picked[0]].copy()
    available = np.ones(len(rel), dtype=bool)
    available[picked[0]] = False
    for _ in range(k - 1):
        gain = np.where(available, (1 - diversity) * rel - diversity * closest, -np.inf)
        best = int(np.argmax(gain))
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, similarity[best])
    return np.asarray(picked)
