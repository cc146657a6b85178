"""Enrichment with the model calls on Ray workers stores what this process stores (one
decoding slot, one thread: llama.cpp answers greedy requests reproducibly; a sampled
retry of a rejected answer may differ, the prompt cache of each server having seen other
requests before), under the same cache keys."""

from __future__ import annotations

import pytest

from llmrec.engine import RayEngine
from llmrec.enrich.descriptions import enrich_items
from llmrec.llm import load_llm
from llmrec.store import Store

from .conftest import CATALOGUE

ITEMS = ["toy", "evil", "zh"]  # a plain title, a prompt injection, Chinese text


@pytest.mark.slow
def test_ray_workers_write_the_descriptions_this_process_writes(catalogue_store, settings, tmp_path):
    pytest.importorskip("ray")
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(
        update={"threads": 1, "embedded_slots": 1})})  # fmt: skip
    with load_llm(settings.llm) as llm:
        here = enrich_items(catalogue_store, llm, settings, item_ids=ITEMS)
    with Store.open(f"sqlite:///{tmp_path / 'ray.db'}") as other:
        other.upsert_items(catalogue_store.items_frame())
        with load_llm(settings.llm) as idle:  # names the answers; never loaded here
            there = enrich_items(other, idle, settings, item_ids=ITEMS,
                                 engine=RayEngine(num_cpus=2))  # fmt: skip
        columns = ["item_id", "description", "keywords", "verdict", "model_id"]
        mine = catalogue_store.item_texts_frame()[columns].sort_values("item_id")
        theirs = other.item_texts_frame()[columns].sort_values("item_id")
        assert there.llm_calls == here.llm_calls >= len(ITEMS)
        assert mine["verdict"].tolist() == theirs["verdict"].tolist()
        passed = mine["verdict"] == "pass"
        assert passed.sum() >= 2  # the plain title and the Chinese one, greedy answers
        assert mine[passed].reset_index(drop=True).equals(theirs[passed].reset_index(drop=True))
        again = enrich_items(other, idle, settings, item_ids=ITEMS, engine=RayEngine(num_cpus=2))
        assert again.llm_calls == 0  # a rerun asks the cache, not the workers
    assert {i["item_id"] for i in CATALOGUE} >= set(ITEMS)
