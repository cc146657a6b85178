"""Fitted scorers shared between recommenders fitted on the same data.

An evaluation fits many recommenders on one split: the baselines, llmrec, its
ablations and every tuning trial. Most of them fit some of the same sources with the
same settings on the same events (the SASRec inside llmrec is the one inside its
"−content" ablation), so :class:`FitMemo` fits each (scorer settings, data) pair once
and hands out copies; a copy keeps one recommender's later changes (``add_items``)
from reaching another's. ``reused_seconds`` adds up the fitting time the hits saved, so
a caller can still report what each fit would have cost alone.
"""

from __future__ import annotations

import copy
import hashlib
import time

import numpy as np

from llmrec.models.base import Interactions, Scorer


class FitMemo:
    """``fit(scorer, data)`` as ``scorer.fit(data)``, computed once per distinct pair."""

    def __init__(self) -> None:
        self._fitted: dict[tuple[str, str, str], tuple[Scorer, float]] = {}
        self.hits = 0
        self.reused_seconds = 0.0

    def fit(self, scorer: Scorer, data: Interactions) -> Scorer:
        key = (type(scorer).__qualname__, _digest(vars(scorer)), fingerprint(data))
        if key in self._fitted:
            self.hits += 1
            self.reused_seconds += self._fitted[key][1]
        else:
            started = time.perf_counter()
            fitted = scorer.fit(data)
            self._fitted[key] = (fitted, time.perf_counter() - started)
        return copy.deepcopy(self._fitted[key][0])

    def __len__(self) -> int:
        return len(self._fitted)


def fingerprint(data: Interactions) -> str:
    """A digest of everything a scorer can learn from: who, what, in which order, when."""
    h = hashlib.blake2b(digest_size=16)
    for index in (data.user_ids, data.item_ids):
        h.update("\x1f".join(map(str, index)).encode())
    for array in (data.matrix.indptr, data.matrix.indices, data.matrix.data,
                  data.last_time, data.item_first_time):  # fmt: skip
        h.update(np.ascontiguousarray(array).tobytes())
    for sequences in (data.sequences, data.item_last_times):
        h.update(np.array([len(s) for s in sequences], np.int64).tobytes())
        if sequences:
            h.update(np.ascontiguousarray(np.concatenate(sequences)).tobytes())
    return h.hexdigest()


def _digest(settings: dict[str, object]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(settings):
        value = settings[name]
        h.update(name.encode())
        if isinstance(value, np.ndarray):
            h.update(f"{value.dtype}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()
