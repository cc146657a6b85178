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

Items nobody has touched are ordered by a second model (``cold_model_``) that learns from
the cold-item views (lists of such items, ranked by what reads their text) and the warm
lists together, its rounds chosen on a held-out fifth of both and its lead
(``cold_lead_``) on the held-out cold views, at twice the learning rate: it learns from
the most rows, and half the rounds halve its fit. The model above and its lead learn
from the warm lists alone. One model for both let the many cold views choose the warm
lists' rounds and lead, and cost warm ranking (docs/decisions/recommender.md).
In a list, the warm order decides where items without events stand; the cold model
decides which of them stands where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np

_PARALLEL_ROWS = 10_000
_RANK = "_log_rank"  # the suffix of each source's rank feature (log1p rank; NaN: unranked)
_FUSION = "fusion"
_MODEL = "model"
_LEADS_BY = 1e6  # far above any score the model gives, so that the lead's order is first
_AGE = "item_age_days"  # NaN: the item has no events (rank.features)
MIN_LISTS = 10  # lists with a positive the warm model needs


class LambdaRanker:
    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        cold_learning_rate: float = 0.1,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        early_stopping_rounds: int = 30,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.cold_learning_rate = cold_learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.threads = threads

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        names: list[str],
        cold: np.ndarray | None = None,
    ) -> Self:
        """``groups[r]`` is the list (query) of row r; rows of a list are contiguous.
        ``cold[r]``: row r is in a cold-item view (default: none is)."""
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        sizes = np.diff(np.r_[starts, len(groups)])
        has_positive = np.add.reduceat(labels, starts) > 0
        cold_list = np.zeros(len(sizes), bool) if cold is None else cold[starts]
        self.feature_names_ = names
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
        warm = _Lists.of(features, labels, sizes, has_positive & ~cold_list)
        if warm.count < MIN_LISTS:
            raise ValueError(
                f"only {warm.count} validation users have their next item among the "
                "candidates: too little to train the ranker"
            )
        everyone = np.ones(warm.count, bool)
        self.model_, self.rounds_, self.holdout_ndcg_, self.lead_ = self._fit_judged(
            params, warm, everyone, names
        )
        self.groups_trained_ = warm.count
        self.cold_model_, self.cold_holdout_ndcg_, self.cold_lead_ = None, {}, None
        self.cold_groups_trained_ = 0
        cold_count = int((has_positive & cold_list).sum())
        if cold_count >= MIN_LISTS:
            every = _Lists.of(features, labels, sizes, has_positive)
            cold_params = params | {"learning_rate": self.cold_learning_rate}
            self.cold_model_, _, self.cold_holdout_ndcg_, self.cold_lead_ = self._fit_judged(
                cold_params, every, cold_list[has_positive], names
            )
            self.cold_groups_trained_ = cold_count
        return self

    def _fit_judged(self, params: dict, lists: _Lists, judged: np.ndarray, names: list[str]):
        """A model of ``lists``, its rounds chosen on a held-out fifth of them; then, on
        the held-out lists that are ``judged``, its NDCG@10 and that of each input that
        may lead instead, and the lead (None: the model). Returns the model trained on
        every list (the held-out fifth too, docs/decisions/recommender.md), its rounds,
        the NDCGs and the lead."""
        import lightgbm

        holdout = lists.draw_holdout(self.seed)
        rounds, held_scores = self._early_stopped_rounds(params, lists, holdout, names)
        held, chosen = lists.subset(holdout), judged[holdout]
        held_scores = held_scores[np.repeat(chosen, held.sizes)]
        held = held.subset(chosen)
        orders = {_MODEL: held_scores} | {
            lead: self._lead_order(lead, held.features, held_scores) for lead in self._leads(names)
        }
        ndcg = {name: ndcg_at_10(order, held.labels, held.sizes) for name, order in orders.items()}
        best = max(ndcg, key=ndcg.__getitem__)
        model = lightgbm.train(params, lists.dataset(names), num_boost_round=rounds)
        return model, rounds, ndcg, None if best == _MODEL else best

    def _early_stopped_rounds(
        self, params: dict, lists: _Lists, holdout: np.ndarray, names: list[str]
    ) -> tuple[int, np.ndarray]:
        """Boosting rounds that rank the ``holdout`` lists best, and the scores of their
        rows after that many rounds."""
        import lightgbm

        held = lists.subset(holdout)
        train = lists.subset(~holdout).dataset(names)
        model = lightgbm.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[held.dataset(names, reference=train)],
            callbacks=[lightgbm.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        rounds = max(1, model.best_iteration)
        return rounds, model.predict(held.features, num_iteration=rounds)

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

    def predict(self, features: np.ndarray, lists: np.ndarray | None = None) -> np.ndarray:
        """Scores of feature rows; ``lists[r]``: the list (user) row r competes in (None:
        all rows are one list), where the cold model orders the items without events."""
        # One user's candidates (a few hundred rows) take longer to hand to a thread pool
        # than to score: waking LightGBM's threads cost 6 ms a request in the service.
        threads = 1 if len(features) < _PARALLEL_ROWS else (self.threads or 0)
        scores = self.model_.predict(features, num_threads=threads)
        if self.lead_ is not None:
            scores = self._lead_order(self.lead_, features, scores)
        if self.cold_model_ is None:
            return scores
        cold = np.isnan(features[:, self.feature_names_.index(_AGE)])
        if not cold.any():
            return scores
        rows = np.flatnonzero(cold)
        list_of = np.zeros(len(rows), int) if lists is None else lists[rows]
        cold_scores = self.cold_model_.predict(features[rows], num_threads=threads)
        if self.cold_lead_ is not None:
            cold_scores = self._lead_order(self.cold_lead_, features[rows], cold_scores)
        return scores_with_places_filled(scores, rows, cold_scores, list_of)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Per-feature SHAP contributions of the model (last column: the bias)."""
        return self.model_.predict(features, pred_contrib=True)


def scores_with_places_filled(
    scores: np.ndarray, rows: np.ndarray, order: np.ndarray, lists: np.ndarray
) -> np.ndarray:
    """``scores`` with, per list (``lists[i]``: the list of ``rows[i]``), the places they
    give its ``rows``, best first, handed to those rows in the order of ``order``
    (higher first). Places the scores tie are set apart by less than any gap between
    distinct scores, so that ``order`` is kept and no other row is passed."""
    by_place = rows[np.lexsort((-scores[rows], lists))]
    by_order = rows[np.lexsort((-order, lists))]
    sorted_lists = np.sort(lists)
    first = np.r_[True, sorted_lists[1:] != sorted_lists[:-1]]
    position = np.arange(len(rows))
    nth = position - np.maximum.accumulate(np.where(first, position, 0))
    gaps = np.diff(np.unique(scores))
    step = (gaps.min() if len(gaps) else 1.0) / (nth.max() + 2)
    out = scores.astype(np.float64)
    out[by_order] = scores[by_place] - nth * step
    return out


@dataclass(frozen=True, slots=True)
class _Lists:
    """Training lists: feature rows, labels and each list's size (rows contiguous)."""

    features: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
           chosen: np.ndarray) -> _Lists:  # fmt: skip
        rows = np.repeat(chosen, sizes)
        return cls(features[rows], labels[rows], sizes[chosen])

    @property
    def count(self) -> int:
        return len(self.sizes)

    def draw_holdout(self, seed: int) -> np.ndarray:
        """A random fifth of the lists, drawn with ``seed``."""
        return np.random.default_rng(seed).random(self.count) < 0.2

    def subset(self, chosen: np.ndarray) -> _Lists:
        return _Lists.of(self.features, self.labels, self.sizes, chosen)

    def dataset(self, names: list[str], reference=None):
        import lightgbm

        return lightgbm.Dataset(
            self.features, self.labels, group=self.sizes, feature_name=names, reference=reference
        )


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
