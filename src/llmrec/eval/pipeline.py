"""The whole evaluation from a store: item vectors (cached), splits, every system,
the MMR diversity curve, and the report. Used by ``llmrec evaluate`` and
``benchmarks/accuracy.py``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from llmrec.config import Settings
from llmrec.eval.evaluate import SystemResult, evaluate_system, score_fitted
from llmrec.eval.report import write_report
from llmrec.eval.splits import SPLITS, make_split
from llmrec.recommender import Recommender
from llmrec.store import Store
from llmrec.training import build_recommender, item_vector_frame

ORIGINAL_TEXT = "{title}. {tags}. {description}"
NO_CONTENT = ("ease", "sasrec", "covisit", "itemknn", "popular")


def systems(
    vectors: pd.DataFrame | None,
    enriched: pd.DataFrame | None = None,
    settings: Settings | None = None,
) -> dict:
    """Baselines (one source, no ranker), llmrec (as ``settings.recommender`` configures
    it, the model ``llmrec train`` fits), and its ablations, by name."""

    def rec(v=vectors, **options) -> Callable[[], Recommender]:
        return lambda: Recommender(item_vectors=v, **options)

    chosen = {
        "MostPop": rec(sources=("popular",), ranker=False),
        "ItemKNN": rec(sources=("itemknn",), ranker=False),
        "EASE": rec(sources=("ease",), ranker=False),
        "ALS": rec(sources=("als",), ranker=False),
        "BPR": rec(sources=("bpr",), ranker=False),
        "SASRec": rec(sources=("sasrec",), ranker=False),
        "CoVisit": rec(sources=("covisit",), ranker=False),
        "Content": rec(sources=("content",), ranker=False),
        "Content→CF": rec(sources=("content_cf",), ranker=False),
        "llmrec": (lambda: build_recommender(settings, vectors)) if settings else rec(),
        "llmrec −ranker (RRF)": rec(ranker=False),
        "llmrec −content": rec(sources=NO_CONTENT),
    }
    if enriched is not None:
        chosen["llmrec +LLM text"] = rec(enriched)
    return chosen


def run_evaluation(
    store: Store,
    settings: Settings,
    out: str | Path,
    split_names: Sequence[str] = ("leave_last_one_out",),
    system_names: Sequence[str] | None = None,
    diversities: Sequence[float] = (0.0, 0.2, 0.4, 0.6),
    seed: int = 0,
    progress: Callable[[str, int], None] | None = None,
    title: str = "llmrec offline evaluation",
) -> tuple[list[SystemResult], Path]:
    """Evaluate on the store's events; ``progress(label, total)`` is told each step."""
    unknown = set(split_names) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; known: {', '.join(SPLITS)}")
    items, events = store.items_frame(), store.events_frame()
    if events.empty:
        raise ValueError("the store has no events to evaluate on")
    vectors = item_vector_frame(store, settings, ORIGINAL_TEXT) if not items.empty else None
    enriched = None
    if not store.item_texts_frame().empty:
        enriched = item_vector_frame(store, settings)
    chosen = systems(vectors, enriched, settings)
    if system_names:
        missing = set(system_names) - set(chosen)
        if missing:
            raise ValueError(f"unknown system(s) {sorted(missing)}; known: {', '.join(chosen)}")
        chosen = {k: v for k, v in chosen.items() if k in system_names}
    splits = [make_split(n, events, settings.event_weights, seed=seed) for n in split_names]
    catalogue = items if not items.empty else None
    results = []
    total = len(splits) * len(chosen)
    for split in splits:
        for name, make in chosen.items():
            if progress is not None:
                progress(f"{split.name}: {name}", total)
            if name != "llmrec" or not diversities:
                results.append(evaluate_system(name, make, split, catalogue))
                continue
            # One fit, several MMR strengths: λ only changes the final re-ranking.
            system = make()
            started = time.perf_counter()
            system.fit(split.train, catalogue)
            fit_seconds = time.perf_counter() - started
            results.append(score_fitted(name, system, split, catalogue, fit_seconds=fit_seconds))
            for lam in diversities:
                results.append(
                    score_fitted(
                        name, system, split, catalogue, fit_seconds=fit_seconds, diversity=lam
                    )
                )
    return results, write_report(results, out, title)
