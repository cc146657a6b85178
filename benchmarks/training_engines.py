"""Why training stays on one node: implicit's ALS (what llmrec's ``als`` source runs)
against Spark's ALS in local mode, on the same interactions, on this machine.

    python benchmarks/training_engines.py [--events 1000000] [--fits 3]

Data: MovieLens-100K's leave-last-one-out training events (both models' NDCG@10 on its
test items, llmrec's metric code, shows they learn the same thing) and ``serve.py``'s
generated events at each ``--events`` size. Both get the same binary user × item matrix
and the same settings (64 factors, regularisation 0.05, α = 10, 15 iterations; Spark
scales the regularisation by each row's count, ALS-WR, so its factors differ a little)
and both cores (implicit 2 threads; Spark ``local[2]``). Spark runs in an environment of
its own (``.spark-venv``: pyspark; Java 17 from Debian). Seconds: the median of
``--fits`` fits; Spark's first fit (the JVM's code not yet compiled) and its session
start are shown apart. Prints a table and writes results.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from llmrec.config import DEFAULT_EVENT_WEIGHTS
from llmrec.eval import metrics
from llmrec.eval.splits import leave_last_one_out
from llmrec.models import Interactions
from serve import generate
from side_env import REPO, side_python

SPARK_PACKAGES = ("pyspark==4.0.1", "pandas<3", "pyarrow", "numpy")
SETTINGS = {"factors": 64, "regularization": 0.05, "alpha": 10.0, "iterations": 15}
DATA = REPO.parent / "shared" / "data"
console = Console(width=140)


def implicit_fits(matrix: sp.csr_matrix, fits: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    from implicit.cpu.als import AlternatingLeastSquares

    seconds = []
    for _ in range(fits):
        model = AlternatingLeastSquares(
            factors=SETTINGS["factors"], regularization=SETTINGS["regularization"],
            alpha=SETTINGS["alpha"], iterations=SETTINGS["iterations"], random_state=0,
            num_threads=2,
        )  # fmt: skip
        started = time.perf_counter()
        with threadpool_limits(1, "blas"):  # as llmrec's source: implicit's threads, not BLAS's
            model.fit(matrix, show_progress=False)
        seconds.append(time.perf_counter() - started)
    return seconds, model.user_factors, model.item_factors


def spark_fits(matrix: sp.csr_matrix, fits: int) -> tuple[dict, np.ndarray, np.ndarray]:
    python = side_python(".spark-venv", SPARK_PACKAGES, console)
    with tempfile.TemporaryDirectory(prefix="llmrec-spark-") as folder:
        work = Path(folder)
        coo = matrix.tocoo()
        pd.DataFrame({"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32),
                      "weight": coo.data.astype(np.float32)}).to_parquet(
            work / "interactions.parquet")  # fmt: skip
        params = SETTINGS | {"fits": fits, "cores": 2, "driver_memory": "8g"}
        (work / "params.json").write_text(json.dumps(params))
        worker = Path(__file__).with_name("spark_worker.py")
        subprocess.run([str(python), str(worker), str(work)], check=True,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        result = json.loads((work / "result.json").read_text())
        users, items = (np.load(work / f"{side}_factors.npy") for side in ("user", "item"))
    # ids Spark never saw (no rows) get zero factors, as they would score nothing
    users = np.vstack([users, np.zeros((matrix.shape[0] - len(users), users.shape[1]))])
    items = np.vstack([items, np.zeros((matrix.shape[1] - len(items), items.shape[1]))])
    return result, users, items


def ndcg(users: np.ndarray, items: np.ndarray, train: Interactions, test: pd.DataFrame) -> float:
    """NDCG@10 of the factors' lists (training items excluded) on ``test``."""
    rows = train.user_ids.get_indexer(test["user_id"].astype(str))
    cols = train.item_ids.get_indexer(test["item_id"].astype(str))
    known = (rows >= 0) & (cols >= 0)
    if not known.any():
        raise ValueError("no test user or item is in the training matrix")
    rows, cols = rows[known], cols[known]  # one test item per user (leave-last-one-out)
    relevant = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), cols)),
                             shape=(len(rows), train.n_items))  # fmt: skip
    scores = users[rows] @ items.T
    scores[train.matrix[rows].nonzero()] = -np.inf
    ranked = np.argsort(-scores, axis=1)[:, :10]
    hit = metrics.hits(ranked, relevant)
    return float(metrics.ndcg_at_k(hit, metrics.relevant_counts(relevant), 10).mean())


def movielens() -> tuple[Interactions, pd.DataFrame]:
    events = pd.read_csv(DATA / "ml-100k" / "u.data", sep="\t",
                         names=["user_id", "item_id", "value", "timestamp"],
                         dtype={"user_id": str, "item_id": str})  # fmt: skip
    events["event_type"] = "rating"
    split = leave_last_one_out(events)
    return Interactions.from_events(split.train, event_weights=DEFAULT_EVENT_WEIGHTS), split.test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000000")
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "training-engines")
    args = parser.parse_args()
    datasets: dict[str, tuple[Interactions, pd.DataFrame | None]] = {"MovieLens-100K": movielens()}
    for n_events in (int(n) for n in args.events.split(",")):
        _, events = generate(n_events // 50, n_events)
        datasets[f"generated {n_events:,}"] = (Interactions.from_events(events), None)
    results = {}
    for name, (train, test) in datasets.items():
        console.print(f"{name}: {train.matrix.nnz:,} interactions, implicit…")
        here, u, v = implicit_fits(train.matrix, args.fits)
        console.print(f"{name}: Spark…")
        spark, su, sv = spark_fits(train.matrix, args.fits)
        row = {"users": train.n_users, "items": train.n_items, "nnz": int(train.matrix.nnz),
               "implicit_s": float(np.median(here)), "spark_s": float(np.median(spark["fit_s"])),
               "spark_first_s": spark["fit_s"][0], "spark_session_s": spark["session_s"],
               "spark_read_s": spark["read_s"]}  # fmt: skip
        if test is not None:
            row["implicit_ndcg"] = ndcg(u, v, train, test)
            row["spark_ndcg"] = ndcg(su, sv, train, test)
        results[name] = row
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title=f"ALS fit, median of {args.fits}, 2 cores (64 factors, 15 iterations)")
    columns = ("data", "users × items", "interactions", "implicit s", "Spark s", "Spark ÷ implicit",
               "Spark first fit / session s", "NDCG@10 implicit / Spark")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "data" else "right")
    for name, row in results.items():
        quality = (f"{row['implicit_ndcg']:.4f} / {row['spark_ndcg']:.4f}"
                   if "implicit_ndcg" in row else "—")  # fmt: skip
        table.add_row(name, f"{row['users']:,} × {row['items']:,}", f"{row['nnz']:,}",
                      f"{row['implicit_s']:.2f}", f"{row['spark_s']:.2f}",
                      f"{row['spark_s'] / row['implicit_s']:.1f}×",
                      f"{row['spark_first_s']:.1f} / {row['spark_session_s']:.1f}",
                      quality)  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
