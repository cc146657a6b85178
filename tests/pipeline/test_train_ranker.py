import numpy as np
import pandas as pd
import pytest

from llmrec.models import CoVisitation, History, Interactions
from llmrec.pipeline.candidates import tie_rank
from llmrec.pipeline.features import item_stats
from llmrec.pipeline.scoring import Scoring, candidate_pool
from llmrec.pipeline.train_ranker import RankerTraining, fit_ranker, sample_users


def _ignore(name, total=None):
    return lambda n: None


def _scoring_of(scorers, data):
    stats = item_stats(data)
    return Scoring(scorers, stats, None, None, data.now, data.n_items, tie_rank(stats.trending), 20)


def _fit(events, training):
    full = Interactions.from_events(events)
    fitted = []

    def fit_source(name, data):
        fitted.append(int(data.matrix.sum()))
        return CoVisitation().fit(data)

    ranker, scorers = fit_ranker(events, full, {}, ["covisit"], fit_source, _scoring_of,
                                 training, _ignore)  # fmt: skip
    return full, ranker, scorers, fitted


def test_the_ranker_learns_from_each_users_newest_items_held_out(ml100k_frames):
    events = ml100k_frames[0].astype({"user_id": str, "item_id": str})  # as fit reads them
    training = RankerTraining(holdout=2, max_users=200, cold_views=0, seed=0)
    full, ranker, scorers, fitted = _fit(events, training)
    # the sources were fitted without each sampled user's two newest items
    assert fitted == [int(full.matrix.sum()) - 2 * 200]
    assert ranker is not None and ranker.groups_trained_ > 20
    # a held-out item, ranked among the candidates from the history before it (a training
    # query; the sources never saw the item): above chance (half the list above it) and
    # above co-visitation's own order
    rows = np.array(sample_users(list(range(full.n_users)), training))
    history = History.of_sequences([full.sequences[r][:-2] for r in rows], full.n_items, rows)
    x, names, found = candidate_pool(_scoring_of(scorers, full), history,
                                     full.last_time[rows], history.matrix.toarray() > 0)  # fmt: skip
    assert names == ranker.feature_names_
    learned, own = ranker.predict(x), x[:, names.index("covisit_score")]
    places = []
    for i, r in enumerate(rows):
        mine = found.pairs[:, 0] == i
        hit = found.pairs[mine, 1] == full.sequences[r][-2]
        if hit.any():
            places.append([(v[mine] > v[mine][hit][0]).mean() for v in (learned, own)])
    by_ranker, by_source = np.mean(places, axis=0)
    assert len(places) > 40 and by_ranker < 0.45 and by_ranker < by_source


def test_a_shop_too_small_to_learn_from_fuses_the_sources_with_a_warning():
    events = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"],
                           "timestamp": [1.0, 2.0, 3.0], "event_type": "view"})  # fmt: skip
    with pytest.warns(UserWarning, match="ranker is not trained"):
        _, ranker, scorers, _ = _fit(events, RankerTraining())
    assert ranker is None and set(scorers) == {"covisit"}


def test_short_histories_give_the_ranker_one_list_and_keep_two_items():
    # 40 users with three items each: one held out (two kept), each a training list
    events = pd.DataFrame({
        "user_id": np.repeat([f"u{i}" for i in range(40)], 3),
        "item_id": [f"i{(i + j) % 12}" for i in range(40) for j in range(3)],
        "timestamp": np.arange(120, dtype=float), "event_type": "view",
    })  # fmt: skip
    full, ranker, _, fitted = _fit(events, RankerTraining(cold_views=0))
    assert fitted == [int(full.matrix.sum()) - 40]
    assert ranker is not None


def test_users_are_sampled_with_the_seed_in_order():
    rows = list(range(100))
    once = sample_users(rows, RankerTraining(max_users=10, seed=3))
    assert once == sample_users(rows, RankerTraining(max_users=10, seed=3)) == sorted(once)
    assert len(once) == 10 and sample_users(rows, RankerTraining(max_users=None)) == rows
