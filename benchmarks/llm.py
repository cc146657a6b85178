"""LLM enrichment speed and guard quality with the embedded model on this machine.

    python benchmarks/llm.py [--data ../shared/data] [--compare 48] [--items N]

1. Serial vs parallel: the first ``--compare`` MovieLens-100K items described with one
   request at a time, then with 2 and 4 in flight (llama.cpp slots), each from a cold cache.
2. All MovieLens-100K items (or ``--items``) with the default setting: wall time,
   items/min, generated tokens/s, guard verdicts; then the cache-hit rerun. This store
   is kept in ``--home`` (default ``.llmrec-bench/ml-100k``) so that the embedding and
   cold-start benchmarks can compare enriched text with the original text; a second run
   of this benchmark reuses its cached answers unless ``--fresh`` is given.
3. The Amazon Gift Cards catalogue: guard verdicts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.enrich.batches import EnrichReport
from llmrec.enrich.descriptions import enrich_items
from llmrec.llm import EmbeddedLLM
from llmrec.progress import progress_display
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
console = Console()
Row = Callable[..., None]  # adds a row to the table and prints it


def _store(home: Path, dataset: str, data: Path, folder: str) -> tuple[Store, object]:
    settings = load_settings(home=home)
    store = Store.open(settings.effective_database_url)
    load_dataset(dataset, store, settings, data / folder)
    return store, settings


def _run(store, settings, llm, limit: int | None, label: str) -> EnrichReport:
    total = limit or len(store.item_ids())
    with progress_display(
        f"[bold]{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(show_speed=True),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=total)
        return enrich_items(
            store, llm, settings, limit=limit, progress=lambda n: progress.advance(task, n)
        )


def _passing(report: EnrichReport) -> str:
    done = sum(report.outcomes.values()) or 1
    ok = report.outcomes["pass"] + report.outcomes["repaired"]
    return (
        f"{ok / done:.1%} ({report.outcomes['pass']} pass, {report.outcomes['repaired']} "
        f"repaired, {report.outcomes['rejected']} rejected)"
    )


def _compare_parallelism(args: argparse.Namespace, tmp: Path, threads: int, row: Row) -> None:
    for parallel in (1, 2, 4):
        store, settings = _store(tmp / f"p{parallel}", "movielens-100k", args.data, "ml-100k")
        with EmbeddedLLM(threads=threads, parallel=parallel) as llm:
            llm.generate([])  # nothing: the model loads on the first real batch
            report = _run(store, settings, llm, args.compare, f"{parallel} in flight")
        row(
            f"ML-100K, {parallel} request(s) in flight",
            str(report.total),
            f"{report.seconds:.1f}",
            f"{report.total / report.seconds * 60:.0f}",
            f"{report.completion_tokens / report.seconds:.1f}",
            _passing(report),
        )
        store.close()


def _full_run(args: argparse.Namespace, threads: int, row: Row) -> None:
    if args.fresh and args.home.exists():
        shutil.rmtree(args.home)
    store, settings = _store(args.home, "movielens-100k", args.data, "ml-100k")
    with EmbeddedLLM(threads=threads, parallel=settings.llm.embedded_slots) as llm:
        full = _run(store, settings, llm, args.items, "ML-100K all items")
        started = time.perf_counter()
        rerun = enrich_items(store, llm, settings, limit=args.items)
        rerun_s = time.perf_counter() - started
    row(
        f"ML-100K full, {settings.llm.embedded_slots} in flight",
        str(full.total),
        f"{full.seconds:.1f}",
        f"{full.total / full.seconds * 60:.0f}",
        f"{full.completion_tokens / full.seconds:.1f}",
        _passing(full),
    )
    row(
        f"ML-100K rerun (cache: {rerun.cache_hits} hits, {rerun.llm_calls} calls)",
        str(rerun.total),
        f"{rerun_s:.2f}",
        f"{rerun.total / rerun_s * 60:.0f}",
        "-",
        _passing(rerun),
    )
    store.close()


def _amazon(args: argparse.Namespace, tmp: Path, threads: int, row: Row) -> None:
    store, settings = _store(
        tmp / "amazon",
        "amazon-2018-gift-cards",
        args.data,
        "amazon-2018-gift-cards",
    )
    with EmbeddedLLM(threads=threads, parallel=settings.llm.embedded_slots) as llm:
        gift = _run(store, settings, llm, args.amazon_items, "Amazon Gift Cards")
    row(
        "Amazon Gift Cards",
        str(gift.total),
        f"{gift.seconds:.1f}",
        f"{gift.total / gift.seconds * 60:.0f}",
        f"{gift.completion_tokens / gift.seconds:.1f}",
        _passing(gift),
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--compare", type=int, default=48, help="items in the serial test")
    parser.add_argument("--items", type=int, default=None, help="items in the full run")
    parser.add_argument("--skip-amazon", action="store_true")
    parser.add_argument("--amazon-items", type=int, default=None, help="limit the Amazon run")
    parser.add_argument("--skip-ml", action="store_true", help="only the Amazon run")
    parser.add_argument("--home", type=Path, default=REPO / ".llmrec-bench" / "ml-100k")
    parser.add_argument("--fresh", action="store_true", help="empty --home first")
    args = parser.parse_args()
    threads = load_settings().llm.threads

    table = Table(title=f"LLM enrichment, embedded SmolLM2-135M Q4_1, {threads} threads")
    for column in ("run", "items", "wall s", "items/min", "gen tokens/s", "guard pass"):
        table.add_column(column, justify="right" if column != "run" else "left")

    def row(*cells: str) -> None:
        table.add_row(*cells)
        console.print(" | ".join(cells))  # as it completes: the full run takes minutes

    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_ml:
            _compare_parallelism(args, Path(tmp), threads, row)
            _full_run(args, threads, row)
        if not args.skip_amazon:
            _amazon(args, Path(tmp), threads, row)
    console.print(table)


if __name__ == "__main__":
    main()
