"""The LLM re-ranker (``llm_rerank`` settings) by history length, against the ranker alone.

    python benchmarks/llm_rerank.py [--dataset movielens-100k] [--users 150] [--seed 0]
        [--weights 0.25,0.5,1] [--out docs/results/llm-rerank]

llmrec as ``llmrec train`` configures it is fitted on the leave-last-one-out split's
training events; up to ``--users`` test users per history-length bucket (≤ 20, 21–100,
> 100 items in training; a seeded sample) get the ranker's top ``llm_rerank.candidates``,
which the configured LLM (``llm`` settings: the bundled model unless a server is
configured) re-orders as the service does (:mod:`llmrec.rank.llm_rerank`; candidates
shown with the LLM's description where ``llmrec enrich items`` wrote one, else their
own). NDCG@10 of the ranker's list and of each fusion weight, per bucket, with standard
errors; the model's seconds per uncached request (p50 / p99). Answers are cached in the
dataset's store: a rerun asks the model nothing already asked (its latency is then that
of the earlier run, kept in the cache).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from accuracy import FOLDERS, REPO, bench_store
from llmrec.eval.pipeline import ORIGINAL_TEXT
from llmrec.eval.splits import make_split
from llmrec.llm import load_llm
from llmrec.llm.cache import CachedLLM
from llmrec.progress import progress_display
from llmrec.rank.llm_rerank import Candidate, fused_order, llm_picks
from llmrec.training import build_recommender, item_vector_frame

BUCKETS = (("≤ 20", 0, 20), ("21–100", 21, 100), ("> 100", 101, None))
console = Console(width=160)


def ndcg_at_10(ranked: list[str], wanted: set[str]) -> float:
    gains = [1.0 / np.log2(r + 2) for r, item in enumerate(ranked[:10]) if item in wanted]
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(len(wanted), 10)))
    return float(sum(gains) / ideal) if ideal else 0.0


def bucket_of(length: int) -> str:
    return next(
        name for name, low, high in BUCKETS if length >= low and (high is None or length <= high)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--dataset", choices=sorted(FOLDERS), default="movielens-100k")
    parser.add_argument("--home", type=Path, default=None, help=".llmrec-bench/<dataset>")
    parser.add_argument("--users", type=int, default=150, help="test users per bucket")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", default="0.25,0.5,1")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "llm-rerank")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]

    settings, store = bench_store(args.dataset, args.data, args.home)
    rerank = settings.llm_rerank
    events, items = store.events_frame(), store.items_frame()
    split = make_split("leave_last_one_out", events, settings.event_weights, seed=args.seed)
    catalogue = items.sample(frac=1.0, random_state=args.seed)
    vectors = item_vector_frame(store, settings, ORIGINAL_TEXT)
    console.print(f"{args.dataset}: fitting llmrec on {len(split.train):,} training events")
    started = time.perf_counter()
    model = build_recommender(settings, vectors).set_params(seed=args.seed)
    model.fit(split.train, catalogue)
    fit_seconds = time.perf_counter() - started

    wanted = split.test.groupby(split.test["user_id"].astype(str))["item_id"].agg(
        lambda s: set(s.astype(str))
    )
    lengths = pd.Series(
        {u: len(model.histories_.items_of(u)) for u in wanted.index if model.knows_user(u)}
    )
    rng = np.random.default_rng(args.seed)
    chosen = {
        name: sorted(rng.permutation(group.index.to_numpy())[: args.users])
        for name, group in lengths.groupby(lengths.map(bucket_of))
    }
    texts = store.item_texts_frame()
    generated = {}
    if len(texts):
        usable = texts[texts["verdict"] != "rejected"]
        generated = dict(zip(usable["item_id"], usable["description"], strict=True))
    by_id = items.set_index(items["item_id"].astype(str))
    titles = by_id["title"].fillna("").astype(str)
    descriptions = by_id["description"].fillna("").astype(str) if "description" in by_id else None

    def candidate(item_id: str) -> Candidate:
        own = descriptions.get(item_id, "") if descriptions is not None else ""
        return Candidate(item_id, titles.get(item_id, ""), generated.get(item_id) or own)

    rows = []
    latencies: list[float] = []
    with load_llm(settings.llm) as raw, progress_display(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        llm = CachedLLM(raw, store)
        model_id = raw.model_id
        task = progress.add_task("re-ranking", total=sum(map(len, chosen.values())))
        for name, users in chosen.items():
            for user in users:
                top = model.recommend([user], k=rerank.candidates)["item_id"].astype(str).tolist()
                history = [
                    titles.get(i, "") for i in model.item_ids_[model.histories_.items_of(user)]
                ]
                calls = llm.calls
                answers_before = time.perf_counter()
                [picks] = llm_picks(llm, [(user, history, [candidate(i) for i in top])],
                                    rerank.picks, rerank.max_prompt_chars)  # fmt: skip
                if llm.calls > calls:
                    latencies.append(time.perf_counter() - answers_before)
                echoed = picks == list(range(len(picks)))  # the list's own order back
                row = {"bucket": name, "user": user, "ranker": ndcg_at_10(top, wanted[user]),
                       "picks": len(picks), "identity": echoed}  # fmt: skip
                for w in weights:
                    order = fused_order(len(top), picks, w)
                    row[f"w={w:g}"] = ndcg_at_10([top[i] for i in order], wanted[user])
                rows.append(row)
                progress.advance(task)
    report(pd.DataFrame(rows), weights, latencies, fit_seconds, args, model_id)


def report(frame, weights, latencies, fit_seconds, args, model_id) -> None:
    columns = ["ranker", *(f"w={w:g}" for w in weights)]
    table = Table(
        title=f"{args.dataset}: NDCG@10 of the ranker's list and the LLM's re-ordering ({model_id})"
    )
    for column in ("bucket", "users", *columns, "answers = the list's order"):
        table.add_column(column, justify="left" if column == "bucket" else "right")
    summary = []
    for name, _, _ in BUCKETS:
        part = frame[frame["bucket"] == name]
        if part.empty:
            continue
        cells = {c: (part[c].mean(), part[c].std(ddof=1) / np.sqrt(len(part))) for c in columns}
        summary.append({"bucket": name, "users": len(part),
                        "identity": float(part["identity"].mean()),
                        **{c: {"mean": m, "se": se} for c, (m, se) in cells.items()}})  # fmt: skip
        table.add_row(name, str(len(part)), *(f"{m:.4f} ± {se:.4f}" for m, se in cells.values()),
                      f"{part['identity'].mean():.0%}")  # fmt: skip
    console.print(table)
    p50, p99 = (float(np.percentile(latencies, q)) if latencies else float("nan") for q in (50, 99))
    console.print(f"uncached requests: {len(latencies)}, p50 {p50:.2f} s, p99 {p99:.2f} s; "
                  f"llmrec fit {fit_seconds:.0f} s")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.dataset}.json").write_text(json.dumps({
        "dataset": args.dataset, "seed": args.seed, "model": model_id, "buckets": summary,
        "latency_s": {"requests": len(latencies), "p50": p50, "p99": p99},
        "fit_s": fit_seconds,
    }, indent=1))  # fmt: skip
    console.print(f"wrote {args.out / f'{args.dataset}.json'}")


if __name__ == "__main__":
    main()
