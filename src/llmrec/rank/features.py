"""Features of (user, candidate item) pairs for the ranker.

Per source: its score and the item's rank in the user's list (NaN where the source
cannot score the item, as it says by a NaN score, e.g. a collaborative source and a
cold item: the ranker learns a separate path for those). Per item: popularity, trending,
age, cold flag. Per user: activity and time since the last event. Per pair: tag affinity
(overlap of the item's tags with the tags of the user's history) and the closest of the
user's last items in text space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ItemStats:
    popularity: np.ndarray  # log1p(users who interacted)
    trending: np.ndarray  # recency-decayed popularity, max 1
    age_days: np.ndarray  # since the first event; NaN for cold items
    cold: np.ndarray  # bool: no training events


RANK_CAP = 1_000


def best_first(scores: np.ndarray, cap: int = RANK_CAP) -> np.ndarray:
    """Each row's best ``cap`` scores, negated and ascending (best first): what
    :func:`source_ranks` counts against. Linear time in the catalogue (a partition, then a
    sort of ``cap`` values) instead of a full sort of every row, which dominated serving a
    large catalogue; a rank that deep carries no more signal anyway."""
    negated = -scores
    if scores.shape[1] > cap:
        negated = np.partition(negated, cap - 1, axis=1)[:, :cap]
    return np.sort(negated, axis=1)


def source_ranks(
    scores: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    cap: int = RANK_CAP,
    best: np.ndarray | None = None,
) -> np.ndarray:
    """Rank (0 = best) of item ``cols[i]`` in row ``rows[i]``: how many items of the row
    score strictly higher (ties share a rank), counted up to ``cap``. ``best`` is
    :func:`best_first` of ``scores`` when the caller has it already."""
    values = scores[rows, cols]
    best = best_first(scores, cap) if best is None else best
    order = np.argsort(rows, kind="stable")
    starts = np.searchsorted(rows[order], np.arange(len(best) + 1))
    ranks = np.empty(len(rows), dtype=np.int64)
    for row in np.flatnonzero(np.diff(starts)):
        mine = order[starts[row] : starts[row + 1]]
        ranks[mine] = np.searchsorted(best[row], -values[mine], side="left")
    return ranks


def pair_features(
    users: np.ndarray,
    items: np.ndarray,
    source_scores: dict[str, np.ndarray],
    stats: ItemStats,
    history_tags: np.ndarray | None,
    item_tags: sp.csr_matrix | None,
    recent_vectors: np.ndarray | None,
    item_vectors: np.ndarray | None,
    activity: np.ndarray,
    idle_days: np.ndarray,
    best: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """``users[r]`` indexes the batch rows of the score matrices, ``items[r]`` the item;
    ``best`` holds :func:`best_first` of each source's scores when already computed."""
    columns, names = [], []
    for name, scores in source_scores.items():
        score = scores[users, items].astype(np.float64)
        known = (best or {}).get(name)
        rank = source_ranks(scores, users, items, best=known).astype(np.float64)
        rank[np.isnan(score)] = np.nan
        columns += [score, np.log1p(rank)]
        names += [f"{name}_score", f"{name}_log_rank"]
    columns += [stats.popularity[items], stats.trending[items], stats.age_days[items]]
    names += ["item_log_popularity", "item_trending", "item_age_days"]
    if history_tags is not None and item_tags is not None:
        affinity = np.asarray(item_tags[items].multiply(history_tags[users]).sum(axis=1)).ravel()
        columns.append(affinity)
        names.append("tag_affinity")
    if recent_vectors is not None and item_vectors is not None:
        columns.append(closest_recent(users, items, recent_vectors, item_vectors))
        names.append("closest_recent_item")
    columns += [activity[users], idle_days[users]]
    names += ["user_log_activity", "user_idle_days"]
    return np.column_stack(columns).astype(np.float32), names


def closest_recent(
    users: np.ndarray, items: np.ndarray, recent_vectors: np.ndarray, item_vectors: np.ndarray
) -> np.ndarray:
    """Per pair, the highest similarity of item ``items[i]`` to one of row ``users[i]``'s
    last items (``recent_vectors[row]``, zero rows where the history is shorter): one
    small product per row instead of gathering every pair's recent vectors, a copy of
    pairs × recent × width floats that took 40% of building the ranker's training lists."""
    out = np.empty(len(users), dtype=np.float32)
    order = np.argsort(users, kind="stable")
    starts = np.searchsorted(users[order], np.arange(len(recent_vectors) + 1))
    for row in np.flatnonzero(np.diff(starts)):
        mine = order[starts[row] : starts[row + 1]]
        out[mine] = (item_vectors[items[mine]] @ recent_vectors[row].T).max(axis=1)
    return out
