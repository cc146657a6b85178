"""Chat completions from any OpenAI-compatible server (llama.cpp server, Ollama, vLLM,
OpenAI), with the retry rules of :class:`llmrec.llm.http.OpenAIClient`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from llmrec.errors import LLMError
from llmrec.llm.base import LLM, ChatRequest, Completion, ProgressCallback
from llmrec.llm.http import OpenAIClient


class OpenAICompatibleLLM(LLM):
    """Chat completions from ``base_url`` (the part before ``/chat/completions``)."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        concurrency: int = 4,
        backoff_s: float = 0.5,
        name: str | None = None,
        timeout_hint: str = "raise llm.timeout_s if the server is slow",
    ) -> None:
        self.model = model
        self.concurrency = concurrency
        self._http = OpenAIClient(base_url, api_key, timeout_s, max_retries, concurrency,
                                  backoff_s, name=name, timeout_hint=timeout_hint)  # fmt: skip
        self.base_url = self._http.base_url
        self._model_id: str | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        # The configured name, or the server's own name for what it serves (asked once), so
        # a cache never mixes the answers of two models.
        with self._lock:
            if self._model_id is None:
                self._model_id = f"openai:{self.model or self._http.served_model('llm.model')}"
            return self._model_id

    @property
    def parallelism(self) -> int:
        return self.concurrency

    def generate(
        self, requests: Sequence[ChatRequest], progress: ProgressCallback | None = None
    ) -> list[Completion]:
        def one(request: ChatRequest) -> Completion:
            completion = self._complete(request)
            if progress is not None:
                progress(1)
            return completion

        return self._http.map(one, list(requests))

    def _complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        answer = self._http.call("POST", "/chat/completions", request.body(self.model))
        try:
            choice = answer["choices"][0]
            usage = answer.get("usage") or {}
            return Completion(
                text=choice["message"]["content"] or "",
                finish_reason=str(choice.get("finish_reason") or ""),
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                seconds=time.perf_counter() - started,
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMError(
                f"{self.base_url}/chat/completions answered without a message: {exc!r}"
            ) from None

    def close(self) -> None:
        self._http.close()
