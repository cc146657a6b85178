"""Evaluation as a pipeline: split → fit each system on train → recommend → metrics.

A *system* is anything with ``fit(events, items)`` and ``recommend(user_ids, k,
candidates=...)`` — the :class:`~llmrec.recommender.Recommender` in any configuration,
so the baselines (one source, no ranker) and the ablations run through the same code.
Ranking is full: every item (or every candidate of a cold-item split) except the
user's training items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from llmrec.eval import metrics
from llmrec.eval.splits import Split


@dataclass
class SystemResult:
    system: str
    split: str
    fit_seconds: float
    recommend_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    per_user: pd.DataFrame | None = None
    diversity: float | None = None  # the MMR λ the lists were made with (None: default)


def _matrix(frame: pd.DataFrame, users: pd.Index, items: pd.Index) -> sp.csr_matrix:
    rows, cols = users.get_indexer(frame["user_id"]), items.get_indexer(frame["item_id"])
    keep = (rows >= 0) & (cols >= 0)
    return sp.csr_matrix(
        (np.ones(keep.sum()), (rows[keep], cols[keep])), shape=(len(users), len(items))
    )


def evaluate_system(
    name: str,
    make: Callable[[], object],
    split: Split,
    items: pd.DataFrame | None = None,
    ks: Sequence[int] = (5, 10, 20),
) -> SystemResult:
    """Fit a fresh system on ``split.train`` and score its top-max(ks) lists."""
    system = make()
    started = time.perf_counter()
    system.fit(split.train, items)
    return score_fitted(name, system, split, items, ks, fit_seconds=time.perf_counter() - started)


def score_fitted(
    name: str,
    system,
    split: Split,
    items: pd.DataFrame | None = None,
    ks: Sequence[int] = (5, 10, 20),
    fit_seconds: float = 0.0,
    **recommend_options,
) -> SystemResult:
    """Metrics of an already fitted system's lists (``recommend_options``: e.g. diversity)."""
    fitted = time.perf_counter()
    users = pd.Index(pd.unique(split.test["user_id"].astype(str)))
    k_max = max(ks)
    ranked_frame = system.recommend(
        list(users), k=k_max, candidates=split.candidates, **recommend_options
    )
    done = time.perf_counter()
    catalogue = pd.Index(
        pd.unique(pd.concat([split.train["item_id"], split.test["item_id"]]).astype(str))
    )
    ranked = np.full((len(users), k_max), -1)
    r = users.get_indexer(ranked_frame["user_id"].astype(str))
    ranked[r, ranked_frame["rank"].to_numpy() - 1] = catalogue.get_indexer(
        ranked_frame["item_id"].astype(str)
    )
    test = split.test.assign(
        user_id=split.test["user_id"].astype(str), item_id=split.test["item_id"].astype(str)
    )
    relevant = _matrix(test, users, catalogue)
    hit = metrics.hits(ranked, relevant)
    n_rel = metrics.relevant_counts(relevant)
    train = split.train.assign(
        user_id=split.train["user_id"].astype(str), item_id=split.train["item_id"].astype(str)
    )
    train_users = pd.Index(pd.unique(train["user_id"]))
    share = np.asarray(
        _matrix(train.drop_duplicates(["user_id", "item_id"]), train_users, catalogue).sum(axis=0)
    ).ravel() / max(len(train_users), 1)
    share = np.maximum(share, 1 / max(len(train_users), 1))
    per_user = {
        "user_id": users,
        "train_items": train.groupby("user_id").size().reindex(users).fillna(0).to_numpy(),
    }
    values: dict[str, float] = {}
    tags = _tags(items, catalogue)
    for k in ks:
        columns = {
            f"recall@{k}": metrics.recall_at_k(hit, n_rel, k),
            f"ndcg@{k}": metrics.ndcg_at_k(hit, n_rel, k),
            f"hit_rate@{k}": metrics.hit_rate_at_k(hit, k),
            f"novelty@{k}": metrics.novelty_at_k(ranked, share, k),
            f"popularity@{k}": metrics.popularity_bias_at_k(ranked, share, k),
        }
        if tags is not None:
            columns[f"diversity@{k}"] = metrics.intra_list_diversity(ranked, tags, k)
        per_user.update(columns)
        values.update({key: float(np.nanmean(v)) for key, v in columns.items()})
        values[f"coverage@{k}"] = metrics.catalogue_coverage(ranked, len(catalogue), k)
    per_user["mrr"] = metrics.reciprocal_rank(hit)
    values["mrr"] = float(per_user["mrr"].mean())
    return SystemResult(
        name,
        split.name,
        fit_seconds,
        done - fitted,
        values,
        pd.DataFrame(per_user),
        recommend_options.get("diversity"),
    )


