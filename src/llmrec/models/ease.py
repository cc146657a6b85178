"""EASE (Steck, 2019): a closed-form item-item linear model, ``B = I − P·diag(1/diag(P))``
with ``P = (XᵀX + λI)⁻¹`` and a zero diagonal. Strong on catalogues up to tens of
thousands of items; the dense ``n_items²`` matrix is what limits it."""

from __future__ import annotations

from typing import Self

import numpy as np

from llmrec.models.base import History, Interactions, Scorer


class EASE(Scorer):
    name = "ease"

    def __init__(self, l2: float = 500.0, max_items: int = 50_000) -> None:
        self.l2 = l2
        self.max_items = max_items

    def fit(self, data: Interactions) -> Self:
        if data.n_items > self.max_items:
            raise ValueError(
                f"EASE holds an n_items² matrix: {data.n_items} items is above max_items="
                f"{self.max_items}; use ALS or BPR for this catalogue"
            )
        gram = (data.matrix.T @ data.matrix).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        precision = np.linalg.inv(gram)
        weights = -precision / np.diag(precision)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights.astype(np.float32)
        self.n_items_ = data.n_items
        return self

    def score(self, history: History) -> np.ndarray:
        self._check_fitted()
        return np.asarray(history.matrix @ self.weights_, dtype=np.float32)
