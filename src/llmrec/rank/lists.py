"""Users' ranked candidate lists, kept for repeated requests.

Scoring a user touches every item with every source (milliseconds on a large catalogue);
a user asks again far more often than their history changes. The recommender keeps each
user's ranked list (least recently used out) and drops it when something it depends on
changes: that user's events, the catalogue, or the model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class RankedList:
    """A user's candidates, best first: item columns, final scores, and which sources
    proposed each (bit i set: the recommender's i-th source; 0: none, the popularity
    fallback). Compact (10 bytes an item): a service keeps hundreds of thousands."""

    items: np.ndarray  # int32
    scores: np.ndarray  # float32
    sources: np.ndarray  # uint16 bit masks

    def head(self, n: int) -> RankedList:
        return RankedList(self.items[:n], self.scores[:n], self.sources[:n])


class RankedListCache:
    """A thread-safe LRU map from user id to :class:`RankedList`; ``capacity`` 0 keeps
    nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lists: OrderedDict[str, RankedList] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._lists)

    def get(self, user: str) -> RankedList | None:
        with self._lock:
            found = self._lists.get(user)
            if found is None:
                self.misses += 1
                return None
            self._lists.move_to_end(user)
            self.hits += 1
            return found

    def put(self, user: str, ranked: RankedList) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._lists[user] = ranked
            self._lists.move_to_end(user)
            while len(self._lists) > self.capacity:
                self._lists.popitem(last=False)

    def drop(self, users: Iterable[str]) -> None:
        with self._lock:
            for user in users:
                self._lists.pop(user, None)

    def clear(self) -> None:
        with self._lock:
            self._lists.clear()
