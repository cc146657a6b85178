"""Reference implementations beside llmrec, on llmrec's own splits and metric code.

    python benchmarks/reference.py [--dataset movielens-100k] [--splits leave_last_one_out,...]
        [--seeds 0,1] [--models SASRec,GRU4Rec] [--llmrec llmrec,SASRec] [--out DIR]

RecBole 1.2.1 (SASRec, GRU4Rec, BERT4Rec) runs in a virtual environment of its own that
this script creates on first use (``.reference-venv``: RecBole needs numpy < 2 and
scipy < 1.12, so it is never a dependency of llmrec). Each reference model is given
the sequences llmrec's own SASRec learns from (``Interactions.from_events``: positive
events in time order, first occurrence of each item), with RecBole's defaults: its
per-model YAML settings, Adam at 1e-3, every position of every sequence a training
sample with up to 50 items before it, full-softmax cross-entropy. The number of epochs
is chosen on the validation split cut from the split's training events (llmrec's
tuning protocol: ``validation_split``), stopping 10 epochs after the best validation
NDCG@10; the model is then trained again on all training events for that many epochs
and tested once. Its rankings (the user's training items excluded, as llmrec ranks)
are scored by llmrec's own ``score_fitted``, beside the llmrec systems named in
``--llmrec`` fitted on the same split with the same seed. The worker also scores its
validation rankings with RecBole's NDCG; ``metric_check`` in results.json holds both
codes' values on the same rankings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from llmrec.config import DEFAULT_EVENT_WEIGHTS, load_settings
from llmrec.data.datasets import load_dataset
from llmrec.eval import metrics
from llmrec.eval.evaluate import SystemResult, evaluate_system
from llmrec.eval.pipeline import ORIGINAL_TEXT, systems
from llmrec.eval.splits import Split, make_split
from llmrec.eval.tuning import validation_split
from llmrec.models import Interactions
from llmrec.store import Store
from llmrec.training import item_vector_frame
from side_env import side_python

REPO = Path(__file__).resolve().parents[1]
# RecBole 1.2.1 imports pkg_resources (setuptools < 70) and needs numpy < 2.
REFERENCE_PACKAGES = (
    "recbole==1.2.1", "torch==2.13.0", "numpy<2", "scipy<1.12", "pandas<3", "setuptools<70",
)  # fmt: skip
FOLDERS = {
    "movielens-100k": "ml-100k",
    "movielens-latest-small": "ml-latest-small",
}
# RecBole's own defaults except the batch: its 2048 needs 100+ epochs on ML-100K to
# converge; 128 (as the reference run of issue 20 used) converges in 20–40.
RECBOLE_SETTINGS = {"train_batch_size": 128, "learning_rate": 1e-3, "MAX_ITEM_LIST_LENGTH": 50}
console = Console(width=160)


def training_sequences(events: pd.DataFrame) -> dict[str, list[str]]:
    """Each user's positive items in time order, exactly as llmrec's SASRec sees them."""
    data = Interactions.from_events(
        events.assign(timestamp=events["timestamp"].astype("float64")),
        event_weights=DEFAULT_EVENT_WEIGHTS,
    )
    items = data.item_ids.astype(str)
    return {
        str(user): items[seq].tolist()
        for user, seq in zip(data.user_ids, data.sequences, strict=True)
    }


class RecBoleModel:
    """A RecBole sequential model as an llmrec evaluation system: ``fit`` trains it in
    the reference environment, ``recommend`` answers from the rankings it wrote."""

    def __init__(
        self,
        model: str = "SASRec",
        epochs: int | None = None,
        seed: int = 0,
        max_epochs: int = 100,
        patience: int = 10,
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.seed = seed
        self.max_epochs = max_epochs
        self.patience = patience
        self.threads = threads

    def fit(self, events: pd.DataFrame, items: pd.DataFrame | None = None, targets=None) -> Self:
        """Train on ``events``; with ``targets`` (a test frame) choose the epochs on them."""
        job = {
            "model": self.model,
            "seed": self.seed,
            "config": RECBOLE_SETTINGS,
            "train": training_sequences(events),
            "targets": None,
            "epochs": self.epochs,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "threads": self.threads or len(os.sched_getaffinity(0)),
            "k": 100,
        }
        if targets is not None:
            grouped = targets.assign(item_id=targets["item_id"].astype(str))
            job["targets"] = {
                str(u): g["item_id"].tolist() for u, g in grouped.groupby("user_id", sort=False)
            }
            job["epochs"] = None
        with tempfile.TemporaryDirectory(prefix="llmrec-reference-") as work:
            (Path(work) / "job.json").write_text(json.dumps(job))
            worker = Path(__file__).with_name("reference_worker.py")
            started = time.perf_counter()
            python = side_python(".reference-venv", REFERENCE_PACKAGES, console)
            subprocess.run([str(python), str(worker), work], check=True)
            self.worker_seconds_ = time.perf_counter() - started
            result = json.loads((Path(work) / "result.json").read_text())
        self.log_ = result["log"]
        self.best_epoch_ = result["best_epoch"]
        self.validation_ndcg_ = result["validation_ndcg@10"]
        self.rankings_ = result["rankings"]
        return self

    def recommend(self, user_ids, k: int = 10, candidates=None, **_options) -> pd.DataFrame:
        if candidates is not None:
            raise ValueError("the reference models rank the whole catalogue only")
        rows = [
            (u, item, rank + 1)
            for u in map(str, user_ids)
            for rank, item in enumerate(self.rankings_.get(u, [])[:k])
        ]
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def llmrec_ndcg(rankings: dict[str, list[str]], test: pd.DataFrame) -> float:
    """NDCG@10 of ``rankings`` against ``test`` by llmrec's metric code."""
    users = pd.Index(pd.unique(test["user_id"].astype(str)))
    items = pd.Index(pd.unique(
        np.concatenate([test["item_id"].astype(str), *map(np.asarray, rankings.values())])
    ))  # fmt: skip
    ranked = np.full((len(users), 10), -1)
    for r, user in enumerate(users):
        top = items.get_indexer(rankings.get(user, [])[:10])
        ranked[r, : len(top)] = top
    rows = users.get_indexer(test["user_id"].astype(str))
    cols = items.get_indexer(test["item_id"].astype(str))
    relevant = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
    relevant.data[:] = 1.0
    hit = metrics.hits(ranked, relevant)
    return float(metrics.ndcg_at_k(hit, metrics.relevant_counts(relevant), 10).mean())


