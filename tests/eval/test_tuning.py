"""Tuning chooses on validation events carved from training only, and keeps the best."""

from __future__ import annotations

import pandas as pd
import pytest

from llmrec.eval.evaluate import evaluate_system
from llmrec.eval.splits import cold_items, leave_last_one_out
from llmrec.eval.tuning import tune, validation_split
from llmrec.recommender import Recommender


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str, float]]:
    return set(zip(frame["user_id"], frame["item_id"], frame["timestamp"], strict=True))


def test_validation_split_never_sees_test_events(ml100k_frames):
    events, _ = ml100k_frames
    split = leave_last_one_out(events)
    validation = validation_split(split)
    assert validation.name == split.name
    assert not _pairs(split.test) & (_pairs(validation.train) | _pairs(validation.test))
    assert _pairs(validation.train) | _pairs(validation.test) == _pairs(split.train)
    # the same protocol: one newest positive per tested user
    assert validation.test.groupby("user_id").size().max() == 1


def test_cold_items_validation_holds_out_other_warm_items(ml100k_frames):
    events, _ = ml100k_frames
    split = cold_items(events)
    validation = validation_split(split)
    assert not set(validation.candidates) & set(split.candidates)
    assert set(validation.candidates) <= set(split.train["item_id"])


def test_tune_keeps_the_setting_with_the_best_validation_score(ml100k_frames):
    events, _ = ml100k_frames
    validation = validation_split(leave_last_one_out(events))
    grid = {"l2": (1.0, 500.0)}  # almost no regularisation overfits badly
    found = tune("ease", lambda: Recommender(sources=("ease",), ranker=False), grid, validation)
    assert found.params == {"l2": 500.0}
    assert len(found.trials) == 2
    scores = found.trials.set_index("l2")["ndcg@10"]
    assert scores[500.0] > scores[1.0]
    # the trial's number is the plain evaluation of that setting
    again = evaluate_system(
        "ease", lambda: Recommender(sources={"ease": {"l2": 1.0}}, ranker=False), validation,
        ks=(10,),
    )  # fmt: skip
    assert again.metrics["ndcg@10"] == pytest.approx(scores[1.0])


def test_chosen_settings_keep_their_types(ml100k_frames):
    events, _ = ml100k_frames
    validation = validation_split(leave_last_one_out(events))
    grid = {"factors": (8, 16), "regularization": (0.1,)}
    found = tune("als", lambda: Recommender(sources=("als",), ranker=False), grid, validation)
    assert type(found.params["factors"]) is int  # implicit rejects a float
    assert found.params["regularization"] == 0.1


@pytest.mark.slow
def test_trials_on_ray_score_what_they_score_here(ml100k_frames):
    pytest.importorskip("ray")
    from llmrec.engine import RayEngine

    events, _ = ml100k_frames
    validation = validation_split(leave_last_one_out(events))
    grid = {"l2": (1.0, 100.0, 500.0)}
    make = lambda: Recommender(sources=("ease",), ranker=False)  # noqa: E731
    seen: list[str] = []
    here = tune("ease", make, grid, validation)
    there = tune("ease", make, grid, validation, progress=seen.append,
                 engine=RayEngine(num_cpus=2))  # fmt: skip
    assert there.params == here.params
    assert sorted(seen) == sorted(f"ease {{'l2': {v}}}" for v in grid["l2"])
    pd.testing.assert_series_equal(there.trials["ndcg@10"], here.trials["ndcg@10"], rtol=1e-9)
    assert there.trials["l2"].tolist() == list(grid["l2"])


class _Counting:
    """The in-process engine, counting the trials it is given."""

    name = "counting"

    def __init__(self) -> None:
        self.ran: list[dict] = []

    def map(self, function, shared, chunks):
        for index, params in chunks:
            self.ran.append(params)
            yield index, function(shared, params)


def test_a_rerun_scores_only_the_trials_it_lacks(ml100k_frames, tmp_path):
    """Each finished trial is kept at once: after a kill (here: a grid cut short) the
    rerun scores the rest only; other data or settings are other trials."""
    events, _ = ml100k_frames
    validation = validation_split(leave_last_one_out(events))
    make = lambda: Recommender(sources=("ease",), ranker=False)  # noqa: E731
    kept = tmp_path / "trials"
    first = _Counting()
    tune("ease", make, {"l2": (1.0, 100.0)}, validation, engine=first, kept=kept)
    again, seen = _Counting(), []
    found = tune("ease", make, {"l2": (1.0, 100.0, 500.0)}, validation, engine=again,
                 kept=kept, progress=seen.append)  # fmt: skip
    assert first.ran == [{"l2": 1.0}, {"l2": 100.0}] and again.ran == [{"l2": 500.0}]
    assert seen == ["ease {'l2': 1.0} (kept)", "ease {'l2': 100.0} (kept)", "ease {'l2': 500.0}"]
    fresh = tune("ease", make, {"l2": (1.0, 100.0, 500.0)}, validation)
    pd.testing.assert_frame_equal(found.trials.drop(columns="fit_s"),
                                  fresh.trials.drop(columns="fit_s"))  # fmt: skip
    # another split or other settings of the recommender: nothing kept applies
    other = validation_split(leave_last_one_out(events.iloc[1000:]))
    moved = _Counting()
    tune("ease", make, {"l2": (1.0,)}, other, engine=moved, kept=kept)
    seeded = _Counting()
    tune("ease", lambda: make().set_params(seed=1), {"l2": (1.0,)}, validation,
         engine=seeded, kept=kept)  # fmt: skip
    assert moved.ran == seeded.ran == [{"l2": 1.0}]
