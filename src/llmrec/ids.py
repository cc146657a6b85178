"""An id → position map that grows in place.

A pandas Index is immutable: appending the users of a batch of events copies it and
rebuilds its hash table on the next lookup, O(all users) per batch. A service that sees
new users all day (sessions, sign-ups) paid that on every event batch and on the next
request after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


class GrowingIndex:
    """String ids at positions 0..n-1, with the lookups of a pandas Index the recommender
    uses (``get_indexer``, ``get_loc``, ``in``, positional indexing) and an in-place
    ``append`` costing O(ids appended). Ids are unique."""

    def __init__(self, ids: Iterable = ()) -> None:
        self._ids: list[str] = [str(i) for i in ids]
        self._positions: dict[str, int] = {i: n for n, i in enumerate(self._ids)}
        if len(self._positions) != len(self._ids):
            raise ValueError("ids must be unique")

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __contains__(self, value: object) -> bool:
        return value in self._positions

    def __getitem__(self, where):
        """One id for an integer position; an object array of ids for a slice, an
        integer array or a list of positions."""
        if isinstance(where, int | np.integer):
            return self._ids[where]
        if isinstance(where, slice):
            return np.array(self._ids[where], dtype=object)
        positions = np.asarray(where, dtype=np.int64)
        return np.array([self._ids[p] for p in positions.tolist()], dtype=object)

    def get_loc(self, value: str) -> int:
        """The position of ``value``; KeyError when absent."""
        return self._positions[value]

    def get_indexer(self, values: Iterable) -> np.ndarray:
        """Positions of ``values`` (-1 for ids not present), as int64."""
        find = self._positions.get
        values = list(values)
        return np.fromiter((find(v, -1) for v in values), np.int64, count=len(values))

    def append(self, values: Iterable) -> None:
        """Add ids not present yet at the end, in order (present ones are skipped)."""
        for value in values:
            value = str(value)
            if value not in self._positions:
                self._positions[value] = len(self._ids)
                self._ids.append(value)

    def tolist(self) -> list[str]:
        return list(self._ids)

    def copy(self) -> GrowingIndex:
        """An independent copy (appending to one leaves the other), without re-hashing
        every id."""
        copy = object.__new__(GrowingIndex)
        copy._ids, copy._positions = list(self._ids), dict(self._positions)
        return copy
