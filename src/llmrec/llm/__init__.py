"""Language models: one interface, an embedded llama.cpp default and remote servers."""

from __future__ import annotations

from llmrec.config import LLMSettings
from llmrec.errors import LLMError
from llmrec.llm.base import LLM, ChatRequest, Completion, Message
from llmrec.llm.embedded import EmbeddedLLM, bundled_model_path
from llmrec.llm.openai_compat import OpenAICompatibleLLM


def load_llm(settings: LLMSettings) -> LLM:
    """The model the settings name; nothing is loaded or contacted until first use."""
    if settings.backend == "openai":
        if not settings.base_url:
            raise LLMError('llm.backend is "openai" but llm.base_url is not set')
        return OpenAICompatibleLLM(
            settings.base_url,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            concurrency=settings.concurrency,
        )
    return EmbeddedLLM(
        model_path=settings.model_path,
        threads=settings.threads,
        parallel=settings.embedded_slots,
        context_per_slot=settings.context_per_slot,
        timeout_s=settings.timeout_s,
    )


__all__ = [
    "LLM",
    "ChatRequest",
    "Completion",
    "EmbeddedLLM",
    "LLMError",
    "Message",
    "OpenAICompatibleLLM",
    "bundled_model_path",
    "load_llm",
]
