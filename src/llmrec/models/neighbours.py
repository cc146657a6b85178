"""Item-to-item neighbourhood scorers over the interaction matrix.

- :class:`ItemKNN`: cosine similarity between items' user columns, the ``neighbours``
  most similar kept per item; a user's score is the sum of the similarities of the items
  in their history.
- :class:`CoVisitation`: how often two items follow each other closely in users'
  sequences (within ``window`` steps, closer counts more); the user's most recent items
  count most, so it captures "what comes next" that a bag of items cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from llmrec.models.base import History, Interactions, Scorer, SourceConfig


def top_k_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (vectorised by sorting row segments)."""
    matrix = matrix.tocsr()
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= k:
        return matrix
    row_of = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((-matrix.data, row_of))
    rank = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], lengths)
    keep = order[rank < k]
    return sp.csr_matrix(
        (matrix.data[keep], (row_of[keep], matrix.indices[keep])), shape=matrix.shape
    )


class ItemKNN(Scorer):
    name = "itemknn"

    class Config(SourceConfig):
        neighbours: int = Field(100, ge=1, description="neighbours kept per item")
        shrinkage: float = Field(0.0, ge=0, description="added to the cosine's denominator")

    grid: ClassVar[Mapping[str, tuple]] = {"neighbours": (20, 50, 100, 200, 400)}

    def __init__(self, neighbours: int = 100, shrinkage: float = 0.0) -> None:
        self.neighbours = neighbours
        self.shrinkage = shrinkage

    def _fit(self, data: Interactions) -> None:
        x = data.matrix.tocsc().astype(np.float32)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        co.data = co.data / (norms[rows] * norms[co.indices] + self.shrinkage + 1e-12)
        # Neighbours of item j are the items whose row keeps j: score = history @ sim.
        self.similarity_ = top_k_per_row(co, self.neighbours).T.tocsr().astype(np.float32)
        self.n_items_ = data.n_items

    def _score(self, history: History) -> np.ndarray:
        return np.asarray((history.matrix @ self.similarity_).todense(), dtype=np.float32)


class CoVisitation(Scorer):
    name = "covisit"
    learns_order = True

    class Config(SourceConfig):
        window: int = Field(5, ge=1, description="items apart that still co-occur")
        recent: int = Field(10, ge=1, description="the user's latest items that propose")
        recency_decay: float = Field(0.7, gt=0, le=1, description="weight lost per step back")

    grid: ClassVar[Mapping[str, tuple]] = {"window": (2, 5, 10)}

    def __init__(self, window: int = 5, recent: int = 10, recency_decay: float = 0.7) -> None:
        self.window = window
        self.recent = recent
        self.recency_decay = recency_decay

    def _fit(self, data: Interactions) -> None:
        n = data.n_items
        rows, cols, vals = [], [], []
        for seq in data.sequences:
            for gap in range(1, self.window + 1):
                if len(seq) <= gap:
                    break
                # both directions: "watched together", weighted by closeness
                rows += [seq[:-gap], seq[gap:]]
                cols += [seq[gap:], seq[:-gap]]
                vals.append(np.full(2 * (len(seq) - gap), 1.0 / gap, dtype=np.float32))
        if rows:
            counts = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
            )
            counts.sum_duplicates()
            # Normalise by each target item's popularity so blockbusters do not win
            # every row: counts / sqrt(pop_i * pop_j).
            popularity = np.sqrt(np.asarray(counts.sum(axis=0)).ravel()) + 1e-12
            counts = sp.diags(1 / popularity) @ counts @ sp.diags(1 / popularity)
        else:
            counts = sp.csr_matrix((n, n), dtype=np.float32)
        self.covisits_ = counts.tocsr().astype(np.float32)
        self.n_items_ = n

    def _score(self, history: History) -> np.ndarray:
        rows, cols, vals = [], [], []
        for r, seq in enumerate(history.sequences):
            last = seq[-self.recent :][::-1]
            rows.append(np.full(len(last), r))
            cols.append(last)
            vals.append(self.recency_decay ** np.arange(len(last), dtype=np.float32))
        recent = (
            sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(len(history), self.n_items_),
            )
            if rows
            else sp.csr_matrix((len(history), self.n_items_), dtype=np.float32)
        )
        return np.asarray((recent @ self.covisits_).todense(), dtype=np.float32)
