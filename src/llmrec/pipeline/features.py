"""Stage 2, features: what the ranker reads of each (history, candidate item) pair.

The feature arithmetic is :func:`llmrec.rank.features.pair_features`; this stage
gathers its inputs from the batch's histories and the learned item side (statistics,
text vectors, tags), all passed in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from llmrec.models import History, Interactions, MostPopular
from llmrec.rank.features import ItemStats, pair_features

_SECONDS_PER_DAY = 86_400.0
_RECENT = 5  # the last items whose text the closest-recent-item feature compares


def candidate_features(
    history: History,
    pairs: np.ndarray,
    scores: dict[str, np.ndarray],
    stats: ItemStats,
    *,
    vectors: np.ndarray | None,
    tags: sp.csr_matrix | None,
    last_times: np.ndarray,
    now: float,
    best: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """The features of (batch row, item) ``pairs`` given the sources' ``scores`` and
    their names; ``last_times`` is each row's newest event time, ``now`` the fit's."""
    lengths = np.array([len(s) for s in history.sequences], dtype=np.float64)
    recent = None
    if vectors is not None:
        recent = np.zeros((len(history), _RECENT, vectors.shape[1]), np.float32)
        for r, seq in enumerate(history.sequences):
            tail = seq[-_RECENT:]
            recent[r, : len(tail)] = vectors[tail]
    history_tags = None
    if tags is not None:
        counts = history.matrix @ tags
        total = np.asarray(counts.sum(axis=1)).ravel()
        history_tags = (sp.diags(1 / np.maximum(total, 1)) @ counts).tocsr()
    return pair_features(
        pairs[:, 0],
        pairs[:, 1],
        scores,
        stats,
        history_tags,
        tags,
        recent,
        vectors,
        np.log1p(lengths),
        (now - last_times) / _SECONDS_PER_DAY,
        best,
    )


def tag_matrix(items: pd.DataFrame) -> sp.csr_matrix | None:
    """Items × tags, 1 where the item (a row of ``items``, in order) has the tag; None
    without tags."""
    if "tags" not in items.columns:
        return None
    lists = [t if isinstance(t, list) else [] for t in items["tags"]]
    vocabulary = pd.Index(sorted({tag for tags in lists for tag in tags}))
    if vocabulary.empty:
        return None
    rows = np.repeat(np.arange(len(lists)), [len(t) for t in lists])
    cols = vocabulary.get_indexer([tag for tags in lists for tag in tags])
    return sp.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(len(items), len(vocabulary))
    )


def cold_stats(n_items: int) -> ItemStats:
    """Statistics as if no item had events: the view in which the ranker learns to rank
    items nobody has touched (:mod:`llmrec.pipeline.train_ranker`)."""
    none = np.zeros(n_items)
    return ItemStats(none, none, none + np.nan, np.ones(n_items, dtype=bool))


def item_stats(data: Interactions) -> ItemStats:
    """Each item's popularity, trending popularity (30-day half-life), age in days and
    whether it is cold, as of ``data``. The age is NaN for cold items only: the ranker
    tells items without events by it (``rank.ranker``). Items whose events are all
    undated count as the oldest (0 days when nothing is dated: play counts)."""
    counts = np.asarray(data.matrix.sum(axis=0)).ravel()
    trending = MostPopular(half_life_days=30).fit(data).item_scores_
    cold = data.items_without_events
    age = (data.now - data.item_first_time) / _SECONDS_PER_DAY
    undated = np.isnan(age) & ~cold
    if undated.any():
        age[undated] = np.nanmax(age, initial=0.0)
    return ItemStats(np.log1p(counts), trending, age, cold)
