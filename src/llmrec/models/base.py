"""What every scorer learns from and what it is asked to score.

:class:`Interactions` is the training data in index space: a binary user × item matrix of
positive events, each user's items in time order (for sequential models), and the times
the time-aware features need. :class:`History` is the part of it a scorer sees when asked
to score a batch of users — possibly newer than what it was fitted on, which is how
``Recommender.update`` works without a refit.
"""

from __future__ import annotations

import inspect
import itertools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from llmrec.data.events import EventPolicy


@dataclass(frozen=True, slots=True)
class History:
    """``matrix[r]`` and ``sequences[r]`` are the history of the r-th user scored;
    ``user_rows[r]`` is that user's row in the fitted data, or -1 for a new user."""

    matrix: sp.csr_matrix
    sequences: list[np.ndarray]
    user_rows: np.ndarray

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @classmethod
    def of_sequences(
        cls, sequences: Sequence[np.ndarray], n_items: int, user_rows: np.ndarray | None = None
    ) -> History:
        """The history of each item sequence (columns, oldest first) over ``n_items``
        columns; ``user_rows`` default to -1 (no fitted user)."""
        lengths = [len(s) for s in sequences]
        matrix = sp.csr_matrix(
            (
                np.ones(sum(lengths), np.float32),
                (
                    np.repeat(np.arange(len(sequences)), lengths),
                    np.concatenate(sequences) if len(sequences) else np.zeros(0, np.int64),
                ),
            ),
            shape=(len(sequences), n_items),
        )
        rows = np.full(len(sequences), -1) if user_rows is None else np.asarray(user_rows)
        return cls(matrix, list(sequences), rows)


@dataclass(frozen=True, slots=True)
class Interactions:
    """Positive interactions of ``user_ids`` with ``item_ids`` (index space)."""

    user_ids: pd.Index
    item_ids: pd.Index
    matrix: sp.csr_matrix  # binary, float32
    sequences: list[np.ndarray]  # item indices, oldest first, repeats removed
    last_time: np.ndarray  # per user: time of the newest event (NaN when unknown)
    item_first_time: np.ndarray  # per item: time of its first event (NaN: no events)
    item_last_times: list[np.ndarray]  # per user: time of each item of ``sequences``

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def now(self) -> float:
        """The newest event time in the data (0 when there are no times)."""
        return float(np.nanmax(self.last_time, initial=0.0)) if len(self.last_time) else 0.0

    @property
    def items_without_events(self) -> np.ndarray:
        """True for each item nobody had (no positive event): cold."""
        return np.diff(self.matrix.tocsc().indptr) == 0

    def history(self, rows: Sequence[int] | np.ndarray) -> History:
        rows = np.asarray(rows, dtype=np.int64)
        return History(self.matrix[rows], [self.sequences[r] for r in rows], rows)

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        *,
        item_ids: Sequence | pd.Index | None = None,
        user_ids: Sequence | pd.Index | None = None,
        event_weights: Mapping[str, float] | None = None,
        default_weight: float = 1.0,
    ) -> Interactions:
        """Index the positive events of a normalised events frame (see
        :func:`llmrec.recommender.events.normalise_events`).

        An event is positive when :class:`~llmrec.data.events.EventPolicy` over
        ``event_weights`` says so (a weight > 0, never negative feedback); without
        ``event_weights`` every event is. ``item_ids`` / ``user_ids`` fix the index (items
        without events get a column, events of unknown items are dropped); otherwise they
        are the ids in order of first appearance.
        """
        if event_weights is None:
            kept = np.ones(len(events), dtype=bool)
        else:
            policy = EventPolicy(event_weights, default_weight=default_weight)
            kept = policy.positive_mask(events["event_type"])
        positive = events.loc[kept, ["user_id", "item_id", "timestamp"]]
        users = pd.Index(pd.unique(positive["user_id"]) if user_ids is None else user_ids)
        items = pd.Index(pd.unique(positive["item_id"]) if item_ids is None else item_ids)
        rows = users.get_indexer(positive["user_id"])
        cols = items.get_indexer(positive["item_id"])
        times = positive["timestamp"].to_numpy(dtype=np.float64)
        known = (rows >= 0) & (cols >= 0)
        rows, cols, times = rows[known], cols[known], times[known]
        # Time order, first occurrence of each (user, item) kept: a re-watch is not a
        # new item for a sequence model and the matrix is binary.
        order = np.lexsort((np.arange(len(rows)), np.nan_to_num(times, nan=-np.inf), rows))
        rows, cols, times = rows[order], cols[order], times[order]
        pair = rows.astype(np.int64) * max(len(items), 1) + cols
        _, first = np.unique(pair, return_index=True)
        first.sort()
        rows, cols, times = rows[first], cols[first], times[first]
        matrix = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(users), len(items)),
        )
        bounds = np.searchsorted(rows, np.arange(len(users) + 1))
        sequences = [cols[a:b] for a, b in itertools.pairwise(bounds)]
        item_times = [times[a:b] for a, b in itertools.pairwise(bounds)]
        all_rows = users.get_indexer(events["user_id"])
        all_times = events["timestamp"].to_numpy(dtype=np.float64)
        last_time = np.full(len(users), np.nan)
        seen = all_rows >= 0
        if seen.any():
            frame = pd.DataFrame({"row": all_rows[seen], "t": all_times[seen]})
            newest = frame.groupby("row")["t"].max()
            last_time[newest.index.to_numpy()] = newest.to_numpy()
        first_time = np.full(len(items), np.nan)
        if len(cols):
            firsts = pd.Series(times).groupby(cols).min()
            first_time[firsts.index.to_numpy()] = firsts.to_numpy()
        return cls(users, items, matrix, sequences, last_time, first_time, item_times)


