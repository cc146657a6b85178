"""Stable hashes, independent of library versions and processes: vectorised 64-bit
hashes of many strings, and a 128-bit digest of one text (``text_hash``).

The 64-bit hashes: FNV-1a over each string's UTF-8 bytes, computed a byte position at a
time across all strings at once (strings sorted by length, so each step touches only
those still going): the work is proportional to the total bytes, in numpy rather than
per Python object.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def text_hash(text: str) -> str:
    """A 128-bit hex digest of one text: the key of caches keyed by exact text."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def fnv1a_64(values: pd.Series) -> np.ndarray:
    """FNV-1a 64 of each string (missing values hash as the empty string), as uint64."""
    arrow = pa.array(values, from_pandas=True)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    arrow = pc.fill_null(arrow.cast(pa.large_string()), "")
    n = len(arrow)
    hashes = np.full(n, FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return hashes
    _, offsets_buffer, data_buffer = arrow.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[arrow.offset : arrow.offset + n + 1]
    if data_buffer is None:
        return hashes
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    lengths = np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    starts = offsets[:-1][order]
    negated = -lengths[order]  # ascending: strings longer than p come first
    sorted_hashes = hashes[order]
    with np.errstate(over="ignore"):
        for position in range(int(-negated[0])):
            active = int(np.searchsorted(negated, -position, side="left"))
            head = sorted_hashes[:active]
            head ^= data[starts[:active] + position]
            head *= FNV_PRIME
    hashes[order] = sorted_hashes
    return hashes


def mix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: every input bit affects every output bit."""
    x = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _MIX_1
        x ^= x >> np.uint64(27)
        x *= _MIX_2
        x ^= x >> np.uint64(31)
    return x


def combine(parts: list[np.ndarray]) -> np.ndarray:
    """One uint64 per row from several per-row uint64 hashes (order matters)."""
    key = np.full(len(parts[0]), FNV_OFFSET, dtype=np.uint64)
    for part in parts:
        key = mix64(key ^ part)
    return key
