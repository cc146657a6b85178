"""Shop filters over the catalogue (tags, stock, brand, a price range) and repeat items.

:class:`ItemAttributes` reads the recommender's items frame once, at ``fit`` and
``add_items``, into one array per attribute: the price as a number, a brand code, the
stock flag, the item's own ``repeatable`` attribute and a tag index. A request's filters
are checked by :func:`item_filters` (a :class:`FilterError` names the filter) and become
a mask over those arrays, so no request parses the items' strings again.

Repeat items (consumables: coffee, printer ink) stay recommendable after a user bought
them: those whose ``repeatable`` attribute is true and those with one of the
recommender's ``repeat_tags``. They come back at once: the model keeps which items a user
had, not when each was last bought, so a waiting period could not be honest here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from llmrec.errors import LlmrecError

FILTERS = ("include_tags", "exclude_tags", "available", "brand", "min_price", "max_price")
_AMOUNT = r"[$€£¥]?\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
# "$12.99", "1,299.00", "12"; a range "$10.99 - $15.99" counts as its lower end. Anything
# else ("12,99", "call us") is no price: a bound never lets an unknown price through.
_PRICE_TEXT = re.compile(rf"^\s*{_AMOUNT}\s*(?:-\s*{_AMOUNT}\s*)?$")
_TRUE_TEXT = frozenset({"true", "yes", "1"})


class FilterError(LlmrecError, ValueError):
    """A filter that is unknown or has a wrong value; ``name`` is the filter."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(problem)


@dataclass(frozen=True)
class Filters:
    """Checked filters: None (or empty) where a filter is not given; brands normalised."""

    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    available: bool | None = None
    brands: tuple[str, ...] = ()
    min_price: float | None = None
    max_price: float | None = None


def item_filters(filters: Mapping[str, object] | None) -> Filters:
    """``filters`` as in ``Recommender.recommend`` (a value of None: not given), checked.

    ``include_tags`` / ``exclude_tags``: a tag or a list of tags (exact); ``available``:
    true or false; ``brand``: a brand or a list of them (case-insensitive, exact);
    ``min_price`` / ``max_price``: a number ≥ 0 (items without a price fail either)."""
    if filters is None:
        return Filters()
    if not isinstance(filters, Mapping):
        raise FilterError("filters", f"filters must be a mapping, got {filters!r}")
    for key in filters:
        if key not in FILTERS:
            raise FilterError(
                str(key), f"unknown filter {key!r}: use {', '.join(FILTERS[:-1])} or {FILTERS[-1]}"
            )
    given = {k: v for k, v in filters.items() if v is not None}
    available = given.get("available")
    if available is not None and not isinstance(available, bool | np.bool_):
        raise FilterError(
            "available", f"filter 'available' must be true or false, got {available!r}"
        )
    low, high = (_bound(given, name) for name in ("min_price", "max_price"))
    if low is not None and high is not None and low > high:
        raise FilterError("min_price", f"filter 'min_price' {low:g} is above 'max_price' {high:g}")
    return Filters(
        include_tags=_texts(given, "include_tags", "tag"),
        exclude_tags=_texts(given, "exclude_tags", "tag"),
        available=None if available is None else bool(available),
        brands=tuple(_brand(b) for b in _texts(given, "brand", "brand")),
        min_price=low,
        max_price=high,
    )


def _texts(given: Mapping[str, object], name: str, what: str) -> tuple[str, ...]:
    value = given.get(name)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    # "" is allowed and matches no item: ``?brand=`` is well-formed HTTP, so no 422.
    if (
        not isinstance(values, list | tuple | set | frozenset)
        or not values
        or not all(isinstance(v, str) for v in values)
    ):
        raise FilterError(
            name, f"filter {name!r} must be a {what} or a list of them, got {value!r}"
        )
    return tuple(values)


def _bound(given: Mapping[str, object], name: str) -> float | None:
    value = given.get(name)
    if value is None:
        return None
    number = isinstance(value, int | float | np.integer | np.floating)
    if not number or isinstance(value, bool | np.bool_) or not math.isfinite(value) or value < 0:
        raise FilterError(name, f"filter {name!r} must be a number ≥ 0, got {value!r}")
    return float(value)


