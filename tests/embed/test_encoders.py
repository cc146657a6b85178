"""The bundled multilingual encoder and the embedding cache, on real text."""

from __future__ import annotations

import numpy as np
import pytest

from llmrec.config import load_settings
from llmrec.data.hashing import text_hash
from llmrec.embed import UniversalSentenceEncoder, load_encoder
from llmrec.embed.cache import CachedEncoder
from llmrec.errors import LLMError


@pytest.fixture(scope="module")
def encoder():
    return UniversalSentenceEncoder(threads=1)


def test_unit_vectors_of_512_dimensions_and_zero_for_empty_text(encoder):
    vectors = encoder.encode(["a film about space", "", "   "])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert not vectors[1:].any()
    assert encoder.encoder_id.startswith("use-multilingual-v3:")


def test_meaning_not_spelling_and_across_languages(encoder):
    horror, kids, zh_horror, zh_kids = encoder.encode(
        [
            "a terrifying horror movie",
            "a cheerful cartoon for children",
            "恐怖电影",
            "给孩子看的动画片",
        ]
    )
    assert horror @ zh_horror > horror @ zh_kids
    assert kids @ zh_kids > kids @ zh_horror


def test_the_cache_encodes_each_text_once(store, encoder):
    cached = CachedEncoder(encoder, store, batch_size=2)
    texts = ["alpha", "beta", "alpha", "gamma"]
    first = cached.encode(texts)
    assert cached.encoded == 3 and cached.hits == 0
    np.testing.assert_array_equal(first[0], first[2])
    again = CachedEncoder(encoder, store)
    second = again.encode(["gamma", "alpha", "delta"])
    assert again.encoded == 1 and again.hits == 2
    np.testing.assert_allclose(second[0], first[3])
    assert len(store.embeddings(encoder.encoder_id, [text_hash("alpha")], 512)) == 1
    # Another encoder's (or dimension's) vectors are never mixed in.
    assert store.embeddings("other-encoder", [text_hash("alpha")], 512) == {}


def test_openai_backend_needs_a_url():
    with pytest.raises(LLMError, match=r"embed\.base_url"):
        load_encoder(load_settings(embed={"backend": "openai"}).embed)
