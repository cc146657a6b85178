"""Content scorers: the only sources that can score an item nobody has touched.

- :class:`ContentScorer`: cosine between an item's text vector and the user's interest
  vector (the recency-weighted mean of the vectors of their latest items).
- :class:`ContentToCFScorer`: the collaborative space reached from text. A ridge
  regression learns to map warm items' text vectors to their collaborative factors
  (a truncated SVD of the interaction matrix); every item is then scored through its
  *mapped* factors, so a cold item is scored exactly like a warm one.
- :class:`GeneratedContentScorer`, :class:`GeneratedContentToCFScorer`: the same two
  over the vectors of what the LLM wrote about each item (``llmrec enrich items``: its
  description and keywords), kept apart from the item's own text so that the ranker
  weighs each by what the data supports. An item the LLM wrote nothing usable about has
  a zero vector there and cannot be scored (NaN).

``item_vectors[i]`` must be the unit text vector of the fitted data's ``item_ids[i]``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from llmrec.models.base import History, Interactions, Scorer, SourceConfig
from llmrec.retrieve.cold_start import ContentToCF, cf_factors


def _recency_weighted(history: History, recent: int, decay: float, n_items: int) -> sp.csr_matrix:
    """Row r weighs user r's last ``recent`` items by ``decay ** age_in_steps``."""
    rows, cols, vals = [], [], []
    for r, seq in enumerate(history.sequences):
        last = seq[-recent:][::-1]
        rows.append(np.full(len(last), r))
        cols.append(last)
        vals.append(decay ** np.arange(len(last), dtype=np.float32))
    if not rows:
        return sp.csr_matrix((len(history), n_items), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(history), n_items),
    )


class ContentScorer(Scorer):
    name = "content"
    needs_text = True
    scores_new_items = True

    class Config(SourceConfig):
        recent: int = Field(50, ge=1, description="the user's latest items in their vector")
        decay: float = Field(0.97, gt=0, le=1, description="weight lost per step back")

    def __init__(self, item_vectors: np.ndarray, recent: int = 50, decay: float = 0.97) -> None:
        self.item_vectors = item_vectors
        self.recent = recent
        self.decay = decay

    def _fit(self, data: Interactions) -> None:
        # C order: a sparse history times a column-major matrix copies it on every call
        vectors = np.ascontiguousarray(self.item_vectors, dtype=np.float32)
        if vectors.shape[0] != data.n_items:
            raise ValueError(f"{vectors.shape[0]} item vectors for {data.n_items} items")
        self.vectors_ = vectors
        self.n_items_ = data.n_items

    def user_vectors(self, history: History) -> np.ndarray:
        self._check_fitted()
        weights = _recency_weighted(history, self.recent, self.decay, self.n_items_)
        users = np.asarray(weights @ self.vectors_)
        norms = np.linalg.norm(users, axis=1, keepdims=True)
        return users / np.where(norms > 0, norms, 1.0)

    def _score(self, history: History) -> np.ndarray:
        return (self.user_vectors(history) @ self.vectors_.T).astype(np.float32)

    def add_items(self, vectors: np.ndarray) -> None:
        """Score new items (appended after the fitted ones) from their text vectors."""
        self._check_fitted()
        self.vectors_ = np.vstack([self.vectors_, np.asarray(vectors, np.float32)])
        self.n_items_ = len(self.vectors_)


class ContentToCFScorer(Scorer):
    name = "content_cf"
    needs_text = True
    scores_new_items = True

    class Config(SourceConfig):
        dim: int = Field(64, ge=1, description="collaborative factors the text is mapped to")
        alpha: float = Field(1.0, gt=0, description="the ridge penalty of the mapping")

    def __init__(self, item_vectors: np.ndarray, dim: int = 64, alpha: float = 1.0) -> None:
        self.item_vectors = item_vectors
        self.dim = dim
        self.alpha = alpha

    def _fit(self, data: Interactions) -> None:
        # C order: a sparse history times a column-major matrix copies it on every call
        vectors = np.ascontiguousarray(self.item_vectors, dtype=np.float32)
        if vectors.shape[0] != data.n_items:
            raise ValueError(f"{vectors.shape[0]} item vectors for {data.n_items} items")
        warm = np.asarray(data.matrix.sum(axis=0)).ravel() > 0
        _, item_factors = cf_factors(data.matrix[:, warm], self.dim)
        mapping = ContentToCF(self.alpha).fit(vectors[warm], item_factors)
        real = np.zeros((data.n_items, item_factors.shape[1]), dtype=np.float32)
        real[warm] = item_factors
        gram = real.T.astype(np.float64) @ real + 1e-3 * np.eye(real.shape[1])
        # fold-in: a history's least-squares user factor in the SVD space
        self.fold_in_ = (real @ np.linalg.inv(gram)).astype(np.float32)
        self.mapping_ = mapping
        self.mapped_ = mapping.transform(vectors)
        self.n_items_ = data.n_items

    def add_items(self, vectors: np.ndarray) -> None:
        """Score new items (appended after the fitted ones) through their mapped factors;
        they have no collaborative factors, so they add nothing to a history's fold-in."""
        self._check_fitted()
        mapped = self.mapping_.transform(np.asarray(vectors, np.float32))
        self.mapped_ = np.vstack([self.mapped_, mapped.astype(self.mapped_.dtype)])
        pad = np.zeros((len(mapped), self.fold_in_.shape[1]), self.fold_in_.dtype)
        self.fold_in_ = np.vstack([self.fold_in_, pad])
        self.n_items_ = len(self.mapped_)

    def _score(self, history: History) -> np.ndarray:
        users = np.asarray(history.matrix @ self.fold_in_)
        return (users @ self.mapped_.T).astype(np.float32)


class _GeneratedText:
    """Over the LLM's text: items without it (zero vectors) cannot be scored."""

    text = "generated"

    def _learned_items(self, data: Interactions) -> None:
        super()._learned_items(data)
        vectors = np.asarray(self.item_vectors)
        self.unscored_items_ = np.flatnonzero(~vectors.any(axis=1))

    def add_items(self, vectors: np.ndarray) -> None:
        """New items are scored from their generated text where they have one."""
        first = self.n_items_
        super().add_items(vectors)
        silent = first + np.flatnonzero(~np.asarray(vectors).any(axis=1))
        self.unscored_items_ = np.r_[self.unscored_items_, silent]


class GeneratedContentScorer(_GeneratedText, ContentScorer):
    name = "content_llm"


class GeneratedContentToCFScorer(_GeneratedText, ContentToCFScorer):
    name = "content_cf_llm"
