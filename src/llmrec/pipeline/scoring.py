"""Stages 1–3 composed for one batch of histories: the candidates, their features and
the ranker's scores, from the learned state passed in as a :class:`Scoring`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from llmrec.models import History, Scorer
from llmrec.pipeline.candidates import Candidates, propose, source_scores
from llmrec.pipeline.features import candidate_features, cold_stats
from llmrec.rank.features import ItemStats
from llmrec.rank.ranker import LambdaRanker, rank_fusion


@dataclass(frozen=True, slots=True)
class Scoring:
    """What the candidates and features stages read of a fitted recommender: its
    sources, item statistics, text vectors and tags, the fit's time, how many items it
    was fitted on (later ones were added), the tie-break order and how many candidates
    each source proposes."""

    scorers: Mapping[str, Scorer]
    stats: ItemStats
    vectors: np.ndarray | None
    tags: sp.csr_matrix | None
    now: float
    n_fitted: int
    tie_rank: np.ndarray
    per_source: int


def candidate_pool(
    scoring: Scoring,
    history: History,
    last_times: np.ndarray,
    blocked: np.ndarray,
    cold_view: bool = False,
) -> tuple[np.ndarray, list[str], Candidates]:
    """The candidates of each history (each source's best usable, not ``blocked``) with
    their ranker features and the features' names. ``last_times``: each row's newest
    event time. ``cold_view`` treats every item as cold (no events): the view in which
    the ranker learns to rank cold items, which only the sources that read text score."""
    scores = source_scores(scoring.scorers, history, scoring.n_fitted)
    stats = scoring.stats
    if cold_view:
        stats = cold_stats(len(stats.cold))
        for name, value in scores.items():
            if not scoring.scorers[name].needs_text:
                value[:] = np.nan
    found = propose(scores, blocked, scoring.per_source, scoring.tie_rank)
    x, names = candidate_features(
        history,
        found.pairs,
        scores,
        stats,
        vectors=scoring.vectors,
        tags=scoring.tags,
        last_times=last_times,
        now=scoring.now,
        best=found.best,
    )
    return x, names, found


def final_scores(
    ranker: LambdaRanker | None, x: np.ndarray, names: list[str], lists: np.ndarray
) -> np.ndarray:
    """The ranker's scores of feature rows ``x``, ``lists[r]`` the list (user) of row r;
    without a ranker, the reciprocal rank fusion of the sources' ranks (a source that
    cannot score an item adds nothing)."""
    if ranker is not None:
        return ranker.predict(x, lists)
    return rank_fusion(x, names)
