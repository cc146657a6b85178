"""Interest vectors: where a user's taste lies in the item text space.

A user's vector is the recency- and event-weighted sum of the vectors of the items they
interacted with and of their search queries: ``Σ w(type, value) · 2^(−age / half-life) · v``.
Negative events (dislike, skip, not interested, low ratings) subtract. The sum is kept
with the time it was decayed to, so an event arriving later updates it in O(dim) without
a rebuild: the sum is decayed to the new time and the event's vector added.

Multi-interest: a user who likes both horror and children's films should not be averaged
into neither. ``interests(user)`` clusters the user's positively weighted items (weighted
spherical k-means, up to ``max_interests`` clusters, at least ``min_items_per_interest``
items each) and returns one unit vector per cluster, heaviest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from llmrec.data.events import EventPolicy
from llmrec.embed.encoders import TextEncoder, normalise_rows

_SECONDS_PER_DAY = 86_400.0


@dataclass
class _History:
    rows: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


class UserProfiles:
    """Interest vectors of every user, fitted on events and updated online.

    ``item_ids``/``item_vectors`` are the catalogue's unit vectors; ``query_encoder``
    encodes search queries (searches are ignored without one).
    """

    def __init__(
        self,
        event_weights: Mapping[str, float],
        default_weight: float = 1.0,
        half_life_days: float | None = 365.0,
        rating_center: float = 3.0,
        query_weight: float = 2.0,
        max_interests: int = 3,
        min_items_per_interest: int = 3,
    ) -> None:
        self.event_weights = event_weights
        self.default_weight = default_weight
        self.half_life_days = half_life_days
        self.rating_center = rating_center
        self.query_weight = query_weight
        self.max_interests = max_interests
        self.min_items_per_interest = min_items_per_interest

    def fit(
        self,
        events: pd.DataFrame,
        item_ids: Sequence[str],
        item_vectors: np.ndarray,
        query_encoder: TextEncoder | None = None,
    ) -> UserProfiles:
        self.item_ids_ = pd.Index([str(i) for i in item_ids])
        self.item_vectors_ = np.asarray(item_vectors, dtype=np.float32)
        self.query_encoder_ = query_encoder
        self.sums_: dict[str, np.ndarray] = {}
        self.times_: dict[str, float] = {}
        self.seen_: dict[str, set[str]] = {}
        self.history_: dict[str, _History] = {}
        self._add(events)
        return self

    def update(self, events: pd.DataFrame) -> UserProfiles:
        """Apply new events (any order, any users) without refitting."""
        self._add(events)
        return self

    # -- reads ------------------------------------------------------------------------

    @property
    def user_ids(self) -> list[str]:
        return sorted(self.sums_)

    def __contains__(self, user_id: object) -> bool:
        return str(user_id) in self.sums_

    def vectors(self, user_ids: Sequence[str]) -> np.ndarray:
        """Unit interest vectors, one row per user (zeros for unknown users)."""
        dim = self.item_vectors_.shape[1]
        out = np.zeros((len(user_ids), dim), dtype=np.float32)
        for n, user_id in enumerate(user_ids):
            total = self.sums_.get(str(user_id))
            if total is not None:
                out[n] = total
        return normalise_rows(out)

    def seen(self, user_id: str) -> set[str]:
        return self.seen_.get(str(user_id), set())

    def interests(self, user_id: str, seed: int = 0) -> np.ndarray:
        """Up to ``max_interests`` unit vectors (rows), heaviest cluster first."""
        history = self.history_.get(str(user_id))
        if history is None:
            return np.zeros((0, self.item_vectors_.shape[1]), dtype=np.float32)
        weights = np.asarray(history.weights)
        positive = weights > 0
        rows = np.asarray(history.rows)[positive]
        weights = weights[positive]
        clusters = min(self.max_interests, len(np.unique(rows)) // self.min_items_per_interest)
        if clusters <= 1:
            return self.vectors([user_id])
        return _weighted_spherical_kmeans(self.item_vectors_[rows], weights, clusters, seed)

    # -- building ---------------------------------------------------------------------

    def weights_of(self, events: pd.DataFrame) -> np.ndarray:
        types = events["event_type"].astype(str)
        base = EventPolicy(self.event_weights, default_weight=self.default_weight).weights_of(types)
        values = pd.to_numeric(events.get("value"), errors="coerce")
        if values is not None:
            ratings = (types == "rating").to_numpy() & values.notna().to_numpy()
            # A rating says how much, and which way: 5 pulls, 1 pushes away.
            base[ratings] *= (values.to_numpy()[ratings] - self.rating_center) / 2.0
        searches = (types == "search").to_numpy()
        base[searches] = self.query_weight
        return base

    def _add(self, events: pd.DataFrame) -> None:
        if events.empty:
            return
        frame = events.reset_index(drop=True)
        weights = self.weights_of(frame)
        times = pd.to_numeric(frame.get("timestamp"), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        users = frame["user_id"].astype(str).to_numpy()
        # Items: rows of the catalogue; unknown items are skipped (they have no vector).
        item_rows = self.item_ids_.get_indexer(frame["item_id"].astype("string").fillna(""))
        vectors = np.zeros((len(frame), self.item_vectors_.shape[1]), dtype=np.float32)
        has_item = item_rows >= 0
        vectors[has_item] = self.item_vectors_[item_rows[has_item]]
        is_query = (frame["event_type"].astype(str) == "search").to_numpy() & frame.get(
            "query", pd.Series([None] * len(frame))
        ).notna().to_numpy()
        if self.query_encoder_ is not None and is_query.any():
            queries = frame.loc[is_query, "query"].astype(str).tolist()
            vectors[is_query] = self.query_encoder_.encode(queries)
        usable = (has_item | (is_query & (self.query_encoder_ is not None))) & (weights != 0)

        # Per user: decay everything to the user's newest time, then sum in one product.
        order = np.flatnonzero(usable)
        if len(order) == 0:
            return
        codes, uniques = pd.factorize(users[order])
        newest = np.full(len(uniques), -np.inf)
        t = np.where(np.isnan(times[order]), -np.inf, times[order])
        np.maximum.at(newest, codes, t)
        for n, user_id in enumerate(uniques):
            previous = self.times_.get(user_id)
            if previous is not None:
                newest[n] = max(newest[n], previous)
        decay = self.decay(_ages(newest[codes], t))
        contributions = sp.csr_matrix(
            (weights[order] * decay, (codes, np.arange(len(order)))),
            shape=(len(uniques), len(order)),
        )
        sums = np.asarray(contributions @ vectors[order], dtype=np.float32)
        for n, user_id in enumerate(uniques):
            previous_sum = self.sums_.get(user_id)
            if previous_sum is not None:
                gap = newest[n] - self.times_[user_id]
                sums[n] += previous_sum * self.decay(np.array([gap]))[0]
            self.sums_[user_id] = sums[n]
            self.times_[user_id] = newest[n]
        for k in order[has_item[order]]:
            user_id = users[k]
            history = self.history_.setdefault(user_id, _History())
            history.rows.append(int(item_rows[k]))
            history.weights.append(float(weights[k]))
            history.times.append(float(times[k]))
            if weights[k] > 0:
                self.seen_.setdefault(user_id, set()).add(self.item_ids_[item_rows[k]])
        for k in np.flatnonzero(has_item & (weights < 0)):
            # Negative feedback also marks the item seen: never recommend it back.
            self.seen_.setdefault(users[k], set()).add(self.item_ids_[item_rows[k]])

    def decay(self, age_seconds: np.ndarray) -> np.ndarray:
        if self.half_life_days is None:
            return np.ones_like(age_seconds, dtype=np.float64)
        age = np.where(np.isfinite(age_seconds), np.maximum(age_seconds, 0.0), 0.0)
        return np.exp2(-age / (self.half_life_days * _SECONDS_PER_DAY))


def _ages(newest: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Seconds from each event to its user's newest event; events without a time are
    not decayed (age 0), like those at the newest time."""
    known = np.isfinite(times) & np.isfinite(newest)
    age = np.zeros(len(times))
    age[known] = newest[known] - times[known]
    return age


