"""The evaluation report: tables, plots and the MMR sweep, from results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.eval.evaluate import SystemResult
from llmrec.eval.report import write_report


def _result(system: str, ndcg: float, diversity: float | None = None) -> SystemResult:
    per_user = pd.DataFrame({"train_items": np.arange(1, 41), "ndcg@10": np.full(40, ndcg)})
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
    table = report.split("## leave_last_one_out")[1].split("\n\n")[1]
    assert table.count("| llmrec |") == 1 and "| MostPop |" in table
    for plot in ("ndcg-at-k", "activity", "diversity"):
        assert (tmp_path / f"leave_last_one_out-{plot}.png").read_bytes()[:4] == b"\x89PNG"
