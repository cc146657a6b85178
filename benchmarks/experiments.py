"""Do the experiment reports find what is there, and nothing when nothing is?

    python benchmarks/experiments.py [--seeds 20] [--aa-runs 400] [--out DIR]

Simulated users whose clicks follow known preferences (``llmrec.experiments.simulate``:
500 users, 300 items, 20 liked items each, position-biased examination), served by two
variants through the same assignment, team draft and report code the service uses:

1. Power: for each pair of rankers and each number of impressions, the share of seeded
   runs in which the report finds the better variant better at p < 0.01 — A/B (Welch's
   t-test by user) and interleaving (binomial test over users). The impressions each
   needs for 80% power.
2. A/A: the same ranker in both arms, ``--aa-runs`` seeded runs of 1,000 impressions:
   the share flagged at p < 0.05 (about 5% expected).
3. Sample-ratio mismatch: 20,000 impressions to 10,000 users, half to each arm, with 5%,
   10% or 20% of one arm's users never recorded (a variant that fails for some users)
   and without: how often each is flagged.

Prints the tables and writes ``power.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from llmrec.experiments.analysis import report
from llmrec.experiments.design import Experiment
from llmrec.experiments.simulate import Population, run

WEIGHTS = {"click": 1.0}
COUNTS = (10, 20, 40, 80, 160, 320, 640, 1280)
ARMS = [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}]
LABELS = {"ab": "A/B (Welch, by user)", "interleave": "team-draft interleaving"}


def _experiment(kind: str, seed: int) -> Experiment:
    return Experiment(name=f"{kind}-{seed}", kind=kind, variants=ARMS, window_s=3600,
                      salt=f"{seed:016x}")  # fmt: skip


def found_better(kind: str, population: Population, rankers: dict, impressions: int,
                 seed: int, alpha: float = 0.01) -> bool:  # fmt: skip
    """Whether one seeded run finds A better than B at ``alpha``."""
    experiment = _experiment(kind, seed)
    shown, clicks = run(experiment, population, rankers, impressions, np.random.default_rng(seed))
    found = report(experiment, shown, clicks, WEIGHTS)
    if kind == "interleave":
        won = found.interleaving
        return won.p_value < alpha and won.wins["A"] > won.wins["B"]
    b = found.variants[1]
    return b.p_value is not None and b.p_value < alpha and (b.lift or 0) < 0


def flagged_same(kind: str, population: Population, ranker, impressions: int, seed: int) -> bool:
    experiment = _experiment(kind, seed)
    rankers = {"A": ranker, "B": ranker}
    shown, clicks = run(experiment, population, rankers, impressions, np.random.default_rng(seed))
    found = report(experiment, shown, clicks, WEIGHTS)
    p = found.interleaving.p_value if kind == "interleave" else found.variants[1].p_value
    return p is not None and p < 0.05


def mismatch_flagged(population: Population, ranker, seed: int, lost: float) -> bool:
    experiment = _experiment("ab", seed)
    shown, clicks = run(experiment, population, {"A": ranker, "B": ranker}, 20_000,
                        np.random.default_rng(seed), lose={"B": lost})  # fmt: skip
    return report(experiment, shown, clicks, WEIGHTS).sample_ratio_mismatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--aa-runs", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("docs/results/experiments"))
    args = parser.parse_args()
    console = Console(width=160)
    started = time.perf_counter()
    population = Population.draw(500, 300, np.random.default_rng(0))
    pairs = {
        "preferences vs random": {"A": population.knowing(0.1), "B": population.guessing()},
        "preferences vs noisier preferences": {"A": population.knowing(0.1),
                                               "B": population.knowing(0.3)},
    }  # fmt: skip
    power: dict[tuple[str, str], list[float]] = {}
    table = Table(title=f"power: share of {args.seeds} runs finding A better at p < 0.01")
    table.add_column("pair")
    table.add_column("test")
    for n in COUNTS:
        table.add_column(f"{n}", justify="right")
    table.add_column("impressions for 80%", justify="right")
    for pair, rankers in pairs.items():
        for kind in ("ab", "interleave"):
            shares = [np.mean([found_better(kind, population, rankers, n, seed)
                               for seed in range(args.seeds)]) for n in COUNTS]  # fmt: skip
            power[(pair, kind)] = shares
            enough = next((n for n, p in zip(COUNTS, shares, strict=True) if p >= 0.8), None)
            needed = str(enough or f"> {COUNTS[-1]}")
            test = "A/B" if kind == "ab" else "interleaving"
            table.add_row(pair, test, *[f"{p:.2f}" for p in shares], needed)
    console.print(table)

    ranker = population.knowing(0.1)
    aa = Table(title=f"A/A: {args.aa_runs} runs of 1,000 impressions, flagged at p < 0.05")
    for column in ("test", "flagged", "rate"):
        aa.add_column(column, justify="right")
    for kind in ("ab", "interleave"):
        flagged = sum(flagged_same(kind, population, ranker, 1_000, 10_000 + seed)
                      for seed in range(args.aa_runs))  # fmt: skip
        aa.add_row("A/B" if kind == "ab" else "interleaving", str(flagged),
                   f"{flagged / args.aa_runs:.1%}")  # fmt: skip
    console.print(aa)

    srm = Table(title="sample-ratio check: 20,000 impressions to 10,000 users, 30 runs each")
    for column in ("arm B's users lost", "flagged (p < 0.001)"):
        srm.add_column(column, justify="right")
    crowd = Population.draw(10_000, 50, np.random.default_rng(1), liked=5)
    for lost in (0.0, 0.05, 0.1, 0.2):
        flagged = sum(mismatch_flagged(crowd, crowd.guessing(), 20_000 + seed, lost)
                      for seed in range(30))  # fmt: skip
        srm.add_row(f"{lost:.0%}", f"{flagged}/30")
    console.print(srm)
    _plot(power, args.out / "power.png")
    console.print(f"{time.perf_counter() - started:.0f} s; plot: {args.out / 'power.png'}")


def _plot(power: dict[tuple[str, str], list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, pair in zip(axes, dict.fromkeys(p for p, _ in power), strict=True):
        for kind, label in LABELS.items():
            axis.plot(COUNTS, power[(pair, kind)], marker="o", label=label)
        axis.set_xscale("log")
        axis.axhline(0.8, color="grey", linestyle=":")
        axis.set_title(pair)
        axis.set_xlabel("impressions")
    axes[0].set_ylabel("share of runs finding A better (p < 0.01)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