def candidate_recall(system, split: Split) -> dict[str, float]:
    """Share of the test pairs in the fitted system's candidate pool (``"union"``) and
    in each source's own candidates (``system.candidates``; warm-item splits only)."""
    test = split.test.assign(
        user_id=split.test["user_id"].astype(str), item_id=split.test["item_id"].astype(str)
    )
    pool = system.candidates(pd.unique(test["user_id"]))
    found = test.merge(pool, on=["user_id", "item_id"], how="left")
    proposed = found["sources"].fillna("").str.split(",")
    recall = {"union": float(found["sources"].notna().mean())}
    for source in system.scorers_:
        recall[source] = float(proposed.map(lambda names, s=source: s in names).mean())
    return recall


def source_ndcg(system, split: Split, k: int = 10) -> dict[str, float]:
    """NDCG@k of each of the fitted system's sources ranking alone
    (``system.source_lists``), over the same test users as its own lists: the ranker's
    combination should be at least its best source."""
    test = split.test.assign(
        user_id=split.test["user_id"].astype(str), item_id=split.test["item_id"].astype(str)
    )
    users = pd.Index(pd.unique(test["user_id"]))
    lists = system.source_lists(users, k=k)
    catalogue = pd.Index(pd.unique(pd.concat([lists["item_id"], test["item_id"]])))
    relevant = _matrix(test, users, catalogue)
    n_relevant = metrics.relevant_counts(relevant)
    found = {}
    for source in system.scorers_:
        mine = lists[lists["source"] == source]
        ranked = np.full((len(users), k), -1)
        ranked[users.get_indexer(mine["user_id"]), mine["rank"].to_numpy(int) - 1] = (
            catalogue.get_indexer(mine["item_id"])
        )
        hit = metrics.hits(ranked, relevant)
        found[source] = float(np.nanmean(metrics.ndcg_at_k(hit, n_relevant, k)))
    return found


def _tags(items: pd.DataFrame | None, catalogue: pd.Index) -> sp.csr_matrix | None:
    if items is None or "tags" not in items.columns:
        return None
    tags = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id")["tags"]
    lists = [
        t if isinstance(t, list) else (str(t).split("|") if isinstance(t, str) else [])
        for t in tags.reindex(catalogue)
    ]
    vocabulary = pd.Index(sorted({t for ts in lists for t in ts}))
    rows = np.repeat(np.arange(len(lists)), [len(t) for t in lists])
    cols = vocabulary.get_indexer([t for ts in lists for t in ts])
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(lists), len(vocabulary)))


def evaluate(
    systems: Mapping[str, Callable[[], object]],
    splits: Sequence[Split],
    items: pd.DataFrame | None = None,
    ks: Sequence[int] = (5, 10, 20),
    progress: Callable[[str], None] | None = None,
) -> list[SystemResult]:
    """Every system on every split; ``progress`` is told each (split, system) as it starts."""
    results = []
    for split in splits:
        for name, make in systems.items():
            if progress is not None:
                progress(f"{split.name}: {name}")
            results.append(evaluate_system(name, make, split, items, ks))
    return results


def results_table(results: Sequence[SystemResult], columns: Sequence[str]) -> pd.DataFrame:
    rows = [
        {
            "split": r.split,
            "system": r.system,
            "fit_s": round(r.fit_seconds, 1),
            **{c: r.metrics.get(c, np.nan) for c in columns},
        }
        for r in results
    ]
    return pd.DataFrame(rows)
