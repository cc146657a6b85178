"""Validation: typed records from raw rows, one clear reason per rejected row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmrec.config import IngestSettings
from llmrec.data.readers import Chunk
from llmrec.data.records import RecordKind
from llmrec.data.validate import Validator, event_keys, validate_frames
from llmrec.errors import InputFileError


def _chunk(rows: list[dict]) -> Chunk:
    frame = pd.DataFrame(rows, dtype=object).fillna("")
    return Chunk(frame, np.arange(2, len(rows) + 2), [], ",")


def _validate(kind: RecordKind, rows: list[dict], **kwargs):
    return Validator(kind, IngestSettings(max_id_length=8, max_text_length=50), **kwargs).validate(
        _chunk(rows)
    )


def test_events_get_typed_and_bad_ones_get_a_reason_with_their_line():
    rows = [
        {"user_id": "u1", "item_id": "i1", "event_type": "Purchase", "value": "", "timestamp": "1700000000"},
        {"user_id": "", "item_id": "i2", "event_type": "view", "value": "", "timestamp": "1"},
        {"user_id": "u3", "item_id": "i3", "event_type": "rating", "value": "five", "timestamp": "1"},
        {"user_id": "u4", "item_id": "i4", "event_type": "rating", "value": "", "timestamp": "1"},
        {"user_id": "u5", "item_id": "i5", "event_type": "view", "value": "", "timestamp": "yesterday-ish"},
        {"user_id": "u6", "item_id": "", "event_type": "view", "value": "", "timestamp": ""},
        {"user_id": "u7", "item_id": "", "event_type": "search", "value": "", "timestamp": ""},
        {"user_id": "toolongid", "item_id": "i8", "event_type": "view", "value": "", "timestamp": ""},
        {"user_id": "u9", "item_id": "i9", "event_type": "DROP TABLE", "value": "", "timestamp": ""},
        {"user_id": "u10", "item_id": "i10", "event_type": "", "value": "2.5", "timestamp": "2024-01-02T03:04:05Z"},
        {"user_id": "u11", "item_id": "i11", "event_type": "play", "value": "inf", "timestamp": ""},
    ]  # fmt: skip
    result = _validate(RecordKind.EVENTS, rows)
    reasons = {r.line: r.reason for r in result.rejections}
    assert reasons == {
        3: "missing user_id",
        4: "non-numeric value 'five'",
        5: "rating event without a value",
        6: "unparseable timestamp 'yesterday-ish'",
        7: "missing item_id",
        8: "search event without a query",
        9: "user_id longer than 8 characters: 'toolongid'",
        10: "invalid event_type 'drop table' (lower-case letters, digits, _ or -)",
        12: "non-numeric value 'inf'",
    }
    good = result.frame
    assert good["user_id"].tolist() == ["u1", "u10"]
    assert good["event_type"].tolist() == ["purchase", "interaction"]
    assert good["timestamp"].tolist() == [1700000000, 1704164645]
    assert good["value"].isna().tolist() == [True, False] and good["value"].iloc[1] == 2.5
    assert result.lines.tolist() == [2, 11]


def test_timestamps_accept_epoch_seconds_milliseconds_and_iso():
    rows = [
        {"user_id": "a", "item_id": "x", "timestamp": "881250949"},
        {"user_id": "b", "item_id": "x", "timestamp": "881250949000"},
        {"user_id": "c", "item_id": "x", "timestamp": "1997-12-04 15:55:49"},
        {"user_id": "d", "item_id": "x", "timestamp": "1997-12-04T16:55:49+01:00"},
    ]
    result = _validate(RecordKind.EVENTS, rows)
    assert result.rejections == []
    assert result.frame["timestamp"].tolist() == [881250949] * 4


def test_unknown_items_are_rejected_when_the_catalogue_is_required():
    rows = [{"user_id": "u", "item_id": "known"}, {"user_id": "u", "item_id": "ghost"}]
    result = _validate(RecordKind.EVENTS, rows, known_item_ids={"known"})
    assert [r.reason for r in result.rejections] == [
        "unknown item_id 'ghost' (not in the catalogue)"
    ]


def test_the_same_play_twice_in_one_second_is_two_events_and_a_rating_is_one():
    play = {"user_id": "u", "item_id": "i", "event_type": "play", "timestamp": "5"}
    rating = {**play, "event_type": "rating", "value": "4"}
    result = _validate(RecordKind.EVENTS, [play, play, rating, rating, {**play, "timestamp": "6"}])
    assert len(result.frame) == 4 and result.duplicates == 1
    assert result.frame["event_key"].is_unique
    again = _validate(RecordKind.EVENTS, [play, play, rating, rating, {**play, "timestamp": "6"}])
    assert again.frame["event_key"].tolist() == result.frame["event_key"].tolist()


def test_repeats_are_numbered_across_chunk_boundaries():
    play = {"user_id": "u", "item_id": "i", "event_type": "play", "timestamp": "5"}
    validator = Validator(RecordKind.EVENTS, IngestSettings())
    keys = []
    for rows in ([play, play], [play]):
        frame = pd.DataFrame(rows, dtype=object)
        keys += (
            validator.validate(Chunk(frame, np.arange(1, len(rows) + 1)))
            .frame["event_key"]
            .tolist()
        )
    assert len(set(keys)) == 3


def test_event_keys_are_deterministic_and_see_every_field():
    base = pd.DataFrame(
        {
            "user_id": ["u", "u", "u", "u", "u", "u"],
            "item_id": ["i", "i", None, "i", "i", "i"],
            "event_type": ["view", "view", "view", "click", "view", "view"],
            "value": [np.nan, 1.0, np.nan, np.nan, np.nan, np.nan],
            "query": [None, None, None, None, "q", None],
            "timestamp": pd.array([1, 1, 1, 1, 1, None], dtype="Int64"),
        }
    )
    keys = event_keys(base)
    assert len(set(keys.tolist())) == 6
    assert event_keys(base.copy()).tolist() == keys.tolist()
    assert keys.dtype == np.int64


def test_items_parse_tags_attributes_and_flags():
    rows = [
        {"item_id": "1", "title": " Toy Story ", "tags": "Animation|Children's| |Animation",
         "available": "no", "price": "9.5", "brand": "Pixar"},
        {"item_id": "2", "title": "东京物语", "tags": '["剧情", "家庭"]', "available": "",
         "price": "12", "brand": ""},
        {"item_id": "3", "title": "", "tags": "", "available": "", "price": "", "brand": ""},
        {"item_id": "4", "title": "Bad flags", "tags": "", "available": "maybe", "price": "",
         "brand": ""},
        {"item_id": "5", "title": "Bad tags", "tags": "[1, 2]", "available": "", "price": "",
         "brand": ""},
    ]  # fmt: skip
    result = _validate(RecordKind.ITEMS, rows)
    assert {r.line: r.reason for r in result.rejections} == {
        4: "missing title",
        5: "available is not true/false: 'maybe'",
        6: "tags must be a list of strings or a '|'-separated string: '[1, 2]'",
    }
    items = result.frame.set_index("item_id")
    assert items.loc["1", "title"] == "Toy Story"
    assert items.loc["1", "tags"] == ["Animation", "Children's"]
    assert items.loc["2", "tags"] == ["剧情", "家庭"]
    assert not items.loc["1", "available"]
    assert items.loc["2", "available"]
    assert items.loc["1", "attributes"] == {"price": 9.5, "brand": "Pixar"}
    assert items.loc["2", "attributes"] == {"price": 12}


def test_later_rows_of_the_same_item_win():
    rows = [{"item_id": "1", "title": "Old"}, {"item_id": "1", "title": "New"}]
    result = _validate(RecordKind.ITEMS, rows)
    assert result.frame["title"].tolist() == ["New"] and result.duplicates == 1


def test_text_longer_than_the_limit_is_rejected_with_its_length():
    result = _validate(RecordKind.ITEMS, [{"item_id": "1", "title": "x" * 100}])
    assert result.rejections[0].reason.startswith("title longer than 50 characters")
    assert result.rejections[0].reason.endswith("...' (100 characters)")


def test_json_values_of_the_wrong_type_are_rejected():
    chunk = Chunk(pd.DataFrame({"user_id": [["a"], "b"], "item_id": ["i", "i"]}), np.array([1, 2]))
    result = Validator(RecordKind.EVENTS, IngestSettings()).validate(chunk)
    assert result.rejections[0].line == 1
    assert result.rejections[0].reason == "user_id must be a string or number, got ['a']"
    assert result.frame["user_id"].tolist() == ["b"]


def test_numeric_ids_from_json_become_strings():
    chunk = Chunk(pd.DataFrame({"user_id": [1, 2.0], "item_id": [10, 11]}), np.array([1, 2]))
    result = Validator(RecordKind.EVENTS, IngestSettings()).validate(chunk)
    assert result.frame["user_id"].tolist() == ["1", "2"]


def test_missing_required_columns_are_a_file_error():
    validator = Validator(RecordKind.EVENTS, IngestSettings())
    with pytest.raises(InputFileError, match=r"missing required column\(s\) for events: user_id"):
        validator.check_columns(["uid", "item_id"], "f.csv")
    with pytest.raises(InputFileError, match=r"item_id \(or query\)"):
        validator.check_columns(["user_id", "timestamp"], "f.csv")
    validator.check_columns(["user_id", "query"], "searches.csv")


def test_links_reject_self_links():
    result = _validate(
        RecordKind.LINKS, [{"user_id": "a", "friend_id": "a"}, {"user_id": "a", "friend_id": "b"}]
    )
    assert [r.reason for r in result.rejections] == ["a user linked to itself: 'a'"]
    assert result.frame.to_dict("records") == [{"user_id": "a", "friend_id": "b"}]


def test_frames_validated_together_keep_their_own_rows_and_numbers():
    def frame(*rows):
        return pd.DataFrame(
            [{"user_id": u, "item_id": i, "event_type": "view", "timestamp": 1} for u, i in rows]
        )

    first = frame(("u1", "i1"), ("", "i2"), ("u1", "i3"))
    second = frame(("u2", "i1"), ("u1", "i3"), ("u3", ""))
    (good1, bad1), (good2, bad2), (good3, bad3) = validate_frames(
        [first, second, frame()], RecordKind.EVENTS, "events"
    )
    assert [(r.line, r.reason) for r in bad1] == [(2, "missing user_id")]
    assert [(r.line, r.reason) for r in bad2] == [(3, "missing item_id")]
    # the repeated event (u1, i3) is kept once, with the later frame
    assert list(zip(good1.user_id, good1.item_id, strict=True)) == [("u1", "i1")]
    assert list(zip(good2.user_id, good2.item_id, strict=True)) == [("u2", "i1"), ("u1", "i3")]
    assert good3.empty and bad3 == []