def _brand(value: str) -> str:
    return " ".join(value.split()).casefold()


def parse_price(value: object) -> float:
    """A price as a number: numbers as they are, text such as "$12.99" or "1,299"; NaN
    for anything else (missing, negative, "12,99", free text)."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else math.nan
    if not isinstance(value, str) or (found := _PRICE_TEXT.match(value)) is None:
        return math.nan
    return float(found.group(1).replace(",", ""))


def _repeatable(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    return value is True or (isinstance(value, int | float) and value == 1)


@dataclass(frozen=True)
class ItemAttributes:
    """Per-item arrays (rows in the recommender's item order) that filters read."""

    price: np.ndarray  # float64, NaN: no price
    brand: np.ndarray  # int32 code into brand_names, -1: none
    brand_names: pd.Index  # normalised (case-folded) brands
    available: np.ndarray  # bool
    repeatable: np.ndarray  # bool: the item's own ``repeatable`` attribute
    tag_names: pd.Index
    tagged: sp.csc_matrix  # items × tags: a tag's items are one column

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> ItemAttributes:
        """From an items frame (``tags``, ``attributes``, ``available`` columns where
        present; an item missing from the catalogue has none: in stock, no price)."""
        n = len(items)
        attributes = [
            a if isinstance(a, dict) else {}
            for a in (items["attributes"] if "attributes" in items.columns else [None] * n)
        ]
        brands = [a.get("brand") for a in attributes]
        normalised = [_brand(b) if isinstance(b, str) and b.strip() else None for b in brands]
        codes, names = pd.factorize(pd.Series(normalised, dtype=object))
        # only an explicit false is out of stock (items known from events alone are NaN)
        available = (
            ~items["available"].eq(False).to_numpy(bool)
            if "available" in items.columns
            else np.ones(n, bool)
        )
        lists = [
            t if isinstance(t, list) else []
            for t in (items["tags"] if "tags" in items.columns else [None] * n)
        ]
        tag_names = pd.Index(sorted({tag for tags in lists for tag in tags}), dtype=object)
        rows = np.repeat(np.arange(n), [len(t) for t in lists])
        cols = tag_names.get_indexer([tag for tags in lists for tag in tags])
        tagged = sp.csc_matrix((np.ones(len(cols), bool), (rows, cols)), shape=(n, len(tag_names)))
        return cls(
            price=np.array([parse_price(a.get("price")) for a in attributes], np.float64),
            brand=codes.astype(np.int32),
            brand_names=pd.Index(names, dtype=object),
            available=available,
            repeatable=np.array([_repeatable(a.get("repeatable")) for a in attributes], bool),
            tag_names=tag_names,
            tagged=tagged,
        )

    def with_tags(self, tags: Sequence[str]) -> np.ndarray:
        """Items with at least one of ``tags``."""
        out = np.zeros(len(self.price), bool)
        starts, rows = self.tagged.indptr, self.tagged.indices
        for col in self.tag_names.get_indexer(list(tags)):
            if col >= 0:
                out[rows[starts[col] : starts[col + 1]]] = True
        return out

    def mask(self, filters: Filters) -> np.ndarray | None:
        """The items ``filters`` allow; None when they restrict nothing."""
        if filters == Filters():
            return None
        mask = np.ones(len(self.price), bool)
        if filters.include_tags:
            mask &= self.with_tags(filters.include_tags)
        if filters.exclude_tags:
            mask &= ~self.with_tags(filters.exclude_tags)
        if filters.available is not None:
            mask &= self.available == filters.available
        if filters.brands:
            codes = self.brand_names.get_indexer(list(filters.brands))
            mask &= np.isin(self.brand, codes[codes >= 0])
        # NaN compares false: an item without a price fails any bound
        if filters.min_price is not None:
            mask &= self.price >= filters.min_price
        if filters.max_price is not None:
            mask &= self.price <= filters.max_price
        return mask

    def repeat_items(self, repeat_tags: Sequence[str]) -> np.ndarray:
        """Items a user may be recommended again: repeatable ones and those tagged with
        one of ``repeat_tags``."""
        if not repeat_tags:
            return self.repeatable
        tags = _texts({"repeat_tags": repeat_tags}, "repeat_tags", "tag")
        return self.repeatable | self.with_tags(tags)
