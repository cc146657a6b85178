"""Item vectors: every item's text (see :mod:`llmrec.embed.item_text`) encoded, cached."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from llmrec.config import EmbedSettings
from llmrec.embed.cache import CachedEncoder
from llmrec.embed.encoders import TextEncoder
from llmrec.embed.item_text import item_texts
from llmrec.store import Store

if TYPE_CHECKING:
    from llmrec.engine import Engine


@dataclass(frozen=True, slots=True)
class ItemVectors:
    """``vectors[i]`` is the unit vector of item ``item_ids[i]``."""

    item_ids: pd.Index
    vectors: np.ndarray
    encoder_id: str


@dataclass(frozen=True, slots=True)
class EmbedReport:
    items: int
    encoded: int
    cache_hits: int
    seconds: float
    encoder_id: str


def embed_items(
    store: Store,
    encoder: TextEncoder,
    settings: EmbedSettings,
    items: pd.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
    engine: Engine | None = None,
) -> tuple[ItemVectors, EmbedReport]:
    """Vectors for ``items`` (default: the whole catalogue), encoding only new texts (on
    ``engine``'s workers when given, e.g. Ray)."""
    started = time.perf_counter()
    catalogue = store.items_frame() if items is None else items
    texts = item_texts(
        catalogue, store.item_texts_frame(), settings.item_template, settings.max_text_chars
    )
    cached = CachedEncoder(encoder, store, settings.batch_size, engine, settings)
    vectors = cached.encode(texts.tolist(), progress)
    report = EmbedReport(
        len(texts), cached.encoded, cached.hits, time.perf_counter() - started, encoder.encoder_id
    )
    return ItemVectors(texts.index, vectors, encoder.encoder_id), report
