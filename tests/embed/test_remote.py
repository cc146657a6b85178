"""The remote encoder against a real llama.cpp server serving /v1/embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from llmrec.config import load_settings
from llmrec.embed import OpenAIEmbeddingEncoder, load_encoder
from llmrec.errors import LLMError


def test_embeddings_from_a_real_server_in_batches(llama_embedding_server):
    base_url, key = llama_embedding_server
    encoder = OpenAIEmbeddingEncoder(base_url, api_key=key, batch_size=2)
    texts = ["space adventure", "a space adventure film", "cooking pasta at home", ""]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, encoder.dim) and encoder.dim > 100
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.encoder_id == "openai-embeddings:SmolLM2-135M-Instruct.Q4_1"
    encoder.close()


def test_settings_select_the_remote_encoder(llama_embedding_server):
    base_url, key = llama_embedding_server
    settings = load_settings(
        embed={"backend": "openai", "base_url": base_url, "api_key": key, "model": "smol"}
    )
    with load_encoder(settings.embed) as encoder:
        assert encoder.encoder_id == "openai-embeddings:smol"
        assert encoder.encode(["hello"]).shape[0] == 1


def test_a_wrong_key_is_a_clear_error(llama_embedding_server):
    base_url, _ = llama_embedding_server
    with (
        OpenAIEmbeddingEncoder(base_url, api_key="wrong", model="m") as encoder,
        pytest.raises(LLMError, match="HTTP 401"),
    ):
        encoder.encode(["hello"])
