"""Text embeddings: encoders, their cache, and item vectors."""

from __future__ import annotations

from llmrec.config import EmbedSettings
from llmrec.embed.encoders import OpenAIEmbeddingEncoder, TextEncoder, UniversalSentenceEncoder
from llmrec.errors import LLMError


def load_encoder(settings: EmbedSettings) -> TextEncoder:
    """The encoder the settings name; nothing is loaded or contacted until first use."""
    if settings.backend == "openai":
        if not settings.base_url:
            raise LLMError('embed.backend is "openai" but embed.base_url is not set')
        return OpenAIEmbeddingEncoder(
            settings.base_url,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
        )
    return UniversalSentenceEncoder(threads=settings.threads)


__all__ = [
    "OpenAIEmbeddingEncoder",
    "TextEncoder",
    "UniversalSentenceEncoder",
    "load_encoder",
]
