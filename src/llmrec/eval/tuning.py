"""Hyper-parameter tuning on a validation split carved from the training side.

The validation split applies the test split's own protocol to its training events (the
newest positive of each user for leave-last-one-out, another tenth of the items for
cold items, ...), so a setting is chosen the way it will be judged — and never on test
events. Grids are small on purpose: the main knob or two of each model, a handful of
values around the usual defaults.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from llmrec import __version__
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
    kept: Path | None = None,
) -> Tuned:
    """Fit ``make()`` with every combination of ``grid`` (options of ``source``, as its
    class's ``grid``) on ``validation.train`` and keep the one with the best ``metric`` on
    ``validation.test`` (the first one on ties). ``engine``: where the trials run (in this
    process by default; on Ray each trial is a task, and the split and the recommender
    are shipped once). ``kept``: a folder where each finished trial is written at once,
    under a key of the data, the recommender and the setting: a rerun after a kill
    scores only the trials it lacks."""
    if not grid:
        return Tuned(source, {}, pd.DataFrame(), metric)
    names = list(grid)
    trials = [dict(zip(names, values, strict=True))
              for values in itertools.product(*(grid[n] for n in names))]  # fmt: skip
    shared = (make(), source, validation, items, metric)
    keys = _trial_keys(shared, trials) if kept is not None else [None] * len(trials)
    rows: list[dict | None] = [_kept_row(kept, key) for key in keys]
    for params, row in zip(trials, rows, strict=True):
        if row is not None and progress is not None:
            progress(f"{source} {params} (kept)")
    todo = [(i, params) for i, params in enumerate(trials) if rows[i] is None]
    for index, row in (engine or InProcess()).map(_trial, shared, todo):
        rows[index] = row
        if kept is not None:
            kept.mkdir(parents=True, exist_ok=True)
            temporary = kept / f".{keys[index]}.tmp"
            temporary.write_text(json.dumps(row))
            os.replace(temporary, kept / f"{keys[index]}.json")
        if progress is not None:
            progress(f"{source} {trials[index]}")
    best = max(range(len(rows)), key=lambda i: (rows[i][metric], -i))  # first of ties
    # the grid's own values: a frame row would turn an int setting into a float
    return Tuned(source, dict(trials[best]), pd.DataFrame(rows), metric)


def _trial_keys(shared: tuple, trials: list[dict[str, object]]) -> list[str]:
    """A key per trial: what it is fitted on and scored against (the split's events,
    the catalogue's order, the item vectors), the recommender's settings and its own."""
    base, source, validation, items, metric = shared
    digest = hashlib.sha256()
    for frame in (validation.train, validation.test):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    if items is not None:
        digest.update("\n".join(map(str, items["item_id"])).encode())
    if base.item_vectors is not None:
        digest.update(pd.util.hash_pandas_object(base.item_vectors).to_numpy().tobytes())
    runtime = ("item_vectors", "fit_memo", "encoder")
    settings = {k: v for k, v in vars(base).items()
                if k not in runtime and not k.startswith("_") and not k.endswith("_")}  # fmt: skip
    common = [__version__, validation.name, source, metric, repr(sorted(settings.items())),
              digest.hexdigest()]  # fmt: skip
    return [hashlib.sha256(json.dumps([*common, repr(sorted(params.items()))]).encode())
            .hexdigest()[:32] for params in trials]  # fmt: skip


def _kept_row(kept: Path | None, key: str | None) -> dict | None:
    if kept is None or key is None:
        return None
    path = kept / f"{key}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _trial(shared: tuple, params: dict[str, object]) -> dict[str, object]:
    """One setting of a grid, fitted and scored on the validation split (a function of
    this module: Ray ships it by reference)."""
    base, source, validation, items, metric = shared
    # a fresh copy per trial, sharing the (large, read-only) item vectors
    vectors = {id(base.item_vectors): base.item_vectors}
    system = copy.deepcopy(base, vectors).set_params(sources={source: params})
    result = evaluate_system(source, lambda: system, validation, items, ks=(10,))
    return {**params, metric: result.metrics[metric], "fit_s": result.fit_seconds}
