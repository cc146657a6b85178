"""Candidate sources: each learns from an :class:`Interactions` and scores every item
for a batch of user histories (``fit`` / ``score``, as in ``implicit``), and declares
its name, configuration, tuning grid and capabilities on its class (see
:class:`~llmrec.models.base.Scorer`).

:data:`SOURCES` is the registry the recommender, the settings and the evaluation read:
adding a source is its module and one line here.
"""

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from llmrec.models.base import History, Interactions, Scorer, SourceConfig
from llmrec.models.content import (
    ContentScorer,
    ContentToCFScorer,
    GeneratedContentScorer,
    GeneratedContentToCFScorer,
)
from llmrec.models.ease import EASE
from llmrec.models.factors import ALS, BPR
from llmrec.models.neighbours import CoVisitation, ItemKNN
from llmrec.models.popularity import MostPopular
from llmrec.models.sasrec import SASRec
from llmrec.models.text_ease import TextPriorEASE

SOURCES: dict[str, type[Scorer]] = {
    source.name: source
    for source in (
        EASE,
        ItemKNN,
        CoVisitation,
        ALS,
        BPR,
        SASRec,
        ContentScorer,
        ContentToCFScorer,
        GeneratedContentScorer,
        GeneratedContentToCFScorer,
        TextPriorEASE,
        MostPopular,
    )
}

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "SOURCES",
    "CoVisitation",
    "ContentScorer",
    "ContentToCFScorer",
    "GeneratedContentScorer",
    "GeneratedContentToCFScorer",
    "History",
    "Interactions",
    "ItemKNN",
    "MostPopular",
    "SASRec",
    "Scorer",
    "SourceConfig",
    "TextPriorEASE",
    "source_configs",
]


def source_configs(
    sources: Sequence[str] | Mapping[str, SourceConfig | Mapping[str, object] | None],
) -> dict[str, SourceConfig]:
    """Validated configurations, in order, of the sources named in ``sources``: a list
    of names (each at its defaults) or a mapping of name → its options (a ``Config``, a
    mapping of fields, or None for the defaults). An unknown name or option raises a
    ``ValueError`` naming it."""
    if isinstance(sources, str):
        raise ValueError(f"sources must be a list of names or a table, not the string {sources!r}")
    options = sources if isinstance(sources, Mapping) else dict.fromkeys(sources)
    configs: dict[str, SourceConfig] = {}
    for name, given in options.items():
        if name not in SOURCES:
            raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
        config_type = SOURCES[name].Config
        if isinstance(given, config_type):
            configs[name] = given
            continue
        try:
            configs[name] = config_type.model_validate(dict(given or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"source {name!r}: {problems}") from None
    if not configs:
        raise ValueError(f"no source given; known: {', '.join(SOURCES)}")
    return configs
