"""Text vectors cached in the store by (encoder id, hash of the text).

A rerun encodes nothing already encoded; a changed text is a new hash and is encoded
alone. Each batch is written as soon as it is encoded, so a killed run keeps its work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from llmrec.data.hashing import text_hash
from llmrec.embed.encoders import TextEncoder
from llmrec.store import Store


class CachedEncoder:
    """``encoder`` in front of the store's embedding cache."""

    def __init__(self, encoder: TextEncoder, store: Store, batch_size: int = 256) -> None:
        self.encoder = encoder
        self.store = store
        self.batch_size = batch_size
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
        for start in range(0, len(missing), self.batch_size):
            part = missing[start : start + self.batch_size]
            vectors = self.encoder.encode([texts[first_of[h]] for h in part])
            self.store.put_embeddings(encoder_id, part, vectors)
            found.update(zip(part, vectors, strict=True))
            self.encoded += len(part)
            if progress is not None:
                progress(sum(copies[h] for h in part))
        out = np.empty((len(texts), dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            out[i] = found[h]
        return out
