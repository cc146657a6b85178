"""Client of any OpenAI-compatible chat server (llama.cpp server, Ollama, vLLM, OpenAI).

Requests run on a bounded thread pool; 429, 5xx, timeouts and dropped connections are
retried with exponential backoff (honouring ``Retry-After``), anything else fails at once
with the server's own message.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from llmrec.errors import LLMError
from llmrec.llm.base import LLM, ChatRequest, Completion, ProgressCallback

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 30.0


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
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise LLMError(f"llm.base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency),
        )
        self._model_id: str | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        # The configured name, or the server's own name for what it serves (asked once), so
        # a cache never mixes the answers of two models.
        with self._lock:
            if self._model_id is None:
                self._model_id = f"openai:{self._served_model()}"
            return self._model_id

    def _served_model(self) -> str:
        if self.model:
            return self.model
        listing = self._call("GET", "/models", None)
        models = listing.get("data") or listing.get("models") or []
        if not models:
            raise LLMError(f"{self.base_url}/models lists no model; set llm.model")
        first = models[0]
        return str(first.get("id") or first.get("name") or first.get("model"))

    def generate(
        self, requests: Sequence[ChatRequest], progress: ProgressCallback | None = None
    ) -> list[Completion]:
        if not requests:
            return []

        def one(request: ChatRequest) -> Completion:
            completion = self._complete(request)
            if progress is not None:
                progress(1)
            return completion

        if len(requests) == 1 or self.concurrency == 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(min(self.concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))

    def _complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        answer = self._call("POST", "/chat/completions", request.body(self.model))
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] or ""
            usage = answer.get("usage") or {}
            return Completion(
                text=text,
                finish_reason=str(choice.get("finish_reason") or ""),
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                seconds=time.perf_counter() - started,
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMError(
                f"{self.base_url}/chat/completions answered without a message: {exc!r}"
            ) from None

    def _call(self, method: str, path: str, body: dict | None) -> dict:
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._client.request(method, url, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise LLMError(
                        f"cannot reach the LLM server at {url} after {attempt + 1} "
                        f"attempt(s): {type(exc).__name__}: {exc}"
                    ) from None
                self._sleep(attempt, None)
                continue
            if response.status_code in _RETRY_STATUS and not last:
                self._sleep(attempt, response.headers.get("retry-after"))
                continue
            if response.status_code >= 400:
                raise LLMError(
                    f"{url} answered HTTP {response.status_code}: {_error_text(response)}"
                )
            try:
                return response.json()
            except ValueError:
                raise LLMError(f"{url} answered with something that is not JSON") from None
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_s * 2**attempt * (0.5 + random.random())
        if retry_after is not None:
            # An HTTP date instead of seconds: keep our own backoff.
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        time.sleep(min(delay, _MAX_BACKOFF_S))

    def close(self) -> None:
        self._client.close()


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return response.text[:300]
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error or response.text)[:300]
