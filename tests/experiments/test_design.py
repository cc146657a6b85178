import pytest
from pydantic import ValidationError

from llmrec.experiments.design import Experiment, bucket


def _ab(**overrides):
    spec = {"name": "ranker-vs-popular", "variants": [
        {"name": "model", "share": 0.5}, {"name": "popular", "share": 0.5, "strategy": "popular"}
    ]} | overrides  # fmt: skip
    return Experiment.model_validate(spec)


def test_users_keep_their_variant_and_the_shares_hold():
    experiment = _ab()
    users = [f"user-{n}" for n in range(20_000)]
    first = [experiment.variant_of(u).name for u in users]
    assert first == [experiment.variant_of(u).name for u in users]  # stable
    assert abs(first.count("model") / len(users) - 0.5) < 0.015
    skewed = _ab(variants=[{"name": "a", "share": 0.9}, {"name": "b", "share": 0.1}])
    assert abs([skewed.variant_of(u).name for u in users].count("b") / len(users) - 0.1) < 0.01


def test_two_experiments_split_users_independently():
    one, two = _ab(name="one"), _ab(name="two")
    pairs = [(one.variant_of(f"u{n}").name, two.variant_of(f"u{n}").name) for n in range(20_000)]
    together = sum(a == "model" and b == "model" for a, b in pairs) / len(pairs)
    assert abs(together - 0.25) < 0.015
    assert bucket("00" * 8, "x", "u1") != bucket("11" * 8, "x", "u1")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.4}]}, "sum to 0.9"),
    ({"variants": [{"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}]}, "repeat"),
    ({"variants": [{"name": "a", "share": 1.0}]}, "at least 2"),
    ({"kind": "interleave", "variants": [{"name": n, "share": 0.4} for n in "abc"]}, "two"),
    ({"name": "no spaces please"}, "pattern"),
    ({"window_s": -1}, "greater than 0"),
    ({"variants": [{"name": "a", "share": 0.5, "diversity": 2},
                   {"name": "b", "share": 0.5}]}, "less than or equal to 1"),
    ({"variants": [{"name": "a", "share": 0.5, "strategy": "random"},
                   {"name": "b", "share": 0.5}]}, "'model' or 'popular'"),
])  # fmt: skip
def test_a_bad_experiment_is_refused_naming_what(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _ab(**overrides)


def test_an_experiment_round_trips_through_json_with_its_salt():
    experiment = _ab()
    again = Experiment.model_validate_json(experiment.model_dump_json())
    assert again == experiment and again.variant_of("u7") == experiment.variant_of("u7")


def test_a_traffic_share_leaves_the_other_users_out_independently_of_the_variant():
    experiment = _ab(traffic=0.2)
    users = [f"user-{n}" for n in range(20_000)]
    inside = [u for u in users if experiment.includes(u)]
    assert abs(len(inside) / len(users) - 0.2) < 0.01
    assert abs([experiment.variant_of(u).name for u in inside].count("model") / len(inside)
               - 0.5) < 0.03  # fmt: skip
    assert all(_ab().includes(u) for u in users[:100])
