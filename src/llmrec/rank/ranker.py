"""The learned ranker: LightGBM LambdaRank over the union of the sources' candidates.

Trained on a time-based validation split of the training data only: each user's newest
positive event is the label, the sources are fitted on what came before it. Groups whose
labelled item no source proposed carry no signal and are left out. Early stopping on a
random fifth of the groups chooses the number of boosting rounds; the model is then
trained again on every group for that many rounds.

On that held-out fifth the model's order is compared with each source's own order and
with their rank fusion; when one of those ranks it better, it leads (``lead_``): its
order is the ranker's, and the model orders only what it cannot rank. A learned
combination that ranks below one of its own inputs on lists it never saw would subtract
from that input. (Early stopping chose the model's rounds on the same fifth: the model
has a slight edge there, so a lead has to be clearly better to take over.)
"""

from __future__ import annotations

from typing import Self

import numpy as np

_PARALLEL_ROWS = 10_000
_RANK = "_log_rank"  # the suffix of each source's rank feature (log1p rank; NaN: unranked)
_FUSION = "fusion"
_MODEL = "model"
_LEADS_BY = 1e6  # far above any score the model gives, so that the lead's order is first


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
        holdout = np.random.default_rng(self.seed).random(len(sizes)) < 0.2
        rows = np.repeat(holdout, sizes)
        self.rounds_, held_scores = self._early_stopped_rounds(
            params, features, labels, sizes, holdout, names
        )
        self.feature_names_ = names
        orders = {_MODEL: held_scores} | {
            lead: self._lead_order(lead, features[rows], held_scores)
            for lead in self._leads(names)
        }
        self.holdout_ndcg_ = {
            name: ndcg_at_10(order, labels[rows], sizes[holdout]) for name, order in orders.items()
        }
        best = max(self.holdout_ndcg_, key=self.holdout_ndcg_.__getitem__)
        self.lead_ = None if best == _MODEL else best
        # Then on every group, the held-out fifth too (docs/decisions/recommender.md).
        everything = lightgbm.Dataset(features, labels, group=sizes, feature_name=names)
        self.model_ = lightgbm.train(params, everything, num_boost_round=self.rounds_)
        self.groups_trained_ = len(sizes)
        return self

    def _early_stopped_rounds(self, params, features, labels, sizes, holdout, names):
        """Boosting rounds that rank the ``holdout`` groups best, and the scores of their
        rows after that many rounds."""
        import lightgbm

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
        rounds = max(1, model.best_iteration)
        return rounds, model.predict(features[rows], num_iteration=rounds)

    @staticmethod
    def _leads(names: list[str]) -> list[str]:
        """What may lead instead of the model: each source's own order, their fusion."""
        sources = [n.removesuffix(_RANK) for n in names if n.endswith(_RANK)]
        return [*sources, _FUSION] if len(sources) > 1 else sources

    def _lead_order(self, lead: str, features: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``lead``'s order of the rows, the model's ``scores`` ordering what it leaves
        unranked (below all it ranks)."""
        if lead == _FUSION:
            return rank_fusion(features, self.feature_names_)
        log_rank = features[:, self.feature_names_.index(lead + _RANK)]
        ranked = ~np.isnan(log_rank)
        return np.where(ranked, _LEADS_BY - np.nan_to_num(log_rank), scores - _LEADS_BY)

    def predict(self, features: np.ndarray) -> np.ndarray:
        # One user's candidates (a few hundred rows) take longer to hand to a thread pool
        # than to score: waking LightGBM's threads cost 6 ms a request in the service.
        threads = 1 if len(features) < _PARALLEL_ROWS else (self.threads or 0)
        scores = self.model_.predict(features, num_threads=threads)
        return scores if self.lead_ is None else self._lead_order(self.lead_, features, scores)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Per-feature SHAP contributions of the model (last column: the bias)."""
        return self.model_.predict(features, pred_contrib=True)


def rank_fusion(features: np.ndarray, names: list[str]) -> np.ndarray:
    """Reciprocal rank fusion of every source's rank feature (k = 60); a source that
    cannot rank an item adds nothing."""
    fused = np.zeros(len(features))
    for column, name in enumerate(names):
        if name.endswith(_RANK):
            fused += np.nan_to_num(1.0 / (60.0 + np.expm1(features[:, column])), nan=0.0)
    return fused


def ndcg_at_10(scores: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> float:
    """Mean NDCG@10 of the groups (consecutive runs of ``sizes`` rows) ordered by
    ``scores``, ties in row order; groups without a positive label count 0."""
    if len(sizes) == 0:
        return 0.0
    group = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    discount = np.zeros(len(labels))

    def dcg(order: np.ndarray) -> np.ndarray:
        position = np.arange(len(order)) - starts[group[order]]
        discount[:] = np.where(position < 10, 1.0 / np.log2(position + 2.0), 0.0)
        return np.bincount(group[order], weights=labels[order] * discount, minlength=len(sizes))

    rows = np.arange(len(labels))
    ideal = dcg(np.lexsort((rows, -labels, group)))
    found = dcg(np.lexsort((rows, -scores, group)))
    return float(np.mean(np.divide(found, ideal, out=np.zeros(len(sizes)), where=ideal > 0)))
