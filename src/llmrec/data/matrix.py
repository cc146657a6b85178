"""The user × item interaction matrix (scipy.sparse CSR) with stable id ↔ index maps.

Every event contributes ``weight(event_type) × f(value) × decay(age)``; events of the
same (user, item) pair add up. Ids are mapped to indices in sorted order, so the same
data always gives the same matrix. Everything is vectorised: no Python loop per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from llmrec.config import Settings
from llmrec.data.events import EventPolicy
from llmrec.store import Store

ValueTransform = Literal["none", "raw", "log1p"]
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class InteractionMatrix:
    """``matrix[u, i]`` is the summed weight of user ``user_ids[u]`` on item ``item_ids[i]``."""

    matrix: sp.csr_matrix
    user_ids: pd.Index
    item_ids: pd.Index

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    @property
    def density(self) -> float:
        n_users, n_items = self.shape
        return self.nnz / (n_users * n_items) if n_users and n_items else 0.0

    def user_index(self, user_ids: Sequence[str] | pd.Series) -> np.ndarray:
        """Row indices of ``user_ids``; -1 for users not in the matrix."""
        return self.user_ids.get_indexer(pd.Index(user_ids, dtype=object))

    def item_index(self, item_ids: Sequence[str] | pd.Series) -> np.ndarray:
        """Column indices of ``item_ids``; -1 for items not in the matrix."""
        return self.item_ids.get_indexer(pd.Index(item_ids, dtype=object))


def build_interaction_matrix(
    events: pd.DataFrame,
    event_weights: Mapping[str, float],
    *,
    default_weight: float = 1.0,
    user_ids: Sequence[str] | None = None,
    item_ids: Sequence[str] | None = None,
    value_transform: ValueTransform = "none",
    rating_threshold: float | None = None,
    half_life_days: float | None = None,
    now: int | None = None,
    dtype: type[np.floating] = np.float32,
) -> InteractionMatrix:
    """Build the matrix from an events frame (columns as stored: user_id, item_id, ...).
    An event weighs what :class:`~llmrec.data.events.EventPolicy` over ``event_weights``
    gives its type (a negative feedback type at most 0).

    - ``user_ids`` / ``item_ids`` add rows / columns for users and items without events
      (cold items must have a column to be scored).
    - ``value_transform``: how an event's ``value`` scales its weight ("none" ignores it,
      "raw" multiplies by it, "log1p" by log(1 + value), for play counts). Events
      without a value keep their weight.
    - ``rating_threshold``: rating events whose value is below it are left out.
    - ``half_life_days``: an event loses half its weight per half-life before ``now``
      (default: the newest event). Events without a timestamp are not decayed.
    Search events (no item) and events whose weight is 0 contribute nothing.
    """
    if half_life_days is not None and half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    if value_transform not in ("none", "raw", "log1p"):
        raise ValueError(f"value_transform must be none, raw or log1p, got {value_transform!r}")
    missing = {"user_id", "item_id", "event_type"} - set(events.columns)
    if missing:
        raise ValueError(f"events lack column(s) {sorted(missing)}")

    event_types = events["event_type"].astype(object)
    weights = EventPolicy(event_weights, default_weight=default_weight).weights_of(event_types)
    values = _column_floats(events, "value")
    if value_transform != "none":
        scale = values if value_transform == "raw" else np.log1p(np.clip(values, 0.0, None))
        weights = np.where(np.isnan(values), weights, weights * scale)
    keep = events["item_id"].notna().to_numpy() & (weights != 0)
    if rating_threshold is not None:
        is_rating = (event_types == "rating").to_numpy()
        keep &= ~(is_rating & (np.nan_to_num(values, nan=-np.inf) < rating_threshold))
    if half_life_days is not None and "timestamp" in events.columns:
        times = _column_floats(events, "timestamp")
        reference = float(now) if now is not None else np.nanmax(times, initial=0.0)
        age_days = np.clip(reference - times, 0.0, None) / _SECONDS_PER_DAY
        weights = weights * np.where(np.isnan(times), 1.0, 0.5 ** (age_days / half_life_days))

    kept = events.loc[keep, ["user_id", "item_id"]]
    rows, user_index = _sorted_codes(kept["user_id"], user_ids)
    cols, item_index = _sorted_codes(kept["item_id"], item_ids)
    matrix = sp.csr_matrix(
        (weights[keep].astype(dtype), (rows, cols)),
        shape=(len(user_index), len(item_index)),
        dtype=dtype,
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return InteractionMatrix(matrix, user_index, item_index)


def interaction_matrix_from_store(
    store: Store, settings: Settings, *, include_catalogue: bool = True, **options
) -> InteractionMatrix:
    """The matrix of every stored event, weighted by ``settings.event_weights``.

    With ``include_catalogue`` every stored item gets a column, events or not.
    """
    events = store.events_frame(["user_id", "item_id", "event_type", "value", "timestamp"])
    items = store.items_frame()["item_id"].tolist() if include_catalogue else None
    return build_interaction_matrix(
        events,
        settings.event_weights,
        default_weight=settings.default_event_weight,
        item_ids=items,
        **options,
    )


def _column_floats(events: pd.DataFrame, column: str) -> np.ndarray:
    if column not in events.columns:
        return np.full(len(events), np.nan)
    return pd.to_numeric(events[column]).to_numpy(dtype=np.float64, na_value=np.nan)


def _sorted_codes(ids: pd.Series, extra: Sequence[str] | None) -> tuple[np.ndarray, pd.Index]:
    """Indices of ``ids`` into the sorted distinct ids (plus ``extra``).

    Factorising hashes each id once; only the distinct ids are sorted, by Arrow (an
    object-array sort of 200k strings costs ten times more).
    """
    codes, uniques = pd.factorize(ids.astype(object))
    distinct = np.asarray(uniques, dtype=object)
    if extra is not None:
        extra_ids = pd.unique(np.asarray(list(extra), dtype=object))
        distinct = np.concatenate([distinct, extra_ids[~pd.Index(extra_ids).isin(distinct)]])
    order = pc.sort_indices(pa.array(distinct, type=pa.string())).to_numpy()
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    return rank[codes], pd.Index(distinct[order], dtype=object)
