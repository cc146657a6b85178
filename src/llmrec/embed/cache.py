"""Text vectors cached in the store by (encoder id, hash of the text).

A rerun encodes nothing already encoded; a changed text is a new hash and is encoded
alone. Each batch is written as soon as it is encoded, so a killed run keeps its work —
here or on the batch workers of an engine (``llmrec.engine``: Ray), which encode the
batches the store does not hold yet with the same encoder settings, one thread each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from llmrec.config import EmbedSettings
from llmrec.data.hashing import text_hash
from llmrec.embed.encoders import TextEncoder
from llmrec.store import Store

if TYPE_CHECKING:
    from llmrec.engine import Engine


class CachedEncoder:
    """``encoder`` in front of the store's embedding cache; with an ``engine`` other than
    in-process, the missing batches are encoded by its workers, each loading the encoder
    ``settings`` name (``encoder`` still names the vectors: the same id)."""

    def __init__(
        self,
        encoder: TextEncoder,
        store: Store,
        batch_size: int = 256,
        engine: Engine | None = None,
        settings: EmbedSettings | None = None,
    ) -> None:
        if engine is not None and engine.name != "in-process" and settings is None:
            raise ValueError("an engine's workers need the encoder settings")
        self.encoder = encoder
        self.store = store
        self.batch_size = batch_size
        self.engine = engine if engine is not None and engine.name != "in-process" else None
        self.settings = settings
        self.encoded = 0
        self.hits = 0

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """``(len(texts), dim)`` unit vectors, from the cache where present."""
        encoder_id, dim = self.encoder.encoder_id, self.encoder.dim
        hashes = [text_hash(t) for t in texts]
        copies = Counter(hashes)
        found = self.store.embeddings(encoder_id, hashes, dim)
        cached = sum(copies[h] for h in found)
        self.hits += cached
        if progress is not None and cached:
            progress(cached)
        first_of: dict[str, int] = {}
        for i, h in enumerate(hashes):
            if h not in found:
                first_of.setdefault(h, i)
        missing = list(first_of)
        parts = [missing[start : start + self.batch_size]
                 for start in range(0, len(missing), self.batch_size)]  # fmt: skip
        for part, vectors in self._encoded(parts, [[texts[first_of[h]] for h in p] for p in parts]):
            self.store.put_embeddings(encoder_id, part, vectors)
            found.update(zip(part, vectors, strict=True))
            self.encoded += len(part)
            if progress is not None:
                progress(sum(copies[h] for h in part))
        out = np.empty((len(texts), dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            out[i] = found[h]
        return out

    def _encoded(
        self, parts: list[list[str]], texts: list[list[str]]
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Each part's hashes and vectors, as they are encoded (any order on workers)."""
        if self.engine is None:
            for part, chunk in zip(parts, texts, strict=True):
                yield part, self.encoder.encode(chunk)
            return
        # one thread a worker: the engine runs one worker a core
        settings = self.settings.model_copy(update={"threads": 1})
        for index, vectors in self.engine.map(encode_on_worker, settings, list(enumerate(texts))):
            yield parts[index], vectors


_WORKER_ENCODERS: dict[str, TextEncoder] = {}


def encode_on_worker(settings: EmbedSettings, texts: list[str]) -> np.ndarray:
    """One batch encoded by a batch worker, the encoder loaded once per worker process."""
    from llmrec.embed import load_encoder

    key = settings.model_dump_json()
    if key not in _WORKER_ENCODERS:
        _WORKER_ENCODERS[key] = load_encoder(settings)
    return _WORKER_ENCODERS[key].encode(texts)