def run_reference(model: str, split: Split, seed: int, catalogue) -> tuple[SystemResult, dict]:
    validation = validation_split(split, seed)
    chooser = RecBoleModel(model, seed=seed).fit(validation.train, targets=validation.test)
    check = {
        "recbole_ndcg@10": chooser.validation_ndcg_,
        "llmrec_ndcg@10": llmrec_ndcg(chooser.rankings_, validation.test),
    }
    final: dict[str, RecBoleModel] = {}

    def make() -> RecBoleModel:
        final["model"] = RecBoleModel(model, epochs=chooser.best_epoch_, seed=seed)
        return final["model"]

    result = evaluate_system(f"RecBole {model}", make, split, catalogue)
    seconds = [e["train_seconds"] for e in final["model"].log_]
    info = {
        "model": model,
        "split": split.name,
        "seed": seed,
        "epochs": chooser.best_epoch_,
        "validation_log": chooser.log_,
        "seconds_per_epoch": float(np.median(seconds)),
        "metric_check": check,
        "test": result.metrics,
    }
    return result, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--dataset", choices=sorted(FOLDERS), default="movielens-100k")
    parser.add_argument("--home", type=Path, default=None, help=".llmrec-bench/<dataset>")
    parser.add_argument("--splits", default="leave_last_one_out")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--models", default="SASRec", help="RecBole models, comma-separated")
    parser.add_argument("--llmrec", default="llmrec,SASRec", help="llmrec systems beside them")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "reference")
    args = parser.parse_args()

    home = args.home or REPO / ".llmrec-bench" / args.dataset
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=home)
    store = Store.open(settings.effective_database_url)
    if store.counts().get("events", 0) == 0:
        load_dataset(args.dataset, store, settings, args.data / FOLDERS[args.dataset])
    events, items = store.events_frame(), store.items_frame()
    vectors = item_vector_frame(store, settings, ORIGINAL_TEXT)
    ours = systems(vectors, None, settings)
    wanted = [s for s in args.llmrec.split(",") if s]
    unknown = set(wanted) - set(ours)
    if unknown:
        parser.error(f"unknown llmrec system(s) {sorted(unknown)}; known: {', '.join(ours)}")
    rows, infos = [], []
    for seed in map(int, args.seeds.split(",")):
        # score ties fall to a shuffled catalogue order, as in benchmarks/accuracy.py
        catalogue = items.sample(frac=1.0, random_state=seed)
        for name in args.splits.split(","):
            split = make_split(name, events, settings.event_weights, seed=seed)
            for model in args.models.split(","):
                console.print(f"{name}, seed {seed}: RecBole {model}")
                result, info = run_reference(model, split, seed, catalogue)
                rows.append((seed, result))
                infos.append(info)
                console.print(
                    f"  {info['epochs']} epochs, {info['seconds_per_epoch']:.1f} s an epoch, "
                    f"test NDCG@10 {result.metrics['ndcg@10']:.4f}; validation NDCG@10 "
                    f"RecBole {info['metric_check']['recbole_ndcg@10']:.6f} / llmrec "
                    f"{info['metric_check']['llmrec_ndcg@10']:.6f}"
                )
            for system in wanted:
                console.print(f"{name}, seed {seed}: {system}")
                make = ours[system]
                result = evaluate_system(
                    system,
                    lambda make=make, seed=seed: make().set_params(seed=seed),
                    split,
                    catalogue,
                )
                rows.append((seed, result))
    report(rows, infos, args.out, args.dataset)


def report(rows: list[tuple[int, SystemResult]], infos: list[dict], out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    reference = {
        (seed, r.split): r.metrics["ndcg@10"] for seed, r in rows if r.system == "RecBole SASRec"
    }
    table = Table(title=f"{title}: reference implementations on llmrec's splits")
    for column in (
        "split",
        "seed",
        "system",
        "fit_s",
        "ndcg@10",
        "recall@10",
        "mrr",
        "× RecBole SASRec",
    ):
        table.add_column(column, justify="left" if column in ("split", "system") else "right")
    lines = ["| split | seed | system | fit_s | ndcg@10 | recall@10 | mrr | × RecBole SASRec |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for seed, r in rows:
        base = reference.get((seed, r.split))
        ratio = f"{r.metrics['ndcg@10'] / base:.3f}" if base else "—"
        measured = [f"{r.metrics[m]:.4f}" for m in ("ndcg@10", "recall@10", "mrr")]
        cells = [r.split, str(seed), r.system, f"{r.fit_seconds:.1f}", *measured, ratio]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    (out / "report.md").write_text(
        f"# {title}: reference implementations\n\n" + "\n".join(lines) + "\n"
    )
    results = [{"seed": s, "split": r.split, "system": r.system, "fit_s": r.fit_seconds,
                **r.metrics} for s, r in rows]  # fmt: skip
    (out / "results.json").write_text(
        json.dumps({"results": results, "reference": infos}, indent=1)
    )
    console.print(f"wrote {out / 'report.md'} and results.json")


if __name__ == "__main__":
    main()
