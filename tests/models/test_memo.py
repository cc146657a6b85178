"""A memo fits each (settings, data) pair once and hands out independent copies."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from llmrec.models import EASE, ContentScorer, Interactions
from llmrec.models.memo import FitMemo, fingerprint
from llmrec.recommender import Recommender


def _data(rows: list[tuple[str, str, int]]) -> Interactions:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Interactions.from_events(frame.assign(event_type="interaction"),
                                    item_ids=["a", "b", "c"])  # fmt: skip


ROWS = [("u", "a", 1), ("u", "b", 2), ("v", "b", 3), ("v", "c", 4)]


def test_same_settings_and_data_fit_once():
    memo, data = FitMemo(), _data(ROWS)
    first = memo.fit(EASE(l2=1.0), data)
    second = memo.fit(EASE(l2=1.0), _data(ROWS))
    assert (len(memo), memo.hits) == (1, 1)
    assert memo.reused_seconds > 0  # what the hit saved
    history = data.history([0, 1])
    np.testing.assert_array_equal(first.score(history), second.score(history))
    assert first is not second


def test_other_settings_or_other_data_fit_again():
    memo = FitMemo()
    memo.fit(EASE(l2=1.0), _data(ROWS))
    memo.fit(EASE(l2=2.0), _data(ROWS))
    memo.fit(EASE(l2=1.0), _data(ROWS[:3]))
    reordered = [("u", "b", 1), ("u", "a", 2), *ROWS[2:]]  # same pairs, other order
    memo.fit(EASE(l2=1.0), _data(reordered))
    vectors = np.eye(3, dtype=np.float32)
    memo.fit(ContentScorer(vectors), _data(ROWS))
    memo.fit(ContentScorer(vectors[::-1].copy()), _data(ROWS))
    assert (len(memo), memo.hits) == (6, 0)
    assert fingerprint(_data(ROWS)) != fingerprint(_data(reordered))


def test_a_recommender_shares_fits_but_saves_without_the_memo(ml100k_frames):
    events, _ = ml100k_frames
    memo = FitMemo()
    options = {"sources": ("ease", "covisit"), "ranker": False, "fit_memo": memo}
    one = Recommender(**options).fit(events)
    two = Recommender(**options).fit(events)
    assert (len(memo), memo.hits) == (2, 2)
    pd.testing.assert_frame_equal(one.recommend([1, 2], k=5), two.recommend([1, 2], k=5))
    assert pickle.loads(pickle.dumps(one)).fit_memo is None
