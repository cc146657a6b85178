"""Matching on MovieLens-100K with the bundled encoder: users, new users, items, search."""

from __future__ import annotations

import pandas as pd
import pytest

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.embed import UniversalSentenceEncoder
from llmrec.errors import UnknownIdError
from llmrec.retrieve.matcher import ContentMatcher
from llmrec.store import Store


@pytest.fixture(scope="module")
def matcher(tmp_path_factory):
    from tests.conftest import shared_dataset

    settings = load_settings(home=tmp_path_factory.mktemp("home"))
    store = Store.open(settings.effective_database_url)
    load_dataset("movielens-100k", store, settings, shared_dataset("ml-100k"))
    matcher = ContentMatcher.from_store(store, UniversalSentenceEncoder(threads=2), settings)
    yield matcher
    store.close()


def test_a_known_user_gets_unseen_items_near_their_taste(matcher):
    found = matcher.recommend("1", k=10)
    assert len(found) == 10 and found["source"].eq("interest vectors").all()
    assert not set(found["item_id"]) & matcher.profiles.seen("1")
    assert found["score"].is_monotonic_decreasing


def test_a_new_user_with_stated_interests(matcher):
    found = matcher.recommend("someone-new", k=10, interests="light-hearted animated film for kids")
    assert found["source"].eq("stated interests").all()
    assert "Aristocats, The (1970)" in set(found["title"]) or "Lion King, The (1994)" in set(
        found["title"]
    )


def test_a_new_user_without_anything_gets_popular_items(matcher):
    found = matcher.recommend("someone-else", k=3)
    assert list(found["title"]) == ["Star Wars (1977)", "Contact (1997)", "Fargo (1996)"]
    assert found["source"].eq("popularity").all()


def test_a_new_user_with_attributes_gets_similar_users_taste(matcher):
    matcher.users = pd.concat(
        [
            matcher.users,
            pd.DataFrame({"user_id": ["n1"], "attributes": [{"age": 8, "occupation": "student"}]}),
        ]
    )
    assert matcher.recommend("n1", k=5)["source"].eq("similar users").all()


def test_similar_items_and_errors(matcher):
    found = matcher.similar_items("50", k=3)  # Star Wars
    assert "Empire Strikes Back, The (1980)" in set(found["title"])
    assert "50" not in set(found["item_id"])
    with pytest.raises(UnknownIdError, match="nope"):
        matcher.similar_items("nope")


def test_search_in_english_and_chinese_and_personalised(matcher):
    horror = matcher.search("恐怖电影", k=10)  # "horror film"
    assert sum("Horror" in matcher.tags[i] for i in horror["item_id"]) >= 5
    personal = matcher.search("a film about war", k=10, user_id="1")
    assert not set(personal["item_id"]) & matcher.profiles.seen("1")
    assert personal["source"].eq("query + interest vector").all()
    with pytest.raises(ValueError, match="empty"):
        matcher.search("  ")


def test_interest_keywords_from_the_users_items(matcher):
    keywords, summary = matcher.interest_keywords("1", top=5)
    assert len(keywords) == 5 and summary == ""  # no LLM extraction in this store
    assert sum(w for _, w in keywords) == pytest.approx(1.0, abs=1e-3)
    assert keywords[0][0] in {t.lower() for tags in matcher.tags.values() for t in tags}
    assert [w for _, w in keywords] == sorted((w for _, w in keywords), reverse=True)
    with pytest.raises(UnknownIdError, match="nobody"):
        matcher.interest_keywords("nobody")
