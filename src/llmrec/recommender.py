"""The hybrid recommender: candidate sources, a learned ranker, diversity and feedback.

``Recommender(**settings)`` only stores configuration. ``fit`` validates the frames
(bad rows are set aside in ``rejected_`` with the reason, good rows are kept), fits the
candidate sources, and trains the LambdaRank ranker on a time-based validation split of
the training data (each user's newest positive event). ``recommend`` scores a batch of
users with every source, takes the union of each source's top candidates, ranks them,
applies MMR diversity and returns a frame. ``update`` appends events to the users'
histories without refitting: the sources score from the history they are given.
"""

from __future__ import annotations

import copy
import inspect
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np
import pandas as pd

from llmrec.data.events import DEFAULT_EVENT_WEIGHTS, EventPolicy
from llmrec.data.records import RecordKind
from llmrec.data.validate import validate_frame
from llmrec.errors import ModelFileError, UnknownIdError
from llmrec.model_file import read_model, write_model
from llmrec.models import (
    SOURCES,
    History,
    Interactions,
    Scorer,
    SourceConfig,
    source_configs,
)
from llmrec.models.memo import FitMemo
from llmrec.pipeline.candidates import Candidates, source_scores, source_top_k, tie_rank
from llmrec.pipeline.features import candidate_features, item_stats, tag_matrix
from llmrec.pipeline.rerank import pick, popular_fallback, push_down_disliked, ranked_list
from llmrec.pipeline.scoring import Scoring, candidate_pool, final_scores
from llmrec.pipeline.train_ranker import RankerTraining, StageProgress, fit_ranker
from llmrec.rank.features import ItemStats
from llmrec.rank.filters import ItemAttributes, item_filters
from llmrec.rank.lists import RankedList, RankedListCache
from llmrec.users import UserHistories

if TYPE_CHECKING:
    from llmrec.embed.encoders import TextEncoder
    from llmrec.explain.reasons import Explanation

# Each kind of text the sources read: the item's own, the LLM's (by item column; None
# when no source reads it or it is missing).
_Texts = dict[str, np.ndarray | None]
DEFAULT_SOURCES = ("ease", "sasrec", "covisit", "itemknn", "content", "content_cf", "popular")
CONTENT_SOURCES = frozenset(name for name, source in SOURCES.items() if source.needs_text)
GENERATED_TEXT_SOURCES = frozenset(s for s in CONTENT_SOURCES if SOURCES[s].text == "generated")
ORDER_SOURCES = frozenset(name for name, source in SOURCES.items() if source.learns_order)
# Constructor arguments of an older release, each one source option (deprecated).
_SOURCE_KNOBS = {
    "ease_l2": ("ease", "l2"),
    "itemknn_neighbours": ("itemknn", "neighbours"),
    "covisit_window": ("covisit", "window"),
    "als_factors": ("als", "factors"),
    "als_regularization": ("als", "regularization"),
    "bpr_factors": ("bpr", "factors"),
    "bpr_learning_rate": ("bpr", "learning_rate"),
    "sasrec_max_len": ("sasrec", "max_len"),
    "sasrec_dropout": ("sasrec", "dropout"),
    "sasrec_max_epochs": ("sasrec", "max_epochs"),
}
# 4: SASRec's own transformer blocks; 5: no user state (histories come from the events);
# 6: sources say "cannot score" by NaN (unscored_items_); 7: the ranker's lead_;
# 8: sources over the LLM's text (generated_dim_); 9: the ranker's cold_model_;
# 10: items with undated events have an age (it had marked them all cold)
_FORMAT_VERSION = 10
LIST_DEPTH = 150  # a kept ranked list serves k ≤ 50 (MMR picks from the best 3k)


