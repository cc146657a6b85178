"""Cold-start quality: new items on MovieLens-100K, new users on Last.fm.

    python benchmarks/cold_start.py [--data ../shared/data] [--home .llmrec-bench/ml-100k]

New items: 10% of the items are held out with all their events (seeded). For every user
who rated a held-out item 4 or more, the held-out items are ranked for them and scored
with NDCG@10 and Recall@10 against those ratings, by:
  - random order (popularity is undefined: cold items have no events),
  - content: the user's interest vector (from training events) · the item's text vector,
  - content→CF: the user's SVD factor · a ridge mapping of the item's text vector into the
    SVD item space, learned on the warm items,
each with the item text alone and with the LLM-enriched text (the descriptions and
keywords that ``benchmarks/llm.py`` left in ``--home``; enrichment is only read here).

New users: Last.fm users with friends, 10% held out with all their events; each is given
only their friend graph. Artists are ranked by the friends' plays, by the friends'
interest vectors in the text space, and by global popularity; NDCG@10 / Recall@10
against the held-out user's artists.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.data.matrix import build_interaction_matrix
from llmrec.embed import UniversalSentenceEncoder
from llmrec.embed.cache import CachedEncoder
from llmrec.embed.item_text import item_texts
from llmrec.eval import metrics
from llmrec.profile.vectors import UserProfiles
from llmrec.retrieve.cold_start import ContentToCF, cf_factors, friends_vector
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_TEMPLATE = "{title}. {tags}. {description}"
K = 10
console = Console()


def _mean_metrics(
    rankings: dict[str, list[str]], truth: dict[str, set[str]]
) -> tuple[float, float]:
    users = list(truth)
    catalogue = pd.Index(sorted({i for u in users for i in [*rankings[u], *truth[u]]}))
    ranked = np.array([catalogue.get_indexer(rankings[u][:K]) for u in users])
    rows = np.repeat(np.arange(len(users)), [len(truth[u]) for u in users])
    cols = catalogue.get_indexer([i for u in users for i in truth[u]])
    relevant = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(users), len(catalogue)))
    hit, n_relevant = metrics.hits(ranked, relevant), metrics.relevant_counts(relevant)
    return (
        float(metrics.ndcg_at_k(hit, n_relevant, K).mean()),
        float(metrics.recall_at_k(hit, n_relevant, K).mean()),
    )


def _rank(scores: np.ndarray, ids: np.ndarray) -> list[str]:
    return list(ids[np.argsort(-scores, kind="stable")][:K])


def cold_items(store: Store, settings, encoder, seed: int, table: Table) -> None:
    items = store.items_frame()
    events = store.events_frame()
    rng = np.random.default_rng(seed)
    item_ids = items["item_id"].to_numpy()
    cold = set(rng.choice(item_ids, size=len(item_ids) // 10, replace=False))
    is_cold = events["item_id"].isin(cold)
    train, test = events[~is_cold], events[is_cold]
    liked = test[test["value"] >= 4]
    truth = {u: set(g["item_id"]) for u, g in liked.groupby("user_id")}
    cold_ids = np.array(sorted(cold))
    warm_ids = np.array(sorted(set(item_ids) - cold))
    matrix = build_interaction_matrix(train, settings.event_weights, item_ids=warm_ids)
    known = set(matrix.user_ids)
    truth = {u: t for u, t in truth.items() if u in known}  # users with a training history
    console.print(
        f"new items: {len(cold_ids)} held out, {len(truth)} users to rank them for, "
        f"{len(train):,} training events"
    )

    random_scores = [
        _mean_metrics({u: list(r.permutation(cold_ids)[:K]) for u in truth}, truth)
        for r in (np.random.default_rng(s) for s in range(20))
    ]
    ndcg, recall = np.mean(random_scores, axis=0)
    table.add_row("new items (ML-100K)", "random (20 draws)", "-", f"{ndcg:.4f}", f"{recall:.4f}")

    user_factors, item_factors = cf_factors(matrix.matrix, dim=64)
    generated = store.item_texts_frame()
    enriched = f"{len(generated)} items enriched" if len(generated) else "none enriched"
    for label, template, extra in [
        ("item text alone", ORIGINAL_TEMPLATE, None),
        (f"LLM-enriched text ({enriched})", settings.embed.item_template, generated),
    ]:
        texts = item_texts(items, extra, template, settings.embed.max_text_chars)
        vectors = CachedEncoder(encoder, store).encode(texts.tolist())
        vector_of = pd.DataFrame(vectors, index=texts.index)
        warm_vectors = vector_of.loc[warm_ids].to_numpy(np.float32)
        cold_vectors = vector_of.loc[cold_ids].to_numpy(np.float32)

        profiles = UserProfiles(settings.event_weights, half_life_days=None).fit(
            train, warm_ids, warm_vectors
        )
        users = sorted(truth)
        content = profiles.vectors(users) @ cold_vectors.T
        rankings = {u: _rank(content[n], cold_ids) for n, u in enumerate(users)}
        ndcg, recall = _mean_metrics(rankings, truth)
        table.add_row(
            "new items (ML-100K)", "content vectors", label, f"{ndcg:.4f}", f"{recall:.4f}"
        )

        # Events may name items the catalogue lacks (a quarantined row): use ours only.
        warm_factors = item_factors[matrix.item_index(warm_ids)]
        mapping = ContentToCF(alpha=1.0).fit(warm_vectors, warm_factors)
        mapped = mapping.transform(cold_vectors)
        rows = matrix.user_index(users)
        cf = user_factors[rows] @ mapped.T
        rankings = {u: _rank(cf[n], cold_ids) for n, u in enumerate(users)}
        ndcg, recall = _mean_metrics(rankings, truth)
        table.add_row(
            "new items (ML-100K)", "content→CF ridge", label, f"{ndcg:.4f}", f"{recall:.4f}"
        )


def new_users(data: Path, settings_home: Path, encoder, seed: int, table: Table) -> None:
    settings = load_settings(home=settings_home)
    store = Store.open(settings.effective_database_url)
    load_dataset("lastfm-2k", store, settings, data / "hetrec2011-lastfm-2k")
    events = store.events_frame()
    plays = events[events["event_type"] == "play"]
    links = store.links_frame()
    friends = links.groupby("user_id")["friend_id"].apply(list).to_dict()
    users = np.array(sorted(set(plays["user_id"]) & set(friends)))
    rng = np.random.default_rng(seed)
    held = set(rng.choice(users, size=len(users) // 10, replace=False))
    train = plays[~plays["user_id"].isin(held)]
    truth = {u: set(g["item_id"]) for u, g in plays[plays["user_id"].isin(held)].groupby("user_id")}
    console.print(f"new users: {len(truth)} Last.fm users held out, known only by their friends")

    matrix = build_interaction_matrix(train, settings.event_weights, value_transform="log1p")
    item_ids = np.asarray(matrix.item_ids)
    popularity = np.asarray((matrix.matrix > 0).sum(axis=0)).ravel().astype(float)
    rankings = {u: _rank(popularity, item_ids) for u in truth}
    ndcg, recall = _mean_metrics(rankings, truth)
    table.add_row("new users (Last.fm)", "popularity", "-", f"{ndcg:.4f}", f"{recall:.4f}")

    # Friends' plays: each friend's row normalised so one heavy listener does not dominate.
    rows = sp.diags(1.0 / np.maximum(np.asarray(matrix.matrix.sum(axis=1)).ravel(), 1e-9))
    normalised = (rows @ matrix.matrix).tocsr()
    user_pos = {u: i for i, u in enumerate(matrix.user_ids)}
    rankings = {}
    for u in truth:
        known = [user_pos[f] for f in friends.get(u, []) if f in user_pos]
        scores = np.asarray(normalised[known].sum(axis=0)).ravel() if known else popularity * 0
        rankings[u] = _rank(scores + 1e-9 * popularity, item_ids)
    ndcg, recall = _mean_metrics(rankings, truth)
    table.add_row("new users (Last.fm)", "friends' plays", "-", f"{ndcg:.4f}", f"{recall:.4f}")

    items = store.items_frame()
    texts = item_texts(items, None, ORIGINAL_TEMPLATE, settings.embed.max_text_chars)
    vectors = CachedEncoder(encoder, store).encode(texts.tolist())
    profiles = UserProfiles(settings.event_weights, half_life_days=None).fit(
        train.assign(value=np.log1p(train["value"])), texts.index, vectors
    )
    vectors_of = {u: profiles.vectors([u])[0] for u in profiles.user_ids}
    rankings = {}
    for u in truth:
        taste = friends_vector(friends.get(u, []), vectors_of)
        scores = vectors @ taste if taste is not None else np.zeros(len(vectors))
        rankings[u] = _rank(scores, np.asarray(texts.index))
    ndcg, recall = _mean_metrics(rankings, truth)
    table.add_row(
        "new users (Last.fm)",
        "friends' interest vectors",
        "artist name + top tags",
        f"{ndcg:.4f}",
        f"{recall:.4f}",
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--home", type=Path, default=REPO / ".llmrec-bench" / "ml-100k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    encoder = UniversalSentenceEncoder(threads=load_settings().embed.threads)
    table = Table(title=f"cold start, NDCG@{K} and Recall@{K} (seed {args.seed})")
    for column in ("case", "method", "item text", f"NDCG@{K}", f"Recall@{K}"):
        table.add_column(column)

    settings = load_settings(home=args.home)
    store = Store.open(settings.effective_database_url)
    if store.counts()["events"] == 0:
        load_dataset("movielens-100k", store, settings, args.data / "ml-100k")
    cold_items(store, settings, encoder, args.seed, table)
    store.close()
    with tempfile.TemporaryDirectory() as tmp:
        new_users(args.data, Path(tmp), encoder, args.seed, table)
    console.print(table)


if __name__ == "__main__":
    main()
