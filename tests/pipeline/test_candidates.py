import numpy as np

from llmrec.models import EASE, History, Interactions, ItemKNN
from llmrec.pipeline.candidates import propose, source_scores, tie_rank, top_k_usable
from llmrec.rank.features import best_first
from tests.sources.contract import COLD_ITEM, ITEMS, tiny_events, tiny_interactions


def test_candidates_are_each_rows_best_usable_items_ties_by_tie_rank():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(40, 300)).astype(np.float32)  # ties everywhere
    scores[:10, :] = 0.0  # whole rows tied
    scores[10:20] = rng.normal(size=(10, 300))
    blocked = rng.random((40, 300)) < 0.3
    blocked[20, :295] = True  # fewer usable items than k
    cannot = rng.random((40, 300)) < 0.4  # "cannot score": NaN, and never usable
    cannot[30:] = np.arange(300) < 290  # rows that cannot score all but 10 items
    scores[cannot] = np.nan
    tie_rank = rng.permutation(300)  # e.g. each item's place by popularity
    for cap in (5, 50, 1000):
        chosen = top_k_usable(scores, blocked, best_first(scores, cap), 12, tie_rank)
        for r in range(40):
            usable = np.flatnonzero(~blocked[r] & ~cannot[r])
            # best first, then the better tie rank first
            expected = usable[np.lexsort((tie_rank[usable], -scores[r, usable]))][:12]
            assert set(np.flatnonzero(chosen[r])) == set(expected), (cap, r)


def test_items_added_after_the_fit_cannot_be_scored_by_sources_that_read_no_text():
    scorers = {"ease": EASE(l2=10.0).fit(tiny_interactions())}
    history = History.of_sequences([np.array([0, 1, len(ITEMS)])], len(ITEMS) + 2)
    scores = source_scores(scorers, history, n_fitted=len(ITEMS))["ease"]
    assert scores.shape == (1, len(ITEMS) + 2)
    assert np.isnan(scores[0, len(ITEMS) :]).all()  # added: unknown to EASE
    assert np.isnan(scores[0, COLD_ITEM])  # no events in the fit
    # the added item in the history is left out of what EASE sees, not an error
    fitted_only = source_scores(scorers, History.of_sequences([np.array([0, 1])], len(ITEMS)),
                                n_fitted=len(ITEMS))["ease"]  # fmt: skip
    np.testing.assert_array_equal(scores[:, : len(ITEMS)], fitted_only)


def test_the_pool_is_the_union_of_each_sources_best_and_says_who_proposed_each():
    data = tiny_interactions()
    scorers = {"ease": EASE(l2=10.0).fit(data), "itemknn": ItemKNN(neighbours=5).fit(data)}
    history = data.history(np.arange(data.n_users))
    scores = source_scores(scorers, history, data.n_items)
    blocked = history.matrix.toarray() > 0
    found = propose(scores, blocked, 2, tie_rank(np.zeros(data.n_items)))
    for r in range(len(history)):
        mine = found.pairs[found.pairs[:, 0] == r, 1]
        assert not blocked[r, mine].any() and COLD_ITEM not in mine  # NaN: never proposed
        for s, (name, value) in enumerate(scores.items()):
            proposed = set(found.pairs[(found.pairs[:, 0] == r) & found.by_source[:, s], 1])
            usable = np.flatnonzero(~blocked[r] & ~np.isnan(value[r]))
            assert len(proposed) == min(2, len(usable)), name
            assert min(value[r, list(proposed)]) >= np.sort(value[r, usable])[-2], name
    masks = found.source_masks()
    assert ((masks & 1 > 0) == found.by_source[:, 0]).all()
    assert ((masks & 2 > 0) == found.by_source[:, 1]).all()


def test_ties_go_to_what_is_popular_now():
    assert tie_rank(np.array([0.1, 0.9, 0.5, 0.9])).tolist() == [3, 0, 2, 1]


def test_a_history_of_sequences_is_the_matrix_of_their_items():
    history = History.of_sequences([np.array([2, 0]), np.zeros(0, np.int64)], 4)
    assert history.matrix.toarray().tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]]
    assert history.user_rows.tolist() == [-1, -1]
    assert Interactions.from_events(tiny_events(), item_ids=ITEMS).items_without_events[COLD_ITEM]
