"""Popularity: how many users interacted with each item, optionally recency-decayed
(trending). The last-resort source for users nobody knows."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from llmrec.models.base import History, Interactions, Scorer, SourceConfig

_SECONDS_PER_DAY = 86_400.0


class MostPopular(Scorer):
    """``half_life_days=None``: all-time counts; otherwise each interaction loses half
    its weight per half-life before the newest event (trending)."""

    name = "popular"

    class Config(SourceConfig):
        half_life_days: float | None = Field(None, gt=0, description="None: all-time counts")

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days

    def _fit(self, data: Interactions) -> None:
        if self.half_life_days is None:
            counts = np.asarray(data.matrix.sum(axis=0)).ravel()
        else:
            counts = np.zeros(data.n_items)
            now = data.now
            for items, times in zip(data.sequences, data.item_last_times, strict=True):
                age = np.clip(now - np.nan_to_num(times, nan=now), 0, None) / _SECONDS_PER_DAY
                np.add.at(counts, items, 0.5 ** (age / self.half_life_days))
        self.n_items_ = data.n_items
        self.item_scores_ = (counts / max(counts.max(), 1e-12)).astype(np.float32)

    def _score(self, history: History) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(history), self.n_items_)).copy()
