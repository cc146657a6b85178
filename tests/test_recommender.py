"""The Recommender API end to end on ML-100K, with the fast sources (SASRec is covered
by tests/models and the accuracy benchmark)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from llmrec.errors import UnknownIdError
from llmrec.recommender import Recommender
from tests.conftest import FAST_SOURCES as FAST
from tests.conftest import shop_frames


def test_constructor_does_no_work():
    rec = Recommender(sources=("nonsense",))
    assert not hasattr(rec, "scorers_")
    with pytest.raises(RuntimeError, match="not fitted"):
        rec.recommend(["1"])


def test_unknown_source_is_named(ml100k_frames):
    events, _ = ml100k_frames
    with pytest.raises(ValueError, match="nonsense"):
        Recommender(sources=("nonsense",)).fit(events)


def test_recommend_returns_ranked_unseen_items(fitted_recommender, ml100k_frames):
    events, _ = ml100k_frames
    out = fitted_recommender.recommend(["1", "2"], k=10)
    assert list(out.columns) == ["user_id", "item_id", "score", "rank", "sources"]
    assert out.groupby("user_id").size().tolist() == [10, 10]
    assert set(",".join(out["sources"]).split(",")) <= set(FAST)
    seen = set(events.loc[events.user_id == 1, "item_id"].astype(str))
    mine = out[out.user_id == "1"]
    assert not set(mine["item_id"]) & seen
    assert mine["rank"].tolist() == list(range(1, 11))
    assert mine["score"].is_monotonic_decreasing
    assert (
        fitted_recommender.ranker_ is not None and fitted_recommender.ranker_.groups_trained_ > 100
    )


def test_each_active_source_reports_its_fit_seconds(fitted_recommender):
    seconds = fitted_recommender.source_seconds_
    assert set(seconds) == set(fitted_recommender.active_sources_)
    assert all(value > 0 for value in seconds.values())


def test_unknown_user_gets_cold_start_not_an_error(fitted_recommender):
    out = fitted_recommender.recommend(["never-seen"], k=5)
    assert len(out) == 5


def test_candidates_restrict_the_ranking(fitted_recommender):
    allowed = [str(i) for i in range(1500, 1600)]
    out = fitted_recommender.recommend(["1"], k=10, candidates=allowed)
    assert set(out["item_id"]) <= set(allowed) and len(out) == 10


def test_excluded_items_never_come_back_and_unknown_ids_are_ignored(fitted_recommender):
    top = fitted_recommender.recommend(["1"], k=10)["item_id"].tolist()
    out = fitted_recommender.recommend(["1"], k=10, exclude=[*top[:5], "no-such-item"])
    assert not set(out["item_id"]) & set(top[:5]) and len(out) == 10
    assert out["item_id"].tolist()[:5] == top[5:]  # the rest keep their order
    allowed = [str(i) for i in range(1500, 1600)]
    both = fitted_recommender.recommend(["1"], k=10, candidates=allowed, exclude=allowed[:50])
    assert set(both["item_id"]) <= set(allowed[50:])
    similar = fitted_recommender.similar_items(["50"], k=10)["similar_item_id"].tolist()
    fewer = fitted_recommender.similar_items(["50"], k=10, exclude=similar[:3])
    assert fewer["similar_item_id"].tolist()[:7] == similar[3:]
    only = fitted_recommender.similar_items(["50"], k=10, candidates=["1", "2", "x"])
    assert sorted(only["similar_item_id"]) == ["1", "2"] and only["rank"].tolist() == [1, 2]


def test_filters_by_tag(fitted_recommender, ml100k_frames):
    _, items = ml100k_frames
    horror = set(items.loc[items.tags.map(lambda t: "Horror" in t), "item_id"].astype(str))
    out = fitted_recommender.recommend(["1"], k=10, filters={"include_tags": "Horror"})
    assert set(out["item_id"]) <= horror
    out = fitted_recommender.recommend(["1"], k=10, filters={"exclude_tags": ["Drama", "Comedy"]})
    assert len(out) == 10
    with pytest.raises(ValueError, match="unknown filter"):
        fitted_recommender.recommend(["1"], filters={"price": 3})


def test_update_changes_recommendations_without_refit(ml100k_frames, genre_vectors):
    events, items = ml100k_frames
    rec = Recommender(sources=FAST, item_vectors=genre_vectors, ranker=False).fit(events, items)
    before = rec.recommend(["newcomer"], k=10)
    kids = items.loc[items.tags.map(lambda t: "Children's" in t), "item_id"].head(8)
    rec.update(pd.DataFrame({"user_id": "newcomer", "item_id": kids, "timestamp": 9e8,
                             "event_type": "like"}))  # fmt: skip
    after = rec.recommend(["newcomer"], k=10)
    assert set(after["item_id"]) != set(before["item_id"])
    assert not set(after["item_id"]) & set(kids.astype(str))  # seen now


def test_a_user_who_arrived_after_fit_is_folded_into_the_factor_models(ml100k_frames):
    events, _ = ml100k_frames
    rec = Recommender(sources=("als", "bpr"), ranker=False).fit(events.head(30_000))
    liked = events.head(30_000)["item_id"].drop_duplicates().head(5)
    rec.update(pd.DataFrame({"user_id": "newcomer", "item_id": liked, "timestamp": 9e8,
                             "event_type": "like"}))  # fmt: skip
    after = rec.recommend(["newcomer", "1"], k=10)
    assert len(after) == 20 and not set(after["item_id"]) & set(liked.astype(str))


def test_dislike_removes_the_item_and_pushes_down_similar_ones(ml100k_frames, genre_vectors):
    events, items = ml100k_frames
    rec = Recommender(sources=FAST, item_vectors=genre_vectors, ranker=False).fit(events, items)
    first = rec.recommend(["1"], k=10)
    top = first["item_id"].iloc[0]
    rec.update(pd.DataFrame({"user_id": ["1"], "item_id": [top], "timestamp": [9e8],
                             "event_type": ["dislike"]}))  # fmt: skip
    again = rec.recommend(["1"], k=10)
    assert top not in set(again["item_id"])
    vectors = genre_vectors.loc[list(again["item_id"])].to_numpy() @ genre_vectors.loc[top]
    old = genre_vectors.loc[list(first["item_id"].iloc[1:])].to_numpy() @ genre_vectors.loc[top]
    assert vectors.mean() < old.mean()


def test_diversity_makes_lists_more_varied(fitted_recommender, genre_vectors):
    def spread(frame):
        v = genre_vectors.loc[list(frame["item_id"])].to_numpy()
        return 1 - (v @ v.T)[np.triu_indices(len(v), 1)].mean()

    users = [str(u) for u in range(1, 30)]
    plain = fitted_recommender.recommend(users, k=10)
    varied = fitted_recommender.recommend(users, k=10, diversity=0.7)
    assert np.mean([spread(g) for _, g in varied.groupby("user_id")]) > np.mean(
        [spread(g) for _, g in plain.groupby("user_id")]
    )


def test_similar_items(fitted_recommender):
    out = fitted_recommender.similar_items(["1"], k=5)  # Toy Story
    assert list(out.columns) == ["item_id", "similar_item_id", "score", "rank"]
    assert len(out) == 5 and "1" not in set(out["similar_item_id"])
    with pytest.raises(UnknownIdError, match="nope"):
        fitted_recommender.similar_items(["nope"])


def test_bad_rows_are_set_aside_and_good_rows_kept(ml100k_frames):
    events, _ = ml100k_frames
    bad = pd.DataFrame({"user_id": [None, "1"], "item_id": ["1", "2"],
                        "timestamp": ["yesterday-ish", 5], "event_type": ["rating", "rating"],
                        "value": [4, "lots"]})  # fmt: skip
    mixed = pd.concat([events.head(20_000), bad], ignore_index=True)
    with pytest.warns(UserWarning, match="2 event row"):
        rec = Recommender(sources=("ease",), ranker=False).fit(mixed)
    assert len(rec.rejected_) == 2 and rec.rejected_["row"].tolist() == [20_001, 20_002]
    assert len(rec.recommend(["1"], k=3)) == 3
    with pytest.raises(TypeError, match="DataFrame"):
        Recommender().fit([1, 2, 3])
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend(["1"], k=0)


def test_save_and_load_with_the_events_give_the_same_recommendations(
    fitted_recommender, ml100k_frames, tmp_path
):
    events, _ = ml100k_frames
    path = fitted_recommender.save(tmp_path / "model.pkl")
    users = ["5", "1", "943", "never-seen"]
    loaded = Recommender.load(path, events)
    pd.testing.assert_frame_equal(
        loaded.recommend(users, k=10), fitted_recommender.recommend(users, k=10)
    )
    assert len(loaded.histories_) == len(fitted_recommender.histories_)
    # without events the file alone knows nobody: everyone gets the popular list
    alone = Recommender.load(path)
    assert not alone.knows_user("5") and len(alone.histories_) == 0
    assert (
        alone.recommend(["5"], k=5)["item_id"].tolist()
        == loaded.recommend(["never-seen"], k=5)["item_id"].tolist()
    )
    item = str(fitted_recommender.item_ids_[0])
    alone.update(pd.DataFrame({"user_id": ["newcomer"], "item_id": [item], "timestamp": [9e9]}))
    assert alone.knows_user("newcomer") and len(alone.histories_) == 1


def test_the_model_file_holds_no_user_state():
    """User state lives in the events (the store), never in the model file: a user
    deleted from the store cannot come back from a model saved before the delete."""
    import pickle

    rec = shop_recommender()
    rec.update(
        pd.DataFrame({"user_id": ["zoë-the-unique"], "item_id": ["mug"], "timestamp": [1.9e9]})
    )
    assert rec.knows_user("zoë-the-unique")
    payload = pickle.dumps(rec)
    # ids are in it as raw UTF-8 (the items' are): no user's is
    assert b"kettle" in payload
    assert b"cleo" not in payload and "zoë-the-unique".encode() not in payload
    assert not hasattr(pickle.loads(payload), "histories_")


def test_an_older_model_file_is_refused_with_the_command_that_fixes_it(
    fitted_recommender, tmp_path
):
    import pickle

    old = copy.deepcopy(fitted_recommender)
    # format 4 kept every user's history inside; 5 had sources scoring 0 for "cannot score";
    # 6 had no ranker lead; 7 no sources over the LLM's text; 8 no cold model; 9 took
    # items with undated events for cold
    for version in (4, 5, 6, 7, 8, 9):
        with (tmp_path / f"v{version}.pkl").open("wb") as handle:
            pickle.dump((version, old), handle)
        with pytest.raises(
            ValueError, match=rf"v{version}.pkl: .*older llmrec \(format {version}.*llmrec train"
        ):
            Recommender.load(tmp_path / f"v{version}.pkl")
    with (tmp_path / "v11.pkl").open("wb") as handle:
        pickle.dump((11, old), handle)
    with pytest.raises(ValueError, match=r"v11.pkl: not a llmrec model of format 10"):
        Recommender.load(tmp_path / "v11.pkl")


@pytest.mark.slow
def test_cold_items_are_ranked_by_content(ml100k_frames, genre_vectors):
    """Items with no events at all are recommendable the moment they are in the catalogue."""
    events, items = ml100k_frames
    cold = [str(i) for i in range(1000, 1100)]
    warm_events = events[~events["item_id"].astype(str).isin(cold)]
    rec = Recommender(sources=FAST, item_vectors=genre_vectors, ranker_max_users=200)
    rec.fit(warm_events, items)
    assert rec.stats_.cold[rec.item_ids_.get_indexer(cold)].all()
    # a sample of 200 users: at most 5 held-out queries each; the cold views (8 each)
    # train a model of their own, which orders the cold items
    assert 200 <= rec.ranker_.groups_trained_ <= 200 * 5
    assert rec.ranker_.cold_model_ is not None
    out = rec.recommend(["1", "2", "3"], k=5, candidates=cold)
    assert set(out["item_id"]) <= set(cold) and len(out) == 15
    assert out.groupby("user_id")["item_id"].nunique().min() == 5


def test_taste_is_the_content_interest_vector_and_the_seen_items(fitted_recommender, ml100k_frames):
    events, _ = ml100k_frames
    vector, seen = fitted_recommender.taste("1")
    assert seen == set(events.loc[events.user_id == 1, "item_id"].astype(str))
    assert vector is not None and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert fitted_recommender.taste("never-seen") == (None, set())


def test_undated_events_do_not_make_their_input_order_a_sequence(ml100k_frames):
    """Play counts come without time: sorted by item id or shuffled, the same model."""
    events, _ = ml100k_frames
    undated = events.head(20_000).assign(timestamp=None, event_type="play")
    by_item = undated.sort_values(["user_id", "item_id"], ignore_index=True)
    reversed_ = by_item.iloc[::-1].reset_index(drop=True)
    users = ["1", "13", "42"]
    models = [
        Recommender(sources=("covisit", "ease"), ranker=False).fit(f) for f in (by_item, reversed_)
    ]
    pd.testing.assert_frame_equal(
        models[0].recommend(users, k=10), models[1].recommend(users, k=10)
    )
    # no order to learn from: ALS takes the order-based sources' place
    assert models[0].active_sources_ == ("als", "ease")
    dated = Recommender(sources=("covisit", "ease"), ranker=False).fit(events.head(20_000))
    assert dated.active_sources_ == ("covisit", "ease")


def test_kept_lists_answer_as_scoring_does_and_follow_updates(ml100k_frames, genre_vectors):
    events, items = ml100k_frames
    train = events.head(40_000)
    plain = Recommender(sources=("covisit", "content", "popular"), item_vectors=genre_vectors,
                        cold_views=1).fit(train, items)  # fmt: skip
    kept = copy.deepcopy(plain).set_params(list_cache_size=100)
    users = ["1", "13", "42", "no-such-user"]
    for _ in range(2):  # the second call is answered from the kept lists
        for k, diversity in ((10, None), (5, 0.5)):
            pd.testing.assert_frame_equal(
                kept.recommend(users, k=k, diversity=diversity),
                plain.recommend(users, k=k, diversity=diversity),
            )
    cache = kept.list_cache_
    assert len(cache) == len(users) and cache.hits >= 3 * len(users)
    top = plain.recommend(["13"], k=1)["item_id"].iloc[0]
    feedback = pd.DataFrame({"user_id": ["13"], "item_id": [top], "timestamp": [9e9],
                             "event_type": ["dislike"]})  # fmt: skip
    for model in (plain, kept):
        model.update(feedback)
    assert len(cache) == len(users) - 1  # the user's list went with their event
    after = kept.recommend(["13"], k=10)
    pd.testing.assert_frame_equal(after, plain.recommend(["13"], k=10))
    assert top not in set(after["item_id"])
    first = items.head(1)
    kept.add_items(first.assign(attributes=[{"price": 4.0}]))  # a price: every list stays
    assert len(cache) == len(users)
    pd.testing.assert_frame_equal(kept.recommend(users, k=10), plain.recommend(users, k=10))
    kept.add_items(first.assign(tags=[["Documentary"]]))  # a tag ranks: every list goes
    assert len(cache) == 0


def test_kept_top_is_recommends_answer_without_scoring(ml100k_frames, genre_vectors):
    events, items = ml100k_frames
    model = Recommender(sources=("covisit", "content", "popular"), item_vectors=genre_vectors,
                        cold_views=1, list_cache_size=10).fit(events.head(40_000), items)  # fmt: skip
    assert model.kept_top("13") is None  # nothing kept yet: the caller scores
    for k, diversity in ((10, None), (5, 0.5), (1, 0.0)):
        expected = model.recommend(["13"], k=k, diversity=diversity)
        top = model.kept_top("13", k=k, diversity=diversity)
        assert model.item_ids_[top.items].tolist() == expected["item_id"].tolist()
        np.testing.assert_array_equal(top.scores, expected["score"].to_numpy())
        assert model.source_labels(top.sources) == expected["sources"].tolist()
    assert model.kept_top("13", k=60) is None  # deeper than a kept list: scored
    disliked = expected["item_id"][0]
    model.update(pd.DataFrame({"user_id": ["13"], "item_id": [disliked], "timestamp": [9e9],
                               "event_type": ["dislike"]}))  # fmt: skip
    assert model.kept_top("13") is None  # the user's list went with their event


def test_a_user_with_few_co_visits_gets_popular_candidates_not_the_first_columns():
    # Items "a0".."a9" come first in the catalogue but only one user had each, long ago;
    # "p0".."p9" come last and everyone had them. A user whose one item co-occurred with nothing
    # else ties every other item at 0 in co-visitation.
    rare = [f"a{i}" for i in range(10)]
    popular = [f"p{i}" for i in range(10)]
    items = pd.DataFrame({"item_id": [*rare, *popular, "x"], "title": "t"})
    rows = [(f"r{i}", a, i) for i, a in enumerate(rare)]
    rows += [(f"u{u}", p, 100 + u * 10 + j) for u in range(30) for j, p in enumerate(popular)]
    rows += [("new", "x", 1000)]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    model = Recommender(sources=("covisit",), ranker=False, candidates_per_source=5)
    model.fit(events, items)
    got = model.recommend(["new"], k=5)
    assert set(got["item_id"]) <= set(popular)


def test_fit_reports_each_stage_with_its_count(ml100k_frames):
    events, _ = ml100k_frames
    stages: list[tuple[str, int | None]] = []
    advanced: dict[str, int] = {}

    def progress(stage: str, total: int | None):
        stages.append((stage, total))
        advanced[stage] = 0
        return lambda n: advanced.__setitem__(stage, advanced[stage] + n)

    Recommender(sources=("ease", "popular"), ranker=True, cold_views=0).fit(
        events.head(20_000), progress=progress
    )
    names = [name for name, _ in stages]
    assert names == [
        "fitting ease (without each user's newest items)",
        "fitting popular (without each user's newest items)",
        "the ranker's training lists",
        "training the ranker (LambdaRank)",
    ]
    lists = dict(stages)["the ranker's training lists"]
    assert lists > 0 and advanced["the ranker's training lists"] == lists


def test_a_small_shop_without_long_histories_falls_back_to_rank_fusion():
    items = pd.DataFrame({"item_id": [f"p{i}" for i in range(12)],
                          "title": [f"Mug {i}" for i in range(12)]})  # fmt: skip
    bought = [("u0", "p0"), ("u1", "p0"), ("u2", "p0"), ("u0", "p1"), ("u1", "p1"), ("u3", "p2")]
    events = pd.DataFrame(bought, columns=["user_id", "item_id"]).assign(
        event_type="purchase", timestamp=range(1_600_000_000, 1_600_000_006)
    )
    with pytest.warns(UserWarning, match="the ranker is not trained"):
        rec = Recommender(sources=("ease", "covisit", "popular"), ranker=True).fit(events, items)
    assert rec.ranker_ is None
    assert rec.recommend(["someone-new"], k=3)["item_id"].tolist() == ["p0", "p1", "p2"]


def test_refit_sources_fits_them_again_on_every_event_after_the_ranker(ml100k_frames):
    events, _ = ml100k_frames
    stages: list[str] = []

    def progress(stage: str, total: int | None):
        stages.append(stage)
        return lambda n: None

    rec = Recommender(sources=("ease", "popular"), cold_views=0, refit_sources=True)
    rec.fit(events.head(20_000), progress=progress)
    assert stages[-3:] == [
        "training the ranker (LambdaRank)",
        "fitting ease on every event",
        "fitting popular on every event",
    ]
    # the refitted EASE knows every event: it equals one fitted on them all
    alone = Recommender(sources=("ease",), ranker=False).fit(events.head(20_000))
    history = alone._history(np.arange(5))
    assert np.allclose(rec.scorers_["ease"].score(history), alone.scorers_["ease"].score(history))


# -- shop filters and repeat items (the shop of tests/conftest.py) ----------------------


def shop_recommender(**options) -> Recommender:
    events, items = shop_frames()
    return Recommender(sources=("ease", "popular"), ranker=False, **options).fit(events, items)


def test_shop_filters_restrict_known_and_new_users_lists():
    rec = shop_recommender()
    acme_to_20 = {"max_price": 20, "brand": "acme", "available": True}
    out = rec.recommend(["ana", "someone-new"], k=12, filters=acme_to_20)
    # Acme, in stock, ≤ $20: coffee-acme, tea-acme, paper-filters, sugar (not the kettle)
    assert set(out.loc[out.user_id == "someone-new", "item_id"]) == {
        "coffee-acme", "tea-acme", "paper-filters", "sugar"
    }  # fmt: skip
    # ana bought coffee-acme and sugar; paper-filters is repeatable by its attribute
    assert set(out.loc[out.user_id == "ana", "item_id"]) == {"tea-acme", "paper-filters"}
    assert rec.recommend(["ana"], k=5, filters={"min_price": 2000}).empty
    with pytest.raises(ValueError, match="'min_price' 30 is above 'max_price' 20"):
        rec.recommend(["ana"], filters={"min_price": 30, "max_price": 20})
    with pytest.raises(ValueError, match="filter 'max_price' must be a number"):
        rec.recommend(["ana"], filters={"max_price": "$20"})


def test_repeat_items_come_back_to_users_who_bought_them_unless_disliked():
    ana = set(shop_recommender().recommend(["ana"], k=12)["item_id"])
    assert "paper-filters" in ana and not ana & {"coffee-acme", "mug", "sugar"}
    rec = shop_recommender(repeat_tags=["Coffee"])
    ana = set(rec.recommend(["ana"], k=12)["item_id"])
    assert {"coffee-acme", "paper-filters"} <= ana and not ana & {"mug", "sugar"}
    assert "coffee-acme" in set(rec.recommend(["ana"], k=12, exclude_seen=False)["item_id"])
    rec.update(pd.DataFrame({"user_id": ["ana"], "item_id": ["coffee-acme"],
                             "event_type": ["dislike"], "timestamp": [1_800_000_000]}))  # fmt: skip
    assert "coffee-acme" not in set(rec.recommend(["ana"], k=12)["item_id"])


def test_kept_lists_follow_the_repeat_settings_and_the_catalogue():
    rec = shop_recommender(list_cache_size=10)
    assert "coffee-acme" not in set(rec.recommend(["ana"], k=12)["item_id"])
    assert rec.kept_top("ana", 12) is not None
    rec.set_params(repeat_tags=("Coffee",))
    assert rec.kept_top("ana", 12) is None  # ranked with the old setting: dropped
    after = rec.recommend(["ana"], k=12)
    assert "coffee-acme" in set(after["item_id"])
    assert rec.item_ids_[rec.kept_top("ana", 12).items].tolist() == after["item_id"].tolist()
    # an item that becomes repeatable (or gets a repeat tag) comes back at once
    mug = pd.DataFrame({"item_id": ["mug"], "title": ["Ceramic Mug"], "tags": [["Kitchen"]],
                        "attributes": [{"repeatable": True}]})  # fmt: skip
    rec.add_items(mug)
    assert "mug" in set(rec.recommend(["ana"], k=12)["item_id"])


def test_adding_items_drops_the_kept_lists_only_when_what_ranks_changes():
    rec = shop_recommender(list_cache_size=10)
    users = ["ana", "ben"]
    before = rec.recommend(users, k=12)
    stock = pd.DataFrame({"item_id": ["grinder"], "title": ["Burr Grinder"],
                          "tags": [["Appliances"]], "available": [False],
                          "attributes": [{"brand": "Grindwell", "price": "$79.00"}]})  # fmt: skip
    rec.add_items(stock)  # stock and price do not rank: the lists are kept
    assert len(rec.list_cache_) == 2
    pd.testing.assert_frame_equal(rec.recommend(users, k=12), before)
    assert "grinder" not in set(rec.recommend(users, k=12, filters={"available": True})["item_id"])
    # no content source: a new item has no score until a refit, so no list changes
    rec.add_items(
        pd.DataFrame({"item_id": ["new"], "title": ["Milk Frother"], "tags": [["Kitchen"]]})
    )
    assert len(rec.list_cache_) == 2
    rec.add_items(pd.DataFrame({"item_id": ["press"], "title": ["French Press"],
                                "tags": [["Kitchen", "Coffee"]]}))  # fmt: skip
    assert len(rec.list_cache_) == 0


def test_a_saved_model_keeps_its_filters(tmp_path):
    rec = shop_recommender(repeat_tags=["Coffee"])
    wanted = {"max_price": 20, "brand": ["Bean Co", "Acme"]}
    expected = rec.recommend(["ana", "ben"], k=5, filters=wanted)
    loaded = Recommender.load(rec.save(tmp_path / "shop.pkl"), shop_frames()[0])
    pd.testing.assert_frame_equal(loaded.recommend(["ana", "ben"], k=5, filters=wanted), expected)
    # no repeat tags now: ana's coffee, mug and sugar stay out; the kettle is ≤ $20
    out = loaded.set_params(repeat_tags=()).recommend(["ana"], k=12, filters=wanted)
    assert set(out["item_id"]) == {"coffee-bean", "tea-acme", "paper-filters", "kettle"}


def test_a_new_user_gets_the_most_popular_items_whatever_the_ranker_says():
    # Issue 19 #14: on a small catalogue the ranker's scores for an empty history tied and
    # the new user's list followed the catalogue's order, without the most popular item.
    rng = np.random.default_rng(0)
    weights = np.arange(20, 0, -1.0) ** 1.5
    shuffled = rng.permutation(20)  # popularity is not the id order
    rows = [
        (f"u{u}", f"i{shuffled[i]:02d}", "purchase", 1_700_000_000 + 100 * u + n)
        for u in range(300)
        for n, i in enumerate(
            rng.choice(20, rng.integers(3, 9), replace=False, p=weights / weights.sum())
        )
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    items = pd.DataFrame(
        {"item_id": [f"i{j:02d}" for j in range(20)], "title": [f"Item {j}" for j in range(20)]}
    )
    rec = Recommender(sources=("ease", "covisit", "popular"), cold_views=1).fit(events, items)
    assert rec.ranker_ is not None
    out = rec.recommend(["someone-new"], k=5)
    assert out["item_id"].tolist() == events["item_id"].value_counts().index[:5].tolist()
    assert set(out["sources"]) == {"popularity"}
    wanted = {"exclude_tags": ["none"]}  # filters keep the order of what they let through
    assert (
        rec.recommend(["someone-new"], k=5, filters=wanted)["item_id"].tolist()
        == out["item_id"].tolist()
    )


def test_not_interested_is_feedback_never_history_when_fitted_and_online():
    """The web page's "Not interested" button: the item is hidden from the user and is
    no part of their history, in training data and online, and the user's kept list goes."""
    events, items = shop_frames()
    hidden = pd.DataFrame({"user_id": ["ana"], "item_id": ["grinder"], "timestamp": [1_800_000_000],
                           "event_type": ["not_interested"]})  # fmt: skip
    rec = Recommender(sources=("ease", "popular"), ranker=False, list_cache_size=10)
    rec.fit(pd.concat([events, hidden], ignore_index=True), items)

    def history(user: str) -> set[str]:
        return set(rec.item_ids_[rec.histories_.items_of(user)])

    assert "grinder" not in history("ana") and "grinder" in history("ben")
    assert rec.item_ids_[list(rec.histories_.negatives_of("ana"))].tolist() == ["grinder"]
    assert "grinder" not in set(rec.recommend(["ana"], k=12)["item_id"])

    before = rec.recommend(["cleo"], k=12)
    assert rec.kept_top("cleo", 12) is not None and "grinder" in set(before["item_id"])
    rec.update(pd.DataFrame({"user_id": ["cleo", "zed"], "item_id": ["grinder", "mug"],
                             "timestamp": [1_800_000_001] * 2,
                             "event_type": ["not_interested"] * 2}))  # fmt: skip
    assert rec.kept_top("cleo", 12) is None
    assert "grinder" not in history("cleo") and not rec.knows_user("zed")
    after = rec.recommend(["cleo"], k=12)
    # nothing positive happened: the rest of the list is as it was (no text vectors here,
    # so no look-alikes to push down)
    kept = before[before["item_id"] != "grinder"]
    assert after["item_id"].tolist() == kept["item_id"].tolist()


