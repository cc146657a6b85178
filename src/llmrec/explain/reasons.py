"""Structured reasons for one (user, item) recommendation, derived from the scoring itself.

- **History items**: the leave-one-out influence of each of the user's recent items —
  the item's final score with the user's full history minus its score with that one item
  removed, computed through the same sources and ranker as ``recommend``. A positive
  contribution therefore means exactly that removing the item lowers the score.
- **Sources**: the candidate sources whose top-N proposed the item.
- **Features**: the ranker's top SHAP contributions (LightGBM ``pred_contrib``), which sum
  with the bias to the ranker's score.
- **Keywords**: the item's tags that the user's history shares, by how much of the
  history carries them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from llmrec.errors import UnknownIdError

if TYPE_CHECKING:
    from llmrec.recommender import Recommender


@dataclass(frozen=True, slots=True)
class HistoryReason:
    item_id: str
    title: str
    contribution: float  # score with the full history − score without this item


@dataclass(frozen=True, slots=True)
class FeatureReason:
    feature: str
    value: float | None  # None where the feature is missing (e.g. a CF score of a cold item)
    contribution: float  # SHAP value in the ranker's score


@dataclass(frozen=True)
class Explanation:
    user_id: str
    item_id: str
    title: str
    score: float
    sources: list[str]
    history: list[HistoryReason] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    features: list[FeatureReason] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _title(model: Recommender, col: int) -> str:
    if "title" not in model.items_.columns:
        return ""
    title = model.items_["title"].iloc[col]
    return title if isinstance(title, str) else ""


def explain(
    model: Recommender,
    user_id,
    item_id,
    max_history: int = 50,
    top: int = 5,
) -> Explanation:
    """Reasons why ``model`` scores ``item_id`` for ``user_id`` as it does.

    The ``max_history`` most recent history items are each tested for influence; the
    ``top`` strongest history items, features and keywords are returned.
    """
    user, item = str(user_id), str(item_id)
    known = model.knows_user(user)  # (raises when the model is not fitted)
    col = model.item_ids_.get_indexer([item])[0]
    if col < 0:
        raise UnknownIdError(f"unknown item id: {item}")
    if not known:
        raise UnknownIdError(
            f"unknown user id: {user} (no history): nothing to explain, their list is popular items"
        )
    sequence = model.histories_.items_of(user)
    recent = sequence[-max_history:]
    # A disliked or skipped item is never a reason "because you liked".
    negative = model.histories_.negatives_of(user)
    # Row 0: the full history; row i + 1: the history without its i-th recent item.
    variants = [sequence] + [sequence[sequence != c] for c in recent]
    value, x, names = model.score_item(col, variants, user)
    influence = value[0] - value[1:]
    order = np.argsort(-influence, kind="stable")[:top]
    reasons = [
        HistoryReason(model.item_ids_[recent[i]], _title(model, recent[i]), float(influence[i]))
        for i in order
        if influence[i] > 0 and int(recent[i]) not in negative
    ]
    features = []
    if model.ranker_ is not None:
        shap = model.ranker_.contributions(x[:1])[0, :-1]
        for j in np.argsort(-np.abs(shap), kind="stable")[:top]:
            features.append(
                FeatureReason(
                    names[j], None if np.isnan(x[0, j]) else float(x[0, j]), float(shap[j])
                )
            )
    return Explanation(
        user_id=user,
        item_id=item,
        title=_title(model, col),
        score=float(value[0]),
        sources=model.proposing_sources(col, sequence, user),
        history=reasons,
        keywords=_shared_tags(model, sequence, col, top),
        features=features,
    )


def _shared_tags(model: Recommender, sequence: np.ndarray, col: int, top: int) -> list[str]:
    if "tags" not in model.items_.columns or len(sequence) == 0:
        return []
    tags = model.items_["tags"]
    wanted = tags.iloc[col] if isinstance(tags.iloc[col], list) else []
    counts = {t: 0 for t in wanted}
    for c in sequence:
        for t in tags.iloc[c] if isinstance(tags.iloc[c], list) else []:
            if t in counts:
                counts[t] += 1
    shared = sorted((t for t in counts if counts[t] > 0), key=lambda t: -counts[t])
    return shared[:top]
