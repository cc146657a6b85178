"""EASE with a text prior: item-item weights learned from the interactions and pulled
toward an item-item matrix learned from the items' text vectors — the idea of L3AE
(Moon, Park and Lee, "LLM-Enhanced Linear Autoencoders for Recommendation", CIKM 2025),
in a closed form of our own.

Two ridge regressions, each with a zero diagonal, each solved exactly:

1. The text's item-item matrix ``S``: every item's text vector written as a combination of
   the other items' (EASE with the text dimensions as its "users": Gram ``E Eᵀ`` of the
   unit text vectors ``E``, penalty ``text_l2``).
2. The weights ``B`` minimise ``‖X − XB‖² + l2·‖B‖² + prior·‖B − S‖²``, ``diag(B) = 0``.
   With ``P = (XᵀX + (l2 + prior)·I)⁻¹``: ``B̃ = I − (l2 + prior)·P + prior·P·S`` and
   ``B = B̃ − P·diag(diag(B̃) / diag(P))`` (the Lagrange step that zeroes the diagonal,
   as in EASE).

Only ``XᵀX + (l2 + prior)·I`` is inverted as an n×n matrix, as in EASE: the text's
matrix is never formed. With ``M = (EᵀE + text_l2·I)⁻¹`` (d×d, d the text dimensions),
Woodbury gives ``P_t = (EEᵀ + text_l2·I)⁻¹ = (I − E·M·Eᵀ) / text_l2`` and ``S = I −
P_t·diag(1/diag(P_t))``, so ``P·S = P − (P − (P·E)·M·Eᵀ)·diag(1/diag(P_t)) / text_l2``:
n²·d operations instead of two more n³ (a fit at 9,125 items: see
docs/decisions/recommender.md).

An item nobody had (a zero column of ``X``) keeps the prior's column smoothed through
``P``: it is scored from its text, so the source ``needs_text`` and never says "cannot
score". ``prior`` → 0 is EASE; a large ``prior`` is the text matrix alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from pydantic import Field

from llmrec.models.base import History, Interactions, Scorer, SourceConfig


class TextPriorEASE(Scorer):
    name = "ease_text"
    needs_text = True

    class Config(SourceConfig):
        l2: float = Field(100.0, gt=0, description="the ridge penalty of the weights")
        prior: float = Field(30.0, ge=0, description="the pull toward the text's matrix")
        text_l2: float = Field(10.0, gt=0, description="the ridge penalty of the text's matrix")
        max_items: int = Field(50_000, ge=1, description="most items the n² matrices may hold")

    grid: ClassVar[Mapping[str, tuple]] = {
        "l2": (50.0, 100.0, 250.0, 500.0),
        "prior": (10.0, 30.0, 100.0, 1000.0),
    }

    def __init__(
        self,
        item_vectors: np.ndarray,
        l2: float = 100.0,
        prior: float = 30.0,
        text_l2: float = 10.0,
        max_items: int = 50_000,
    ) -> None:
        self.item_vectors = item_vectors
        self.l2 = l2
        self.prior = prior
        self.text_l2 = text_l2
        self.max_items = max_items

    def _fit(self, data: Interactions) -> None:
        vectors = np.asarray(self.item_vectors, dtype=np.float64)
        if vectors.shape[0] != data.n_items:
            raise ValueError(f"{vectors.shape[0]} item vectors for {data.n_items} items")
        if data.n_items > self.max_items:
            raise ValueError(
                f"the text-prior EASE holds n_items² matrices: {data.n_items} items is above "
                f"max_items={self.max_items}; use ALS or content_cf for this catalogue"
            )
        gram = (data.matrix.T @ data.matrix).toarray().astype(np.float64)
        penalty = self.l2 + self.prior
        gram[np.diag_indices_from(gram)] += penalty
        precision = np.linalg.inv(gram)
        weights = self.prior * _times_text_matrix(precision, vectors, self.text_l2)
        weights[np.diag_indices_from(weights)] += 1.0
        weights -= penalty * precision
        weights -= precision * (np.diag(weights) / np.diag(precision))[None, :]
        weights[np.diag_indices_from(weights)] = 0.0  # exact zeros, not rounding's
        self.weights_ = weights.astype(np.float32)
        self.n_items_ = data.n_items

    def _score(self, history: History) -> np.ndarray:
        return np.asarray(history.matrix @ self.weights_, dtype=np.float32)


def _times_text_matrix(precision: np.ndarray, vectors: np.ndarray, text_l2: float) -> np.ndarray:
    """``precision @ S``, S the text's EASE matrix (``ease_weights(E Eᵀ, text_l2)``),
    without forming S (see the module docstring)."""
    dims = vectors.shape[1]
    inner = np.linalg.inv(vectors.T @ vectors + text_l2 * np.eye(dims))  # M, d × d
    # diag(P_t) = (1 − e_i·M·e_iᵀ) / text_l2, each positive (P_t is positive definite)
    text_diagonal = (1.0 - np.einsum("ij,jk,ik->i", vectors, inner, vectors)) / text_l2
    product = (precision @ vectors) @ inner @ vectors.T  # P·E·M·Eᵀ
    np.subtract(precision, product, out=product)
    product /= text_l2 * text_diagonal[None, :]
    return np.subtract(precision, product, out=product)
