"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008): two rankings merged
into one list, each position credited to the ranking ("team") that put it there.

In each round the team that has picked fewer items picks next (a coin decides a tie),
taking its best item not yet in the list. A click on an item is a vote for its team; a
user prefers the team with more votes. Because both rankings are shown to every user,
the comparison is within user, and needs far fewer impressions than an A/B split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def team_draft(
    first: Sequence[str], second: Sequence[str], k: int, rng: np.random.Generator
) -> tuple[list[str], list[int]]:
    """Up to ``k`` items drafted from the two rankings, and each one's team (0: ``first``,
    1: ``second``)."""
    rankings = (list(first), list(second))
    taken: set[str] = set()
    items: list[str] = []
    teams: list[int] = []
    picks = [0, 0]
    heads = [0, 0]
    while len(items) < k:
        # the team with fewer picks picks next; a coin decides a tie
        team = int(np.argmin(picks)) if picks[0] != picks[1] else int(rng.integers(2))
        order = (team, 1 - team)  # the other team picks when this one has nothing left
        for t in order:
            ranking = rankings[t]
            while heads[t] < len(ranking) and ranking[heads[t]] in taken:
                heads[t] += 1
            if heads[t] < len(ranking):
                item = ranking[heads[t]]
                taken.add(item)
                items.append(item)
                teams.append(t)
                picks[t] += 1
                break
        else:
            break  # both rankings exhausted
    return items, teams
