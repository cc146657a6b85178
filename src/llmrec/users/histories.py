"""Every user's history as the recommender scores it: positive items in time order, the
time of their newest event, and the items they pushed away (negative feedback).

This is user state, not something learned: it is built from events (the store's, when
a model is loaded; the training events, when one is fitted), changed by new events and
forgotten on request, and never written into the model file. A user deleted from the
store is therefore absent from every model loaded afterwards, whatever file it comes
from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.data.events import EventPolicy
from llmrec.ids import GrowingIndex
from llmrec.models.base import History, Interactions

_EMPTY = np.zeros(0, np.int64)


class UserHistories:
    """Histories in index space over a catalogue's columns (``item_ids``): row r is user
    ``user_ids[r]``, ``sequences[r]`` their positive items (columns, oldest first, each
    once), ``last_time[r]`` their newest event time (NaN: unknown) and
    ``negative[user]`` the columns they disliked, skipped or hid."""

    def __init__(self, data: Interactions, negative_events: pd.DataFrame) -> None:
        self.user_ids = GrowingIndex(data.user_ids)
        self.sequences: list[np.ndarray] = list(data.sequences)
        self.last_time: np.ndarray = data.last_time.copy()
        self.negative: dict[str, set[int]] = {}
        self._add_negative(negative_events, data.item_ids)

    @classmethod
    def from_events(
        cls, events: pd.DataFrame, item_ids: pd.Index, policy: EventPolicy
    ) -> UserHistories:
        """Histories from a normalised events frame (``timestamp`` float, ``item_id``
        given), over the columns ``item_ids``; events of other items are left out."""
        data = Interactions.from_events(
            events,
            item_ids=item_ids,
            event_weights=policy.weights,
            default_weight=policy.default_weight,
        )
        return cls(data, events[policy.negative_mask(events["event_type"])])

    def __len__(self) -> int:
        return len(self.user_ids)

    def knows(self, user_id: str) -> bool:
        """Whether ``user_id`` has a positive history."""
        try:  # get_loc: one hash lookup
            return len(self.sequences[self.user_ids.get_loc(user_id)]) > 0
        except KeyError:
            return False

    def rows(self, user_ids: pd.Index | list[str]) -> np.ndarray:
        """Each user's row, -1 for users without one."""
        return self.user_ids.get_indexer(user_ids)

    def items_of(self, user_id: str) -> np.ndarray:
        """The user's positive items (columns, oldest first); empty for an unknown user."""
        row = self.user_ids.get_indexer([user_id])[0]
        return self.sequences[row] if row >= 0 else _EMPTY

    def negatives_of(self, user_id: str) -> set[int]:
        return self.negative.get(user_id, set())

    def last_times(self, rows: np.ndarray) -> np.ndarray:
        """Newest event time of each row (NaN for -1)."""
        return np.array([self.last_time[r] if r >= 0 else np.nan for r in rows])

    def most_recent(self, n: int) -> np.ndarray:
        """The ids of the ``n`` users active most recently."""
        order = np.argsort(-np.nan_to_num(self.last_time, nan=-np.inf), kind="stable")
        return self.user_ids[order[:n]]

    def history(
        self, rows: np.ndarray, n_items: int, sequences: list[np.ndarray] | None = None
    ) -> History:
        """The :class:`History` a scorer sees for ``rows`` (-1: an empty history), or for
        the given ``sequences`` in their place (what-if histories: the ranker's training
        lists, explanations)."""
        if sequences is None:
            sequences = [self.sequences[r] if r >= 0 else _EMPTY for r in rows]
        return History.of_sequences(sequences, n_items, rows)

    def update(self, events: pd.DataFrame, item_ids: pd.Index, policy: EventPolicy) -> None:
        """Apply validated events: negative feedback is remembered, positive items are
        appended in time order (each once; new users get a row). Events of items not in
        ``item_ids`` are left out.

        Every replica runs this for every event any replica stores, a few hundred at a
        time: the columns become plain arrays once, not a pandas step per operation."""
        events = events[events["item_id"].notna()]
        if not len(events):
            return
        times = events["timestamp"].to_numpy(np.float64, na_value=np.nan)
        order = np.argsort(times, kind="stable")  # unknown times last
        times = times[order]
        users = events["user_id"].to_numpy(object, na_value="")[order]
        cols = item_ids.get_indexer(events["item_id"].astype(str).to_numpy(object)[order])
        types, kind = np.unique(events["event_type"].to_numpy(object)[order].astype(str),
                                return_inverse=True)  # fmt: skip
        negative = np.array([policy.is_negative(t) for t in types])[kind] & (cols >= 0)
        for user, col in zip(users[negative].tolist(), cols[negative].tolist(), strict=True):
            self.negative.setdefault(str(user), set()).add(col)
        positive = np.array([policy.is_positive(t) for t in types])[kind] & (cols >= 0)
        users = [str(u) for u in users[positive].tolist()]
        cols, times = cols[positive], times[positive]
        new_users = [u for u in dict.fromkeys(users) if u not in self.user_ids]
        if new_users:
            self.user_ids.append(new_users)
            self.sequences += [_EMPTY for _ in new_users]
            self.last_time = np.r_[self.last_time, np.full(len(new_users), np.nan)]
        rows = self.user_ids.get_indexer(users)
        np.fmax.at(self.last_time, rows, times)
        added: dict[int, list[int]] = {}  # each user's new items, in time order, once
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            mine = added.setdefault(row, [])
            if col not in mine:
                mine.append(col)
        for row, mine in added.items():
            history = self.sequences[row]
            known = set(history.tolist())
            fresh = [c for c in mine if c not in known]
            if fresh:
                self.sequences[row] = np.concatenate([history, np.asarray(fresh, np.int64)])

    def remapped(self, item_ids: pd.Index, new_item_ids: pd.Index) -> UserHistories:
        """The same histories over another catalogue's columns (a new model of the same
        items): items ``new_item_ids`` lacks are left out. The copy shares no state
        that either changes in place (sequences are replaced, never written into), so
        over the same columns it costs a list copy, not a pass over every event."""
        copy = object.__new__(UserHistories)
        copy.user_ids = self.user_ids.copy()
        copy.last_time = self.last_time.copy()
        if new_item_ids.equals(item_ids):
            copy.sequences = list(self.sequences)
            copy.negative = {user: set(cols) for user, cols in self.negative.items()}
            return copy
        to_new = new_item_ids.get_indexer(item_ids)
        copy.sequences = []
        if self.sequences:
            mapped = to_new[np.concatenate(self.sequences)]
            kept = mapped >= 0
            # each user's kept columns: split where the next user's began
            ends = np.cumsum([len(s) for s in self.sequences])
            kept_before = np.concatenate([[0], np.cumsum(kept)])
            copy.sequences = np.split(mapped[kept], kept_before[ends[:-1]])
        copy.negative = {
            user: {int(to_new[c]) for c in cols if to_new[c] >= 0}
            for user, cols in self.negative.items()
        }
        return copy

    def forget(self, user_id: str, cols: np.ndarray | None = None) -> bool:
        """Remove ``cols`` (every item, when None) from the user's history and feedback;
        False when the user has no row."""
        row = self.user_ids.get_indexer([user_id])[0]
        if row < 0:
            return False
        if cols is None:
            self.sequences[row] = _EMPTY
            self.negative.pop(user_id, None)
            return True
        self.sequences[row] = self.sequences[row][~np.isin(self.sequences[row], cols)]
        self.negative.get(user_id, set()).difference_update(cols.tolist())
        return True

    def _add_negative(self, negative: pd.DataFrame, item_ids: pd.Index) -> None:
        cols = item_ids.get_indexer(negative["item_id"].astype(str))
        for user, col in zip(negative["user_id"].astype(str), cols, strict=True):
            if col >= 0:
                self.negative.setdefault(user, set()).add(int(col))
