import numpy as np
import pandas as pd
import pytest

from llmrec.data.events import DEFAULT_EVENT_WEIGHTS
from llmrec.experiments.analysis import attribute, report
from llmrec.experiments.design import Experiment
from llmrec.experiments.simulate import Population, run

ARMS = [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}]


def _shown(rows):
    return pd.DataFrame(rows, columns=["variant", "user_id", "request_id", "items", "teams",
                                       "shown_at"])  # fmt: skip


def _events(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])


def test_outcomes_go_to_the_latest_impression_that_showed_the_item_within_the_window():
    experiment = Experiment(name="e", variants=ARMS, window_s=100)
    shown = _shown([
        ("A", "u1", "r1", ["x", "y"], None, 1000.0),
        ("A", "u1", "r2", ["y", "z"], None, 1050.0),
        ("B", "u2", "r3", ["x"], None, 1000.0),
    ])  # fmt: skip
    outcomes = _events([
        ("u1", "y", "click", 1060),      # r2: the latest showing y before the click
        ("u1", "x", "purchase", 1070),   # r1 (only r1 showed x)
        ("u2", "x", "click", 1200),      # after the window: nobody's
        ("u2", "x", "click", 999),       # before the impression: nobody's
        ("u1", "q", "click", 1060),      # never shown: nobody's
        ("u3", "x", "click", 1010),      # another user: nobody's
        ("u1", "z", "dislike", 1080),    # r2, a negative outcome
    ])  # fmt: skip
    rows = attribute(experiment, shown, outcomes, DEFAULT_EVENT_WEIGHTS)
    assert rows["clicked"].tolist() == [True, True, False]
    assert rows["converted"].tolist() == [True, False, False]
    dislike = DEFAULT_EVENT_WEIGHTS["dislike"]
    assert rows["value"].tolist() == pytest.approx([
        DEFAULT_EVENT_WEIGHTS["purchase"], DEFAULT_EVENT_WEIGHTS["click"] + dislike, 0.0
    ])  # fmt: skip


def test_a_click_in_the_impressions_own_second_counts():
    experiment = Experiment(name="e", variants=ARMS, window_s=60)
    rows = attribute(experiment, _shown([("A", "u1", "r1", ["x"], None, 1000.7)]),
                     _events([("u1", "x", "click", 1000)]), DEFAULT_EVENT_WEIGHTS)  # fmt: skip
    assert rows["clicked"].tolist() == [True]


def test_interleaved_clicks_are_credited_to_the_team_that_placed_the_item():
    experiment = Experiment(name="i", kind="interleave", variants=ARMS)
    shown = _shown([("interleaved", "u1", "r1", ["x", "y", "z"], [0, 1, 0], 10.0),
                    ("interleaved", "u2", "r2", ["y", "x"], [1, 0], 10.0)])  # fmt: skip
    outcomes = _events([("u1", "x", "click", 11), ("u1", "z", "click", 12),
                        ("u2", "y", "click", 11)])  # fmt: skip
    found = report(experiment, shown, outcomes, DEFAULT_EVENT_WEIGHTS)
    assert found.interleaving.wins == {"A": 1, "B": 1} and found.interleaving.ties == 0


def test_the_report_finds_the_better_variant_by_a_b_and_by_interleaving():
    population = Population.draw(500, 300, np.random.default_rng(0))
    rankers = {"A": population.knowing(0.1), "B": population.knowing(0.3)}
    ab = Experiment(name="ab", variants=ARMS, window_s=3600, salt="0" * 16)
    il = Experiment(name="il", kind="interleave", variants=ARMS, window_s=3600, salt="0" * 16)

    def found(experiment, impressions, seed):
        shown, clicks = run(experiment, population, rankers, impressions,
                            np.random.default_rng(seed))  # fmt: skip
        return report(experiment, shown, clicks, {"click": 1.0})

    big = found(ab, 3_000, 1)
    control, treated = big.variants
    assert treated.p_value < 0.01 and treated.lift < 0
    assert control.user_click_through.low > treated.user_click_through.high
    assert not big.sample_ratio_mismatch
    small = [found(il, 300, seed).interleaving for seed in range(5)]
    assert all(w.p_value < 0.01 and w.wins["A"] > w.wins["B"] for w in small)


def test_an_a_a_experiment_flags_about_one_run_in_twenty_and_a_skew_is_flagged():
    population = Population.draw(300, 200, np.random.default_rng(1))
    same = population.knowing(0.2)
    flagged = 0
    for seed in range(60):
        experiment = Experiment(name="aa", variants=ARMS, window_s=3600, salt=f"{seed:016x}")
        shown, clicks = run(experiment, population, {"A": same, "B": same}, 400,
                            np.random.default_rng(seed))  # fmt: skip
        flagged += report(experiment, shown, clicks, {"click": 1.0}).variants[1].p_value < 0.05
    assert flagged <= 9  # 3 expected; 9 or more has probability < 1%
    many = Population.draw(5_000, 50, np.random.default_rng(2), liked=5)
    experiment = Experiment(name="srm", variants=ARMS, window_s=3600, salt="1" * 16)
    shown, clicks = run(experiment, many, {"A": many.guessing(), "B": many.guessing()}, 8_000,
                        np.random.default_rng(7), lose={"B": 0.2})  # fmt: skip
    skewed = report(experiment, shown, clicks, {"click": 1.0})
    assert skewed.sample_ratio_mismatch and skewed.sample_ratio_p < 0.001


def test_an_experiment_without_impressions_reports_zeros_not_an_error():
    experiment = Experiment(name="e", variants=ARMS)
    empty = report(experiment, _shown([]), _events([]), DEFAULT_EVENT_WEIGHTS)
    assert empty.impressions == 0 and [v.users for v in empty.variants] == [0, 0]
    assert empty.sample_ratio_p is None and not empty.sample_ratio_mismatch
    assert empty.to_dict()["variants"][0]["variant"] == "A"
