"""Shop filters and repeat items over the shop catalogue of tests/conftest.py."""

import math

import numpy as np
import pytest

from llmrec.rank.filters import FilterError, ItemAttributes, item_filters, parse_price
from tests.conftest import shop_frames


@pytest.fixture(scope="module")
def shop() -> ItemAttributes:
    _, items = shop_frames()
    # "unknown" is an item known from events only: no catalogue row
    return ItemAttributes.from_items(
        items.set_index("item_id").reindex([*items["item_id"], "unknown"])
    )


def allowed(shop: ItemAttributes, **filters) -> set[str]:
    _, items = shop_frames()
    ids = np.array([*items["item_id"], "unknown"])
    mask = shop.mask(item_filters(filters))
    return set(ids if mask is None else ids[mask])


@pytest.mark.parametrize(
    ("value", "price"),
    [
        ("$12.99", 12.99), ("12.99", 12.99), (" $1,349.00 ", 1349.0), ("€3", 3.0),
        ("$9.99 - $14.99", 9.99), (25, 25.0), (6.5, 6.5),
        ("12,99", math.nan), ("1,2345", math.nan), ("call us", math.nan), ("", math.nan),
        (None, math.nan), (-1, math.nan), (True, math.nan), (math.inf, math.nan),
    ],
)  # fmt: skip
def test_prices_are_read_from_text_and_numbers(value, price):
    assert parse_price(value) == price or (math.isnan(price) and math.isnan(parse_price(value)))


def test_a_price_bound_keeps_items_in_range_and_never_one_without_a_price(shop):
    cheap = {"coffee-acme", "coffee-bean", "tea-acme", "paper-filters", "kettle", "mug", "sugar"}
    assert allowed(shop, max_price=20) == cheap
    # the mug's range "$9.99 - $14.99" counts as 9.99; the scale, the descaler (unreadable
    # price) and the item without a catalogue row have no price
    in_range = {"coffee-acme", "coffee-bean", "kettle", "press"}
    assert allowed(shop, min_price=10, max_price=25) == in_range
    assert allowed(shop, min_price=1000) == {"machine"}
    assert allowed(shop, max_price=0) == set()


def test_brands_match_case_insensitively_and_exactly(shop):
    acme = {"coffee-acme", "tea-acme", "paper-filters", "kettle", "scale", "descaler", "sugar"}
    assert allowed(shop, brand="acme") == acme
    bean_or_grindwell = {"coffee-bean", "mug", "machine", "grinder"}
    assert allowed(shop, brand=["  BEAN  co", "Grindwell"]) == bean_or_grindwell
    assert allowed(shop, brand="Acm") == set() and allowed(shop, brand="") == set()


def test_stock_tags_and_all_filters_together(shop):
    assert allowed(shop, available=False) == {"kettle"}
    in_stock = allowed(shop, available=True)
    assert "unknown" in in_stock and "kettle" not in in_stock
    assert allowed(shop, include_tags="Coffee") == {"coffee-acme", "coffee-bean"}
    assert allowed(shop, include_tags=["Tea", "Cleaning"], exclude_tags="Grocery") == {"descaler"}
    assert allowed(shop, max_price=20, brand="Acme", available=True, exclude_tags=["Tea"]) == {
        "coffee-acme", "paper-filters", "sugar"
    }  # fmt: skip
    assert shop.mask(item_filters({})) is None and shop.mask(item_filters(None)) is None
    assert shop.mask(item_filters({"max_price": None, "brand": None})) is None  # None: not given


@pytest.mark.parametrize(
    ("filters", "name", "message"),
    [
        ({"price": 3}, "price", "unknown filter 'price': use include_tags, exclude_tags"),
        ({"max_price": "20"}, "max_price", "must be a number ≥ 0, got '20'"),
        ({"min_price": -1}, "min_price", "must be a number ≥ 0, got -1"),
        ({"max_price": math.nan}, "max_price", "must be a number"),
        ({"max_price": True}, "max_price", "must be a number"),
        ({"min_price": 30, "max_price": 20}, "min_price", "'min_price' 30 is above 'max_price' 20"),
        ({"brand": 7}, "brand", "must be a brand or a list of them, got 7"),
        ({"brand": []}, "brand", "must be a brand or a list of them"),
        ({"include_tags": ["Coffee", 1]}, "include_tags", "must be a tag or a list of them"),
        ({"available": "yes"}, "available", "must be true or false, got 'yes'"),
    ],
)
def test_bad_filters_name_the_filter(filters, name, message):
    with pytest.raises(FilterError) as raised:
        item_filters(filters)
    assert isinstance(raised.value, ValueError) and raised.value.name == name
    assert message in str(raised.value)


def test_repeat_items_are_repeatable_ones_and_those_of_repeat_tags(shop):
    _, items = shop_frames()
    ids = np.array([*items["item_id"], "unknown"])
    assert set(ids[shop.repeat_items(())]) == {"paper-filters"}
    coffee = {"paper-filters", "coffee-acme", "coffee-bean"}
    assert set(ids[shop.repeat_items(["Coffee"])]) == coffee
    assert set(ids[shop.repeat_items(["No such tag"])]) == {"paper-filters"}
    with pytest.raises(FilterError, match="repeat_tags"):
        shop.repeat_items([3])
