"""Offline accuracy of llmrec against the built-in baselines, side by side.

    python benchmarks/accuracy.py [--data ../shared/data] [--splits leave_last_one_out,...]
        [--systems llmrec,EASE,...] [--out reports/accuracy]

MovieLens-100K, all ratings as implicit interactions (loaded once into ``--home``; item
text vectors are cached there). Each system is fitted on the split's training events only
and ranks every item the user has not had in training (cold-items split: the held-out
items only). Prints a table; writes report.md, PNG plots and results.json to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.eval.evaluate import results_table
from llmrec.eval.pipeline import run_evaluation
from llmrec.eval.report import TABLE_COLUMNS
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
console = Console(width=160)


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
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:  # fmt: skip
        task = progress.add_task("evaluating", total=None)

        def step(label: str, total: int) -> None:
            if progress.tasks[task].total is not None:
                progress.advance(task)
            progress.update(task, description=label, total=total)

        results, report = run_evaluation(
            store, settings, args.out, args.splits.split(","),
            args.systems.split(",") if args.systems else None, progress=step,
            title="MovieLens-100K, full ranking",
        )  # fmt: skip
    table = results_table([r for r in results if r.diversity is None], TABLE_COLUMNS)
    view = Table(title=f"ML-100K, full ranking ({time.perf_counter() - started:.0f} s in all)")
    for column in table.columns:
        view.add_column(column, justify="left" if column in ("split", "system") else "right")
    for row in table.itertuples(index=False):
        view.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(view)
    console.print(f"report: {report}")


if __name__ == "__main__":
    main()
