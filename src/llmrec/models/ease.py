"""EASE (Steck, 2019): a closed-form item-item linear model, ``B = I − P·diag(1/diag(P))``
with ``P = (XᵀX + λI)⁻¹`` and a zero diagonal. Strong on catalogues up to tens of
thousands of items; the dense ``n_items²`` matrix is what limits it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from pydantic import Field

from llmrec.models.base import History, Interactions, Scorer, SourceConfig


class EASE(Scorer):
    """``min_item_users``: items fewer users had are left out of the model (scored 0). An
    item one user had gives nobody else co-occurrence evidence worth a row and a column;
    on long-tailed catalogues (Last.fm: 10,679 of 17,632 artists have one listener) this
    keeps the matrix and its inversion small."""

    name = "ease"

    class Config(SourceConfig):
        l2: float = Field(500.0, gt=0, description="the ridge penalty λ")
        max_items: int = Field(50_000, ge=1, description="most items the n² matrix may hold")
        min_item_users: int = Field(2, ge=1, description="items fewer users had are left out")

    grid: ClassVar[Mapping[str, tuple]] = {"l2": (50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0)}

    def __init__(self, l2: float = 500.0, max_items: int = 50_000, min_item_users: int = 2) -> None:
        self.l2 = l2
        self.max_items = max_items
        self.min_item_users = min_item_users

    def _fit(self, data: Interactions) -> None:
        users_per_item = np.diff(data.matrix.tocsc().indptr)
        modelled = np.flatnonzero(users_per_item >= self.min_item_users)
        if len(modelled) > self.max_items:
            raise ValueError(
                f"EASE holds an n_items² matrix: {len(modelled)} items (with at least "
                f"{self.min_item_users} users) is above max_items={self.max_items}; use ALS "
                "or BPR for this catalogue"
            )
        x = data.matrix[:, modelled]
        gram = (x.T @ x).toarray().astype(np.float64)
        self.weights_ = ease_weights(gram, self.l2).astype(np.float32)
        self.modelled_items_ = modelled
        self.n_items_ = data.n_items

    def _score(self, history: History) -> np.ndarray:
        scores = np.zeros((history.matrix.shape[0], self.n_items_), np.float32)
        scores[:, self.modelled_items_] = history.matrix[:, self.modelled_items_] @ self.weights_
        return scores


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's closed form on a Gram matrix (changed in place): ``I − P·diag(1/diag(P))``
    with ``P = (G + l2·I)⁻¹``, the diagonal exactly 0."""
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights
