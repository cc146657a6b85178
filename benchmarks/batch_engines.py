"""The batch jobs in this process against Ray workers on this machine.

    python benchmarks/batch_engines.py [--enrich-items 8]

Embedding: every MovieLens-100K item text (1,663 distinct) into an empty embedding
cache, with the bundled encoder. Enrichment: the ``--enrich-items`` most rated
MovieLens-100K items described by the bundled SmolLM2 (one decoding slot). Each run
starts from an empty store, in this process (the configured threads) and on a local Ray
with 1 and 2 workers (one thread each); the seconds include Ray's start and each
worker's model load, as a job pays them. Prints a table. The machine has 2 cores: two
workers can at best double one.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from llmrec.config import Settings, load_settings
from llmrec.data.datasets import load_dataset
from llmrec.embed import load_encoder
from llmrec.embed.vectors import embed_items
from llmrec.engine import InProcess, RayEngine
from llmrec.enrich.descriptions import enrich_items
from llmrec.llm import load_llm
from llmrec.store import Store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
ENGINES = {"in-process": lambda: InProcess(), "Ray, 1 worker": lambda: RayEngine(num_cpus=1),
           "Ray, 2 workers": lambda: RayEngine(num_cpus=2)}  # fmt: skip


def _fresh(source: Path, folder: Path) -> Store:
    """A copy of the ``source`` SQLite store (its items and events; no vectors or LLM
    answers yet), through SQLite's backup API."""
    copy = folder / "store.db"
    with sqlite3.connect(source) as original, sqlite3.connect(copy) as target:
        original.backup(target)
    return Store.open(f"sqlite:///{copy}")


def embedding(source: Path, settings: Settings, engine) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as folder, _fresh(source, Path(folder)) as store, \
            load_encoder(settings.embed) as encoder:  # fmt: skip
        started = time.perf_counter()
        _, report = embed_items(store, encoder, settings.embed, engine=engine)
        return report.encoded, time.perf_counter() - started


def enrichment(source: Path, settings: Settings, engine, items: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as folder, _fresh(source, Path(folder)) as store, \
            load_llm(settings.llm) as llm:  # fmt: skip
        started = time.perf_counter()
        report = enrich_items(store, llm, settings, limit=items, engine=engine)
        return report.llm_calls, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrich-items", type=int, default=8)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="llmrec-engines-"))
    settings = load_settings(home=home)
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(
        update={"embedded_slots": 1})})  # fmt: skip
    table = Table(title="batch jobs: this process against local Ray workers (2 cores)")
    for column in ("job", "engine", "work", "seconds", "rate", "× in-process"):
        table.add_column(column, justify="right")
    with Store.open(settings.effective_database_url) as loaded:
        load_dataset("movielens-100k", loaded, settings, DATA)
    source = settings.home / "llmrec.db"
    jobs = (
        ("embedding", lambda e: embedding(source, settings, e), "texts", 1.0),
        ("enrichment", lambda e: enrichment(source, settings, e, args.enrich_items),
         "model calls", 60.0),
    )  # fmt: skip
    for job, run, unit, per in jobs:
        base = None
        for name, make in ENGINES.items():
            done, seconds = run(make())
            rate = done / seconds * per
            base = base or rate
            table.add_row(job, name, f"{done:,} {unit}", f"{seconds:.1f}",
                          f"{rate:,.1f} {unit}/{'s' if per == 1 else 'min'}",
                          f"{rate / base:.2f}")  # fmt: skip
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
