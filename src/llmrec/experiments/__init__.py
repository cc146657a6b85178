"""Online experiments: A/B splits and interleaving, their impressions and their reports.

``design`` (what an experiment is, who gets which variant) imports only pydantic: the
HTTP schemas and the client read it without the analysis's pandas and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Experiment": "llmrec.experiments.design",
    "Variant": "llmrec.experiments.design",
    "team_draft": "llmrec.experiments.interleave",
    "Report": "llmrec.experiments.analysis",
    "report": "llmrec.experiments.analysis",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmrec.experiments' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from llmrec.experiments.analysis import Report, report
    from llmrec.experiments.design import Experiment, Variant
    from llmrec.experiments.interleave import team_draft

__all__ = ["Experiment", "Report", "Variant", "report", "team_draft"]