def test_sources_take_their_options_and_the_older_arguments_still_apply():
    events, items = shop_frames()
    rec = Recommender(sources={"ease": {"l2": 10.0}, "popular": None}, ranker=False).fit(
        events, items
    )
    assert rec.scorers_["ease"].l2 == 10.0 and list(rec.source_configs_) == ["ease", "popular"]
    assert (
        type(rec.source_configs_["ease"]).model_validate_json(
            rec.source_configs_["ease"].model_dump_json()
        )
        == rec.source_configs_["ease"]
    )
    with pytest.warns(
        DeprecationWarning, match=r"ease_l2: deprecated, give the source its options"
    ):
        older = Recommender(sources=("ease", "popular"), ease_l2=7.0, ranker=False).fit(
            events, items
        )
    assert older.scorers_["ease"].l2 == 7.0
    with pytest.raises(ValueError, match=r"source 'ease': l2: Input should be greater than 0"):
        Recommender(sources={"ease": {"l2": 0}}).fit(events, items)


def test_a_new_source_is_one_class_and_one_registry_entry(monkeypatch):
    """What the recommender knows of a source comes from its class in the registry."""
    from pydantic import Field

    from llmrec.models import SOURCES, Scorer, SourceConfig

    class Newest(Scorer):  # scores the items by how recently anyone first had them
        name = "newest"

        class Config(SourceConfig):
            weight: float = Field(1.0, gt=0)

        def __init__(self, weight: float = 1.0) -> None:
            self.weight = weight

        def _fit(self, data):
            self.order_ = np.argsort(np.argsort(np.nan_to_num(data.item_first_time, nan=0.0)))
            self.n_items_ = data.n_items

        def _score(self, history):
            return np.tile(self.weight * self.order_.astype(np.float32), (len(history), 1))

    monkeypatch.setitem(SOURCES, "newest", Newest)
    events, items = shop_frames()
    rec = Recommender(sources={"newest": {"weight": 2.0}}, ranker=False).fit(events, items)
    newest_first = events.groupby("item_id")["timestamp"].min().sort_values(ascending=False).index
    had = set(events.loc[events["user_id"] == "ana", "item_id"])
    out = rec.recommend(["ana"], k=3)
    assert rec.scorers_["newest"].weight == 2.0 and set(out["sources"]) == {"newest"}
    assert out["item_id"].tolist() == [i for i in newest_first if i not in had][:3]


