"""Matrix factorisation through the ``implicit`` library: ALS (weighted least squares
on implicit feedback, Hu et al. 2008) and BPR (pairwise ranking, Rendle et al. 2009).
They scale past the catalogues EASE can hold.

Only the item factors are kept: every user, fitted on or not, is folded in from the
history passed to ``score`` (ALS: the exact least-squares step of its own training,
as implicit's ``recalculate_user``; BPR: ridge regression of the history onto the item
factors). So a score depends on the history alone — a new user or new events need no
refit, and no user's factors are stored with the model.

``threads``: implicit's threads (None: every core). BPR's updates are lock-free
across threads, so only ``threads=1`` gives the same factors twice at one seed; ALS
solves each user and item on its own and is reproducible with any number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from pydantic import Field
from threadpoolctl import threadpool_limits

from llmrec.models.base import History, Interactions, Scorer, SourceConfig


class _ImplicitFactors(Scorer):
    def __init__(
        self, factors: int, regularization: float, iterations: int, seed: int, threads: int | None
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed
        self.threads = threads

    def _model(self):
        raise NotImplementedError

    def _fit(self, data: Interactions) -> None:
        # implicit runs its own threads; a multi-threaded BLAS underneath only fights them.
        with threadpool_limits(1, "blas"):
            model = self._model()
            model.fit(data.matrix.astype(np.float32), show_progress=False)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.gram_ = self.item_factors_.T.astype(np.float64) @ self.item_factors_
        ridge = self.gram_.copy()
        ridge[np.diag_indices_from(ridge)] += max(self.regularization, 1e-3) * data.n_items
        self.fold_in_ = np.linalg.inv(ridge)  # once here, not on every score call
        self.n_items_ = data.n_items

    def user_vectors(self, history: History) -> np.ndarray:
        """Each history's user factors, folded in from its items."""
        self._check_fitted()
        return self._fold_in(history).astype(np.float32)

    def _fold_in(self, history: History) -> np.ndarray:
        """Ridge regression of the binary history onto the item factors."""
        projected = np.asarray(history.matrix @ self.item_factors_, dtype=np.float64)
        return projected @ self.fold_in_

    def _score(self, history: History) -> np.ndarray:
        return self.user_vectors(history) @ self.item_factors_.T


class ALS(_ImplicitFactors):
    name = "als"

    class Config(SourceConfig):
        factors: int = Field(64, ge=1)
        regularization: float = Field(0.05, ge=0)
        alpha: float = Field(10.0, gt=0, description="confidence of an observed interaction")
        iterations: int = Field(15, ge=1)
        threads: int | None = Field(None, ge=1, description="implicit's threads (None: all)")

    grid: ClassVar[Mapping[str, tuple]] = {
        "factors": (32, 64, 128),
        "regularization": (0.01, 0.1, 1.0),
    }

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        super().__init__(factors, regularization, iterations, seed, threads)
        self.alpha = alpha

    def _model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=self.threads or 0,
        )

    def _fold_in(self, history: History) -> np.ndarray:
        """ALS's user step: with confidence ``alpha`` on the history's items and 1
        elsewhere, x = (YᵀY + λI + (α−1)·Y_hᵀY_h)⁻¹ · α·Σ y_h (Hu et al. 2008, eq. 4)."""
        n_factors = self.item_factors_.shape[1]
        base = self.gram_ + self.regularization * np.eye(n_factors)
        systems = np.repeat(base[None], len(history), axis=0)
        targets = np.zeros((len(history), n_factors))
        for r, items in enumerate(history.sequences):
            chosen = self.item_factors_[items].astype(np.float64)  # not all items: per call
            systems[r] += (self.alpha - 1.0) * chosen.T @ chosen
            targets[r] = self.alpha * chosen.sum(axis=0)
        return np.linalg.solve(systems, targets[..., None])[..., 0]


class BPR(_ImplicitFactors):
    name = "bpr"

    class Config(SourceConfig):
        factors: int = Field(64, ge=1)
        learning_rate: float = Field(0.05, gt=0)
        regularization: float = Field(0.01, ge=0)
        iterations: int = Field(100, ge=1)
        threads: int | None = Field(None, ge=1, description="1: the same factors at one seed")

    grid: ClassVar[Mapping[str, tuple]] = {"factors": (32, 64, 128), "learning_rate": (0.01, 0.05)}

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        super().__init__(factors, regularization, iterations, seed, threads)
        self.learning_rate = learning_rate

    def _model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=self.threads or 0,
        )
