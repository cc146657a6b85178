"""What an event means: how much it weighs, whether it is positive history, whether it is
negative feedback. The one definition every layer reads (the interaction matrices, the
recommender's histories and feedback, interest profiles, evaluation splits), so that
they cannot disagree: ``not_interested`` — the web page's "Not interested" button — once
had no weight here, defaulted to +1 and landed in the user's positive history.

A negative type never weighs more than 0, whatever the settings say: its events are
never positive history, and a configured weight can only say how far it pushes away.

``config`` builds its defaults from this module, so it imports nothing else of llmrec,
and numpy and pandas only when a frame is weighed (``llmrec --help`` stays light).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Stronger intent weighs more; negative feedback pushes an item away. Types not listed
# here (custom types) weigh the policy's ``default_weight``. ``not_interested`` sits
# between a skip and a dislike: it hides an item from this user without saying the
# item is bad.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "search": 0.0,
    "cart": 4.0,
    "purchase": 8.0,
    "rating": 1.0,
    "like": 4.0,
    "dislike": -4.0,
    "skip": -1.0,
    "not_interested": -2.0,
    "play": 1.0,
    "tag": 1.0,
    "interaction": 1.0,
}

# Feedback the recommender acts on at once: the item is hidden from the user and items
# whose text is close to it are pushed down.
NEGATIVE_EVENT_TYPES: frozenset[str] = frozenset({"dislike", "skip", "not_interested"})


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """Weights per event type, the negative feedback types, and the weight of a type
    not listed. ``weights`` is copied: changing the mapping passed in changes nothing."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    negative_types: frozenset[str] = NEGATIVE_EVENT_TYPES
    default_weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", dict(self.weights))
        object.__setattr__(self, "negative_types", frozenset(self.negative_types))

    def weight(self, event_type: str) -> float:
        """The weight of one event of ``event_type`` (at most 0 for a negative type)."""
        weight = float(self.weights.get(event_type, self.default_weight))
        return min(weight, 0.0) if event_type in self.negative_types else weight

    def is_positive(self, event_type: str) -> bool:
        """Whether the event puts its item in the user's positive history."""
        return self.weight(event_type) > 0

    def is_negative(self, event_type: str) -> bool:
        """Whether the event is negative feedback (hide the item, push look-alikes down)."""
        return event_type in self.negative_types

    def weights_of(self, event_types: pd.Series | Iterable[str]) -> np.ndarray:
        """:meth:`weight` of each event, vectorised (one lookup per distinct type); a
        missing type weighs ``default_weight``."""
        import numpy as np
        import pandas as pd

        codes, types = pd.factorize(_series(event_types))
        # code -1 (a missing type) picks the appended default
        lookup = np.array([self.weight(str(t)) for t in types] + [self.default_weight])
        return lookup[codes]

    def positive_mask(self, event_types: pd.Series | Iterable[str]) -> np.ndarray:
        """:meth:`is_positive` of each event."""
        return self.weights_of(event_types) > 0

    def negative_mask(self, event_types: pd.Series | Iterable[str]) -> np.ndarray:
        """:meth:`is_negative` of each event."""
        return _series(event_types).isin(self.negative_types).to_numpy(dtype=bool)


def _series(event_types: pd.Series | Iterable[str]) -> pd.Series:
    """A column as it is (an Arrow column is not copied into Python strings), else a Series."""
    import pandas as pd

    return (
        event_types
        if isinstance(event_types, pd.Series)
        else pd.Series(list(event_types), dtype=object)
    )
