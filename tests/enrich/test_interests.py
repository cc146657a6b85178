"""User interest keywords: behaviour collection, validation, the fallback, and the job."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from llmrec.config import DEFAULT_EVENT_WEIGHTS
from llmrec.enrich.interests import (
    Behaviour,
    collect_behaviour,
    enrich_users,
    fallback_interests,
    interests_request,
    parse_interests,
)
from llmrec.errors import UnknownIdError

ITEMS = pd.DataFrame(
    {
        "item_id": ["a", "b", "c"],
        "title": ["Alpha", "Beta", "Gamma"],
        "tags": [["Drama", "War"], ["Drama"], ["Comedy"]],
    }
)


def _events(rows):
    frame = pd.DataFrame(
        rows, columns=["user_id", "item_id", "event_type", "value", "query", "timestamp"]
    )
    return frame.astype({"value": "float64"})


def test_behaviour_keeps_recent_positive_events_weighted_by_recency():
    events = _events(
        [
            ("u", "a", "rating", 5.0, None, 1),
            ("u", "b", "purchase", None, None, 2),
            ("u", "c", "rating", 2.0, None, 3),  # a low rating is not an interest
            ("u", "c", "dislike", None, None, 4),  # negative weight: left out
            ("u", None, "search", None, "war stories", 5),
            ("v", "c", "dislike", None, None, 1),  # nothing positive: no behaviour
        ]
    )
    behaviours = collect_behaviour(events, ITEMS, DEFAULT_EVENT_WEIGHTS, 1.0, 50, 1000)
    assert set(behaviours) == {"u"}
    u = behaviours["u"]
    # Newest first: search (w 1, rank 0), purchase b (w 8, rank 1), rating a (w 1, rank 2).
    d = 0.97
    assert u.support["war"] == pytest.approx(1.0 + 1.0 * d**2)  # query word + tag of a
    assert u.support["drama"] == pytest.approx(8.0 * d + 1.0 * d**2)
    assert u.support["stories"] == pytest.approx(1.0)
    assert "comedy" not in u.support
    assert u.lines == (
        "searched: war stories",
        "bought: Beta [drama]",
        "rated high: Alpha [drama, war]",
    )
    assert u.vocabulary[0] == "drama"


def test_max_events_bounds_the_history():
    events = _events([("u", i, "view", None, None, t) for t, i in enumerate("abc")])
    u = collect_behaviour(events, ITEMS, DEFAULT_EVENT_WEIGHTS, 1.0, 1, 1000)["u"]
    assert set(u.support) == {"comedy"}  # only the newest event (c)


BEHAVIOUR = Behaviour(
    "u", ("liked: X [drama]",), {"drama": 6.0, "war": 3.0, "comedy": 1.0, "romance": 0.0}
)


def test_a_valid_answer_gets_evidence_weights_heaviest_first():
    answer = orjson.dumps(
        {"interests": ["war", "drama", "comedy", "drama"], "summary": "Likes drama and war."}
    )
    keywords, summary = parse_interests(answer.decode(), BEHAVIOUR)
    assert keywords == [("drama", 0.6), ("war", 0.3), ("comedy", 0.1)]
    assert summary == "Likes drama and war."


@pytest.mark.parametrize(
    "answer",
    [
        "not json",
        '["drama", "war", "comedy"]',
        '{"interests": ["drama", "war"], "summary": "Likes drama."}',  # too few
        '{"interests": ["drama", "war", "horror"], "summary": "Likes drama."}',  # horror not in vocabulary
        '{"interests": ["drama", "war", "comedy"], "summary": 3}',
        '{"interests": ["drama", "war", "comedy"], "summary": "drama drama drama drama drama."}',
        '{"interests": ["drama", "war", "comedy"], "summary": "Loves films by Steven Spielberg."}',
    ],
)
def test_invalid_answers_are_refused(answer):
    assert parse_interests(answer, BEHAVIOUR) is None


def test_fallback_is_tf_idf_over_the_same_behaviour():
    # "drama" has the most support but is on every item (idf 1): ten rarer terms
    # (idf log(11) + 1 = 3.40, score 3.40 > 1.5) push it out of the top ten.
    support = {"drama": 1.5, "romance": 0.0, **{f"t{n}": 1.0 for n in range(10)}}
    behaviour = Behaviour("u", ("liked: X [drama]",), support)
    keywords, summary = fallback_interests(behaviour, {"drama": 10}, documents=10)
    assert {k for k, _ in keywords} == {f"t{n}" for n in range(10)}
    assert all(w == pytest.approx(0.1) for _, w in keywords)  # evidence weights: equal support
    assert summary == "Interested in t0, t1 and t2."
    # With few terms, all with support are kept (never a zero-support keyword).
    keywords, summary = fallback_interests(BEHAVIOUR, {"drama": 9}, documents=10)
    assert keywords == [("drama", 0.6), ("war", 0.3), ("comedy", 0.1)]
    assert summary == "Interested in drama, war and comedy."


def test_the_request_constrains_keywords_to_the_vocabulary():
    request = interests_request(BEHAVIOUR)
    items = request.json_schema["properties"]["interests"]
    assert items["items"]["enum"] == BEHAVIOUR.vocabulary
    assert items["maxItems"] == 4
    assert "<behaviour>" in request.messages[-1].content
    assert interests_request(BEHAVIOUR, seed=1).seed == 1


def test_users_get_interest_keywords_from_the_model_or_the_fallback(
    catalogue_store, settings, embedded_llm
):
    report = enrich_users(catalogue_store, embedded_llm, settings)
    assert report.total == 3  # kid, fan, thin
    assert sum(report.outcomes.values()) == 3
    frame = catalogue_store.user_interests_frame().set_index("user_id")
    assert set(frame.index) == {"kid", "fan", "thin"}
    for user_id, row in frame.iterrows():
        assert row["source"] in {"llm", "fallback"}
        assert 1 <= len(row["keywords"]) <= 10, user_id
        assert sum(w for _, w in row["keywords"]) == pytest.approx(1.0, abs=1e-2)
        assert row["summary"]
    # "thin" viewed one item with one tag: too little for the model, the fallback answers.
    assert frame.loc["thin", "source"] == "fallback"
    # The kid's low rating of a horror film is not an interest.
    assert "horror" not in [k for k, _ in frame.loc["kid", "keywords"]]
    again = enrich_users(catalogue_store, embedded_llm, settings)
    assert again.llm_calls == 0 and again.written == 0


def test_unknown_users_are_refused(catalogue_store, settings, embedded_llm):
    with pytest.raises(UnknownIdError, match="nobody"):
        enrich_users(catalogue_store, embedded_llm, settings, user_ids=["kid", "nobody"])
