"""Today's scorers (``llmrec.models``) against the conformance suite, and the few facts
of the tiny fixture each one is known to give."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from llmrec.models import (
    ALS,
    BPR,
    EASE,
    ContentScorer,
    ContentToCFScorer,
    CoVisitation,
    GeneratedContentScorer,
    GeneratedContentToCFScorer,
    History,
    ItemKNN,
    MostPopular,
    SASRec,
    Scorer,
    TextPriorEASE,
)  # fmt: skip
from tests.sources.contract import (
    COLD_ITEM,
    ITEM_VECTORS,
    ONE_USER_ITEM,
    ScorerContract,
    history_of,
    tiny_interactions,
)  # fmt: skip


class TestMostPopular(ScorerContract):
    empty_history_score = None  # popularity, whoever asks

    def make_scorer(self) -> Scorer:
        return MostPopular()

    def test_known_answer(self, fitted):
        # users per item i0..i7 = 4, 3, 4, 3, 4, 4, 1, 0; the most popular scores 1
        expected = np.array([4, 3, 4, 3, 4, 4, 1, np.nan], np.float32) / 4  # i7: no events
        np.testing.assert_array_equal(fitted.score(history_of([[], [3]])), [expected] * 2)


class TestTrending(ScorerContract):
    empty_history_score = None

    def make_scorer(self) -> Scorer:
        return MostPopular(half_life_days=1.0)


class TestEASE(ScorerContract):
    def make_scorer(self) -> Scorer:
        return EASE(l2=10.0)

    def test_an_item_too_few_users_had_scores_0(self, fitted):
        assert ONE_USER_ITEM not in fitted.modelled_items_
        everyone = tiny_interactions().history(np.arange(6))
        assert (fitted.score(everyone)[:, ONE_USER_ITEM] == 0).all()


class TestItemKNN(ScorerContract):
    def make_scorer(self) -> Scorer:
        return ItemKNN(neighbours=5)


class TestCoVisitation(ScorerContract):
    reads_order = True  # the newest items count most

    def make_scorer(self) -> Scorer:
        return CoVisitation()


class TestALS(ScorerContract):
    def make_scorer(self) -> Scorer:
        return ALS(factors=4, iterations=3, threads=1)


class TestBPR(ScorerContract):
    def make_scorer(self) -> Scorer:
        return BPR(factors=4, iterations=5, threads=1)  # threads > 1: not reproducible


class TestSASRec(ScorerContract):
    empty_history_score = None
    reads_order = True

    def make_scorer(self) -> Scorer:
        return SASRec(dim=8, blocks=1, heads=1, inner=16, max_len=4, max_epochs=2,
                      patience=1, threads=1)  # fmt: skip


class TestContentScorer(ScorerContract):
    reads_order = True  # the newest items weigh most

    def make_scorer(self) -> Scorer:
        return ContentScorer(ITEM_VECTORS, recent=5)

    def test_a_one_item_history_scores_that_item_first(self, fitted):
        scores = fitted.score(history_of([[COLD_ITEM], [2]]))
        assert scores.argmax(axis=1).tolist() == [COLD_ITEM, 2]


class TestContentToCFScorer(ScorerContract):
    def make_scorer(self) -> Scorer:
        return ContentToCFScorer(ITEM_VECTORS, dim=2)

    def test_an_item_without_events_is_scored_like_the_others(self, fitted):
        scores = fitted.score(history_of([[0, 1], [3, 4, 5]]))
        assert (scores[:, COLD_ITEM] != 0).all() and (np.ptp(scores, axis=1) > 0).all()


class TestGeneratedContentScorer(ScorerContract):
    reads_order = True

    def make_scorer(self) -> Scorer:
        return GeneratedContentScorer(ITEM_VECTORS, recent=5)


class TestGeneratedContentToCFScorer(ScorerContract):
    def make_scorer(self) -> Scorer:
        return GeneratedContentToCFScorer(ITEM_VECTORS, dim=2)


@pytest.mark.parametrize("source", [GeneratedContentScorer, GeneratedContentToCFScorer])
def test_items_the_llm_wrote_nothing_about_cannot_be_scored_by_its_text(source):
    silent = ITEM_VECTORS.copy()
    silent[[2, COLD_ITEM]] = 0.0  # no usable description for i2 and the cold item
    scorer = source.from_config(item_vectors=silent).fit(tiny_interactions())
    scores = scorer.score(history_of([[0, 1], [3, 4, 5]]))
    assert np.isnan(scores[:, [2, COLD_ITEM]]).all()
    assert np.isfinite(np.delete(scores, [2, COLD_ITEM], axis=1)).all()
    # added later: scored from their text where the LLM wrote some
    scorer.add_items(np.stack([ITEM_VECTORS[0], np.zeros_like(ITEM_VECTORS[0])]))
    history = history_of([[0, 1]])
    history = History(sp.hstack([history.matrix, sp.csr_matrix((1, 2))]).tocsr(),
                      history.sequences, history.user_rows)  # fmt: skip
    added = scorer.score(history)[0, -2:]
    assert np.isfinite(added[0]) and np.isnan(added[1])
    assert source.text == "generated" and ContentScorer.text == "item"


class TestTextPriorEASE(ScorerContract):
    def make_scorer(self) -> Scorer:
        return TextPriorEASE(ITEM_VECTORS, l2=10.0, prior=5.0)

    def test_without_the_prior_it_is_ease(self):
        data = tiny_interactions()
        history = data.history(np.arange(data.n_users))
        plain = EASE(l2=10.0, min_item_users=1).fit(data).score(history)
        text = TextPriorEASE(ITEM_VECTORS, l2=10.0, prior=0.0).fit(data).score(history)
        known = ~np.isnan(plain)
        np.testing.assert_allclose(text[known], plain[known], rtol=1e-4, atol=1e-5)
        assert (text[:, COLD_ITEM] == 0).all()  # no events and no prior: nothing

    def test_an_item_without_events_is_scored_from_its_text(self, fitted):
        scores = fitted.score(history_of([[0, 1], [3, 4, 5]]))
        assert np.isfinite(scores[:, COLD_ITEM]).all() and (scores[:, COLD_ITEM] != 0).all()


def test_a_source_written_for_the_older_interface_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="overrides fit and score: deprecated"):

        class Legacy(Scorer):  # as sources were written before _fit and _score
            name = "legacy"

            def fit(self, data):
                self.n_items_ = data.n_items
                return self

            def score(self, history):
                self._check_fitted()
                return np.ones((len(history), self.n_items_), np.float32)

    scorer = Legacy()
    assert scorer.fit(tiny_interactions()) is scorer
    scores = scorer.score(history_of([[0, 1]]))
    assert np.isnan(scores[0, COLD_ITEM]) and (np.delete(scores[0], COLD_ITEM) == 1).all()
