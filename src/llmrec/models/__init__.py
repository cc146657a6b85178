"""Candidate scorers: each learns from an :class:`Interactions` and scores every item
for a batch of user histories (``fit`` / ``score``, as in ``implicit``)."""

from llmrec.models.base import History, Interactions, Scorer
from llmrec.models.content import ContentScorer, ContentToCFScorer
from llmrec.models.ease import EASE
from llmrec.models.factors import ALS, BPR
from llmrec.models.neighbours import CoVisitation, ItemKNN
from llmrec.models.popularity import MostPopular
from llmrec.models.sasrec import SASRec

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "CoVisitation",
    "ContentScorer",
    "ContentToCFScorer",
    "History",
    "Interactions",
    "ItemKNN",
    "MostPopular",
    "SASRec",
    "Scorer",
]
