from __future__ import annotations

import pandas as pd
import pytest

from llmrec.embed.item_text import item_texts
from llmrec.errors import ConfigError

ITEMS = pd.DataFrame(
    {
        "item_id": ["a", "b"],
        "title": ["Toy Story (1995)", "Heat <b>(1995)</b>"],
        "description": ["", "A heist."],
        "tags": [["Animation", "Comedy"], []],
    }
)
TEMPLATE = "{title}. {tags}. {description} {generated_description} {keywords}"


def test_item_text_joins_own_and_generated_fields():
    generated = pd.DataFrame(
        {
            "item_id": ["a"],
            "description": ["An animated comedy."],
            "keywords": [["toys", "friendship"]],
        }
    )
    texts = item_texts(ITEMS, generated, TEMPLATE, 500)
    assert texts["a"] == "Toy Story (1995). Animation, Comedy. An animated comedy. toys, friendship"
    assert texts["b"] == "Heat (1995). A heist."


def test_item_text_without_enrichment_and_bounded():
    texts = item_texts(ITEMS, None, TEMPLATE, 25)
    assert texts["a"] == "Toy Story (1995)…"


def test_unknown_template_fields_are_a_config_error():
    with pytest.raises(ConfigError, match="price"):
        item_texts(ITEMS, None, "{title} {price}", 100)
