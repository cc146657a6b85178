"""Train one RecBole sequential model on sequences llmrec wrote; write its rankings.

Runs inside the reference virtual environment that ``benchmarks/reference.py`` creates
(RecBole 1.2.1 pins numpy < 2, so it can never share llmrec's environment); it imports
nothing of llmrec. Input, ``<work>/job.json``:

    {"model": "SASRec", "seed": 0, "config": {...RecBole settings...},
     "train": {user: [item, ...]},         # each user's training items, oldest first
     "targets": {user: [item, ...]},       # validation items (select) / nothing (fixed)
     "epochs": N or null, "max_epochs": M, "patience": P, "k": 100}

With ``targets`` the model is trained until ``patience`` epochs bring no better
validation NDCG@10 (each user's training items excluded from their ranking, as llmrec
ranks) and the best epoch is reported; with ``epochs`` it is trained for exactly that
many. Training samples are RecBole's own sequential augmentation: every position of
every training sequence, with up to ``MAX_ITEM_LIST_LENGTH`` items before it. Output,
``<work>/result.json``: the epoch log (seconds, validation NDCG@10), the chosen epochs,
and each user's top ``k`` items with their training items excluded.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.data.interaction import Interaction
from recbole.evaluator.metrics import NDCG
from recbole.trainer import Trainer
from recbole.utils import get_model, init_seed


def write_atomic_files(folder: Path, name: str, job: dict, max_len: int) -> None:
    """``<name>.train/valid/test.inter``: training prefixes, then one row per target."""
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    with open(folder / f"{name}.train.inter", "w") as out:
        out.write(header)
        for user, items in job["train"].items():
            for t in range(1, len(items)):
                before = " ".join(items[max(0, t - max_len) : t])
                out.write(f"{user}\t{before}\t{items[t]}\n")
    rows = [
        f"{user}\t{' '.join(job['train'][user][-max_len:])}\t{item}\n"
        for user, items in (job.get("targets") or {}).items()
        for item in items
        if job["train"].get(user)
    ]
    if not rows:  # RecBole wants every benchmark file; one training row stands in
        first = next(u for u, items in job["train"].items() if len(items) > 1)
        rows = [f"{first}\t{job['train'][first][0]}\t{job['train'][first][1]}\n"]
    for part in ("valid", "test"):
        (folder / f"{name}.{part}.inter").write_text(header + "".join(rows))


class Ranker:
    """Full-catalogue rankings of users from their training sequences."""

    def __init__(self, dataset, job: dict, max_len: int) -> None:
        self.users = [u for u, items in job["train"].items() if items]
        self.item_field = dataset.iid_field
        ids = [dataset.token2id(self.item_field, items) for items in
               (job["train"][u] for u in self.users)]  # fmt: skip
        self.seen = ids
        self.lengths = torch.tensor([min(len(i), max_len) for i in ids])
        self.sequences = torch.zeros((len(ids), max_len), dtype=torch.long)
        for r, row in enumerate(ids):  # right-padded, as RecBole's own sequences are
            tail = np.asarray(row[-max_len:])
            self.sequences[r, : len(tail)] = torch.from_numpy(tail)
        self.n_items = dataset.item_num

    @torch.no_grad()
    def top(self, model, k: int, batch: int = 512) -> np.ndarray:
        model.eval()
        out = np.empty((len(self.users), k), dtype=np.int64)
        for start in range(0, len(self.users), batch):
            part = slice(start, start + batch)
            interaction = Interaction({
                model.ITEM_SEQ: self.sequences[part],
                model.ITEM_SEQ_LEN: self.lengths[part],
            })  # fmt: skip
            scores = model.full_sort_predict(interaction).reshape(-1, self.n_items)
            scores[:, 0] = -torch.inf  # the padding id
            for r, seen in enumerate(self.seen[part]):
                scores[r, seen] = -torch.inf
            out[part] = torch.topk(scores, k, dim=1).indices.numpy()
        return out


def ndcg_at_10(top: np.ndarray, users: list[str], targets: dict, dataset, field: str) -> float:
    """Mean NDCG@10 (binary gains) of users with targets, by RecBole's own NDCG metric."""
    rows, hits, counts = [], [], []
    for r, user in enumerate(users):
        wanted = targets.get(user)
        if not wanted:
            continue
        wanted_ids = set(dataset.token2id(field, wanted).tolist())
        rows.append(r)
        hits.append([int(i) in wanted_ids for i in top[r, :10]])
        counts.append(len(wanted_ids))
    if not rows:
        return float("nan")
    metric = NDCG({"topk": [10], "metric_decimal_place": 6})
    values = metric.metric_info(np.array(hits, dtype=bool), np.array(counts))
    return float(values[:, 9].mean())


def main(work: Path) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)  # pandas 3 notices in RecBole
    job = json.loads((work / "job.json").read_text())
    max_len = int(job["config"].get("MAX_ITEM_LIST_LENGTH", 50))
    os.chdir(work)  # RecBole writes its TensorBoard logs under the working directory
    (work / "ref").mkdir()
    write_atomic_files(work / "ref", "ref", job, max_len)
    sys.argv = sys.argv[:1]  # RecBole's Config reads the command line as settings
    config = Config(
        model=job["model"],
        dataset="ref",
        config_dict={
            "data_path": str(work),
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
            "alias_of_item_id": ["item_id_list"],
            "train_neg_sample_args": None,
            "seed": job["seed"],
            "reproducibility": True,
            "show_progress": False,
            "checkpoint_dir": str(work / "saved"),
            "log_wandb": False,
            "state": "WARNING",
            **job["config"],
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(int(job.get("threads") or torch.get_num_threads()))
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)
    ranker = Ranker(dataset, job, max_len)
    targets = job.get("targets") or {}
    log, best, best_epoch, best_state = [], -1.0, 0, None
    epochs = job["epochs"] or job["max_epochs"]
    for epoch in range(epochs):
        started = time.perf_counter()
        trainer._train_epoch(train_data, epoch, show_progress=False)
        seconds = time.perf_counter() - started
        entry = {"epoch": epoch + 1, "train_seconds": round(seconds, 2)}
        if targets:
            entry["validation_ndcg@10"] = ndcg_at_10(
                ranker.top(model, 10), ranker.users, targets, dataset, ranker.item_field
            )
            if entry["validation_ndcg@10"] > best:
                best, best_epoch = entry["validation_ndcg@10"], epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log.append(entry)
        print(json.dumps(entry), flush=True)
        if targets and epoch + 1 - best_epoch >= job["patience"]:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    top = ranker.top(model, job["k"])
    tokens = dataset.field2id_token[ranker.item_field]
    result = {
        "log": log,
        "best_epoch": best_epoch or epochs,
        "validation_ndcg@10": best if targets else None,
        "rankings": {u: tokens[row].tolist() for u, row in zip(ranker.users, top, strict=True)},
    }
    (work / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
