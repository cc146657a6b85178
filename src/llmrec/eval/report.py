"""The evaluation report: a Markdown file with tables and PNG plots, and a JSON file
with every number (per system and split; per-user values in ``per_user.parquet``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmrec.eval.evaluate import SystemResult, results_table
from llmrec.eval.tuning import Tuned

TABLE_COLUMNS = (
    "ndcg@10",
    "recall@10",
    "hit_rate@10",
    "mrr",
    "coverage@10",
    "diversity@10",
    "novelty@10",
)
DIVERSITY_COLUMNS = ("ndcg@10", "recall@10", "diversity@10")
# results metrics "candidate_recall:<source>" (and ":union"): see eval.evaluate.candidate_recall
CANDIDATE_RECALL = "candidate_recall"
# "source_ndcg@10:<source>": each source ranking alone inside llmrec (eval.evaluate.source_ndcg)
SOURCE_NDCG = "source_ndcg@10"
# "ranker_holdout_ndcg@10:<model|source|fusion>": the fit's held-out lists (rank.ranker)
RANKER_HOLDOUT = "ranker_holdout_ndcg@10"


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = [
        "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _metric_at_k_plot(results: Sequence[SystemResult], split: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    shown = [r for r in results if r.split == split and r.diversity is None]
    for n, r in enumerate(shown):
        ks = sorted(int(key.split("@")[1]) for key in r.metrics if key.startswith("ndcg@"))
        # 20 colours, then the marker changes: no two systems look alike.
        ax.plot(ks, [r.metrics[f"ndcg@{k}"] for k in ks], label=r.system,
                color=_COLOURS(n % 20), marker=_MARKERS[n // 20 % len(_MARKERS)],
                linestyle="-" if n < 10 else "--")  # fmt: skip
    ax.set(xlabel="K", ylabel="NDCG@K", title=f"NDCG@K — {split}")
    # Beside the axes, not over the lines.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


_COLOURS = plt.get_cmap("tab20")
_MARKERS = ("o", "s", "^", "D")
# Below this many users scored, a split's metrics move by more than a system's lead.
FEW_USERS = 100


def users_scored(results: Sequence[SystemResult], split: str) -> int:
    """How many test users a split's metrics average over."""
    counts = [len(r.per_user) for r in results if r.split == split and r.per_user is not None]
    return max(counts, default=0)


def few_users_warning(results: Sequence[SystemResult], split: str) -> str | None:
    """A warning when ``split`` scored too few users for its numbers to mean much, with
    the 95% half-width of the best system's NDCG@10."""
    n = users_scored(results, split)
    if n >= FEW_USERS:
        return None
    spread = [float(r.per_user["ndcg@10"].std(ddof=1)) for r in results
              if r.split == split and r.per_user is not None and "ndcg@10" in r.per_user
              and n > 1]  # fmt: skip
    margin = f" (NDCG@10 ±{1.96 * max(spread) / n**0.5:.3f} at 95%)" if spread else ""
    return (
        f"only {n} test user(s) scored on {split}: differences are noise at this size"
        f"{margin}; evaluate on at least {FEW_USERS} users"
    )


