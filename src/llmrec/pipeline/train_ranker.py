"""How the ranker learns: hold out each user's newest items, fit the sources on the
rest, and rank each held-out item among the candidates proposed from the history just
before it; and, so that it can rank items nobody has touched, cold views in which a
random tenth of the items is new to the content sources (the ranker learns those views
with a model of their own, ``rank.ranker``). Every user with three items
gives at least one list: a ranker that learnt only from long histories ranks short ones
worse than its best source (docs/results/ranker-study/).

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
from llmrec.rank.ranker import MIN_LISTS, LambdaRanker

# progress(stage, total or None) -> the stage's advance(n) callback
StageProgress = Callable[[str, int | None], Callable[[int], None]]
_BATCH = 256


@dataclasses.dataclass(frozen=True, slots=True)
class RankerTraining:
    """The protocol's settings: up to ``holdout`` newest items per user (every user
    keeps two), at most ``max_users`` users (a seeded sample; None: all),
    ``cold_views`` cold-item views."""

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
    tested = sample_users([r for r, seq in enumerate(full.sequences) if len(seq) >= 3], training)
    holdouts = {r: min(m, len(full.sequences[r]) - 2) for r in tested}
    held = _pairs(full, [(r, full.sequences[r][-h:]) for r, h in holdouts.items()])
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
    queries = [(r, j) for r, h in holdouts.items() for j in range(1, h + 1)]
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
    offset = len(queries)
    warm_rows = sum(len(x) for x in feats)
    if any(scorer.needs_text for scorer in scorers.values()):
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
    labels_all = np.concatenate(labels) if labels else np.zeros(0)
    groups_all = np.concatenate(groups) if groups else np.zeros(0, int)
    # Only the held-out items' lists count: the cold views alone train no ranker.
    warm = np.arange(len(labels_all)) < warm_rows
    answered = len(np.unique(groups_all[warm & (labels_all > 0)]))
    if answered < MIN_LISTS:
        # Too few users with three items (a small shop), or too few whose held-out item
        # any source proposed: nothing to learn the ranking from, so ranks are fused.
        warnings.warn(
            f"only {answered} training lists have a held-out item among the candidates "
            f"(at least {MIN_LISTS} needed; a user needs 3 items to give one): the ranker "
            "is not trained and the sources' ranks are fused (reciprocal rank fusion)",
            stacklevel=4,
        )
        return None, scorers
    stage("training the ranker (LambdaRank)", None)
    ranker = LambdaRanker(seed=training.seed).fit(
        np.vstack(feats), labels_all, groups_all, names, cold=~warm
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


def _pairs(full: Interactions, held: list[tuple[int, np.ndarray]]) -> pd.MultiIndex:
    """(user id, item id) of each user row's ``held`` item indices, as strings."""
    if not held:
        return pd.MultiIndex.from_arrays([[], []])
    return pd.MultiIndex.from_arrays([
        np.repeat(full.user_ids[[r for r, _ in held]].astype(str), [len(i) for _, i in held]),
        np.concatenate([full.item_ids[items] for _, items in held]).astype(str),
    ])  # fmt: skip


def sample_users(rows: list[int], training: RankerTraining) -> list[int]:
    """At most ``training.max_users`` of ``rows``, drawn with the seed (in order)."""
    if training.max_users is None or len(rows) <= training.max_users:
        return rows
    rng = np.random.default_rng(training.seed)
    return sorted(rng.choice(rows, size=training.max_users, replace=False).tolist())
