"""Natural-language requests: the grounded parse, the fallback, follow-ups, the log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmrec.chat import Catalogue, ChatQuery, ChatSession, grounded
from llmrec.config import EmbedSettings
from llmrec.embed import load_encoder
from tests.conftest import _free_port


@pytest.fixture(scope="module")
def catalogue(ml100k_frames):
    _, items = ml100k_frames
    with load_encoder(EmbedSettings()) as encoder:
        texts = (items["title"] + ". " + items["tags"].str.join(", ")).tolist()
        vectors = pd.DataFrame(encoder.encode(texts), index=items["item_id"].astype(str))
    return Catalogue.from_frames(items, vectors)


@pytest.fixture(scope="module")
def encoder():
    with load_encoder(EmbedSettings()) as opened:
        yield opened


def test_the_request_decides_what_the_parse_may_say():
    copied = ChatQuery(["Comedy"], ["Horror"], ["funny"], ["Toy Story"], 2015, 2015)
    kept = grounded(copied, "a scary horror film from the 1980s", lambda tag: False)
    # Horror is named without a negation: wanted, whatever side the model put it on;
    # nothing else the model said is in the request.
    assert kept == ChatQuery(["Horror"], [], [], [], None, None)
    negated = grounded(ChatQuery(["Horror", "Comedy"]), "a comedy but no horror", lambda t: False)
    assert negated.wanted_tags == ["Comedy"] and negated.unwanted_tags == ["Horror"]
    years = grounded(ChatQuery(year_min=1980, year_max=1989), "a comedy from the 1980s", lambda t: False)
    assert (years.year_min, years.year_max) == (1980, 1989)


def test_raw_text_search_when_there_is_no_parse(catalogue, encoder):
    session = ChatSession(catalogue, encoder, llm=None, k=5)
    turn = session.ask("an animated film for children")
    assert turn.fallback and turn.answer is None and len(turn.results) == 5
    tags = [catalogue.tags[catalogue.item_ids.get_loc(i)] for i in turn.results["item_id"]]
    assert sum(bool({"Animation", "Children's"} & set(t)) for t in tags) >= 4
    with pytest.raises(ValueError, match="empty"):
        session.ask("   ")


def test_follow_ups_refine_the_previous_turn(catalogue, encoder, embedded_llm, store):
    from llmrec.llm.cache import CachedLLM

    session = ChatSession(catalogue, encoder, CachedLLM(embedded_llm, store), k=5)
    first = session.ask("something like Toy Story (1995)")
    assert catalogue.item_ids.get_loc("1") not in catalogue.item_ids.get_indexer(first.results["item_id"])
    assert first.references == ["1"] and "like Toy Story (1995)" in first.results["reason"].iloc[0]
    shown = first.results["item_id"].iloc[0]
    second = session.ask("not that one")
    assert shown not in set(second.results["item_id"])
    third = session.ask("more recent ones")
    years = catalogue.years[catalogue.item_ids.get_indexer(third.results["item_id"])]
    assert third.query.year_min is not None and (years >= third.query.year_min).all()
    log = third.log()
    assert log["request"] == "more recent ones" and "query" in log and "answer" in log
    assert np.isfinite(third.results["score"]).all()


def test_an_unreachable_model_means_raw_text_search_not_an_error(catalogue, encoder, store):
    from llmrec.llm import OpenAICompatibleLLM
    from llmrec.llm.cache import CachedLLM

    port = _free_port()  # nobody listens on it
    with OpenAICompatibleLLM(f"http://127.0.0.1:{port}/v1", max_retries=0, timeout_s=2) as llm:
        turn = ChatSession(catalogue, encoder, CachedLLM(llm, store), k=3).ask("a war film")
    assert turn.fallback and turn.answer is None and len(turn.results) == 3


def test_one_item_with_a_huge_tag_does_not_switch_chat_off(ml100k_frames, catalogue, encoder, embedded_llm, store):
    from llmrec.llm.cache import CachedLLM

    _, items = ml100k_frames
    items = items.copy()
    items.at[items.index[0], "tags"] = ["Comedy", "spam " * 2_000]  # one hostile item
    vectors = pd.DataFrame(catalogue.vectors, index=items["item_id"].astype(str))
    catalogue = Catalogue.from_frames(items, vectors)
    assert all(len(tag) <= 40 for tag in catalogue.tag_vocabulary())
    turn = ChatSession(catalogue, encoder, CachedLLM(embedded_llm, store), k=3).ask("a funny comedy")
    assert not turn.fallback