def paired_differences(results: Sequence[SystemResult], reference: str) -> pd.DataFrame:
    """Each system's NDCG@10 minus ``reference``'s, user by user over the test users both
    scored, and the standard error of that mean difference: far below either system's own
    (the users' spread, most of it, is shared), so it tells a real lead from noise."""
    base = next((r for r in results if r.system == reference), None)
    if base is None or base.per_user is None:
        return pd.DataFrame()
    theirs = base.per_user.set_index("user_id")["ndcg@10"]
    rows = []
    for r in results:
        if r is base or r.per_user is None:
            continue
        pairs = pd.concat(
            [r.per_user.set_index("user_id")["ndcg@10"], theirs], axis=1, join="inner"
        ).dropna()
        if len(pairs) < 2:
            continue
        mine, against = pairs.iloc[:, 0], pairs.iloc[:, 1]
        difference = mine - against
        rows.append({
            "system": r.system,
            "ndcg@10": float(mine.mean()),
            f"− {reference}": float(difference.mean()),
            "relative": float(difference.mean() / against.mean()) if against.mean() else np.nan,
            "paired SE": float(difference.std(ddof=1) / np.sqrt(len(difference))),
            "users": len(difference),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _diversity_plot(results: Sequence[SystemResult], split: str, path: Path) -> bool:
    curve = sorted(
        (
            (r.diversity, r.metrics["ndcg@10"], r.metrics.get("diversity@10", np.nan))
            for r in results
            if r.split == split and r.system == "llmrec" and r.diversity is not None
        ),
    )
    if len(curve) < 2:
        return False
    lam, ndcg, ild = zip(*curve, strict=True)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(ild, ndcg, marker="o")
    for x, y, label in zip(ild, ndcg, lam, strict=True):
        ax.annotate(f"λ={label:g}", (x, y), fontsize=8)
    ax.set(
        xlabel="intra-list diversity@10 (tags)",
        ylabel="NDCG@10",
        title=f"MMR: accuracy vs diversity — {split}",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _activity_plot(results: Sequence[SystemResult], split: str, path: Path) -> None:
    mine = [r for r in results if r.split == split and r.diversity is None]
    edges = np.quantile(mine[0].per_user["train_items"], [0, 0.25, 0.5, 0.75, 1.0])
    labels = [f"{edges[i]:.0f}–{edges[i + 1]:.0f}" for i in range(4)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(mine)
    for n, r in enumerate(mine):
        bucket = np.clip(np.searchsorted(edges, r.per_user["train_items"], side="right") - 1, 0, 3)
        means = pd.Series(r.per_user["ndcg@10"].to_numpy()).groupby(bucket).mean()
        ax.bar(np.arange(4) + n * width, means.reindex(range(4)).to_numpy(), width, label=r.system)
    ax.set_xticks(np.arange(4) + 0.4 - width / 2, labels)
    ax.set(
        xlabel="training items per user (quartiles)",
        ylabel="NDCG@10",
        title=f"Accuracy by user activity — {split}",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _tuning_table(tuned: Sequence[tuple[str, Tuned]], split: str) -> pd.DataFrame:
    rows = []
    for name, found in tuned:
        if name == split and not found.trials.empty:
            setting = ", ".join(f"{k}={v:g}" for k, v in found.params.items())
            rows.append({"source": found.source, "chosen": setting, "settings tried":
                         len(found.trials), f"validation {found.metric}":
                         float(found.trials[found.metric].max())})  # fmt: skip
    return pd.DataFrame(rows)


def _candidate_recall_table(results: Sequence[SystemResult]) -> pd.DataFrame:
    prefix = f"{CANDIDATE_RECALL}:"
    rows = [
        {
            "system": r.system,
            "candidates": source,
            "recall": value,
            "ndcg@10 alone": r.metrics.get(
                f"{SOURCE_NDCG}:{source}", r.metrics["ndcg@10"] if source == "union" else None
            ),
            "fit's held-out lists": r.metrics.get(
                f"{RANKER_HOLDOUT}:{'model' if source == 'union' else source}"
            ),
        }
        for r in results
        for key, value in r.metrics.items()
        if key.startswith(prefix)
        for source in [key.removeprefix(prefix)]
    ]
    return pd.DataFrame(rows)


def write_report(
    results: Sequence[SystemResult],
    folder: str | Path,
    title: str,
    tuned: Sequence[tuple[str, Tuned]] = (),
    reference: str | None = None,
) -> Path:
    """Write ``report.md``, ``results.json``, ``per_user.parquet`` and the plots (and
    ``tuning.json``: every setting tried, by split and source); with a ``reference``
    system, each system's paired NDCG@10 difference from it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(
        json.dumps(
            [
                {
                    "split": r.split,
                    "system": r.system,
                    "diversity": r.diversity,
                    "fit_seconds": r.fit_seconds,
                    "recommend_seconds": r.recommend_seconds,
                    **r.metrics,
                }
                for r in results
            ],
            indent=2,
        )
    )
    (folder / "tuning.json").write_text(
        json.dumps(
            [
                {
                    "split": split,
                    "source": found.source,
                    "chosen": found.params,
                    "trials": found.trials.to_dict(orient="records"),
                }
                for split, found in tuned
            ],
            indent=2,
        )
    )
    pd.concat(
        [r.per_user.assign(split=r.split, system=r.system, diversity=r.diversity) for r in results]
    ).to_parquet(folder / "per_user.parquet", index=False)
    lines = [f"# {title}", ""]
    for split in pd.unique(pd.Series([r.split for r in results])):
        plain = [r for r in results if r.split == split and r.diversity is None]
        lines += [f"## {split}", "", f"{users_scored(results, split):,} test users scored.", ""]
        warning = few_users_warning(results, split)
        if warning is not None:
            lines += [f"**Warning:** {warning}.", ""]
        lines += [_markdown(results_table(plain, TABLE_COLUMNS)), ""]
        paired = paired_differences(plain, reference) if reference else pd.DataFrame()
        if not paired.empty:
            lines += [
                f"NDCG@10 against {reference}, user by user over the users both scored, "
                "with the standard error of the mean difference:",
                "",
                _markdown(paired),
                "",
            ]
        tuning = _tuning_table(tuned, split)
        if not tuning.empty:
            lines += [
                "Each source tuned on a validation split of this split's training events "
                "(the same protocol); every system above is fitted with these settings:",
                "",
                _markdown(tuning),
                "",
            ]
        pool = _candidate_recall_table(plain)
        if not pool.empty:
            lines += [
                "Candidate recall (llmrec): the share of test items among the candidates "
                "the ranker chooses from, and among each source's own top candidates; "
                "beside it, the NDCG@10 of each source ranking alone as fitted inside "
                "llmrec (the union's row: the ranker's), and on the fit's own held-out "
                "training lists, where the ranker's model is compared with each source "
                "(the union's row: the model's; the best leads, rank.ranker):",
                "",
                _markdown(pool),
                "",
            ]
        _metric_at_k_plot(results, split, folder / f"{split}-ndcg-at-k.png")
        _activity_plot(results, split, folder / f"{split}-activity.png")
        lines += [f"![NDCG@K]({split}-ndcg-at-k.png)", f"![by activity]({split}-activity.png)"]
        if _diversity_plot(results, split, folder / f"{split}-diversity.png"):
            # the MMR sweep's rows (the plain row is the configured λ, already in it)
            curve = sorted(
                (r for r in results if r.split == split and r.system == "llmrec"
                 and r.diversity is not None), key=lambda r: r.diversity,
            )  # fmt: skip
            rows = [
                {"λ": r.diversity, **{c: r.metrics.get(c) for c in DIVERSITY_COLUMNS}}
                for r in curve
            ]
            lines += [
                "",
                "MMR diversity (llmrec):",
                "",
                _markdown(pd.DataFrame(rows)),
                f"![accuracy vs diversity]({split}-diversity.png)",
            ]
        lines.append("")
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
