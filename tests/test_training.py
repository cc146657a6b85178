"""Training from the store: the LLM's item texts get vectors of their own, read only by
the sources configured to read them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.data.records import RecordKind
from llmrec.data.validate import validate_frame
from llmrec.recommender import Recommender
from llmrec.training import generated_vector_frame, item_vector_frame, train_from_store
from tests.conftest import shop_frames


def llm_texts(item_ids: list[str], verdicts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": item_ids,
        "description": [f"A useful thing for the kitchen, number {i}." if v != "rejected" else ""
                        for i, v in enumerate(verdicts)],
        "keywords": [["kitchen", "useful"]] * len(item_ids),
        "verdict": verdicts,
        "problems": [[]] * len(item_ids),
        "model_id": "test-model",
        "prompt_version": 1,
        "source_hash": [f"h{i}" for i in range(len(item_ids))],
    })  # fmt: skip


def test_the_llms_texts_are_embedded_apart_and_read_by_their_sources(settings, store):
    events, items = shop_frames()
    store.upsert_items(validate_frame(items, RecordKind.ITEMS, "items")[0])
    store.add_events(validate_frame(events, RecordKind.EVENTS, "events")[0])
    assert generated_vector_frame(store, settings) is None  # `llmrec enrich items` not run
    ids = items["item_id"].astype(str).tolist()
    written, rejected = ids[:4], ids[4]
    store.upsert_item_texts(
        llm_texts([*written, rejected], ["pass"] * 3 + ["repaired", "rejected"])
    )

    generated = generated_vector_frame(store, settings)
    assert sorted(generated.index) == sorted(written)
    own = item_vector_frame(store, settings)
    # the item's own vectors do not hold the LLM's words (embed.item_template's default)
    mixed = item_vector_frame(store, settings, "{title}. {tags}. {generated_description}")
    assert not np.allclose(own.loc[written].to_numpy(), mixed.loc[written].to_numpy())
    np.testing.assert_allclose(own.loc[ids[5:]].to_numpy(), mixed.loc[ids[5:]].to_numpy())

    sources = {"sources": ["covisit", "content", "content_llm"], "ranker": False}
    settings = settings.model_copy(
        update={"recommender": settings.recommender.model_copy(update=sources)}
    )
    report = train_from_store(store, settings)
    assert report.sources == ("covisit", "content", "content_llm")
    model = Recommender.load(report.path, store.events_frame())
    user = str(events["user_id"].iloc[0])
    history = model._history(model.histories_.rows([user]))
    scores = model.scorers_["content_llm"].score(history)[0]
    scored = model.item_ids_.isin(written)
    assert np.isfinite(scores[scored]).all() and np.isnan(scores[~scored]).all()
