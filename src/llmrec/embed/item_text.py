"""The text that represents an item in the vector space.

``embed.item_template`` joins the item's own fields with what ``llmrec enrich items``
generated for it (empty when the item was not enriched or its description was rejected).
"""

from __future__ import annotations

import re
import string

import pandas as pd

from llmrec.enrich.text import clean_text, truncate
from llmrec.errors import ConfigError

_SEPARATORS = re.compile(r"([.,])(?:\s*[.,])+")
TEMPLATE_FIELDS = frozenset({"title", "tags", "description", "generated_description", "keywords"})


def check_template(template: str) -> None:
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise ConfigError(
            f"the item text template {template!r} names unknown field(s) {sorted(unknown)}; "
            f"known: {sorted(TEMPLATE_FIELDS)}"
        )


def item_texts(
    items: pd.DataFrame,
    generated: pd.DataFrame | None,
    template: str,
    max_chars: int,
) -> pd.Series:
    """One text per item (index: item_id), in the order of ``items``."""
    check_template(template)
    extra = (
        generated.set_index("item_id")[["description", "keywords"]]
        if generated is not None and not generated.empty
        else pd.DataFrame(columns=["description", "keywords"])
    )
    texts = []
    for row in items.itertuples(index=False):
        tags = row.tags if isinstance(row.tags, list) else []
        gen_description, keywords = "", []
        if row.item_id in extra.index:
            gen_description, keywords = extra.loc[row.item_id, ["description", "keywords"]]
        text = template.format(
            title=clean_text(row.title, max_chars),
            tags=", ".join(clean_text(t, 100) for t in tags),
            description=clean_text(row.description, max_chars),
            generated_description=gen_description or "",
            keywords=", ".join(keywords or []),
        )
        # Empty fields leave stray separators ("Heat. . A heist."): collapse them.
        text = _SEPARATORS.sub(r"\1", " ".join(text.split())).strip(" ,")
        texts.append(truncate(text or clean_text(row.title, max_chars), max_chars))
    return pd.Series(texts, index=pd.Index(items["item_id"], name="item_id"), name="text")
