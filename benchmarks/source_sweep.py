"""One candidate source alone over a grid of its options, on a validation split.

    python benchmarks/source_sweep.py --source ease_text \\
        --grid '{"l2": [100, 500], "prior": [0, 30, 1000]}' [--split leave_last_one_out]
        [--test] [--dataset movielens-100k] [--data ../shared/data]

Each combination is the source alone (no ranker), fitted on the validation split cut
from the split's training events (as the evaluation's tuning does) and scored there;
``--test`` scores on the split itself instead (exploration only: choosing on it flatters
the choice). The cold-items split has no validation split: it is always scored on the
test items. Prints a table of NDCG@10, recall@10 and fit seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from accuracy import FOLDERS, REPO, bench_store  # benchmarks/, the script's folder
from llmrec.eval.evaluate import evaluate_system
from llmrec.eval.pipeline import ORIGINAL_TEXT
from llmrec.eval.splits import SPLITS, make_split
from llmrec.eval.tuning import validation_split
from llmrec.models import SOURCES
from llmrec.progress import progress_display
from llmrec.recommender import Recommender
from llmrec.training import item_vector_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), required=True)
    parser.add_argument("--grid", required=True, help='JSON: {"option": [values], ...}')
    parser.add_argument("--split", choices=sorted(SPLITS), default="leave_last_one_out")
    parser.add_argument("--test", action="store_true", help="score on the split itself")
    parser.add_argument("--dataset", choices=sorted(FOLDERS), default="movielens-100k")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    grid = json.loads(args.grid)
    unknown = set(grid) - set(SOURCES[args.source].Config.model_fields)
    if unknown:
        parser.error(f"{args.source} has no option(s) {sorted(unknown)}")

    settings, store = bench_store(args.dataset, args.data)
    items, events = store.items_frame(), store.events_frame()
    vectors = item_vector_frame(store, settings, ORIGINAL_TEXT) if not items.empty else None
    catalogue = items.sample(frac=1.0, random_state=args.seed) if not items.empty else None
    split = make_split(args.split, events, settings.event_weights, seed=args.seed)
    if not args.test and split.candidates is None:
        split = validation_split(split, args.seed)

    table = Table(title=f"{args.source} alone, {args.dataset} {split.name} "
                        f"({'test' if args.test or split.candidates is not None else 'validation'},"
                        f" seed {args.seed})")  # fmt: skip
    for column in (*grid, "ndcg@10", "recall@10", "fit s"):
        table.add_column(column, justify="right")
    combos = list(itertools.product(*grid.values()))
    console = Console(width=140)
    with progress_display(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as progress:  # fmt: skip
        task = progress.add_task(f"{args.source} combinations", total=len(combos))
        for combo in combos:
            options = dict(zip(grid, combo, strict=True))
            result = evaluate_system(
                json.dumps(options),
                lambda options=options: Recommender(sources={args.source: options}, ranker=False,
                                                    item_vectors=vectors, seed=args.seed),
                split,
                catalogue,
            )  # fmt: skip
            metrics = result.metrics
            table.add_row(*map(str, combo), f"{metrics['ndcg@10']:.4f}",
                          f"{metrics['recall@10']:.4f}", f"{result.fit_seconds:.1f}")  # fmt: skip
            progress.advance(task)
    console.print(table)


if __name__ == "__main__":
    main()
