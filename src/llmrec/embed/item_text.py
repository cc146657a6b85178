"""The text that represents an item in the vector space.

``embed.item_template`` joins the item's own fields with what ``llmrec enrich items``
generated for it (empty when the item was not enriched or its description was rejected).
"""

from __future__ import annotations

import string

import pandas as pd

from llmrec.enrich.text import clean_text
from llmrec.errors import ConfigError

TEMPLATE_FIELDS = frozenset({"title", "tags", "description", "generated_description", "keywords"})


def check_template(template: str) -> None:
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise ConfigError(
            f"embed.item_template names unknown field(s) {sorted(unknown)}; "
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
            title=row.title or "",
            tags=", ".join(str(t) for t in tags),
            description=row.description or "",
            generated_description=gen_description or "",
            keywords=", ".join(keywords or []),
        )
        # Empty fields leave stray separators (". ."): collapse them.
        text = " ".join(text.replace(" .", "").split()).strip(" .,") or str(row.title or "")
        texts.append(clean_text(text, max_chars))
    return pd.Series(texts, index=pd.Index(items["item_id"], name="item_id"), name="text")
