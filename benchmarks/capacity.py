"""Memory and time of each role per million events, for the capacity page (docs/scaling.md).

    python benchmarks/capacity.py [--events 1000000,5000000] [--out docs/results/capacity]

For each size: ``serve.py``'s generator (50 events per user, Zipf popularity within
taste clusters; one item per 50 events, so 20,000 items at 1M events and 100,000 at
5M), then each role in a fresh process, measuring its seconds and its peak resident
memory (VmHWM):

- ingest: the events into a new SQLite store in chunks of 100,000, as ``llmrec load``
  writes them; the store's size on disk;
- train: the recommender a large catalogue runs (ALS, co-visitation, content,
  popularity and the ranker: EASE stops at ``max_items`` = 50,000; SASRec is timed per
  epoch in the README), fitted on the store and saved; the model file's size;
- serve: a replica's start — the model read and every user's history built from the
  stored events — then the ranked lists of 2,000 users one request at a time;
- batch: ``recommend_all`` of every user (top 10) into Parquet, in this process.

Writes results.json and prints a table; docs/scaling.md reads the numbers from there.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from serve import fit_model, generate

REPO = Path(__file__).resolve().parents[1]
console = Console(width=140)


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def ingest(folder: Path, n_events: int) -> dict:
    from llmrec.store import Store

    items, events = generate(n_events // 50, n_events)
    started = time.perf_counter()
    with Store.open(f"sqlite:///{folder / 'store.db'}") as store:
        store.upsert_items(items)
        for start in range(0, len(events), 100_000):
            store.add_events(events.iloc[start : start + 100_000])
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.glob("store.db*"))
    return {"seconds": seconds, "events_per_s": n_events / seconds, "disk_mib": size / 2**20}


def train(folder: Path, n_events: int) -> dict:
    from llmrec.store import Store

    started = time.perf_counter()
    with Store.open(f"sqlite:///{folder / 'store.db'}") as store:
        path = fit_model(store, folder / "model.llmrec")
    return {"seconds": time.perf_counter() - started, "model_mib": path.stat().st_size / 2**20}


def serve(folder: Path, n_events: int) -> dict:
    from llmrec.recommender import Recommender
    from llmrec.store import Store

    started = time.perf_counter()
    with Store.open(f"sqlite:///{folder / 'store.db'}") as store:
        model = Recommender.load(folder / "model.llmrec")
        model.set_histories(store.events_frame(), validate=False)
    ready = time.perf_counter() - started
    users = model.histories_.most_recent(2_000)
    lists = []
    for user in users:
        began = time.perf_counter()
        model.recommend([user], k=10)
        lists.append(time.perf_counter() - began)
    return {"seconds": ready, "users": len(model.histories_),
            "list_p50_ms": float(np.median(lists) * 1000),
            "list_p99_ms": float(np.percentile(lists, 99) * 1000)}  # fmt: skip


def batch(folder: Path, n_events: int) -> dict:
    from llmrec.app.batch import recommend_all
    from llmrec.recommender import Recommender
    from llmrec.store import Store

    with Store.open(f"sqlite:///{folder / 'store.db'}") as store:
        model = Recommender.load(folder / "model.llmrec")
        model.set_histories(store.events_frame(), validate=False)
    started = time.perf_counter()
    report = recommend_all(model, folder / "lists", "capacity", k=10)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "users_per_s": report.users / seconds}


ROLES = {"ingest": ingest, "train": train, "serve": serve, "batch": batch}


def _child(role: str, folder: Path, n_events: int, answer) -> None:
    result = ROLES[role](folder, n_events)
    answer.put(result | {"peak_mib": peak_rss_mib()})


def measure(role: str, folder: Path, n_events: int) -> dict:
    """``role`` in a fresh process (its own peak memory), its measures."""
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    process = context.Process(target=_child, args=(role, folder, n_events, answer))
    process.start()
    result = answer.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{role} at {n_events:,} events failed ({process.exitcode})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000000,5000000")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "capacity")
    args = parser.parse_args()
    sizes = [int(n) for n in args.events.split(",")]
    results: dict[str, dict] = {}
    for n_events in sizes:
        with tempfile.TemporaryDirectory(prefix="llmrec-capacity-") as folder:
            for role in ROLES:
                console.print(f"{n_events:,} events: {role}…")
                results[f"{n_events}:{role}"] = measure(role, Path(folder), n_events)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title="each role in its own process (2 cores)")
    for column in ("events", "role", "seconds", "peak MiB", "other"):
        table.add_column(column, justify="right" if column != "role" else "left")
    for key, row in results.items():
        n_events, role = key.split(":")
        other = ", ".join(f"{k} {v:,.1f}" for k, v in row.items()
                          if k not in ("seconds", "peak_mib"))  # fmt: skip
        table.add_row(f"{int(n_events):,}", role, f"{row['seconds']:.1f}",
                      f"{row['peak_mib']:,.0f}", other)  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
