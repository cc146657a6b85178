import numpy as np

from llmrec.experiments.interleave import team_draft


def test_each_team_gives_its_best_items_in_turn_without_repeats():
    first, second = list("abcdef"), list("bxaycz")
    for seed in range(50):
        items, teams = team_draft(first, second, 6, np.random.default_rng(seed))
        assert len(items) == len(set(items)) == 6
        assert abs(teams.count(0) - teams.count(1)) <= 1
        # each team's items appear in that team's own order
        for team, ranking in ((0, first), (1, second)):
            picked = [i for i, t in zip(items, teams, strict=True) if t == team]
            assert picked == sorted(picked, key=ranking.index)


def test_the_coin_gives_each_team_the_first_place_about_half_the_time():
    starts = [team_draft(["a"], ["b"], 1, np.random.default_rng(s))[1][0] for s in range(400)]
    assert 0.4 < np.mean(starts) < 0.6


def test_a_short_ranking_lets_the_other_team_fill_the_list():
    items, teams = team_draft(["a"], list("bcde"), 4, np.random.default_rng(0))
    assert sorted(items) == ["a", "b", "c", "d"] and teams.count(0) == 1
    assert team_draft([], [], 5, np.random.default_rng(0)) == ([], [])