def _weighted_spherical_kmeans(
    vectors: np.ndarray, weights: np.ndarray, clusters: int, seed: int, iterations: int = 20
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # k-means++ seeding on cosine distance, weighted.
    centers = [vectors[rng.choice(len(vectors), p=weights / weights.sum())]]
    for _ in range(1, clusters):
        distance = 1.0 - np.max(vectors @ np.array(centers).T, axis=1)
        p = np.maximum(distance, 0) * weights
        if p.sum() <= 0:
            break
        centers.append(vectors[rng.choice(len(vectors), p=p / p.sum())])
    centers = np.array(centers)
    for _ in range(iterations):
        assignment = np.argmax(vectors @ centers.T, axis=1)
        updated = np.zeros_like(centers)
        np.add.at(updated, assignment, vectors * weights[:, None])
        updated = normalise_rows(updated)
        empty = np.linalg.norm(updated, axis=1) == 0
        updated[empty] = centers[empty]
        if np.allclose(updated, centers):
            break
        centers = updated
    assignment = np.argmax(vectors @ centers.T, axis=1)
    mass = np.bincount(assignment, weights=weights, minlength=len(centers))
    return centers[np.argsort(-mass)][mass[np.argsort(-mass)] > 0]


def keyword_profile(
    events: pd.DataFrame,
    item_keywords: Mapping[str, Iterable[str]],
    profiles: UserProfiles,
    user_id: str,
    top: int = 10,
    llm_keywords: Sequence[Sequence] | None = None,
    llm_share: float = 0.5,
) -> list[tuple[str, float]]:
    """A user's weighted keywords, heaviest first, weights summing to 1.

    From their items' keywords (the same event weights and decay as the vectors; negative
    events subtract), blended with the LLM's interest keywords (``[[keyword, weight],
    ...]`` from ``llmrec enrich users``) at ``llm_share`` when given.
    """
    mine = events[events["user_id"].astype(str) == str(user_id)]
    scores: dict[str, float] = {}
    if not mine.empty:
        weights = profiles.weights_of(mine)
        times = pd.to_numeric(mine.get("timestamp"), errors="coerce").to_numpy(np.float64)
        newest = np.nanmax(times) if np.isfinite(times).any() else np.nan
        decay = profiles.decay(_ages(np.full(len(times), newest), times))
        for item_id, w in zip(mine["item_id"], weights * decay, strict=True):
            for keyword in item_keywords.get(str(item_id), ()):
                scores[keyword] = scores.get(keyword, 0.0) + float(w)
    from_items = _shares(scores)
    from_llm = _shares({str(k): float(w) for k, w in llm_keywords or []})
    if from_llm and from_items:
        blended = {k: (1 - llm_share) * v for k, v in from_items.items()}
        for k, v in from_llm.items():
            blended[k] = blended.get(k, 0.0) + llm_share * v
    else:
        blended = from_items or from_llm
    ranked = sorted(blended.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    total = sum(v for _, v in ranked) or 1.0
    return [(k, round(v / total, 4)) for k, v in ranked]


def _shares(scores: Mapping[str, float]) -> dict[str, float]:
    positive = {k: v for k, v in scores.items() if v > 0}
    total = sum(positive.values())
    return {k: v / total for k, v in positive.items()} if total else {}
