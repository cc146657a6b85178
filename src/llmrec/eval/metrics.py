"""Top-K metrics, vectorised over users.

``ranked`` is an ``(n_users, K)`` array of item indices, best first (-1 pads a short
list); ``relevant`` an ``(n_users, n_items)`` sparse 0/1 matrix of each user's test
items. Binary relevance throughout. Every function returns one value per user except the
catalogue-level ones (coverage), so results can be averaged, bucketed or bootstrapped.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hits(ranked: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``hits[u, r]`` is True when the r-th recommendation of user u is relevant."""
    relevant = relevant.tocsr()
    rows = np.repeat(np.arange(ranked.shape[0]), ranked.shape[1])
    cols = ranked.ravel()
    found = np.zeros(len(cols), dtype=bool)
    valid = cols >= 0
    found[valid] = np.asarray(relevant[rows[valid], cols[valid]]).ravel() > 0
    return found.reshape(ranked.shape)


def relevant_counts(relevant: sp.csr_matrix) -> np.ndarray:
    counts = np.diff(relevant.tocsr().indptr)
    if (counts == 0).any():
        raise ValueError("ranking metrics are undefined for a user without relevant items")
    return counts


def recall_at_k(hit: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Share of each user's relevant items found in the top ``k``."""
    return hit[:, :k].sum(axis=1) / n_relevant


def ndcg_at_k(hit: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """DCG of the top ``k`` (gain 1 / log2(rank + 1)) over the best DCG possible."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit[:, :k] * discounts[: hit[:, :k].shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return dcg / ideal


def hit_rate_at_k(hit: np.ndarray, k: int) -> np.ndarray:
    return hit[:, :k].any(axis=1).astype(np.float64)


def reciprocal_rank(hit: np.ndarray) -> np.ndarray:
    """1 / rank of the first relevant item in the list; 0 when none is in it."""
    first = hit.argmax(axis=1)
    return np.where(hit.any(axis=1), 1.0 / (first + 1), 0.0)


def catalogue_coverage(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list."""
    top = ranked[:, :k]
    return len(np.unique(top[top >= 0])) / n_items


def intra_list_diversity(ranked: np.ndarray, item_tags: sp.csr_matrix, k: int) -> np.ndarray:
    """Mean pairwise Jaccard distance between the tag sets of a user's top ``k``."""
    tags = item_tags.tocsr().astype(bool).astype(np.float64)
    sizes = np.asarray(tags.sum(axis=1)).ravel()
    out = np.zeros(ranked.shape[0])
    for u, row in enumerate(ranked[:, :k]):
        row = row[row >= 0]
        if len(row) < 2:
            continue
        shared = (tags[row] @ tags[row].T).toarray()
        union = sizes[row][:, None] + sizes[row][None, :] - shared
        distance = 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        pairs = np.triu_indices(len(row), 1)
        out[u] = distance[pairs].mean()
    return out


def novelty_at_k(ranked: np.ndarray, item_share: np.ndarray, k: int) -> np.ndarray:
    """Mean self-information −log2(p) of the top ``k``, p = share of training users who
    interacted with the item (floored at one user in ``item_share``'s denominator)."""
    top = ranked[:, :k]
    info = -np.log2(np.clip(item_share, 1e-12, 1.0))
    values = np.where(top >= 0, info[np.maximum(top, 0)], np.nan)
    return np.nanmean(values, axis=1)


def popularity_bias_at_k(ranked: np.ndarray, item_share: np.ndarray, k: int) -> np.ndarray:
    """Average recommendation popularity (ARP): the mean share of training users who
    interacted with each recommended item."""
    top = ranked[:, :k]
    values = np.where(top >= 0, item_share[np.maximum(top, 0)], np.nan)
    return np.nanmean(values, axis=1)
