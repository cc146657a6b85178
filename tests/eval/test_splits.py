"""Splits keep time order, hold out what they say, and never leak test into train."""

from __future__ import annotations

import pandas as pd
import pytest

from llmrec.eval.splits import (
    cold_items,
    global_time,
    leave_last_one_out,
    random_user,
    temporal_user,
)


def _events() -> pd.DataFrame:
    rows = [("u", f"i{t}", t) for t in range(10)] + [("v", "i0", 3), ("v", "i5", 1),
            ("v", "i9", 2), ("w", "i1", 0)]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(
        event_type="rating"
    )


def test_leave_last_one_out_holds_out_the_newest_event():
    split = leave_last_one_out(_events())
    test = split.test.set_index("user_id")["item_id"].to_dict()
    assert test == {"u": "i9", "v": "i0"}  # w has too few events to be tested
    assert len(split.train) == len(_events()) - 2


def test_temporal_user_holds_out_the_newest_fifth():
    split = temporal_user(_events(), min_events=3)
    assert sorted(split.test.loc[split.test.user_id == "u", "item_id"]) == ["i8", "i9"]
    assert split.test.loc[split.test.user_id == "v", "item_id"].tolist() == ["i0"]


def test_global_time_keeps_only_known_users_and_items():
    split = global_time(_events(), test_fraction=0.2)
    cut = split.train["timestamp"].max()
    assert (split.test["timestamp"] > cut).all()
    assert split.test["user_id"].isin(split.train["user_id"]).all()
    assert split.test["item_id"].isin(split.train["item_id"]).all()


def test_cold_items_hold_out_every_event_of_the_items(ml100k_frames):
    events, _ = ml100k_frames
    split = cold_items(events, seed=3)
    assert len(split.candidates) == round(events["item_id"].nunique() * 0.1)
    assert not split.train["item_id"].isin(split.candidates).any()
    assert split.test["item_id"].isin(split.candidates).all()
    again = cold_items(events, seed=3)
    assert list(again.candidates) == list(split.candidates)  # deterministic


def test_split_writes_files(tmp_path):
    paths = cold_items(_events(), seed=0).write(tmp_path / "cold")
    assert [p.name for p in paths] == ["train.parquet", "test.parquet", "candidates.parquet"]
    assert len(pd.read_parquet(paths[0])) + len(pd.read_parquet(paths[1])) <= len(_events())


def test_random_user_holds_out_a_seeded_fifth_of_each_user():
    events = _events().assign(timestamp=None)
    split = random_user(events, min_events=3, seed=1)
    per_user = split.test.groupby("user_id").size().to_dict()
    assert per_user == {"u": 2, "v": 1}  # floor(10 * 0.2), at least one; w too small
    assert len(split.train) + len(split.test) == len(events)
    pairs = set(zip(split.test.user_id, split.test.item_id, strict=True))
    assert not pairs & set(zip(split.train.user_id, split.train.item_id, strict=True))
    again = random_user(events, min_events=3, seed=1)
    assert again.test.equals(split.test)
    other = random_user(events, min_events=3, seed=2)
    assert not other.test["item_id"].equals(split.test["item_id"])


@pytest.mark.parametrize("split", [leave_last_one_out, temporal_user, global_time])
def test_time_splits_refuse_undated_events(split):
    events = _events()
    events.loc[[2, 5], "timestamp"] = None
    with pytest.raises(ValueError, match=r"2 of 14 events have no timestamp .*random_user"):
        split(events)
