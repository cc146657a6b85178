"""Explanations: faithfulness on sampled recommendations, and their cost.

    python benchmarks/explain.py [--data ../shared/data] [--users 200] [--sentences 40]

Fits the hybrid recommender (default sources, genre tags, bundled encoder vectors cached in
``.llmrec-bench/movielens-100k``) on all of MovieLens-100K, takes the top recommendation of
``--users`` random users, explains it, removes the top reason item from the user's history
(``Recommender.forget`` on a copy) and checks that the item's score, as ``recommend`` gives
it, drops. Prints the faithfulness rate, explanation latency (p50/p95), and for
``--sentences`` of them the LLM sentence's latency and how many passed the guard.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.explain import explain
from llmrec.explain.sentence import explanation_sentences
from llmrec.llm import load_llm
from llmrec.llm.cache import CachedLLM
from llmrec.progress import progress_display
from llmrec.store import Store
from llmrec.training import build_recommender, item_vector_frame

REPO = Path(__file__).resolve().parents[1]
console = Console(width=120)


def _explain_one(model, user: str, item: str) -> tuple[object, float, bool]:
    """The explanation of ``item`` for ``user``, its seconds, and whether it is
    faithful: forgetting its top reason lowers the item's score."""
    t = time.perf_counter()
    why = explain(model, user, item)
    seconds = time.perf_counter() - t
    if not why.history:
        return why, seconds, False
    without = copy.deepcopy(model).forget(user, [why.history[0].item_id])
    before = model.recommend([user], k=1, candidates=[item])["score"].iloc[0]
    after = without.recommend([user], k=1, candidates=[item])["score"].iloc[0]
    return why, seconds, bool(after < before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--home", type=Path, default=REPO / ".llmrec-bench" / "movielens-100k")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--sentences", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    args.home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=args.home)
    store = Store.open(settings.effective_database_url)
    if store.counts().get("events", 0) == 0:
        load_dataset("movielens-100k", store, settings, args.data / "ml-100k")
    events, items = store.events_frame(), store.items_frame()
    started = time.perf_counter()
    model = build_recommender(settings, item_vector_frame(store, settings)).fit(events, items)
    fit_seconds = time.perf_counter() - started

    rng = np.random.default_rng(args.seed)
    known = model.histories_.user_ids.tolist()
    users = rng.choice(known, size=min(args.users, len(known)), replace=False)
    tops = model.recommend(list(users), k=1)
    faithful, latencies, explanations = 0, [], []
    shown = progress_display(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )
    with shown as progress:
        task = progress.add_task("explaining", total=len(tops))
        for user, item in zip(tops["user_id"], tops["item_id"], strict=True):
            why, seconds, held = _explain_one(model, user, item)
            explanations.append(why)
            latencies.append(seconds)
            faithful += held
            progress.advance(task)

    chosen = explanations[: args.sentences]
    with load_llm(settings.llm) as llm:
        cached = CachedLLM(llm, store)
        t = time.perf_counter()
        sentences = explanation_sentences(chosen, cached)
        sentence_seconds = time.perf_counter() - t
    table = Table(title=f"Explanations on MovieLens-100K (fit {fit_seconds:.0f} s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    ms = np.array(latencies) * 1000
    rows = [
        ("recommendations explained", len(explanations)),
        ("faithful (removing the top reason lowers the score)", f"{faithful / len(tops):.1%}"),
        ("explain latency p50 / p95 (ms)", f"{np.median(ms):.0f} / {np.percentile(ms, 95):.0f}"),
        ("LLM sentences (model calls made now)", f"{len(sentences)} ({cached.calls})"),
        ("LLM sentences passing the guard", f"{np.mean([s.generated for s in sentences]):.0%}"),
        ("LLM sentence seconds each (batch)", f"{sentence_seconds / max(len(chosen), 1):.2f}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for why, said in list(zip(chosen, sentences, strict=True))[:5]:
        console.print(f"user {why.user_id} → {why.title}: {said.text}")


if __name__ == "__main__":
    main()
