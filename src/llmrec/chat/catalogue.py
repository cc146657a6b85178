"""What chat searches: items with their titles, tags, years, prices and text vectors,
and the words titles are looked up by."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from llmrec.rank.filters import parse_price

MAX_TAGS_IN_SCHEMA = 300
# What one tag may add to a prompt: a catalogue with one very long tag pushed every chat
# prompt past the embedded model's context, and every request fell back to raw text.
MAX_TAG_CHARS = 40
_YEAR = re.compile(r"\((\d{4})\)\s*$")
_WORD = re.compile(r"[^\W_]+")
_STOP = frozenset(["the", "a", "an", "of", "and"])
_BOOK_TITLE = re.compile(r"《([^《》]{1,120})》")


@dataclass(frozen=True)
class Catalogue:
    """What chat searches: items with titles, tags, years, prices and unit text vectors."""

    item_ids: pd.Index
    titles: np.ndarray
    tags: list[list[str]]
    vectors: np.ndarray
    years: np.ndarray  # NaN where unknown
    prices: np.ndarray  # NaN where unknown

    @classmethod
    def from_frames(cls, items: pd.DataFrame, vectors: pd.DataFrame) -> Catalogue:
        items = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id")
        items = items.reindex(vectors.index.astype(str))
        titles = items["title"].fillna("").astype(str).to_numpy()
        tags = [t if isinstance(t, list) else [] for t in items.get("tags", [None] * len(items))]
        attributes = list(items.get("attributes", [None] * len(items)))
        years = np.array([_year(t, a) for t, a in zip(titles, attributes, strict=True)])
        # Read as the shop filters read it, so "under 50 dollars" and max_price=50 agree.
        prices = np.array(
            [parse_price(a.get("price")) if isinstance(a, dict) else np.nan for a in attributes],
            dtype=np.float64,
        )
        return cls(pd.Index(vectors.index.astype(str)), titles, tags,
                   vectors.to_numpy(np.float32), years.astype(np.float64), prices)  # fmt: skip

    def tag_vocabulary(self) -> list[str]:
        """The most used tags, each at most ``MAX_TAG_CHARS`` long (longer ones are not
        offered to the model: they are descriptions, not tags)."""
        counts = pd.Series([t for ts in self.tags for t in ts if len(t) <= MAX_TAG_CHARS])
        return list(counts.value_counts().index[:MAX_TAGS_IN_SCHEMA])

    @cached_property
    def has_prices(self) -> bool:
        return bool(np.isfinite(self.prices).any())

    @cached_property
    def title_words(self) -> list[set[str]]:
        return [set(_words(_YEAR.sub("", title))) for title in self.titles]

    @cached_property
    def title_index(self) -> dict[str, list[int]]:
        """Rows by their title's words without the year ("toy story" → Toy Story (1995)),
        and by a title quoted in 《》 inside one (科幻小说《三体》 → 三体)."""
        index: dict[str, list[int]] = {}
        for row, title in enumerate(self.titles):
            keys = [_title_key(_YEAR.sub("", title))]
            keys += [_title_key(quoted) for quoted in _BOOK_TITLE.findall(title)]
            for key in dict.fromkeys(k for k in keys if k):
                index.setdefault(key, []).append(row)
        return index


def _title_key(title: str) -> str:
    return " ".join(_words(title))


def _year(title: str, attributes) -> float:
    if isinstance(attributes, dict):
        value = attributes.get("year")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and re.fullmatch(r"\s*\d{4}\s*", value):
            return float(value)
    found = _YEAR.search(title)
    return float(found.group(1)) if found else np.nan


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]
