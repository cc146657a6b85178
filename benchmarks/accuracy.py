"""Offline accuracy of llmrec against the built-in baselines, side by side.

    python benchmarks/accuracy.py [--data ../shared/data] [--splits leave_last_one_out]
        [--systems llmrec,ease,...] [--out reports/accuracy]

MovieLens-100K, all ratings as implicit interactions. Each system is fitted on the
split's training events only and ranks every item the user has not had in training
(cold-items split: the held-out items only). Item text vectors come from the bundled
encoder, cached in ``--home``. Prints a table and writes ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.embed import load_encoder
from llmrec.embed.vectors import embed_items
from llmrec.eval.evaluate import evaluate, results_table
from llmrec.eval.splits import SPLITS, make_split
from llmrec.recommender import Recommender
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
console = Console(width=160)


def systems(vectors: pd.DataFrame) -> dict:
    def rec(**options):
        return lambda: Recommender(item_vectors=vectors, **options)

    return {
        "MostPop": rec(sources=("popular",), ranker=False),
        "ItemKNN": rec(sources=("itemknn",), ranker=False),
        "EASE": rec(sources=("ease",), ranker=False),
        "ALS": rec(sources=("als",), ranker=False),
        "BPR": rec(sources=("bpr",), ranker=False),
        "SASRec": rec(sources=("sasrec",), ranker=False),
        "CoVisit": rec(sources=("covisit",), ranker=False),
        "Content": rec(sources=("content",), ranker=False),
        "Content→CF": rec(sources=("content_cf",), ranker=False),
        "llmrec": rec(),
        "llmrec −ranker (RRF)": rec(ranker=False),
        "llmrec −content": rec(sources=("ease", "sasrec", "covisit", "itemknn", "popular")),
        "llmrec refit": rec(refit_sources=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--home", type=Path, default=REPO / ".llmrec-bench" / "ml-100k")
    parser.add_argument("--splits", default="leave_last_one_out")
    parser.add_argument("--systems", default=None, help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "accuracy")
    args = parser.parse_args()

    settings = load_settings(home=args.home)
    args.home.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.effective_database_url)
    if store.counts().get("events", 0) == 0:
        load_dataset("ml-100k", store, settings, args.data / "ml-100k")
    items, events = store.items_frame(), store.events_frame()
    vectors, _ = embed_items(
        store,
        load_encoder(settings.embed),
        settings.embed.model_copy(update={"item_template": "{title}. {tags}. {description}"}),
        items,
    )
    vector_frame = pd.DataFrame(vectors.vectors, index=vectors.item_ids)
    chosen = systems(vector_frame)
    if args.systems:
        chosen = {k: v for k, v in chosen.items() if k in args.systems.split(",")}
    names = [s.strip() for s in args.splits.split(",")]
    unknown = set(names) - set(SPLITS)
    if unknown:
        parser.error(f"unknown split(s) {sorted(unknown)}; known: {', '.join(SPLITS)}")
    splits = [make_split(n, events, settings.event_weights) for n in names]
    started = time.perf_counter()
    with Progress(console=console) as progress:
        task = progress.add_task("evaluating", total=len(splits) * len(chosen))
        results = []
        for split in splits:
            for name, make in chosen.items():
                progress.update(task, description=f"{split.name}: {name}")
                results += evaluate({name: make}, [split], items)
                progress.advance(task)
    columns = [
        "ndcg@10",
        "recall@10",
        "hit_rate@10",
        "mrr",
        "coverage@10",
        "diversity@10",
        "novelty@10",
    ]
    table = results_table(results, columns)
    view = Table(title=f"ML-100K, full ranking ({time.perf_counter() - started:.0f} s in all)")
    for column in table.columns:
        view.add_column(column, justify="left" if column in ("split", "system") else "right")
    for row in table.itertuples(index=False):
        view.add_row(
            *[
                f"{v:.4f}" if isinstance(v, float) and c not in ("fit_s",) else str(v)
                for c, v in zip(table.columns, row, strict=True)
            ]
        )
    console.print(view)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps(
            [
                {
                    "split": r.split,
                    "system": r.system,
                    "fit_seconds": r.fit_seconds,
                    "recommend_seconds": r.recommend_seconds,
                    **r.metrics,
                }
                for r in results
            ],
            indent=2,
        )
    )
    console.print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
