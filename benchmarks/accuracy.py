"""Offline accuracy of llmrec against the built-in baselines, side by side.

    python benchmarks/accuracy.py [--dataset movielens-100k] [--data ../shared/data]
        [--splits leave_last_one_out,...] [--systems llmrec,EASE,...] [--out reports/accuracy]
        [--no-tune] [--event-types play,...] [--seed 0]

MovieLens-100K by default (also movielens-latest-small, amazon-2018-magazine-subscriptions,
and lastfm-2k, whose plays are undated: ``--splits random_user --event-types play``), all
ratings or plays as implicit interactions (loaded once into ``--home``; item text vectors
are cached there). Each system is fitted on the split's training events only and ranks
every item the user has not had in training (cold-items split: the held-out items only).
Prints a table; writes report.md, PNG plots and results.json to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmrec.config import Settings, load_settings
from llmrec.data.datasets import load_dataset
from llmrec.eval.evaluate import results_table
from llmrec.eval.pipeline import run_evaluation
from llmrec.eval.report import TABLE_COLUMNS
from llmrec.progress import progress_display
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {
    "movielens-100k": "ml-100k",
    "movielens-latest-small": "ml-latest-small",
    "lastfm-2k": "hetrec2011-lastfm-2k",
    "amazon-2018-magazine-subscriptions": "amazon-2018-magazine-subscriptions",
}
console = Console(width=160)


def bench_store(dataset: str, data: Path, home: Path | None = None) -> tuple[Settings, Store]:
    """The settings and store of ``dataset`` in ``home`` (default
    ``.llmrec-bench/<dataset>``), the dataset loaded from ``data`` on first use."""
    home = home or REPO / ".llmrec-bench" / dataset
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=home)
    store = Store.open(settings.effective_database_url)
    if store.counts().get("events", 0) == 0:
        load_dataset(dataset, store, settings, data / FOLDERS[dataset])
    return settings, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--dataset", choices=sorted(FOLDERS), default="movielens-100k")
    parser.add_argument("--home", type=Path, default=None, help=".llmrec-bench/<dataset>")
    parser.add_argument("--splits", default="leave_last_one_out")
    parser.add_argument("--systems", default=None, help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "accuracy")
    parser.add_argument("--no-tune", action="store_true", help="sources at their defaults")
    parser.add_argument("--event-types", default=None, help="comma-separated; default all")
    parser.add_argument("--seed", type=int, default=0, help="the split's, the catalogue "
                        "order's and every recommender's seed")  # fmt: skip
    args = parser.parse_args()

    settings, store = bench_store(args.dataset, args.data, args.home)
    recommender = settings.recommender.model_copy(update={"seed": args.seed})
    settings = settings.model_copy(update={"recommender": recommender})
    started = time.perf_counter()
    with progress_display(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as progress:  # fmt: skip
        task = progress.add_task("evaluating", total=None)

        def step(label: str, total: int) -> None:
            if progress.tasks[task].total is not None:
                progress.advance(task)
            progress.update(task, description=label, total=total)

        results, report = run_evaluation(
            store, settings, args.out, args.splits.split(","),
            args.systems.split(",") if args.systems else None, progress=step,
            title=f"{args.dataset}, full ranking", tune_sources=not args.no_tune,
            event_types=args.event_types.split(",") if args.event_types else None,
            seed=args.seed,
        )  # fmt: skip
    table = results_table([r for r in results if r.diversity is None], TABLE_COLUMNS)
    seconds = time.perf_counter() - started
    view = Table(title=f"{args.dataset}, full ranking ({seconds:.0f} s in all)")
    for column in table.columns:
        view.add_column(column, justify="left" if column in ("split", "system") else "right")
    for row in table.itertuples(index=False):
        view.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(view)
    console.print(f"report: {report}")


if __name__ == "__main__":
    main()
