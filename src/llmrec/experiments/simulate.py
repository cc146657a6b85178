"""Simulated users whose clicks follow known preferences: to size an experiment before
running it, and to check that the reports find what is there (and nothing when nothing
is). Each user likes a few items; a shown item is examined with probability 1/log2(rank
+ 1) and then clicked with the user's probability for it. The frames produced are what
the store holds for a live experiment, and go through the same :func:`report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmrec.experiments.design import Experiment, bucket
from llmrec.experiments.interleave import team_draft

Ranker = Callable[[int, np.random.Generator], np.ndarray]  # user → item indices, best first


@dataclass(frozen=True, slots=True)
class Population:
    """``click`` (users × items): the probability that a user who examines the item
    clicks it."""

    click: np.ndarray

    @classmethod
    def draw(
        cls,
        n_users: int,
        n_items: int,
        rng: np.random.Generator,
        liked: int = 20,
        p_liked: float = 0.3,
        p_other: float = 0.01,
    ) -> Population:
        click = np.full((n_users, n_items), p_other)
        for u in range(n_users):
            click[u, rng.choice(n_items, size=liked, replace=False)] = p_liked
        return cls(click)

    @property
    def n_users(self) -> int:
        return self.click.shape[0]

    def clicked(self, user: int, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        examined = rng.random(len(items)) < 1.0 / np.log2(np.arange(2, len(items) + 2))
        return examined & (rng.random(len(items)) < self.click[user, items])

    def knowing(self, noise: float = 0.0) -> Ranker:
        """A ranker that knows the preferences (plus Gaussian ``noise`` on them)."""
        return lambda user, rng: np.argsort(
            -(self.click[user] + noise * rng.standard_normal(self.click.shape[1])), kind="stable"
        )

    def guessing(self) -> Ranker:
        """A ranker that shows items at random."""
        return lambda user, rng: rng.permutation(self.click.shape[1])


def run(
    experiment: Experiment,
    population: Population,
    rankers: dict[str, Ranker],
    impressions: int,
    rng: np.random.Generator,
    k: int = 10,
    lose: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``impressions`` lists, each to a random user, served as the ``experiment`` says
    (its variants named in ``rankers``); the impressions and the click events, as the
    store would hold them. ``lose``: the share of each variant's impressions that are
    users whose impressions are never recorded (a variant that fails for some users: the
    sample-ratio check's case)."""
    shown, clicks = [], []
    for n in range(impressions):
        user = int(rng.integers(population.n_users))
        user_id = f"u{user}"
        if experiment.kind == "interleave":
            first, second = (rankers[v.name](user, rng)[:k] for v in experiment.variants)
            items, teams = team_draft(first.tolist(), second.tolist(), k, rng)
            items, variant = np.array(items), "interleaved"
        else:
            variant = experiment.variant_of(user_id).name
            items, teams = rankers[variant](user, rng)[:k], None
            if lose and bucket("lost", experiment.name, user_id) < lose.get(variant, 0.0):
                continue
        shown.append((variant, user_id, f"r{n}", [f"i{i}" for i in items], teams, float(n)))
        for item in items[population.clicked(user, items, rng)]:
            clicks.append((user_id, f"i{item}", "click", n + 1))
    return (
        pd.DataFrame(shown, columns=["variant", "user_id", "request_id", "items", "teams",
                                     "shown_at"]),
        pd.DataFrame(clicks, columns=["user_id", "item_id", "event_type", "timestamp"]),
    )  # fmt: skip