class Recommender:
    """A two-stage hybrid recommender (see the module docstring).

    ``sources``: the candidate sources (:data:`llmrec.models.SOURCES`), a list of names
    (each at its defaults) or a mapping of name → options, e.g. ``{"ease": {"l2": 250},
    "sasrec": {}}``; ``source_configs_`` holds them validated after ``fit``. The
    ``ease_l2``-style arguments are deprecated aliases of those options.
    ``ranker=False`` fuses the sources' ranks (reciprocal rank fusion) instead of
    learning a ranker. The ranker is
    trained on sources fitted without each user's ``ranker_holdout`` newest items (every
    user with three items gives at least one and keeps two), each of them a query ranked
    from the history before it; ``refit_sources=True`` then fits
    them on everything (SASRec: ``sasrec_refit_epochs`` more epochs, see
    :meth:`_refit_sources`), so that they know those items too. ``cold_views`` times, a
    tenth of the items is treated as new so that the ranker also learns to rank items
    nobody has touched (``pipeline.train_ranker``; a model of the ranker's own orders
    them, ``rank.ranker``). The ranker learns from at most
    ``ranker_max_users`` users (a seeded sample; None: all). Content sources
    need ``items`` with text in ``fit``; ``item_vectors`` (a frame indexed by item id) or
    else ``encoder`` (a :class:`~llmrec.embed.encoders.TextEncoder`, not saved with the
    model) provides the vectors; with neither, the default encoder does, with a warning.
    Sources over the LLM's text (``content_llm``, ``content_cf_llm``) read
    ``generated_vectors`` instead (a frame indexed by item id of the vectors of what
    ``llmrec enrich items`` wrote; items without a row cannot be scored by them); without
    it they are left out, with a warning.
    ``fit_memo`` (a :class:`~llmrec.models.memo.FitMemo`) shares fitted sources with
    other recommenders fitted on the same events, as an evaluation's baselines and
    ablations are.
    ``list_cache_size`` users' ranked lists are kept (:mod:`llmrec.rank.lists`) so that
    asking again for a user whose history did not change skips the scoring; ``update``,
    ``forget`` and ``add_items`` drop the lists they change. The service turns it on.
    Items with one of ``repeat_tags``, or whose ``repeatable`` attribute is true, are
    recommended again to users who had them (consumables; see :mod:`llmrec.rank.filters`).
    """

    def __init__(
        self,
        sources: Sequence[str] | Mapping[str, SourceConfig | Mapping | None] = DEFAULT_SOURCES,
        ranker: bool = True,
        candidates_per_source: int = 50,
        diversity: float = 0.0,
        feedback_penalty: float = 0.5,
        event_weights: dict[str, float] | None = None,
        ease_l2: float | None = None,
        itemknn_neighbours: int | None = None,
        covisit_window: int | None = None,
        als_factors: int | None = None,
        als_regularization: float | None = None,
        bpr_factors: int | None = None,
        bpr_learning_rate: float | None = None,
        sasrec_max_len: int | None = None,
        sasrec_dropout: float | None = None,
        sasrec_max_epochs: int | None = None,
        item_vectors: pd.DataFrame | None = None,
        generated_vectors: pd.DataFrame | None = None,
        encoder: TextEncoder | None = None,
        item_text_template: str = "{title}. {tags}. {description}",
        refit_sources: bool = False,
        sasrec_refit_epochs: int = 3,
        ranker_holdout: int = 5,
        cold_views: int = 8,
        ranker_max_users: int | None = 5_000,
        seed: int = 0,
        fit_memo: FitMemo | None = None,
        list_cache_size: int = 0,
        repeat_tags: Sequence[str] = (),
    ) -> None:
        self.sources = sources
        self.ranker = ranker
        self.candidates_per_source = candidates_per_source
        self.diversity = diversity
        self.feedback_penalty = feedback_penalty
        self.event_weights = event_weights
        self.ease_l2 = ease_l2
        self.itemknn_neighbours = itemknn_neighbours
        self.covisit_window = covisit_window
        self.als_factors = als_factors
        self.als_regularization = als_regularization
        self.bpr_factors = bpr_factors
        self.bpr_learning_rate = bpr_learning_rate
        self.sasrec_max_len = sasrec_max_len
        self.sasrec_dropout = sasrec_dropout
        self.sasrec_max_epochs = sasrec_max_epochs
        self.item_vectors = item_vectors
        self.generated_vectors = generated_vectors
        self.encoder = encoder
        self.item_text_template = item_text_template
        self.refit_sources = refit_sources
        self.sasrec_refit_epochs = sasrec_refit_epochs
        self.ranker_holdout = ranker_holdout
        self.cold_views = cold_views
        self.ranker_max_users = ranker_max_users
        self.seed = seed
        self.fit_memo = fit_memo
        self.list_cache_size = list_cache_size
        self.repeat_tags = repeat_tags

    def set_params(self, **params: object) -> Self:
        """Change constructor settings (as scikit-learn does); refit to apply them
        (``list_cache_size`` and ``repeat_tags`` apply at once)."""
        known = set(inspect.signature(type(self).__init__).parameters) - {"self"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; known: {', '.join(sorted(known))}")
        for name, value in params.items():
            setattr(self, name, value)
        if "repeat_tags" in params:  # the kept lists were ranked with the old ones
            self.__dict__.pop("_ranked_lists", None)
        return self

    # -- fitting -------------------------------------------------------------------

    def _weights(self) -> dict[str, float]:
        return {**DEFAULT_EVENT_WEIGHTS, **(self.event_weights or {})}

    def _source_configs(self) -> dict[str, SourceConfig]:
        """``sources`` validated, with the deprecated ``ease_l2``-style arguments applied."""
        configs = source_configs(self.sources)
        knobs = {k: getattr(self, k) for k in _SOURCE_KNOBS if getattr(self, k) is not None}
        if knobs:
            warnings.warn(
                f"{', '.join(knobs)}: deprecated, give the source its options instead, "
                "e.g. Recommender(sources={'ease': {'l2': 250}, ...})",
                DeprecationWarning,
                stacklevel=4,
            )
        for knob, value in knobs.items():
            name, field = _SOURCE_KNOBS[knob]
            if name in configs:
                config = configs[name]
                configs[name] = type(config).model_validate({**config.model_dump(), field: value})
        return configs

    def _fit_source(self, name: str, texts: _Texts, data: Interactions) -> Scorer:
        """Fit source ``name`` on ``data``; its seconds add to ``source_seconds_[name]``."""
        started = time.perf_counter()
        scorer = SOURCES[name].from_config(
            self.source_configs_[name], seed=self.seed, item_vectors=texts[SOURCES[name].text]
        )
        fitted = self.fit_memo.fit(scorer, data) if self.fit_memo is not None else scorer.fit(data)
        spent = time.perf_counter() - started
        self.source_seconds_[name] = self.source_seconds_.get(name, 0.0) + spent
        return fitted

    def fit(
        self,
        events: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        *,
        progress: StageProgress | None = None,
    ) -> Self:
        """Fit on ``events`` (and the catalogue ``items``). ``progress(stage, total)``,
        when given, is told each stage (each source's fit, the ranker's training lists,
        the cold-item views, the ranker, the refit) and returns that stage's advance
        callback."""
        self._progress = progress
        try:
            return self._fit(events, items, users)
        finally:
            del self._progress

    def _stage(self, name: str, total: int | None = None) -> Callable[[int], None]:
        progress = getattr(self, "_progress", None)
        return progress(name, total) if progress is not None else _ignore

    def _fit(
        self, events: pd.DataFrame, items: pd.DataFrame | None, users: pd.DataFrame | None
    ) -> Self:
        self.source_configs_ = self._source_configs()
        # each source's fits (the ranker's split, the cold views, on every event) summed
        self.source_seconds_: dict[str, float] = {}
        self.__dict__.pop("_ranked_lists", None)
        events, rejected = self._readable_events(events, True, "; see rejected_")
        self.rejected_ = pd.DataFrame(
            [(r.line, r.reason) for r in rejected], columns=["row", "reason"]
        )
        if events.empty:
            raise ValueError("no valid events with an item_id to fit on")
        catalogue = None
        if items is not None:
            catalogue, bad_items = validate_frame(items, RecordKind.ITEMS, "items")
            if bad_items:
                warnings.warn(
                    f"{len(bad_items)} item row(s) rejected, e.g. row "
                    f"{bad_items[0].line}: {bad_items[0].reason}",
                    stacklevel=2,
                )
        item_ids = pd.Index(
            pd.unique(
                pd.concat(
                    [
                        catalogue["item_id"] if catalogue is not None else pd.Series(dtype=object),
                        events["item_id"],
                    ]
                ).astype(str)
            )
        )
        self.items_ = (
            catalogue.set_index("item_id").reindex(item_ids)
            if catalogue is not None
            else pd.DataFrame(index=item_ids)
        )
        self.n_fitted_items_ = len(item_ids)
        vectors = self._item_vectors(item_ids)
        texts = {"item": vectors, "generated": self._generated_vectors(item_ids)}
        sources = [
            s
            for s in self.source_configs_
            if s not in CONTENT_SOURCES or texts[SOURCES[s].text] is not None
        ]
        if events["timestamp"].isna().all():
            sources = _without_order(sources)
            for s in sources:  # ALS in their place, at its defaults unless configured
                self.source_configs_.setdefault(s, SOURCES[s].Config())
        self.active_sources_ = tuple(sources)
        self.vectors_ = vectors
        generated = texts["generated"]
        self.generated_dim_ = generated.shape[1] if generated is not None else None
        self.tags_ = tag_matrix(self.items_)
        self.attributes_ = ItemAttributes.from_items(self.items_)
        weights = self._weights()
        full = Interactions.from_events(events, item_ids=item_ids, event_weights=weights)
        self.ranker_ = None
        if self.ranker:
            training = RankerTraining(
                holdout=self.ranker_holdout,
                max_users=self.ranker_max_users,
                cold_views=self.cold_views,
                seed=self.seed,
            )
            self.ranker_, self.scorers_ = fit_ranker(
                events,
                full,
                weights,
                sources,
                lambda s, data: self._fit_source(s, texts, data),
                self._scoring_of,
                training,
                self._stage,
            )
            if self.refit_sources and self.ranker_ is not None:
                self._refit_sources(full, texts)
        else:
            self.scorers_ = {}
            for s in sources:
                self._stage(f"fitting {s} on every event")
                self.scorers_[s] = self._fit_source(s, texts, full)
        # Without a refit the sources keep what they learned before each user's newest
        # events and score from the full history, as the ranker was trained.
        self._set_state(full, events, weights)
        return self

    def _readable_events(
        self, events: pd.DataFrame, validate: bool, see: str
    ) -> tuple[pd.DataFrame, list]:
        """The events as fit and :meth:`set_histories` read them: valid rows (the others
        warned about, ``see`` telling where they are), with an item, undated ones first in
        a seeded order, float timestamps; and the rejected rows."""
        rejected = []
        if validate:
            events, rejected = validate_frame(events, RecordKind.EVENTS, "events")
            if rejected:
                warnings.warn(
                    f"{len(rejected)} event row(s) rejected, e.g. row {rejected[0].line}: "
                    f"{rejected[0].reason}{see}",
                    stacklevel=4,
                )
        events = _undated_shuffled(events[events["item_id"].notna()], self.seed)
        return events.assign(timestamp=events["timestamp"].astype("float64")), rejected

    def _refit_sources(self, full: Interactions, texts: _Texts) -> None:
        """The sources again on every event, the ranker's held-out newest items too:
        from scratch, except SASRec, which trains ``sasrec_refit_epochs`` more epochs
        from what it learned without them (a whole fit again would double the time; 0
        keeps it as it is)."""
        for s in self.active_sources_:
            self._stage(f"fitting {s} on every event")
            if s == "sasrec":
                if self.sasrec_refit_epochs:
                    warm = copy.deepcopy(self.scorers_[s])  # the memo may share this one
                    self.scorers_[s] = warm.fit_more(full, self.sasrec_refit_epochs)
            else:
                self.scorers_[s] = self._fit_source(s, texts, full)

    def _generated_vectors(self, item_ids: pd.Index) -> np.ndarray | None:
        """The LLM's text vectors by item column (zeros where it wrote nothing), when a
        source reads them."""
        wanted = [s for s in self.source_configs_ if SOURCES[s].text == "generated"]
        if not wanted:
            return None
        if self.generated_vectors is None:
            warnings.warn(
                f"{', '.join(wanted)} left out: no generated_vectors (the vectors of what "
                "`llmrec enrich items` wrote) were given",
                UserWarning,
                stacklevel=4,
            )
            return None
        given = self.generated_vectors.reindex(item_ids.astype(str))
        return np.ascontiguousarray(given.fillna(0.0).to_numpy(np.float32))

    def _item_vectors(self, item_ids: pd.Index) -> np.ndarray | None:
        if not CONTENT_SOURCES & set(self.sources):
            return None
        if self.item_vectors is not None:
            given = self.item_vectors.reindex(item_ids.astype(str))
            return np.ascontiguousarray(given.fillna(0.0).to_numpy(np.float32))
        if "title" not in self.items_.columns:
            return None
        from llmrec.embed.item_text import item_texts

        frame = self.items_.reset_index(names="item_id").fillna({"title": "", "description": ""})
        texts = item_texts(frame, None, self.item_text_template, 2_000).tolist()
        if self.encoder is not None:
            return self.encoder.encode(texts)
        from llmrec.config import EmbedSettings
        from llmrec.embed import load_encoder

        warnings.warn(
            "the content sources' item vectors: no item_vectors and no encoder were given, "
            "so the item texts are encoded by the default encoder (the bundled multilingual "
            "USE); pass encoder=load_encoder(settings.embed) to choose",
            UserWarning,
            stacklevel=4,
        )
        with load_encoder(EmbedSettings()) as encoder:
            return encoder.encode(texts)

    def _set_state(self, data: Interactions, events: pd.DataFrame, weights) -> None:
        self.item_ids_ = data.item_ids
        self.now_ = data.now
        self.stats_ = item_stats(data)
        negative = events[EventPolicy(weights).negative_mask(events["event_type"])]
        self.histories_ = UserHistories(data, negative)

    # -- scoring -------------------------------------------------------------------

    def _history(self, rows: np.ndarray, extra: list[np.ndarray] | None = None) -> History:
        return self.histories_.history(rows, len(self.item_ids_), extra)

    def _scoring(self) -> Scoring:
        """The learned state the candidates and features stages read."""
        return Scoring(
            self.scorers_,
            self.stats_,
            self.vectors_,
            self.tags_,
            self.now_,
            self.n_fitted_items_,
            self._tie_rank,
            self.candidates_per_source,
        )

    def _scoring_of(self, scorers: dict[str, Scorer], data: Interactions) -> Scoring:
        """The same for sources fitted on ``data`` (the ranker's training)."""
        stats = item_stats(data)
        return Scoring(
            scorers,
            stats,
            self.vectors_,
            self.tags_,
            data.now,
            data.n_items,
            tie_rank(stats.trending),
            self.candidates_per_source,
        )

    def _pool(
        self, history: History, blocked: np.ndarray
    ) -> tuple[np.ndarray, list[str], Candidates]:
        """The batch's candidates' features, the features' names and the candidates."""
        last_times = self.histories_.last_times(history.user_rows)
        return candidate_pool(self._scoring(), history, last_times, blocked)

    def score_item(
        self, col: int, sequences: Sequence[np.ndarray], user_id: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The final score of the item in column ``col`` (of ``item_ids_``) for each
        history in ``sequences`` (item columns, oldest first), as ``recommend`` would give
        it, with the ranker's features (a row per history) and their names. ``user_id``
        gives every history that user's time features. What-if histories are how
        explanations (:func:`llmrec.explain.explain`) measure each item's influence."""
        self._check_fitted()
        row = self.histories_.rows([str(user_id)])[0] if user_id is not None else -1
        history = self._history(np.full(len(sequences), row), list(sequences))
        scores = source_scores(self.scorers_, history, self.n_fitted_items_)
        pairs = np.column_stack([np.arange(len(history)), np.full(len(history), col)])
        x, names = candidate_features(
            history,
            pairs,
            scores,
            self.stats_,
            vectors=self.vectors_,
            tags=self.tags_,
            last_times=self.histories_.last_times(history.user_rows),
            now=self.now_,
        )
        # Each history is a list of its own: one item, nothing to reorder.
        return final_scores(self.ranker_, x, names, np.arange(len(x))), x, names

    def proposing_sources(
        self, col: int, sequence: np.ndarray, user_id: str | None = None
    ) -> list[str]:
        """The sources whose best ``candidates_per_source`` for the history ``sequence``
        (item columns, oldest first) include the item in column ``col``."""
        self._check_fitted()
        row = self.histories_.rows([str(user_id)])[0] if user_id is not None else -1
        history = self._history(np.array([row]), [np.asarray(sequence, np.int64)])
        _, _, found = self._pool(history, history.matrix.toarray() > 0)
        hit = np.flatnonzero(found.pairs[:, 1] == col)
        if len(hit) == 0:
            return []
        proposed = found.by_source[hit[0]]
        return [s for s, mine in zip(self.scorers_, proposed, strict=True) if mine]

    def recommend(
        self,
        user_ids: Iterable,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Iterable | None = None,
        filters: dict | None = None,
        diversity: float | None = None,
        exclude: Iterable | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` per user as a frame (user_id, item_id, score, rank, sources: the
        candidate sources that proposed the item, comma-joined). Users never seen get the
        most popular items (cold start), never an error. ``candidates``: rank only these
        item ids; ``exclude``: never these (unknown ids in either are ignored: a shop's
        list may name items not loaded yet). ``filters``: include_tags, exclude_tags,
        available, brand, min_price, max_price (see
        :func:`~llmrec.rank.filters.item_filters`); ``exclude_seen`` leaves out the
        user's items except repeat items (``repeat_tags``, ``repeatable``)."""
        self._check_fitted()
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        diversity = self.diversity if diversity is None else diversity
        users = pd.Index([str(u) for u in user_ids])
        allowed = self.item_mask(candidates, filters, exclude)
        pool = max(k * 3, k)  # MMR picks k from the best 3k
        # Only unrestricted lists are kept: candidates and filters change which items
        # each source proposes, not just which survive.
        cacheable = self.list_cache_size > 0 and allowed is None and exclude_seen
        cache = self.list_cache_ if cacheable and pool <= LIST_DEPTH else None
        ranked: dict[int, RankedList] = {}
        if cache is not None:
            for i, user in enumerate(users):
                if (found := cache.get(user)) is not None:
                    ranked[i] = found
        todo = np.array([i for i in range(len(users)) if i not in ranked], dtype=np.int64)
        rows = self.histories_.rows(users)
        for start in range(0, len(todo), 256):
            batch = todo[start : start + 256]
            depth = LIST_DEPTH if cache is not None else pool
            for i, found in zip(batch, self._rank(rows[batch], users[batch], allowed,
                                                  exclude_seen, depth), strict=True):  # fmt: skip
                ranked[i] = found
                if cache is not None:
                    cache.put(users[i], found)
        out = []
        for i, user in enumerate(users):
            top = pick(ranked[i], k, diversity, self.vectors_)
            out.append(
                pd.DataFrame(
                    {
                        "user_id": user,
                        "item_id": self.item_ids_[top.items],
                        "score": top.scores,
                        "rank": np.arange(1, len(top.items) + 1),
                        "sources": self.source_labels(top.sources),
                    }
                )
            )
        if not out:
            return pd.DataFrame(columns=["user_id", "item_id", "score", "rank", "sources"])
        return pd.concat(out, ignore_index=True)

    def popular_items(
        self,
        user_id,
        k: int = 10,
        candidates: Iterable | None = None,
        filters: dict | None = None,
        exclude: Iterable | None = None,
    ) -> pd.DataFrame:
        """The ``k`` most popular items the user has not had (among ``candidates``,
        through ``filters``, never ``exclude``, as in ``recommend``): item_id, score (the
        log popularity), rank, sources — the floor an online experiment holds a model
        against."""
        self._check_fitted()
        usable = self.item_mask(candidates, filters, exclude)
        usable = np.ones(len(self.item_ids_), bool) if usable is None else usable.copy()
        usable[self.histories_.items_of(str(user_id))] = False
        items, value, _ = popular_fallback(usable, self.stats_.popularity)
        top = items[np.lexsort((self._tie_rank[items], -value))][:k]
        return pd.DataFrame({
            "item_id": self.item_ids_[top], "score": self.stats_.popularity[top],
            "rank": np.arange(1, len(top) + 1), "sources": "popularity",
        })  # fmt: skip

    def candidates(self, user_ids: Iterable) -> pd.DataFrame:
        """Each user's candidate pool before ranking (user_id, item_id, sources): every
        item a source puts among its best ``candidates_per_source``, the user's own items
        excluded — what the ranker chooses from, and so the ceiling of its recall."""
        self._check_fitted()
        users = pd.Index([str(u) for u in user_ids])
        rows = self.histories_.rows(users)
        out = [pd.DataFrame({"user_id": [], "item_id": [], "sources": []})]
        for start in range(0, len(users), 256):
            batch = np.arange(start, min(start + 256, len(users)))
            history = self._history(rows[batch])
            _, _, found = self._pool(history, history.matrix.toarray() > 0)
            out.append(pd.DataFrame({
                "user_id": users[batch][found.pairs[:, 0]],
                "item_id": self.item_ids_[found.pairs[:, 1]],
                "sources": self.source_labels(found.source_masks()),
            }))  # fmt: skip
        return pd.concat(out, ignore_index=True)

    def source_lists(self, user_ids: Iterable, k: int = 10) -> pd.DataFrame:
        """Each source's own top-``k`` per user (user_id, source, item_id, rank), the
        user's items excluded and cold items left to the content sources, as for
        :meth:`candidates`: what each source, as fitted inside this recommender, would
        recommend alone — the bar the ranker has to clear."""
        self._check_fitted()
        users = pd.Index([str(u) for u in user_ids])
        rows = self.histories_.rows(users)
        out = [pd.DataFrame({"user_id": [], "source": [], "item_id": [], "rank": []})]
        for start in range(0, len(users), 256):
            batch = np.arange(start, min(start + 256, len(users)))
            history = self._history(rows[batch])
            blocked = history.matrix.toarray() > 0
            scores = source_scores(self.scorers_, history, self.n_fitted_items_)
            for name, value in scores.items():
                r, place, cols = source_top_k(value, blocked, k, self._tie_rank)
                out.append(pd.DataFrame({
                    "user_id": users[batch][r],
                    "source": name,
                    "item_id": self.item_ids_[cols],
                    "rank": place + 1,
                }))  # fmt: skip
        return pd.concat(out, ignore_index=True)

    def kept_top(self, user_id, k: int = 10, diversity: float | None = None) -> RankedList | None:
        """The user's top ``k`` from their kept ranked list, as ``recommend`` without
        candidates or filters would give it; None when no list is kept (then call
        ``recommend``). No scoring and no pandas: the service's fast path."""
        diversity = self.diversity if diversity is None else diversity
        if self.list_cache_size <= 0 or max(k * 3, k) > LIST_DEPTH:
            return None
        found = self.list_cache_.get(str(user_id))
        return None if found is None else pick(found, k, diversity, self.vectors_)

    def source_labels(self, masks: np.ndarray) -> list[str]:
        """Bit masks of proposing sources (as in :class:`RankedList`) → "ease,covisit";
        "popularity" for none."""
        names = list(self.scorers_)
        return [
            ",".join(n for b, n in enumerate(names) if int(m) >> b & 1) or "popularity"
            for m in masks
        ]

    def _rank(
        self,
        rows: np.ndarray,
        users: pd.Index,
        allowed: np.ndarray | None,
        exclude_seen: bool,
        depth: int,
    ) -> list[RankedList]:
        """The best ``depth`` candidates of each user of a batch, ranked."""
        history = self._history(rows)
        exclude = (
            history.matrix.toarray() > 0
            if exclude_seen
            else np.zeros((len(rows), len(self.item_ids_)), bool)
        )
        if exclude_seen:  # consumables come back; a dislike still hides one (below)
            exclude[:, self.attributes_.repeat_items(self.repeat_tags)] = False
        for r, user in enumerate(users):
            exclude[r, list(self.histories_.negatives_of(user))] = True
        blocked = exclude if allowed is None else exclude | ~allowed[None, :]
        x, names, found = self._pool(history, blocked)
        score = final_scores(self.ranker_, x, names, found.pairs[:, 0])
        masks = found.source_masks()
        lists = []
        for r, user in enumerate(users):
            mine = found.pairs[:, 0] == r
            items, value, proposers = found.pairs[mine, 1], score[mine], masks[mine]
            disliked = list(self.histories_.negatives_of(user))
            value = push_down_disliked(items, value, disliked, self.vectors_,
                                       self.feedback_penalty)  # fmt: skip
            # Nothing proposed (e.g. all filtered), or no history: the ranker learnt from
            # users with one, and for an empty one its scores tie (a small shop's new user
            # got items in catalogue order, none of them the most popular): popularity.
            if len(items) == 0 or len(history.sequences[r]) == 0:
                items, value, proposers = popular_fallback(~blocked[r], self.stats_.popularity)
            lists.append(ranked_list(items, value, proposers, self._tie_rank, depth))
        return lists

    @property
    def _tie_rank(self) -> np.ndarray:
        """Each item's place by trending popularity (0 = first), which breaks a source's
        score ties when candidates are chosen: a user with few co-visits gets what is
        popular now, not whatever comes first in the catalogue (measured in
        docs/decisions/recommender.md). Derived from ``stats_`` and kept with the stats
        it came from (``fit`` replaces them while training the ranker, ``add_items`` when
        the catalogue grows)."""
        stats, rank = self.__dict__.get("_tie_ranks", (None, None))
        if stats is not self.stats_:
            rank = tie_rank(self.stats_.trending)
            self.__dict__["_tie_ranks"] = (self.stats_, rank)
        return rank

    @property
    def list_cache_(self) -> RankedListCache:
        """The kept ranked lists (made on first use: they are not saved with the model)."""
        cache = self.__dict__.get("_ranked_lists")
        if cache is None or cache.capacity != self.list_cache_size:
            cache = self.__dict__["_ranked_lists"] = RankedListCache(self.list_cache_size)
        return cache

    def explain(self, user_id, item_id, top: int = 5) -> Explanation:
        """Deprecated alias of :func:`llmrec.explain.explain` (``explain(model, user_id,
        item_id, top=top)``); removed in the next release."""
        warnings.warn(
            "Recommender.explain is deprecated: use llmrec.explain.explain(model, user_id, "
            "item_id)",
            DeprecationWarning,
            stacklevel=2,
        )
        from llmrec.explain.reasons import explain  # explanations build on the recommender

        return explain(self, user_id, item_id, top=top)

    def taste(self, user_id) -> tuple[np.ndarray | None, set[str]]:
        """A known user's content interest vector (None without a content source or a
        history) and the ids of the items in their history."""
        self._check_fitted()
        if not self.knows_user(user_id):
            return None, set()
        user = str(user_id)
        seen = set(self.item_ids_[self.histories_.items_of(user)])
        if "content" not in self.scorers_:
            return None, seen
        history = self._history(self.histories_.rows([user]))
        return self.scorers_["content"].user_vectors(history)[0], seen

    def knows_user(self, user_id) -> bool:
        """Whether the user has a history (from the events of ``fit``,
        :meth:`set_histories` or ``update``)."""
        self._check_fitted()
        return self.histories_.knows(str(user_id))

    def item_mask(self, candidates=None, filters=None, exclude=None) -> np.ndarray | None:
        """Which items ``candidates``, ``filters`` and ``exclude`` (as in ``recommend``)
        allow, as a boolean array over ``item_ids_``; None when none restricts anything. A
        filter that is unknown or has a wrong value raises
        :class:`~llmrec.rank.filters.FilterError` (a ``ValueError``) naming it."""
        allowed = None
        if candidates is not None:
            allowed = np.zeros(len(self.item_ids_), bool)
            allowed[self._known_columns(candidates)] = True
        mask = self.attributes_.mask(item_filters(filters))
        if mask is not None:
            allowed = mask if allowed is None else allowed & mask
        if exclude is not None:
            excluded = self._known_columns(exclude)
            if len(excluded):
                allowed = np.ones(len(self.item_ids_), bool) if allowed is None else allowed
                allowed[excluded] = False
        return allowed

    def _known_columns(self, item_ids: Iterable) -> np.ndarray:
        cols = self.item_ids_.get_indexer(pd.Index([str(i) for i in item_ids]))
        return cols[cols >= 0]

    def similar_items(
        self,
        item_ids: Iterable,
        k: int = 10,
        candidates: Iterable | None = None,
        exclude: Iterable | None = None,
    ) -> pd.DataFrame:
        """Items most similar to each given item: the best collaborative source's item
        neighbours blended with text similarity when item vectors exist; only among
        ``candidates`` and never ``exclude`` when given (as in ``recommend``)."""
        self._check_fitted()
        items = pd.Index([str(i) for i in item_ids])
        cols = self.item_ids_.get_indexer(items)
        if (cols < 0).any():
            raise UnknownIdError(f"unknown item id(s): {list(items[cols < 0][:5])}")
        history = self._history(np.full(len(cols), -1), [np.array([c]) for c in cols])
        name = next((s for s in ("ease", "itemknn", "als", "covisit") if s in self.scorers_), None)
        scores = np.zeros((len(cols), len(self.item_ids_)), np.float32)
        if name is not None:
            best = {name: self.scorers_[name]}  # only the one source is needed
            found = source_scores(best, history, self.n_fitted_items_)[name]
            scores += _unit_rows(np.nan_to_num(found, nan=0.0))
        if self.vectors_ is not None:
            scores += self.vectors_[cols] @ self.vectors_.T
        scores[np.arange(len(cols)), cols] = -np.inf
        allowed = self.item_mask(candidates, exclude=exclude)
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        found = np.isfinite(np.take_along_axis(scores, top, axis=1))
        rows = np.repeat(np.arange(len(cols)), top.shape[1]).reshape(top.shape)[found]
        return pd.DataFrame(
            {
                "item_id": items[rows],
                "similar_item_id": self.item_ids_[top[found]],
                "score": scores[rows, top[found]],
                "rank": (np.cumsum(found, axis=1))[found],
            }
        )

    def add_items(self, items: pd.DataFrame, vectors: pd.DataFrame | None = None) -> Self:
        """Add new items (or new attributes of known ones) without a refit: a new item is
        recommendable by content at once, given its text vector in ``vectors`` (a frame
        indexed by item id, as ``item_vectors``) when content sources are in use."""
        self._check_fitted()
        items, rejected = validate_frame(items, RecordKind.ITEMS, "items")
        if rejected:
            raise ValueError(
                f"{len(rejected)} item row(s) invalid, e.g. row "
                f"{rejected[0].line}: {rejected[0].reason}"
            )
        frame = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id")
        new = frame.index.difference(self.item_ids_)
        if self.vectors_ is not None and len(new):
            given = vectors.reindex(new) if vectors is not None else None
            if given is None or given.isna().any(axis=None):
                raise ValueError("text vectors are needed for new items (content sources)")
        known = frame.index.intersection(self.item_ids_)
        for column in frame.columns:
            if column not in self.items_.columns:
                self.items_[column] = None
        repeat_before = self.attributes_.repeat_items(self.repeat_tags)
        tags_before = self.items_.loc[known, "tags"].copy() if "tags" in frame.columns else None
        self.items_.loc[known, frame.columns] = frame.loc[known]
        tags_after = self.items_.loc[known, "tags"] if tags_before is not None else ()
        tags_changed = tags_before is not None and not all(
            _same_tags(a, b) for a, b in zip(tags_before, tags_after, strict=True)
        )
        if len(new):
            self._append_items(frame.loc[new], given if self.vectors_ is not None else None)
        if len(new) or tags_changed:
            self.tags_ = tag_matrix(self.items_)
        self.attributes_ = ItemAttributes.from_items(self.items_)
        # A kept list stays true unless what ranks changed: a new item a content source may
        # propose, a tag (an item feature and its users' taste), or which items may repeat.
        # A price or stock update (a shop's usual POST /items) keeps every list.
        repeat_after = self.attributes_.repeat_items(self.repeat_tags)[: len(repeat_before)]
        if (
            (len(new) and self.vectors_ is not None)
            or tags_changed
            or (repeat_after != repeat_before).any()
        ):
            self.list_cache_.clear()
        return self

    def _append_items(self, items: pd.DataFrame, vectors: pd.DataFrame | None) -> None:
        """Append new ``items`` (and their text ``vectors`` when content sources are in
        use) as cold items: no events, scored by the content sources only."""
        self.items_ = pd.concat([self.items_, items.reindex(columns=self.items_.columns)])
        self.item_ids_ = self.item_ids_.append(items.index)
        if vectors is not None:
            added = np.ascontiguousarray(vectors.to_numpy(np.float32))
            self.vectors_ = np.vstack([self.vectors_, added])
            for scorer in self.scorers_.values():
                if scorer.scores_new_items and scorer.text == "item":
                    scorer.add_items(added)
                elif scorer.scores_new_items:  # nothing generated for them yet
                    scorer.add_items(np.zeros((len(added), self.generated_dim_), np.float32))
        zeros = np.zeros(len(items))
        self.stats_ = ItemStats(
            np.r_[self.stats_.popularity, zeros],
            np.r_[self.stats_.trending, zeros],
            np.r_[self.stats_.age_days, zeros + np.nan],
            np.r_[self.stats_.cold, np.ones(len(items), dtype=bool)],
        )

    def update(self, events: pd.DataFrame, validate: bool = True) -> Self:
        """Append events to users' histories (new users included); no refit.
        ``validate=False`` skips the ingest checks for rows that already passed
        :func:`~llmrec.data.validate.validate_frame` (the service's ``POST /events``)."""
        self._check_fitted()
        if len(events) == 0:
            return self
        if validate:
            events, rejected = validate_frame(events, RecordKind.EVENTS, "events")
            if rejected:
                raise ValueError(
                    f"{len(rejected)} event row(s) invalid, e.g. row "
                    f"{rejected[0].line}: {rejected[0].reason}"
                )
        self.list_cache_.drop(pd.unique(events["user_id"].astype(str)))
        self.histories_.update(events, self.item_ids_, EventPolicy(self._weights()))
        return self

    def set_histories(self, events: pd.DataFrame, validate: bool = True) -> Self:
        """Build every user's history from ``events`` (all of them: the store's, for a
        served model), replacing the histories this model had. A loaded model starts
        with none: user state is never part of the model file. Bad rows are left out
        with a warning, as in ``fit``; ``validate=False`` trusts rows that already passed
        :func:`~llmrec.data.validate.validate_frame` (the store's)."""
        self._check_fitted()
        events, _ = self._readable_events(events, validate, "")
        events = events.assign(
            item_id=events["item_id"].astype(str), user_id=events["user_id"].astype(str)
        )
        policy = EventPolicy(self._weights())
        self.histories_ = UserHistories.from_events(events, self.item_ids_, policy)
        self.list_cache_.clear()
        return self

    def take_histories(self, served: Recommender) -> bool:
        """Take the users' histories of ``served`` (another model, serving now and kept
        up to date) instead of rebuilding them from every stored event: a new model
        version swaps in within seconds however many events there are. Only when the
        two read events alike and ``served`` holds every item of this model (else the
        events of the others are not in its histories); returns whether it did."""
        self._check_fitted()
        if self._weights() != served._weights():
            return False
        # equals first: isin over arrow strings walks every id in Python (0.6 s at 100k)
        same = self.item_ids_.equals(served.item_ids_)
        if not same and (served.item_ids_.get_indexer(self.item_ids_) < 0).any():
            return False
        self.histories_ = served.histories_.remapped(served.item_ids_, self.item_ids_)
        self.list_cache_.clear()
        return True

    def forget(self, user_id, item_ids: Iterable | None = None) -> Self:
        """Remove items (all, when ``item_ids`` is None) from a user's history and
        feedback, without a refit: the user's own recommendations stop using them at once;
        what the sources learned from them goes at the next ``fit``."""
        self._check_fitted()
        user = str(user_id)
        cols = None
        if item_ids is not None:
            cols = self.item_ids_.get_indexer(pd.Index([str(i) for i in item_ids]))
        if not self.histories_.forget(user, cols):
            raise UnknownIdError(f"unknown user id: {user}")
        self.list_cache_.drop([user])
        return self

    # -- persistence ---------------------------------------------------------------

    def __getstate__(self) -> dict:
        # What was learned only: not the users' histories (rebuilt from the events when
        # loaded), the runtime resources (a shared memo of other recommenders' fits, the
        # encoder), or the lists it ranked.
        state = {**self.__dict__, "fit_memo": None, "encoder": None}
        for runtime in ("histories_", "_ranked_lists", "_tie_ranks"):
            state.pop(runtime, None)
        return state

    def __deepcopy__(self, memo: dict) -> Recommender:
        # A copy in memory is a whole recommender: the histories come along (a pickle
        # leaves them out), and the memo of shared fits stays shared.
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__getstate__(), memo))
        clone.fit_memo, clone.encoder = self.fit_memo, self.encoder
        if "histories_" in self.__dict__:
            clone.histories_ = copy.deepcopy(self.histories_, memo)
        return clone

    def save(self, path: str | Path) -> Path:
        """Write what the recommender learned to one file, atomically and checksummed
        (see :mod:`llmrec.model_file`; pickle inside: load only files you wrote). Users'
        histories are not in it: :meth:`load` rebuilds them from the events."""
        self._check_fitted()
        return write_model(Path(path), _FORMAT_VERSION, self)

    @classmethod
    def load(cls, path: str | Path, events: pd.DataFrame | None = None) -> Recommender:
        """The recommender saved at ``path``, with every user's history built from
        ``events`` (see :meth:`set_histories`; without them it knows no user until
        ``update``). :class:`~llmrec.errors.ModelFileError` (a ``ValueError``) names the
        file and the problem when it cannot be used."""
        version, model = read_model(Path(path))
        if not isinstance(model, cls) or version > _FORMAT_VERSION:
            raise ModelFileError(path, f"not a llmrec model of format {_FORMAT_VERSION}")
        if version < _FORMAT_VERSION:
            raise ModelFileError(
                path,
                f"it is a model of an older llmrec (format {version}, this one reads "
                f"{_FORMAT_VERSION}); fit it again (llmrec train)",
            )
        empty = pd.DataFrame(
            {"user_id": [], "item_id": [], "timestamp": [], "event_type": []}
        ).astype({"user_id": str, "item_id": str, "timestamp": float, "event_type": str})
        return model.set_histories(empty if events is None else events, validate=events is not None)

    def _check_fitted(self) -> None:
        if not hasattr(self, "scorers_"):
            raise RuntimeError("this Recommender is not fitted; call fit() first")


def _without_order(sources: list[str]) -> list[str]:
    """Sources for events without any timestamp (play counts, undated ratings): the
    order-based ones would learn an arbitrary order, so ALS takes the first one's place
    (docs/decisions/recommender.md)."""
    if not ORDER_SOURCES & set(sources):
        return sources
    first = next(i for i, s in enumerate(sources) if s in ORDER_SOURCES)
    kept = sources[:first] + ([] if "als" in sources else ["als"])
    return kept + [s for s in sources[first:] if s not in ORDER_SOURCES and s not in kept]


def _undated_shuffled(events: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Undated events first (they count as oldest) in a seeded random order that does not
    depend on the input's: their input order (often sorted by id) is no sequence for
    SASRec, co-visitation or the ranker's hold-out of each user's "newest" items."""
    undated = events["timestamp"].isna().to_numpy()
    if not undated.any():
        return events
    rows = np.flatnonzero(undated)
    keys = events.iloc[rows][["user_id", "item_id", "event_type"]].astype(str)
    canonical = rows[np.lexsort([keys[c].to_numpy() for c in reversed(keys.columns)])]
    shuffled = np.random.default_rng(seed).permutation(canonical)
    return events.iloc[np.r_[shuffled, np.flatnonzero(~undated)]]


def _same_tags(before: object, after: object) -> bool:
    def tags(value: object) -> list:
        return list(value) if isinstance(value, list | tuple | np.ndarray) else []

    return tags(before) == tags(after)


def _unit_rows(scores: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(scores, axis=1, keepdims=True)
    return scores / np.where(norms > 0, norms, 1.0)


def _ignore(_: int) -> None:
    """The advance callback of a fit nobody watches."""
