"""The evaluation report: tables, plots and the MMR sweep, from results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.eval.evaluate import SystemResult
from llmrec.eval.report import paired_differences, write_report


def _result(
    system: str, ndcg: float, diversity: float | None = None, users: int = 40
) -> SystemResult:
    rng = np.random.default_rng(0)
    per_user = pd.DataFrame({"train_items": np.arange(1, users + 1),
                             "ndcg@10": np.clip(rng.normal(ndcg, 0.1, users), 0, 1)})  # fmt: skip
    metrics = {"ndcg@5": ndcg / 2, "ndcg@10": ndcg, "recall@10": 2 * ndcg,
               "diversity@10": 0.7 + (diversity or 0.0) / 10}  # fmt: skip
    return SystemResult(system, "leave_last_one_out", 1.0, 0.1, metrics, per_user, diversity)


def test_the_mmr_sweep_lists_each_strength_once(tmp_path: Path):
    results = [
        _result("MostPop", 0.02),
        _result("llmrec", 0.12),  # the configured λ (0), also the sweep's first point
        *(_result("llmrec", 0.12 - lam / 10, lam) for lam in (0.0, 0.2, 0.4)),
    ]
    report = write_report(results, tmp_path, "fixture").read_text()
    sweep = report.split("MMR diversity (llmrec):")[1]
    rows = [line for line in sweep.splitlines() if line.startswith("| 0.")]
    assert [row.split(" | ")[0] for row in rows] == ["| 0.0000", "| 0.2000", "| 0.4000"]
    blocks = report.split("## leave_last_one_out")[1].split("\n\n")
    table = next(block for block in blocks if block.startswith("|"))
    assert table.count("| llmrec |") == 1 and "| MostPop |" in table
    for plot in ("ndcg-at-k", "activity", "diversity"):
        assert (tmp_path / f"leave_last_one_out-{plot}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_split_with_few_users_is_flagged_with_its_margin(tmp_path: Path):
    few = write_report([_result("EASE", 0.1, users=5)], tmp_path / "few", "few").read_text()
    assert "5 test users scored." in few
    assert "**Warning:** only 5 test user(s) scored on leave_last_one_out" in few
    assert "NDCG@10 ±0.0" in few
    many = write_report([_result("EASE", 0.1, users=500)], tmp_path / "many", "many").read_text()
    assert "500 test users scored." in many and "Warning" not in many


def test_thirteen_systems_get_thirteen_looks_and_a_legend_beside_the_axes(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    captured = {}
    real_savefig = plt.Figure.savefig

    def keep(figure, *args, **kwargs):
        captured.setdefault("figure", figure)  # the first plot written: NDCG@K
        return real_savefig(figure, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", keep)
    write_report([_result(f"system-{i}", 0.01 * i) for i in range(13)], tmp_path, "many")
    [axes] = captured["figure"].axes
    looks = {(line.get_color(), line.get_marker(), line.get_linestyle()) for line in axes.lines}
    assert len(looks) == 13
    legend = axes.get_legend().get_window_extent()
    assert legend.x0 >= axes.get_window_extent().x1  # not over the lines


def test_systems_are_compared_with_the_reference_user_by_user(tmp_path: Path):
    def scored(system: str, ndcg: list[float], users: list[str]) -> SystemResult:
        per_user = pd.DataFrame({"user_id": users, "train_items": 3, "ndcg@10": ndcg})
        metrics = {"ndcg@10": float(np.mean(ndcg))}
        return SystemResult(system, "leave_last_one_out", 1.0, 0.1, metrics, per_user)

    base = scored("no text", [0.0, 0.5, 0.7, 0.2], ["a", "b", "c", "d"])
    # the same users in another order, each 0.1 or 0.3 better, and one user the
    # reference did not score (left out of the pairs)
    text = scored("text", [0.5, 0.3, 0.6, 0.8, 0.9], ["d", "a", "b", "c", "e"])
    paired = paired_differences([base, text], "no text")
    [row] = paired.to_dict(orient="records")
    assert row["system"] == "text" and row["users"] == 4
    assert abs(row["− no text"] - 0.2) < 1e-12
    assert abs(row["paired SE"] - np.std([0.3, 0.1, 0.1, 0.3], ddof=1) / 2) < 1e-12
    assert abs(row["relative"] - 0.2 / 0.35) < 1e-12
    assert paired_differences([text], "no text").empty  # no reference in the run
    report = write_report([base, text], tmp_path, "paired", reference="no text").read_text()
    assert "NDCG@10 against no text, user by user" in report