def test_content_sources_encode_with_the_encoder_given_and_say_so_without_one(recwarn):
    import pickle

    from llmrec.config import EmbedSettings
    from llmrec.embed import load_encoder
    from llmrec.embed.item_text import item_texts

    events, items = shop_frames()
    with load_encoder(EmbedSettings()) as encoder:
        rec = Recommender(sources=("content", "popular"), ranker=False, encoder=encoder)
        rec.fit(events, items)
        frame = rec.items_.reset_index(names="item_id").fillna({"title": "", "description": ""})
        wanted = encoder.encode(item_texts(frame, None, rec.item_text_template, 2_000).tolist())
    np.testing.assert_allclose(rec.vectors_, wanted, rtol=1e-6)
    assert not [w for w in recwarn if "default encoder" in str(w.message)]
    assert pickle.loads(pickle.dumps(rec)).encoder is None  # a runtime resource, not saved
    with pytest.warns(UserWarning, match="encoded by the default encoder"):
        Recommender(sources=("content", "popular"), ranker=False).fit(events, items)


def test_a_new_model_takes_the_served_models_users(fitted_recommender, ml100k_frames) -> None:
    """A published version swaps in with the served model's histories (kept up to date
    by every event since) instead of rebuilding them from all stored events."""

    events, _ = ml100k_frames
    served = copy.deepcopy(fitted_recommender)
    served.update(pd.DataFrame({"user_id": ["brand-new"] * 2, "item_id": ["50", "181"],
                                "event_type": "like", "timestamp": [1, 2]}))  # fmt: skip
    served.update(pd.DataFrame({"user_id": ["1"], "item_id": ["7"], "event_type": "dislike",
                                "timestamp": [3]}))  # fmt: skip
    fewer = events[~events["item_id"].isin([181, 1, 2])]  # another catalogue, another order
    new = Recommender(sources=("popular",), ranker=False).fit(fewer.sample(frac=1, random_state=0))
    assert new.take_histories(served)
    for user in ("1", "500", "brand-new"):
        had = served.item_ids_[served.histories_.items_of(user)]
        now = new.item_ids_[new.histories_.items_of(user)]
        assert list(now) == [i for i in had if i not in {"181", "1", "2"}]
    assert new.item_ids_[list(new.histories_.negatives_of("1"))].tolist() == ["7"]
    assert new.recommend(["brand-new"], k=5)["item_id"].isin(["50"]).sum() == 0
    # not when the served model lacks an item of the new one, or reads events otherwise
    unknown = Recommender(sources=("popular",), ranker=False).fit(pd.concat([fewer,
        pd.DataFrame({"user_id": [1], "item_id": ["only-new"], "event_type": "rating",
                      "value": [5.0], "timestamp": [1]})]))  # fmt: skip
    assert not unknown.take_histories(served)
    weighted = Recommender(sources=("popular",), ranker=False,
                           event_weights={"rating": 3.0}).fit(fewer)  # fmt: skip
    assert not weighted.take_histories(served)
    # over the same catalogue the histories are shared cheaply, yet change separately
    same = copy.deepcopy(fitted_recommender)
    assert same.take_histories(served)
    before = served.histories_.items_of("1").tolist()
    assert same.histories_.items_of("1").tolist() == before
    same.update(pd.DataFrame({"user_id": ["1", "newer"], "item_id": ["1682", "1"],
                              "event_type": "like", "timestamp": [9, 9]}))  # fmt: skip
    same.forget("500")
    same.update(pd.DataFrame({"user_id": ["1"], "item_id": ["8"], "event_type": "dislike",
                              "timestamp": [9]}))  # fmt: skip
    assert same.histories_.items_of("1").tolist() != before
    assert served.histories_.items_of("1").tolist() == before
    assert len(served.histories_.items_of("500")) > 0 == len(same.histories_.items_of("500"))
    assert "newer" in same.histories_.user_ids and "newer" not in served.histories_.user_ids
    assert served.item_ids_[list(served.histories_.negatives_of("1"))].tolist() == ["7"]


