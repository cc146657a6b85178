"""What the enrichment jobs share: their report, and running work in stored batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

ProgressCallback = Callable[[int], None]


@dataclass
class EnrichReport:
    """What an enrichment run did; ``outcomes`` counts verdicts (items) or sources (users)."""

    kind: str
    model_id: str
    prompt_version: int
    total: int = 0
    llm_calls: int = 0
    cache_hits: int = 0
    written: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_seconds: float = 0.0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second of wall time spent waiting on the model."""
        if self.generation_seconds <= 0:
            return 0.0
        return self.completion_tokens / self.generation_seconds


def batches(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
