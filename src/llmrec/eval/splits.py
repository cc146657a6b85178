"""Train/test splits of an events frame, deterministic for a given seed.

- ``leave_last_one_out``: each user's newest positive event is the test (users with at
  least ``min_train + 1`` positive events).
- ``temporal_user``: each user's newest ``test_fraction`` of positive events (at least one).
- ``global_time``: every event after the ``1 − test_fraction`` time quantile is test;
  test rows of users or items absent from training are dropped (nothing to learn them from).
- ``cold_items``: ``test_fraction`` of the items, drawn at random, are held out with all
  their events; their positive events are the test, to be ranked among the held-out items.
- ``random_user``: a random ``test_fraction`` of each user's positive events (at least
  one), for events without timestamps (Last.fm play counts), where "newest" means nothing.

Ties in time keep the input order; the time-based splits refuse events without a
timestamp. The test side holds only positive events of items the user did not already
have in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from llmrec.data.events import EventPolicy

SplitName = Literal[
    "leave_last_one_out", "temporal_user", "global_time", "cold_items", "random_user"
]
SPLITS: tuple[SplitName, ...] = (
    "leave_last_one_out", "temporal_user", "global_time", "cold_items", "random_user"
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    candidates: pd.Index | None = None  # items to rank (cold items); None: all

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``train.parquet``, ``test.parquet`` (and ``candidates.parquet``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "train.parquet", folder / "test.parquet"]
        self.train.to_parquet(paths[0], index=False)
        self.test.to_parquet(paths[1], index=False)
        if self.candidates is not None:
            paths.append(folder / "candidates.parquet")
            pd.DataFrame({"item_id": self.candidates}).to_parquet(paths[-1], index=False)
        return paths


def _positive(events: pd.DataFrame, weights: Mapping[str, float] | None) -> np.ndarray:
    if weights is None:
        return np.ones(len(events), dtype=bool)
    return EventPolicy(weights).positive_mask(events["event_type"])


def _time_ordered(events: pd.DataFrame, split: str) -> pd.DataFrame:
    times = pd.to_numeric(events["timestamp"], errors="coerce").astype("float64").to_numpy()
    undated = np.isnan(times)
    if undated.any():
        types = sorted(map(str, pd.unique(events["event_type"][undated])))
        raise ValueError(
            f"the {split} split orders events by time, but {int(undated.sum())} of "
            f"{len(events)} events have no timestamp (event types: {', '.join(types)}); "
            "use the random_user or cold_items split for undated events"
        )
    return events.iloc[np.lexsort((np.arange(len(events)), times))]


def _clean_test(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Drop repeats of training pairs and duplicate test pairs."""
    seen = pd.MultiIndex.from_frame(train[["user_id", "item_id"]])
    pairs = pd.MultiIndex.from_frame(test[["user_id", "item_id"]])
    test = test[~pairs.isin(seen)]
    return test.drop_duplicates(["user_id", "item_id"], keep="first")


def leave_last_one_out(
    events: pd.DataFrame, weights: Mapping[str, float] | None = None, min_train: int = 2
) -> Split:
    ordered = _time_ordered(events, "leave_last_one_out")
    positive = ordered[_positive(ordered, weights)]
    counts = positive.groupby("user_id", sort=False)["item_id"].transform("size")
    last = positive[counts > min_train].groupby("user_id", sort=False).tail(1)
    train = ordered.drop(index=last.index)
    return Split("leave_last_one_out", train, _clean_test(train, last))


def temporal_user(
    events: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    test_fraction: float = 0.2,
    min_events: int = 5,
) -> Split:
    ordered = _time_ordered(events, "temporal_user")
    positive = ordered[_positive(ordered, weights)]
    grouped = positive.groupby("user_id", sort=False)["item_id"]
    size = grouped.transform("size")
    position = grouped.cumcount(ascending=False)  # 0 = newest
    n_test = np.maximum(1, np.floor(size * test_fraction)).astype(int)
    test = positive[(size >= min_events) & (position < n_test)]
    train = ordered.drop(index=test.index)
    return Split("temporal_user", train, _clean_test(train, test))


def global_time(
    events: pd.DataFrame, weights: Mapping[str, float] | None = None, test_fraction: float = 0.2
) -> Split:
    ordered = _time_ordered(events, "global_time")
    cut = ordered["timestamp"].quantile(1 - test_fraction)
    later = ordered["timestamp"] > cut
    train, test = ordered[~later], ordered[later]
    test = test[_positive(test, weights)]
    test = test[test["user_id"].isin(train["user_id"]) & test["item_id"].isin(train["item_id"])]
    return Split("global_time", train, _clean_test(train, test))


def cold_items(
    events: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> Split:
    items = pd.unique(events["item_id"])
    rng = np.random.default_rng(seed)
    held = pd.Index(
        rng.choice(items, size=max(1, round(len(items) * test_fraction)), replace=False)
    )
    cold = events["item_id"].isin(held).to_numpy()
    train, test = events[~cold], events[cold]
    test = test[_positive(test, weights) & test["user_id"].isin(train["user_id"]).to_numpy()]
    return Split("cold_items", train, _clean_test(train, test), candidates=held)


def random_user(
    events: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    test_fraction: float = 0.2,
    min_events: int = 5,
    seed: int = 0,
) -> Split:
    positive = events[_positive(events, weights)]
    shuffled = positive.sample(frac=1.0, random_state=np.random.default_rng(seed))
    grouped = shuffled.groupby("user_id", sort=False)["item_id"]
    size = grouped.transform("size")
    n_test = np.maximum(1, np.floor(size * test_fraction)).astype(int)
    test = shuffled[(size >= min_events) & (grouped.cumcount() < n_test)]
    train = events.drop(index=test.index)
    return Split("random_user", train, _clean_test(train, test.sort_index()))


def make_split(
    name: SplitName,
    events: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Split:
    if name == "leave_last_one_out":
        return leave_last_one_out(events, weights)
    if name == "temporal_user":
        return temporal_user(events, weights)
    if name == "global_time":
        return global_time(events, weights)
    if name == "cold_items":
        return cold_items(events, weights, seed=seed)
    if name == "random_user":
        return random_user(events, weights, seed=seed)
    raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
