"""How the ranker learns: hold out each user's newest items, fit the sources on the
rest, and rank each held-out item among the candidates proposed from the history just
before it; and, so that it can rank items nobody has touched, cold views in which a
random tenth of the items is new to the content sources.

The measurements behind this protocol are in docs/decisions/recommender.md and
docs/results/ranker-study/.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from llmrec.models import History, Interactions, Scorer
from llmrec.pipeline.scoring import Scoring, candidate_pool
from llmrec.rank.ranker import LambdaRanker

# progress(stage, total or None) -> the stage's advance(n) callback
StageProgress = Callable[[str, int | None], Callable[[int], None]]
_BATCH = 256


@dataclasses.dataclass(frozen=True, slots=True)
class RankerTraining:
    """The protocol's settings: ``holdout`` newest items per user, at most
    ``max_users`` users (a seeded sample; None: all), ``cold_views`` cold-item views."""

    holdout: int = 5
    max_users: int | None = 5_000
    cold_views: int = 8
    seed: int = 0


def fit_ranker(
    events: pd.DataFrame,
    full: Interactions,
    weights: dict[str, float],
    sources: Sequence[str],
    fit_source: Callable[[str, Interactions], Scorer],
    scoring_of: Callable[[dict[str, Scorer], Interactions], Scoring],
    training: RankerTraining,
    stage: StageProgress,
) -> tuple[LambdaRanker | None, dict[str, Scorer]]:
    """The ranker (None when no user has enough items to learn from: then the sources'
    ranks are fused) and the ``sources`` as fitted without each user's newest
    ``holdout`` items. ``fit_source(name, data)`` fits one source; ``scoring_of(scorers,
    data)`` is what the candidates and features stages read of sources fitted on
    ``data``. The user's other held-out items, before and after the one ranked, are no
    candidates: labelled 0 they would teach that what the user went on to have is wrong
    (docs/results/ranker-study/)."""
    m = training.holdout
    tested = [r for r, seq in enumerate(full.sequences) if len(seq) > m + 2]
    tested = sample_users(tested, training)
    held = pd.MultiIndex.from_arrays([
        np.repeat(full.user_ids[tested].astype(str), m),
        np.concatenate([full.item_ids[full.sequences[r][-m:]] for r in tested]),
    ]) if tested else pd.MultiIndex.from_arrays([[], []])  # fmt: skip
    pairs = pd.MultiIndex.from_frame(events[["user_id", "item_id"]].astype(str))
    kept = events[~pairs.isin(held)]
    part = Interactions.from_events(kept, item_ids=full.item_ids, user_ids=full.user_ids,
                                    event_weights=weights)  # fmt: skip
    scorers = {}
    for s in sources:
        stage(f"fitting {s} (without each user's newest items)", None)
        scorers[s] = fit_source(s, part)
    scoring = scoring_of(scorers, part)
    n_items = len(full.item_ids)
    queries = [(r, j) for r in tested for j in range(1, m + 1)]
    feats, labels, groups = [], [], []
    names: list[str] = []
    advance = stage("the ranker's training lists", len(queries))
    for start in range(0, len(queries), _BATCH):
        batch = queries[start : start + _BATCH]
        rows = np.array([r for r, _ in batch])
        prefixes = [full.sequences[r][: len(full.sequences[r]) - j] for r, j in batch]
        target = np.array([full.sequences[r][-j] for r, j in batch])
        others = [np.delete(full.sequences[r], len(full.sequences[r]) - j) for r, j in batch]
        blocked = History.of_sequences(others, n_items, rows).matrix.toarray() > 0
        history = History.of_sequences(prefixes, n_items, rows)
        x, names, found = candidate_pool(scoring, history, part.last_time[rows], blocked)
        feats.append(x)
        labels.append((found.pairs[:, 1] == target[found.pairs[:, 0]]).astype(np.float32))
        groups.append(start + found.pairs[:, 0])
        advance(len(batch))
    if any(scorer.needs_text for scorer in scorers.values()):
        offset = len(queries)
        advance = stage("cold-item views", training.cold_views)
        for draw in range(training.cold_views):
            x, label, group = _cold_view(
                full, kept, part.last_time, weights, scoring, fit_source, training, draw
            )
            feats.append(x)
            labels.append(label)
            groups.append(offset + group)
            offset += group.max() + 1 if len(group) else 0
            advance(1)
    if not feats:
        # No user has more than holdout + 2 items (a small shop): nothing to learn the
        # ranking from, so the sources' scores are fused instead.
        warnings.warn(
            f"no user has more than {m + 2} items: the ranker is not trained and the "
            "sources' ranks are fused (reciprocal rank fusion)",
            stacklevel=4,
        )
        return None, scorers
    stage("training the ranker (LambdaRank)", None)
    ranker = LambdaRanker(seed=training.seed).fit(
        np.vstack(feats), np.concatenate(labels), np.concatenate(groups), names
    )
    return ranker, scorers


def _cold_view(
    full: Interactions,
    kept: pd.DataFrame,
    last_time: np.ndarray,
    weights: dict[str, float],
    scoring: Scoring,
    fit_source: Callable[[str, Interactions], Scorer],
    training: RankerTraining,
    draw: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranking examples for new items, made as evaluation and production meet them: a
    random tenth of the items (one draw per ``draw``) is treated as new — the content
    sources are refitted without their events, so their text→CF mapping has never seen
    them — and they are ranked for each user from the user's other items, every one of
    them the user had being a positive. ``last_time``: each user's newest event time."""
    rng = np.random.default_rng([training.seed, draw])
    new = rng.random(len(full.item_ids)) < 0.1
    known = kept[~kept["item_id"].astype(str).isin(full.item_ids[new])]
    data = Interactions.from_events(known, item_ids=full.item_ids, user_ids=full.user_ids,
                                    event_weights=weights)  # fmt: skip
    view = dataclasses.replace(scoring, scorers={
        s: fit_source(s, data) if scorer.needs_text else scorer
        for s, scorer in scoring.scorers.items()
    })  # fmt: skip
    rows, prefixes, targets = [], [], []
    for r, seq in enumerate(full.sequences):
        is_new = new[seq]
        if is_new.any() and (~is_new).sum() >= 3:
            rows.append(r)
            prefixes.append(seq[~is_new])
            targets.append(seq[is_new])
    chosen = set(sample_users(rows, training))
    keep = [i for i, r in enumerate(rows) if r in chosen]
    rows = [rows[i] for i in keep]
    prefixes, targets = [prefixes[i] for i in keep], [targets[i] for i in keep]
    n_items = len(full.item_ids)
    feats, labels, groups = [], [], []
    for start in range(0, len(rows), _BATCH):
        batch = np.array(rows[start : start + _BATCH])
        history = History.of_sequences(prefixes[start : start + _BATCH], n_items, batch)
        blocked = (history.matrix.toarray() > 0) | ~new[None, :]
        x, _, found = candidate_pool(view, history, last_time[batch], blocked, cold_view=True)
        wanted = History.of_sequences(targets[start : start + _BATCH], n_items, batch).matrix
        feats.append(x)
        labels.append(np.asarray(wanted[found.pairs[:, 0], found.pairs[:, 1]]).ravel())
        groups.append(start + found.pairs[:, 0])
    if not feats:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
    return np.vstack(feats), np.concatenate(labels), np.concatenate(groups)


def sample_users(rows: list[int], training: RankerTraining) -> list[int]:
    """At most ``training.max_users`` of ``rows``, drawn with the seed (in order)."""
    if training.max_users is None or len(rows) <= training.max_users:
        return rows
    rng = np.random.default_rng(training.seed)
    return sorted(rng.choice(rows, size=training.max_users, replace=False).tolist())
