"""The structured query a request is read into, and its JSON form: the schema the model
answers in and the check of its answer."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from llmrec.enrich.text import clean_text


@dataclass
class ChatQuery:
    wanted_tags: list[str] = field(default_factory=list)
    unwanted_tags: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    like_titles: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    price_min: float | None = None
    price_max: float | None = None

    def is_empty(self) -> bool:
        return not (self.wanted_tags or self.unwanted_tags or self.keywords or self.like_titles
                    or any(b is not None for b in (self.year_min, self.year_max,
                                                   self.price_min, self.price_max)))  # fmt: skip

    def merged_into(self, previous: ChatQuery | None) -> ChatQuery:
        """A follow-up adds to the previous query: tags, keywords and titles accumulate (a
        tag it wants or refuses moves to that side), a bound it states replaces one."""
        if previous is None:
            return self
        kept_wanted = [t for t in previous.wanted_tags if t not in self.unwanted_tags]
        kept_unwanted = [t for t in previous.unwanted_tags if t not in self.wanted_tags]
        return ChatQuery(
            _union(kept_wanted, self.wanted_tags),
            _union(kept_unwanted, self.unwanted_tags),
            _union(previous.keywords, self.keywords),
            _union(previous.like_titles, self.like_titles),
            *_carried(previous.year_min, previous.year_max, self.year_min, self.year_max),
            *_carried(previous.price_min, previous.price_max, self.price_min, self.price_max),
        )


def _carried(prev_low, prev_high, low, high) -> tuple:
    """A follow-up's bounds over the previous ones: a stated bound replaces its side, and
    a carried bound that contradicts a stated one gives way (the person changed it)."""
    new_low = low if low is not None else prev_low
    new_high = high if high is not None else prev_high
    if new_low is not None and new_high is not None and new_low > new_high:
        if low is None:
            new_low = None
        elif high is None:
            new_high = None
    return new_low, new_high


def _schema(allowed: list[str]) -> dict:
    tags = {"type": "array", "items": {"type": "string", "enum": allowed},
            "maxItems": 5}  # fmt: skip
    words = {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 5}
    year = {"anyOf": [{"type": "integer", "minimum": 1000, "maximum": 2100}, {"type": "null"}]}
    return {
        "type": "object",
        "properties": {
            "wanted_tags": tags,
            "unwanted_tags": tags,
            "keywords": words,
            "like_titles": words,
            "year_min": year,
            "year_max": year,
        },
        "required": [
            "wanted_tags",
            "unwanted_tags",
            "keywords",
            "like_titles",
            "year_min",
            "year_max",
        ],
        "additionalProperties": False,
    }


def _validated(text: str, vocabulary: set[str]) -> ChatQuery | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        query = ChatQuery(
            [t for t in data.get("wanted_tags", []) if t in vocabulary],
            [t for t in data.get("unwanted_tags", []) if t in vocabulary],
            [clean_text(k, 40) for k in data.get("keywords", []) if isinstance(k, str)],
            [clean_text(k, 120) for k in data.get("like_titles", []) if isinstance(k, str)],
            _int_or_none(data.get("year_min")),
            _int_or_none(data.get("year_max")),
        )
    except TypeError:
        return None
    query.wanted_tags = [t for t in query.wanted_tags if t not in query.unwanted_tags]
    return None if query.is_empty() else query


def _int_or_none(value) -> int | None:
    return int(value) if isinstance(value, int) and 1000 <= value <= 2100 else None


def _union(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))
