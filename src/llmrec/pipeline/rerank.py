"""Stage 4, re-ranking: each user's scored candidates become a ranked list (feedback
pushes down what resembles a dislike; a user with nothing to rank gets popular items),
and the items shown are picked from it (its best, or MMR's diverse choice)."""

from __future__ import annotations

import numpy as np

from llmrec.rank.diversity import mmr
from llmrec.rank.lists import RankedList


def push_down_disliked(
    items: np.ndarray,
    value: np.ndarray,
    disliked: list[int],
    vectors: np.ndarray | None,
    penalty: float,
) -> np.ndarray:
    """``value`` of ``items`` lowered by their closeness (text vectors) to the items the
    user disliked, skipped or hid, by ``penalty`` × the spread of the values."""
    if not disliked or vectors is None or len(items) == 0:
        return value
    closest = (vectors[items] @ vectors[disliked].T).max(axis=1)
    spread = value.max() - value.min() if len(value) > 1 else 1.0
    return value - penalty * spread * np.clip(closest, 0, 1)


def ranked_list(
    items: np.ndarray,
    value: np.ndarray,
    proposers: np.ndarray,
    tie_rank: np.ndarray,
    depth: int,
) -> RankedList:
    """The best ``depth`` of ``items`` by ``value``, ties to what is popular now
    (``tie_rank``), not to the catalogue's order."""
    order = np.lexsort((tie_rank[items], -value))[:depth]
    return RankedList(
        items[order].astype(np.int32), value[order].astype(np.float32), proposers[order]
    )


def popular_fallback(
    usable: np.ndarray, popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items, values and (no) proposers for a user with nothing to rank: every
    ``usable`` item by popularity."""
    items = np.flatnonzero(usable)
    return items, popularity[items], np.zeros(len(items), np.uint16)


def pick(ranked: RankedList, k: int, diversity: float, vectors: np.ndarray | None) -> RankedList:
    """The ``k`` items shown from a ranked list: its best, or MMR's choice among the best
    3k (``diversity`` > 0 and text vectors)."""
    top = ranked.head(max(k * 3, k))
    if not diversity or vectors is None:
        return top.head(k)
    chosen = mmr(top.scores, vectors[top.items], k, diversity)
    return RankedList(top.items[chosen], top.scores[chosen], top.sources[chosen])
