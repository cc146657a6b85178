"""Ingestion and interaction-matrix speed: MovieLens-100K end to end, a generated
N-million-event CSV into SQLite (throughput and peak memory), and the matrix over it.

    python benchmarks/ingest.py [--events 5000000] [--repeats 3] [--data ../shared/data]

Each ingest runs in a fresh child process, so its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from llmrec.config import load_settings
from llmrec.store import Store
home, what, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = load_settings(home=home)
store = Store.open(settings.effective_database_url)
started = time.perf_counter()
if what == "dataset":
    from llmrec.data.datasets import load_dataset
    rows = sum(r.rows_read for r in load_dataset("movielens-100k", store, settings, Path(arg)))
elif what == "events":
    from llmrec.data.ingest import ingest_file
    from llmrec.data.readers import TableSpec
    from llmrec.data.records import RecordKind
    rows = ingest_file(store, TableSpec(Path(arg)), RecordKind.EVENTS, settings).stored
else:
    from llmrec.data.matrix import build_interaction_matrix, interaction_matrix_from_store
    t0 = time.perf_counter()
    events = store.events_frame(["user_id", "item_id", "event_type", "value", "timestamp"])
    read_s = time.perf_counter() - t0
    times = []
    for _ in range(int(arg)):
        t0 = time.perf_counter()
        m = build_interaction_matrix(events, settings.event_weights, half_life_days=30.0)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"read_s": read_s, "build_s": times, "nnz": m.nnz, "shape": m.shape}))
    sys.exit(0)
seconds = time.perf_counter() - started
# The parse worker (a child process) has its own peak: the sum bounds the two together.
peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak_mib}))
"""


def _child(home: Path, what: str, arg: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(home), what, arg],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def generate_events(path: Path, n_events: int, seed: int = 0) -> None:
    """A CSV of ``n_events`` events: 200k users, 50k items (Zipf-ish), 4 event types."""
    rng = np.random.default_rng(seed)
    types = np.array(["view", "click", "cart", "purchase"])
    block = 1_000_000
    with path.open("w") as fh:
        fh.write("user_id,item_id,event_type,value,timestamp\n")
        for start in range(0, n_events, block):
            n = min(block, n_events - start)
            users = rng.integers(0, 200_000, n)
            items = np.minimum(rng.zipf(1.3, n), 50_000)
            kinds = types[rng.choice(4, n, p=[0.7, 0.2, 0.07, 0.03])]
            stamps = 1_600_000_000 + start + np.arange(n)
            lines = [
                f"u{u},i{i},{k},,{t}\n"
                for u, i, k, t in zip(users.tolist(), items.tolist(), kinds.tolist(),
                                      stamps.tolist(), strict=True)
            ]  # fmt: skip
            fh.writelines(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    console = Console()
    table = Table(title="llmrec ingest benchmark (median of repeats)")
    for column in ("measure", "value", "target"):
        table.add_column(column)

    with tempfile.TemporaryDirectory(prefix="llmrec-bench-") as tmp:
        tmp_path = Path(tmp)
        runs = [
            _child(tmp_path / f"ml{r}", "dataset", str(args.data / "ml-100k"))
            for r in range(args.repeats)
        ]
        ml_s = statistics.median(r["seconds"] for r in runs)
        table.add_row("MovieLens-100K ingest (3 files, 102,625 rows)", f"{ml_s:.2f} s", "≤ 10 s")

        csv_path = tmp_path / "events.csv"
        console.print(f"generating {args.events:,} events ...")
        generate_events(csv_path, args.events)
        size_mib = csv_path.stat().st_size / 2**20
        runs = []
        for r in range(args.repeats):
            console.print(f"ingest run {r + 1}/{args.repeats} ...")
            runs.append(_child(tmp_path / f"big{r}", "events", str(csv_path)))
        rate = statistics.median(r["rows"] / r["seconds"] for r in runs)
        peak = max(r["peak_mib"] for r in runs)
        table.add_row(
            f"{args.events:,}-event CSV ({size_mib:.0f} MiB) into SQLite",
            f"{rate:,.0f} events/s ({statistics.median(r['seconds'] for r in runs):.1f} s)",
            "≥ 100,000 events/s",
        )
        table.add_row(
            "peak resident memory of that ingest (main + parse worker)", f"{peak:,.0f} MiB",
            "≤ 1,024 MiB",
        )  # fmt: skip
        matrix = _child(tmp_path / "big0", "matrix", str(args.repeats))
        table.add_row(
            f"interaction matrix from {args.events:,} events in memory "
            f"({matrix['shape'][0]:,}×{matrix['shape'][1]:,}, weights + 30-day decay)",
            f"{statistics.median(matrix['build_s']):.2f} s",
            "≤ 5 s",
        )
        table.add_row(
            f"reading those {args.events:,} events from SQLite into a frame",
            f"{matrix['read_s']:.2f} s",
            "",
        )
    console.print(table)


if __name__ == "__main__":
    main()
