"""The candidate pool the ranker chooses from, and its recall on a split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.eval.evaluate import candidate_recall, score_fitted, source_ndcg
from llmrec.eval.splits import leave_last_one_out
from llmrec.recommender import Recommender


def test_candidate_recall_counts_test_items_in_each_sources_top_candidates(ml100k_frames):
    events, _ = ml100k_frames
    split = leave_last_one_out(events)
    rec = Recommender(sources=("ease", "covisit"), ranker=False, candidates_per_source=20)
    rec.fit(split.train)
    recall = candidate_recall(rec, split)
    assert set(recall) == {"union", "ease", "covisit"}
    assert max(recall["ease"], recall["covisit"]) <= recall["union"] <= 1.0
    assert recall["union"] < recall["ease"] + recall["covisit"]  # the sources overlap

    # EASE's own share, recomputed from its scores: the test item among its best 20
    # items the user has not had
    users = split.test["user_id"].astype(str).to_numpy()
    rows = rec.histories_.rows(users)
    history = rec._history(rows)
    scores = rec.scorers_["ease"].score(history)
    scores[history.matrix.toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :20]
    wanted = rec.item_ids_.get_indexer(split.test["item_id"].astype(str))
    found = (top == wanted[:, None]).any(axis=1).mean()
    assert abs(recall["ease"] - found) < 0.005  # ties at the 20th place may differ


def test_the_pool_never_holds_a_users_own_items(ml100k_frames):
    events, _ = ml100k_frames
    rec = Recommender(sources=("ease", "covisit"), ranker=False).fit(events)
    users = ["1", "2", "3"]
    pool = rec.candidates(users)
    seen = pd.MultiIndex.from_frame(events[["user_id", "item_id"]].astype(str))
    assert not pd.MultiIndex.from_frame(pool[["user_id", "item_id"]]).isin(seen).any()
    assert set(pool["user_id"]) == set(users)
    assert pool["sources"].str.len().gt(0).all()
    assert 50 <= pool.groupby("user_id").size().min() <= 100  # two sources' top 50


def test_a_sources_ndcg_alone_is_what_it_scores_as_the_only_source(ml100k_frames):
    events, _ = ml100k_frames
    split = leave_last_one_out(events)
    rec = Recommender(sources=("covisit",), ranker=False).fit(split.train)
    own = score_fitted("CoVisit", rec, split).metrics["ndcg@10"]
    alone = source_ndcg(rec, split)
    assert set(alone) == {"covisit"}
    assert own > 0.05 and abs(alone["covisit"] - own) < 0.002  # ties may fall apart


def test_each_sources_list_leaves_out_the_users_items_and_cold_items(ml100k_frames):
    events, items = ml100k_frames
    train = events[
        events["item_id"].astype(str) != "50"
    ]  # item 50 is cold: only content could score it
    rec = Recommender(sources=("ease", "popular"), ranker=False).fit(train, items)
    lists = rec.source_lists(["1", "2", "nobody"], k=5)
    assert set(lists["source"]) == {"ease", "popular"}
    assert lists.groupby(["user_id", "source"]).size().eq(5).all()
    seen = pd.MultiIndex.from_frame(train[["user_id", "item_id"]].astype(str))
    assert not pd.MultiIndex.from_frame(lists[["user_id", "item_id"]]).isin(seen).any()
    assert "50" not in set(lists["item_id"])
    assert set(lists.loc[lists["user_id"] == "nobody", "source"]) == {"ease", "popular"}