def test_the_llms_text_is_scored_by_sources_of_its_own(ml100k_frames, genre_vectors, tmp_path):
    events, items = ml100k_frames
    train = events.head(40_000)
    # stand-in for the vectors of what the LLM wrote: it wrote nothing usable for a third
    written = genre_vectors.iloc[::3].index
    others = genre_vectors.drop(index=written)
    generated = pd.DataFrame(np.roll(others.to_numpy(), 1, axis=0), index=others.index)
    model = Recommender(sources=("covisit", "content", "content_llm", "popular"),
                        item_vectors=genre_vectors, generated_vectors=generated,
                        cold_views=1, ranker_max_users=200).fit(train, items)  # fmt: skip
    assert model.active_sources_ == ("covisit", "content", "content_llm", "popular")
    assert any(name.startswith("content_llm") for name in model.ranker_.feature_names_)
    history = model._history(model.histories_.rows(["1"]))
    own, llm = (model.scorers_[s].score(history)[0] for s in ("content", "content_llm"))
    silent = ~model.item_ids_.isin(generated.index[generated.abs().sum(axis=1) > 0])
    assert model.item_ids_.isin(written)[silent].mean() > 0.9  # (and items without genres)
    assert np.isnan(llm[silent]).all() and np.isfinite(llm[~silent]).all()
    assert np.isfinite(own).all()  # the item's own text: every item
    read = model.scorers_["content_llm"].vectors_  # the LLM's vectors, not the item's
    np.testing.assert_array_equal(read, generated.reindex(model.item_ids_).fillna(0.0))
    # saved and loaded whole; a new item is scored by its own text, not by the LLM's
    loaded = Recommender.load(model.save(tmp_path / "model.llmrec"), train)
    pd.testing.assert_frame_equal(loaded.recommend(["1", "7"]), model.recommend(["1", "7"]))
    new = pd.DataFrame({"item_id": ["new-1"], "title": ["A new film"], "tags": [["Drama"]]})
    loaded.add_items(new, genre_vectors.iloc[[0]].set_axis(["new-1"]))
    history = loaded._history(loaded.histories_.rows(["1"]))
    assert np.isfinite(loaded.scorers_["content"].score(history)[0, -1])
    assert np.isnan(loaded.scorers_["content_llm"].score(history)[0, -1])


def test_the_llms_text_sources_are_left_out_without_its_vectors(ml100k_frames, genre_vectors):
    events, items = ml100k_frames
    with pytest.warns(UserWarning, match="content_llm left out: no generated_vectors"):
        model = Recommender(sources=("covisit", "content_llm"), item_vectors=genre_vectors,
                            ranker=False).fit(events.head(20_000), items)  # fmt: skip
    assert model.active_sources_ == ("covisit",)
