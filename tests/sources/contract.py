"""The conformance suite every candidate scorer attaches to (as implicit's
``RecommenderBaseTestMixin`` and LensKit's ``ScorerTests``): what the recommender, the
kept lists and the model file rely on from any source, checked on one tiny fixture.

A scorer's test class attaches in three lines::

    class TestEASE(ScorerContract):
        def make_scorer(self) -> Scorer:
            return EASE(l2=10.0)

``make_scorer`` returns an unfitted scorer at a fixed seed, small enough to fit in a
fraction of a second; ``fit_data`` (default: :func:`tiny_interactions`) may be
overridden. The class attributes declare what the scorer does where the contract leaves
a choice, and the suite holds it to them.

"Cannot score" is NaN, and only that (:class:`~llmrec.models.Scorer`): a source that
does not read text gives NaN for every item without events in its fit, in every row,
and a finite score everywhere else. What each gives for an empty history (a new user,
nothing yet), where the contract leaves a choice:

======================  ============================================
scorer                  empty history
======================  ============================================
MostPopular             every item its popularity
EASE                    0 (and 0 in every row for items fewer than
                        ``min_item_users`` users had: left out of
                        the model, not unknown to it)
ItemKNN, CoVisitation   0
ALS, BPR                0 (the fold-in of nothing)
SASRec                  finite: the network's output for padding
ContentScorer,          0 (no interest vector)
ContentToCFScorer
======================  ============================================

Determinism: BPR's updates are lock-free across implicit's threads, so only
``threads=1`` (as here) fits the same model twice at one seed.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from llmrec.models import History, Interactions, Scorer

ITEMS = tuple(f"i{n}" for n in range(8))
# Six users, each item in time order. i6: one user only (EASE leaves it out); i7: in
# the catalogue, no event before the fit.
EARLY = {
    "u0": ("i0", "i1", "i2", "i3"),
    "u1": ("i1", "i2", "i3", "i4"),
    "u2": ("i0", "i2", "i4", "i5"),
    "u3": ("i3", "i4", "i5", "i6"),
    "u4": ("i0", "i1", "i5"),
    "u5": ("i2", "i4", "i5", "i0"),
}
# After the fit: u0 has two more items (i7 among them) and u6 arrives.
LATER = (("u0", "i7"), ("u0", "i5"), ("u6", "i2"), ("u6", "i7"))
COLD_ITEM = ITEMS.index("i7")
ONE_USER_ITEM = ITEMS.index("i6")
# Unit text vectors of the items, and of two items added after the fit.
ITEM_VECTORS = np.random.default_rng(0).standard_normal((len(ITEMS), 4)).astype(np.float32)
ITEM_VECTORS /= np.linalg.norm(ITEM_VECTORS, axis=1, keepdims=True)
NEW_ITEM_VECTORS = np.array([[1, 0, 0, 0], [0, 0.6, 0.8, 0]], np.float32)


def tiny_events(later: bool = False) -> pd.DataFrame:
    """The fixture's events (with ``LATER`` too when ``later``): one a second, per user."""
    rows = [(u, i, 100.0 * n + t) for n, (u, items) in enumerate(EARLY.items())
            for t, i in enumerate(items)]  # fmt: skip
    if later:
        rows += [(u, i, 1_000.0 + t) for t, (u, i) in enumerate(LATER)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return frame.assign(event_type="interaction")


def tiny_interactions() -> Interactions:
    """What the scorers are fitted on: ``EARLY``, every item of ``ITEMS`` a column."""
    return Interactions.from_events(tiny_events(), item_ids=ITEMS, user_ids=list(EARLY))


def newer_history() -> History:
    """Every user's history after ``LATER``: u0's has items the fit never saw for them
    (i7, which nobody had), u6 has a row past the fitted users (as
    ``Recommender.update`` adds one) and no factors."""
    data = Interactions.from_events(
        tiny_events(later=True), item_ids=ITEMS, user_ids=[*EARLY, "u6"]
    )
    return data.history(np.arange(data.n_users))


def history_of(sequences: list[list[int]], rows: list[int] | None = None) -> History:
    """A history from item sequences (oldest first); ``rows`` default to -1 (new users)."""
    seqs = [np.asarray(s, np.int64) for s in sequences]
    lengths = [len(s) for s in seqs]
    matrix = sp.csr_matrix(
        (
            np.ones(sum(lengths), np.float32),
            (np.repeat(np.arange(len(seqs)), lengths), np.concatenate(seqs)),
        ),
        shape=(len(seqs), len(ITEMS)),
    )
    return History(matrix, seqs, np.asarray(rows if rows is not None else [-1] * len(seqs)))


class ScorerContract:
    """Mixin of the contract's tests; see the module docstring."""

    # What every item scores for an empty history; None: finite values of its own.
    empty_history_score: ClassVar[float | None] = 0.0
    # Whether the order of a history's items changes its scores (not only which items).
    reads_order: ClassVar[bool] = False

    def make_scorer(self) -> Scorer:
        """An unfitted scorer at a fixed seed, small enough to fit in well under 1 s."""
        raise NotImplementedError

    def fit_data(self) -> Interactions:
        return tiny_interactions()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls) -> Scorer:
        """One fit per test class, shared by the tests that only score."""
        contract = cls()
        return contract.make_scorer().fit(contract.fit_data())

    def _every_user(self) -> History:
        data = self.fit_data()
        return data.history(np.arange(data.n_users))

    def test_score_before_fit_raises(self):
        with pytest.raises(RuntimeError, match="not fitted; call fit"):
            self.make_scorer().score(self._every_user())

    def test_fit_returns_the_scorer(self):
        scorer = self.make_scorer()
        assert scorer.fit(self.fit_data()) is scorer

    def _assert_scored(self, scores: np.ndarray) -> None:
        """float32; finite, but NaN in the column of the item without events where the
        source does not read text (it cannot score that one, and says so)."""
        assert scores.dtype == np.float32
        known = np.ones(scores.shape[1], dtype=bool)
        if not type(self.make_scorer()).needs_text:
            known[COLD_ITEM] = False
            assert np.isnan(scores[:, COLD_ITEM]).all()
        assert np.isfinite(scores[:, known]).all()

    def test_every_item_of_every_row_scored_as_float32(self, fitted):
        history = self._every_user()
        scores = fitted.score(history)
        assert scores.shape == (len(history), self.fit_data().n_items)
        self._assert_scored(scores)

    def test_an_item_without_events_is_nan_unless_scored_from_text(self, fitted):
        cold = fitted.score(self._every_user())[:, COLD_ITEM]
        if type(fitted).needs_text:
            assert np.isfinite(cold).all()
        else:
            assert np.isnan(cold).all()
            assert fitted.unscored_items_.tolist() == [COLD_ITEM]

    def test_a_new_user_row_is_scored_from_its_history(self, fitted):
        scores = fitted.score(history_of([[0, 2, 4], [3]]))
        assert scores.shape == (2, len(ITEMS))
        self._assert_scored(scores)

    def test_an_empty_history(self, fitted):
        empty = np.zeros(0, np.int64)
        scores = fitted.score(History(sp.csr_matrix((1, len(ITEMS)), dtype=np.float32),
                                      [empty], np.array([-1])))  # fmt: skip
        assert scores.shape == (1, len(ITEMS))
        self._assert_scored(scores)
        if self.empty_history_score is not None:
            known = np.isfinite(scores)
            assert (scores[known] == self.empty_history_score).all()

    def test_a_history_newer_than_the_fit(self, fitted):
        history = newer_history()
        scores = fitted.score(history)
        assert scores.shape == (len(history), len(ITEMS))
        self._assert_scored(scores)

    def test_rows_are_scored_independently(self, fitted):
        history = newer_history()
        together = fitted.score(history)
        for r in range(len(history)):
            alone = History(history.matrix[[r]], [history.sequences[r]], history.user_rows[[r]])
            np.testing.assert_allclose(fitted.score(alone)[0], together[r], rtol=1e-5, atol=1e-6)

    def test_two_fits_at_one_seed_score_alike(self, fitted):
        again = self.make_scorer().fit(self.fit_data())
        history = newer_history()
        np.testing.assert_array_equal(again.score(history), fitted.score(history))

    def test_a_pickled_scorer_scores_alike(self, fitted):
        history = newer_history()
        loaded = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(loaded.score(history), fitted.score(history))

    def test_a_score_depends_on_the_history_alone(self, fitted):
        # No per-user state in a fitted scorer: histories are user state, kept outside
        # the model (llmrec.users), so the same history scores alike whatever row it has.
        history = newer_history()
        unnamed = History(history.matrix, history.sequences, np.full(len(history), -1))
        np.testing.assert_allclose(
            fitted.score(unnamed), fitted.score(history), rtol=1e-6, atol=1e-7
        )

    # -- what the class declares: config, grid, capabilities ------------------------

    def test_the_config_round_trips_json_and_holds_the_constructors_defaults(self):
        source = type(self.make_scorer())
        config = source.Config()
        assert type(config).model_validate_json(config.model_dump_json()) == config
        arguments = inspect.signature(source.__init__).parameters
        for field, value in config.model_dump().items():
            assert arguments[field].default == value, f"{source.name}.{field}"
        runtime = {"self", "seed", "item_vectors"}  # given by the recommender, not config
        assert set(arguments) - runtime == set(config.model_dump())
        with pytest.raises(ValidationError):
            source.Config(no_such_option=1)
        with pytest.raises(ValidationError):  # frozen: a config never changes
            config.__setattr__(next(iter(config.model_dump())), None)

    def test_from_config_builds_the_configured_scorer(self):
        source = type(self.make_scorer())
        config = source.Config()
        vectors = ITEM_VECTORS if source.needs_text else None
        built = source.from_config(config, seed=3, item_vectors=vectors)
        assert type(built) is source
        assert {f: getattr(built, f) for f in config.model_dump()} == config.model_dump()
        if hasattr(built, "seed"):
            assert built.seed == 3

    def test_the_grid_is_options_of_the_config(self):
        source = type(self.make_scorer())
        fields = source.Config.model_fields
        for option, values in source.grid.items():
            assert option in fields, f"{source.name}: grid key {option!r} is no option"
            for value in values:
                source.Config(**{option: value})  # every value tried is valid

    def test_needs_text_as_declared(self):
        source = type(self.make_scorer())
        if source.needs_text:
            with pytest.raises(ValueError, match="text vectors"):
                source.from_config(item_vectors=None)
        else:
            assert type(source.from_config()) is source

    def test_learns_order_as_declared(self, fitted):
        # the same interactions (each item with its time), each user's in another order
        data = self.fit_data()
        orders = [
            np.random.default_rng(r).permutation(len(s)) for r, s in enumerate(data.sequences)
        ]
        shuffled = dataclasses.replace(
            data,
            sequences=[s[o] for s, o in zip(data.sequences, orders, strict=True)],
            item_last_times=[t[o] for t, o in zip(data.item_last_times, orders, strict=True)],
        )
        history = newer_history()
        learned = self.make_scorer().fit(shuffled).score(history)
        equal = np.array_equal(learned, fitted.score(history), equal_nan=True)
        assert (not equal) == fitted.learns_order

    def test_the_order_of_a_history_as_declared(self, fitted):
        history = newer_history()
        reversed_ = History(history.matrix, [s[::-1].copy() for s in history.sequences],
                            history.user_rows)  # fmt: skip
        same = np.array_equal(fitted.score(reversed_), fitted.score(history), equal_nan=True)
        assert same != self.reads_order

    def test_new_items_as_declared(self, fitted):
        assert hasattr(fitted, "add_items") == fitted.scores_new_items
        if not fitted.scores_new_items:
            return
        grown = pickle.loads(pickle.dumps(fitted))  # the class-wide fit stays as it was
        grown.add_items(NEW_ITEM_VECTORS)
        history, added = newer_history(), len(NEW_ITEM_VECTORS)
        # the recommender's histories grow with the catalogue: nobody has the new items yet
        wide = sp.hstack([history.matrix, sp.csr_matrix((len(history), added))]).tocsr()
        scores = grown.score(History(wide, history.sequences, history.user_rows))
        assert scores.shape == (len(history), len(ITEMS) + added)
        assert np.isfinite(scores).all() and np.ptp(scores[:, len(ITEMS) :]) > 0
        # the items it had are scored as before
        np.testing.assert_allclose(scores[:, : len(ITEMS)], fitted.score(history),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
