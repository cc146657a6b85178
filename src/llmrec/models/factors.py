"""Matrix factorisation through the ``implicit`` library: ALS (weighted least squares
on implicit feedback, Hu et al. 2008) and BPR (pairwise ranking, Rendle et al. 2009).
They scale past the catalogues EASE can hold.

A user the model was not fitted on is folded in by ridge regression of their history
onto the item factors, so a new user needs no refit.

``threads``: implicit's threads (None: every core). BPR's updates are lock-free
across threads, so only ``threads=1`` gives the same factors twice at one seed; ALS
solves each user and item on its own and is reproducible with any number.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from threadpoolctl import threadpool_limits

from llmrec.models.base import History, Interactions, Scorer


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

    def fit(self, data: Interactions) -> Self:
        # implicit runs its own threads; a multi-threaded BLAS underneath only fights them.
        with threadpool_limits(1, "blas"):
            model = self._model()
            model.fit(data.matrix.astype(np.float32), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        gram = self.item_factors_.T.astype(np.float64) @ self.item_factors_
        gram[np.diag_indices_from(gram)] += max(self.regularization, 1e-3) * data.n_items
        self.fold_in_ = np.linalg.inv(gram).astype(np.float32)
        self.n_items_ = data.n_items
        return self

    def user_vectors(self, history: History) -> np.ndarray:
        self._check_fitted()
        # users who arrived after fit (Recommender.update) have a row but no factors yet
        known = (history.user_rows >= 0) & (history.user_rows < len(self.user_factors_))
        vectors = np.empty((len(history), self.item_factors_.shape[1]), dtype=np.float32)
        vectors[known] = self.user_factors_[history.user_rows[known]]
        if (~known).any():
            projected = np.asarray(history.matrix[~known] @ self.item_factors_)
            vectors[~known] = projected @ self.fold_in_
        return vectors

    def score(self, history: History) -> np.ndarray:
        return self.user_vectors(history) @ self.item_factors_.T


class ALS(_ImplicitFactors):
    name = "als"

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


class BPR(_ImplicitFactors):
    name = "bpr"

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
