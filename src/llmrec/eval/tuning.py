"""Hyper-parameter tuning on a validation split carved from the training side.

The validation split applies the test split's own protocol to its training events (the
newest positive of each user for leave-last-one-out, another tenth of the items for
cold items, ...), so a setting is chosen the way it will be judged — and never on test
events. Grids are small on purpose: the main knob or two of each model, a handful of
values around the usual defaults.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from llmrec.engine import Engine, InProcess
from llmrec.eval.evaluate import evaluate_system
from llmrec.eval.splits import Split, make_split
from llmrec.recommender import Recommender


@dataclass(frozen=True, slots=True)
class Tuned:
    source: str
    params: dict[str, object]  # the best options (empty when there was nothing to tune)
    trials: pd.DataFrame  # one row per setting: its values and the validation metric
    metric: str = "ndcg@10"


def validation_split(split: Split, seed: int = 0) -> Split:
    """``split``'s protocol applied again to its own training events."""
    return make_split(split.name, split.train, seed=seed + 1)  # type: ignore[arg-type]


def tune(
    source: str,
    make: Callable[[], Recommender],
    grid: Mapping[str, Sequence[object]],
    validation: Split,
    items: pd.DataFrame | None = None,
    metric: str = "ndcg@10",
    progress: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> Tuned:
    """Fit ``make()`` with every combination of ``grid`` (options of ``source``, as its
    class's ``grid``) on ``validation.train`` and keep the one with the best ``metric`` on
    ``validation.test`` (the first one on ties). ``engine``: where the trials run (in this
    process by default; on Ray each trial is a task, and the split and the recommender
    are shipped once)."""
    if not grid:
        return Tuned(source, {}, pd.DataFrame(), metric)
    names = list(grid)
    trials = [dict(zip(names, values, strict=True))
              for values in itertools.product(*(grid[n] for n in names))]  # fmt: skip
    shared = (make(), source, validation, items, metric)
    rows: list[dict] = [{}] * len(trials)
    for index, row in (engine or InProcess()).map(_trial, shared, list(enumerate(trials))):
        rows[index] = row
        if progress is not None:
            progress(f"{source} {trials[index]}")
    best = max(range(len(rows)), key=lambda i: (rows[i][metric], -i))  # first of ties
    # the grid's own values: a frame row would turn an int setting into a float
    return Tuned(source, dict(trials[best]), pd.DataFrame(rows), metric)


def _trial(shared: tuple, params: dict[str, object]) -> dict[str, object]:
    """One setting of a grid, fitted and scored on the validation split (a function of
    this module: Ray ships it by reference)."""
    base, source, validation, items, metric = shared
    # a fresh copy per trial, sharing the (large, read-only) item vectors
    vectors = {id(base.item_vectors): base.item_vectors}
    system = copy.deepcopy(base, vectors).set_params(sources={source: params})
    result = evaluate_system(source, lambda: system, validation, items, ks=(10,))
    return {**params, metric: result.metrics[metric], "fit_s": result.fit_seconds}
