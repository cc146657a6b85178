"""The learned ranker: LightGBM LambdaRank over the union of the sources' candidates.

Trained on a time-based validation split of the training data only: each user's newest
positive event is the label, the sources are fitted on what came before it. Groups whose
labelled item no source proposed carry no signal and are left out. Early stopping on a
random fifth of the groups chooses the number of boosting rounds; the model is then
trained again on every group for that many rounds.
"""

from __future__ import annotations

from typing import Self

import numpy as np

_PARALLEL_ROWS = 10_000


class LambdaRanker:
    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        early_stopping_rounds: int = 30,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.threads = threads

    def fit(
        self, features: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: list[str]
    ) -> Self:
        """``groups[r]`` is the query (user) of row r; rows of a group are contiguous."""
        import lightgbm

        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        sizes = np.diff(np.r_[starts, len(groups)])
        has_positive = np.add.reduceat(labels, starts) > 0
        keep = np.repeat(has_positive, sizes)
        features, labels, sizes = features[keep], labels[keep], sizes[has_positive]
        if len(sizes) < 10:
            raise ValueError(
                f"only {len(sizes)} validation users have their next item among the "
                "candidates: too little to train the ranker"
            )
        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "seed": self.seed,
            "num_threads": self.threads or 0,
            "verbose": -1,
        }
        self.rounds_ = self._early_stopped_rounds(params, features, labels, sizes, names)
        # Then on every group, the held-out fifth too (docs/decisions/recommender.md).
        everything = lightgbm.Dataset(features, labels, group=sizes, feature_name=names)
        self.model_ = lightgbm.train(params, everything, num_boost_round=self.rounds_)
        self.feature_names_ = names
        self.groups_trained_ = len(sizes)
        return self

    def _early_stopped_rounds(self, params, features, labels, sizes, names) -> int:
        """Boosting rounds that rank a random fifth of the groups best."""
        import lightgbm

        holdout = np.random.default_rng(self.seed).random(len(sizes)) < 0.2
        rows = np.repeat(holdout, sizes)
        train = lightgbm.Dataset(
            features[~rows], labels[~rows], group=sizes[~holdout], feature_name=names
        )
        held = lightgbm.Dataset(features[rows], labels[rows], group=sizes[holdout], reference=train)
        model = lightgbm.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[held],
            callbacks=[lightgbm.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return max(1, model.best_iteration)

    def predict(self, features: np.ndarray) -> np.ndarray:
        # One user's candidates (a few hundred rows) take longer to hand to a thread pool
        # than to score: waking LightGBM's threads cost 6 ms a request in the service.
        threads = 1 if len(features) < _PARALLEL_ROWS else (self.threads or 0)
        return self.model_.predict(features, num_threads=threads)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Per-feature SHAP contributions (last column: the bias)."""
        return self.model_.predict(features, pred_contrib=True)
