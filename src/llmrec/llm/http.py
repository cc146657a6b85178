"""HTTP to OpenAI-compatible servers (chat, embeddings): one client with the retry rules.

429, 408/409/425, 5xx, timeouts and dropped connections are retried with exponential
backoff and jitter (honouring ``Retry-After``); any other error status fails at once with
the server's own message; an unreachable server is one clear error.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx

from llmrec.errors import LLMError

T = TypeVar("T")
R = TypeVar("R")

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 30.0


class OpenAIClient:
    """JSON calls to ``base_url`` (the part before ``/chat/completions``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        concurrency: int = 4,
        backoff_s: float = 0.5,
        setting: str = "llm.base_url",
        name: str | None = None,
        timeout_hint: str = "raise llm.timeout_s if the server is slow",
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise LLMError(f"{setting} must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.name = name  # how errors name the server (default: its URL)
        self.timeout_hint = timeout_hint
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency),
        )

    def call(self, method: str, path: str, body: dict | None) -> dict:
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._client.request(method, url, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise self._unreachable(url, attempt + 1, exc) from None
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

    def _unreachable(self, url: str, attempts: int, exc: httpx.TransportError) -> LLMError:
        who = self.name or f"the server at {url}"
        if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
            return LLMError(
                f"{who} did not answer within {self.timeout_s:g} s "
                f"({attempts} attempt(s)); {self.timeout_hint}"
            )
        return LLMError(f"cannot reach {who} after {attempts} attempt(s): "
                        f"{type(exc).__name__}: {exc}")  # fmt: skip

    def map(self, function: Callable[[T], R], values: Sequence[T]) -> list[R]:
        """``function`` over ``values`` with at most ``concurrency`` calls in flight."""
        if len(values) <= 1 or self.concurrency == 1:
            return [function(v) for v in values]
        pool = ThreadPoolExecutor(min(self.concurrency, len(values)))
        try:
            return list(pool.map(function, values))
        finally:
            # On Ctrl-C the queued calls are dropped at once; the ones in flight end when
            # the caller closes the client (leaving ``with load_llm(...)``).
            pool.shutdown(wait=False, cancel_futures=True)

    def served_model(self, setting: str) -> str:
        """The first model the server lists (for servers that serve one model)."""
        listing = self.call("GET", "/models", None)
        models = listing.get("data") or listing.get("models") or []
        if not models:
            raise LLMError(f"{self.base_url}/models lists no model; set {setting}")
        first = models[0]
        return str(first.get("id") or first.get("name") or first.get("model"))

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
    except (ValueError, AttributeError):
        return response.text[:300]
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error or response.text)[:300]
