"""The whole evaluation from a store: item vectors (cached), splits, every system,
the MMR diversity curve, and the report. Used by ``llmrec evaluate`` and
``benchmarks/accuracy.py``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from llmrec.config import Settings
from llmrec.engine import Engine
from llmrec.eval.evaluate import (
    SystemResult,
    candidate_recall,
    evaluate_system,
    score_fitted,
    source_ndcg,
)
from llmrec.eval.report import CANDIDATE_RECALL, RANKER_HOLDOUT, SOURCE_NDCG, write_report
from llmrec.eval.splits import SPLITS, make_split
from llmrec.eval.tuning import tune, validation_split
from llmrec.models import SOURCES
from llmrec.models.ease import EASE
from llmrec.models.memo import FitMemo
from llmrec.models.text_ease import TextPriorEASE
from llmrec.recommender import CONTENT_SOURCES, DEFAULT_SOURCES, Recommender
from llmrec.store import Store
from llmrec.store.store import LAST_EVALUATION
from llmrec.training import build_recommender, generated_vector_frame, item_vector_frame

ORIGINAL_TEXT = "{title}. {tags}. {description}"
# The LLM's text mixed into the item's own (embed.item_template's default before it got
# vectors of its own): an ablation.
MIXED_TEXT = "{title}. {tags}. {description} {generated_description} {keywords}"
GENERATED_SOURCES = ("content_llm", "content_cf_llm")
NO_CONTENT = ("ease", "sasrec", "covisit", "itemknn", "popular")
TEXT_FREE = "llmrec −content"  # llmrec without any item text
# The text prior's controls: its EASE without the text (the prior's l2, every item), and
# the prior at EASE's own l2.
_PRIOR_WITHOUT_TEXT = {
    s: {"l2": TextPriorEASE.Config().l2, "min_item_users": 1} if s == "ease" else {}
    for s in NO_CONTENT
}
_PRIOR_AT_EASE_L2 = {
    "ease_text" if s == "ease" else s: {"l2": EASE.Config().l2} if s == "ease" else {}
    for s in DEFAULT_SOURCES
}
BASELINES = frozenset(
    {"MostPop", "ItemKNN", "EASE", "EASE+text", "ALS", "BPR", "SASRec", "CoVisit", "Content",
     "Content→CF", "LLM text→CF"}
)  # fmt: skip


def systems(
    vectors: pd.DataFrame | None,
    enriched: pd.DataFrame | None = None,
    settings: Settings | None = None,
    generated: pd.DataFrame | None = None,
) -> dict:
    """Baselines (one source, no ranker), llmrec (as ``settings.recommender`` configures
    it, the model ``llmrec train`` fits), and its ablations, by name, each at the
    settings' seed. ``enriched``: item
    vectors of the item's text and the LLM's together; ``generated``: vectors of the
    LLM's text alone."""

    seed = settings.recommender.seed if settings is not None else 0

    def rec(v=vectors, **options) -> Callable[[], Recommender]:
        return lambda: Recommender(item_vectors=v, seed=seed, **options)

    chosen = {
        "MostPop": rec(sources=("popular",), ranker=False),
        "ItemKNN": rec(sources=("itemknn",), ranker=False),
        "EASE": rec(sources=("ease",), ranker=False),
        "EASE+text": rec(sources=("ease_text",), ranker=False),
        "ALS": rec(sources=("als",), ranker=False),
        "BPR": rec(sources=("bpr",), ranker=False),
        "SASRec": rec(sources=("sasrec",), ranker=False),
        "CoVisit": rec(sources=("covisit",), ranker=False),
        "Content": rec(sources=("content",), ranker=False),
        "Content→CF": rec(sources=("content_cf",), ranker=False),
        "llmrec": (lambda: build_recommender(settings, vectors, generated)) if settings else rec(),
        "llmrec −ranker (RRF)": rec(ranker=False),
        TEXT_FREE: rec(sources=NO_CONTENT),
        "llmrec +text prior": rec(sources=(*DEFAULT_SOURCES, "ease_text")),
        "llmrec text-prior EASE": rec(
            sources=tuple("ease_text" if s == "ease" else s for s in DEFAULT_SOURCES)
        ),
        "llmrec −content (EASE l2 100)": rec(sources=_PRIOR_WITHOUT_TEXT),
        "llmrec text-prior EASE (l2 500)": rec(sources=_PRIOR_AT_EASE_L2),
    }
    if enriched is not None:
        chosen["llmrec +LLM text mixed"] = rec(enriched)
    if generated is not None:
        chosen["llmrec +LLM text"] = rec(sources=(*DEFAULT_SOURCES, *GENERATED_SOURCES),
                                         generated_vectors=generated)  # fmt: skip
        chosen["LLM text→CF"] = rec(sources=("content_cf_llm",), ranker=False,
                                    generated_vectors=generated)  # fmt: skip
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
    tune_sources: bool = True,
    event_types: Sequence[str] | None = None,
    engine: Engine | None = None,
) -> tuple[list[SystemResult], Path]:
    """Evaluate on the store's events (only those of ``event_types`` when given);
    ``progress(label, total)`` is told each step.

    With ``tune_sources``, the source of each chosen baseline is tuned (its class's ``grid``) on
    a validation split of each split's training events and the baseline is fitted with
    the chosen settings. llmrec and its ablations run as ``settings`` configure them —
    the model ``llmrec train`` fits — so their numbers describe what a user gets.
    ``engine``: where the tuning trials run (:func:`~llmrec.eval.tuning.tune`); the
    systems are fitted here, where their shared fits are reused. Each finished trial is
    kept in ``out/tuning-trials``: a rerun after a kill scores only those it lacks."""
    unknown = set(split_names) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; known: {', '.join(SPLITS)}")
    items, events = store.items_frame(), store.events_frame()
    if event_types:
        events = events[events["event_type"].isin(event_types)].reset_index(drop=True)
    if events.empty:
        kinds = f" of type {', '.join(event_types)}" if event_types else ""
        raise ValueError(f"the store has no events{kinds} to evaluate on")
    vectors = item_vector_frame(store, settings, ORIGINAL_TEXT) if not items.empty else None
    enriched = generated = None
    if not store.item_texts_frame().empty:
        enriched = item_vector_frame(store, settings, MIXED_TEXT)
        generated = generated_vector_frame(store, settings)
    chosen = systems(vectors, enriched, settings, generated)
    if system_names:
        missing = set(system_names) - set(chosen)
        if missing:
            raise ValueError(f"unknown system(s) {sorted(missing)}; known: {', '.join(chosen)}")
        chosen = {k: v for k, v in chosen.items() if k in system_names}
    splits = [make_split(n, events, settings.event_weights, seed=seed) for n in split_names]
    # Score ties a system leaves fall to catalogue order; shuffled, so that no system is
    # credited with the item-id order (on ML-100K it tracks popularity:
    # docs/decisions/recommender.md).
    catalogue = items.sample(frac=1.0, random_state=seed) if not items.empty else None
    used = {s for name, make in chosen.items() if name in BASELINES for s in make().sources}
    grids = {s: SOURCES[s].grid for s in SOURCES if s in used and SOURCES[s].grid}
    if not tune_sources:
        grids = {}
    trials = sum(math.prod(len(v) for v in g.values()) for g in grids.values())
    # On cold items only content can score the held-out items: the collaborative
    # sources have nothing to tune there, and systems without content are left out
    # (MostPop stays as the floor).
    scores_new_items = {
        name for name, make in chosen.items() if CONTENT_SOURCES & set(make().sources)
    } | {"MostPop"}
    per_split = {
        split.name: {
            name: make
            for name, make in chosen.items()
            if split.candidates is None or name in scores_new_items
        }
        for split in splits
    }
    if not any(per_split.values()):
        raise ValueError(
            "nothing to evaluate: on the cold_items split only systems with a source that "
            f"reads item text (or MostPop, the floor) can score new items; "
            f"{', '.join(sorted(chosen))} cannot"
        )
    total = sum(len(per_split[s.name]) + (trials if s.candidates is None else 0) for s in splits)

    def step(label: str) -> None:
        if progress is not None:
            progress(label, total)

    results, tuned = [], []
    for split in splits:
        memo = FitMemo()  # sources fitted once per split, shared by every system
        if grids and split.candidates is None:
            validation = validation_split(split, seed)
            for source, grid in grids.items():
                found = tune(
                    source,
                    lambda s=source, memo=memo: Recommender(
                        item_vectors=vectors, sources=(s,), ranker=False, fit_memo=memo
                    ),
                    grid,
                    validation,
                    catalogue,
                    progress=lambda label, name=split.name: step(f"{name}: tuning {label}"),
                    engine=engine,
                    kept=Path(out) / "tuning-trials",
                )
                tuned.append((split.name, found))
        params = {found.source: found.params for name, found in tuned if name == split.name}
        for name, make in per_split[split.name].items():
            step(f"{split.name}: {name}")

            def configured(make=make, params=params, memo=memo, name=name) -> Recommender:
                system = make().set_params(fit_memo=memo)
                if name not in BASELINES:
                    return system
                return system.set_params(sources={s: params.get(s, {}) for s in system.sources})

            # fit times as if alone: a source another system fitted counts again
            reused = memo.reused_seconds
            if name != "llmrec" or not diversities:
                result = evaluate_system(name, configured, split, catalogue)
                result.fit_seconds += memo.reused_seconds - reused
                results.append(result)
                continue
            # One fit, several MMR strengths: λ only changes the final re-ranking.
            system = configured()
            started = time.perf_counter()
            system.fit(split.train, catalogue)
            fit_seconds = time.perf_counter() - started + memo.reused_seconds - reused
            result = score_fitted(name, system, split, catalogue, fit_seconds=fit_seconds)
            if split.candidates is None:
                # the pool the ranker chooses from bounds what it can find
                recall = candidate_recall(system, split)
                result.metrics.update({f"{CANDIDATE_RECALL}:{s}": v for s, v in recall.items()})
                alone = source_ndcg(system, split)
                result.metrics.update({f"{SOURCE_NDCG}:{s}": v for s, v in alone.items()})
                if system.ranker_ is not None:
                    held = system.ranker_.holdout_ndcg_
                    result.metrics.update({f"{RANKER_HOLDOUT}:{s}": v for s, v in held.items()})
            results.append(result)
            for lam in diversities:
                results.append(
                    score_fitted(
                        name, system, split, catalogue, fit_seconds=fit_seconds, diversity=lam
                    )
                )
    # what text adds is read against llmrec without it, user by user
    report = write_report(results, out, title, tuned, reference=TEXT_FREE)
    store.set_meta(LAST_EVALUATION, evaluation_summary(results, report))
    return results, report


def evaluation_summary(results: Sequence[SystemResult], report: Path) -> dict:
    """What the dashboard shows of an evaluation: when, where its report is, and each
    system's main metrics per split (the configured diversity only)."""
    rows = [
        {"split": r.split, "system": r.system,
         "users": len(r.per_user) if r.per_user is not None else None}
        | {m: _finite(r.metrics.get(m)) for m in ("ndcg@10", "recall@10", "mrr", "coverage@10")}
        for r in results
        if r.diversity is None
    ]
    return {"at": time.time(), "report": str(report), "rows": rows}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