class SourceConfig(BaseModel):
    """A source's hyper-parameters: validated, immutable, JSON round-trip
    (``Config.model_validate_json(config.model_dump_json()) == config``). Each field is
    a constructor argument of the source, with the same default."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Scorer(ABC):
    """A candidate source: learns from interactions, then scores all items for a batch
    of histories.

    Scores are comparable within a user's row only; higher is better. "Cannot score" is
    NaN, and only that: a source that does not read text learned nothing of an item
    without events in its fit (:attr:`Interactions.items_without_events`), so that
    column is NaN in every row; the recommender reads NaN as "not proposed, no rank"
    (:mod:`llmrec.rank.features`). Subclasses implement ``_fit`` and ``_score``; ``fit``
    and ``score`` around them keep that rule for all.

    What the recommender needs to know of a source is declared on its class: ``name``
    (the registry key in :data:`llmrec.models.SOURCES`, the settings table
    ``[recommender.sources.<name>]`` and the ranker's feature prefix), ``Config`` (its
    hyper-parameters), ``grid`` (the values tuning tries, keys of ``Config``),
    ``needs_text`` (it is fitted with the items' text vectors; ``text`` says which:
    ``"item"``, the item's own text, or ``"generated"``, what the LLM wrote about it),
    ``learns_order`` (it
    learns from the order of events: left out when no event has a time) and
    ``scores_new_items`` (it has ``add_items(vectors)`` for items added after the fit).
    """

    name: ClassVar[str] = "scorer"
    Config: ClassVar[type[SourceConfig]] = SourceConfig
    grid: ClassVar[Mapping[str, tuple]] = {}
    needs_text: ClassVar[bool] = False
    text: ClassVar[Literal["item", "generated"]] = "item"
    learns_order: ClassVar[bool] = False
    scores_new_items: ClassVar[bool] = False

    @classmethod
    def from_config(
        cls,
        config: SourceConfig | None = None,
        *,
        seed: int = 0,
        item_vectors: np.ndarray | None = None,
    ) -> Self:
        """An unfitted source with ``config`` (defaults when None), the recommender's
        ``seed`` where it draws random numbers, and the item text vectors where it
        ``needs_text``."""
        config = config if config is not None else cls.Config()
        if not isinstance(config, cls.Config):
            raise TypeError(f"{cls.name}: a {cls.Config.__qualname__} is needed, not {config!r}")
        options = config.model_dump()
        if "seed" in inspect.signature(cls.__init__).parameters:
            options["seed"] = seed
        if cls.needs_text:
            if item_vectors is None:
                raise ValueError(f"the {cls.name} source needs the items' text vectors")
            options["item_vectors"] = item_vectors
        return cls(**options)

    def __init_subclass__(cls, **kwargs: object) -> None:
        # A source written for the older interface overrides fit and score: they become
        # its _fit and _score (deprecated for one release), so that it still works and
        # its unknown items still score NaN.
        super().__init_subclass__(**kwargs)
        legacy = [name for name in ("fit", "score") if name in cls.__dict__]
        if not legacy:
            return
        warnings.warn(
            f"{cls.__qualname__} overrides {' and '.join(legacy)}: deprecated, implement "
            "_fit(data) and _score(history) instead (Scorer's fit and score call them)",
            DeprecationWarning,
            stacklevel=2,
        )
        for name in legacy:
            setattr(cls, f"_{name}", cls.__dict__[name])
            delattr(cls, name)

    def fit(self, data: Interactions) -> Self:
        self._fit(data)
        self._learned_items(data)
        return self

    def score(self, history: History) -> np.ndarray:
        """``(len(history), n_items)`` float32 scores, NaN where the source cannot score."""
        self._check_fitted()
        scores = self._score(history)
        if len(self.unscored_items_):
            scores[:, self.unscored_items_] = np.nan
        return scores

    def _learned_items(self, data: Interactions) -> None:
        """Record which items the source learned nothing of (see the class docstring)."""
        unknown = np.zeros(0, np.int64)
        if not self.needs_text:
            unknown = np.flatnonzero(data.items_without_events)
        self.unscored_items_ = unknown

    @abstractmethod
    def _fit(self, data: Interactions) -> None: ...

    @abstractmethod
    def _score(self, history: History) -> np.ndarray:
        """``(len(history), n_items)`` float32 scores of every item."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
